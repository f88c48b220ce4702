"""An untrained tiny diffusion simulator for any layout.

The guidance, control and inverse-problem tests need a network of the right shape, not a trained
one: their references are the solver, finite differences and the sampler's algebra.
"""

from __future__ import annotations

import numpy as np
from flax import nnx

from wdno import diffusion
from wdno.nets.unet import UNet, UNetConfig
from wdno.simulators.diffusion import DiffusionSimulator
from wdno.transforms import normalization


def untrained_simulator(layout, scale: float, *, seed: int = 0) -> DiffusionSimulator:
    """A two-level dim-8 U-Net (no attention) at step 0, eps-prediction, cosine schedule, every
    channel scaled by ``scale``."""
    network = UNetConfig(
        layout.num_channels,
        dim=8,
        dim_mults=(1, 2),
        num_groups=2,
        attention=False,
        linear_attention=False,
        init_kernel_size=3,
    )
    return DiffusionSimulator(
        model=UNet(network, rngs=nnx.Rngs(seed)),
        layout=layout,
        normalizer=normalization.Normalizer(np.full(layout.num_channels, scale, np.float32)),
        schedule=diffusion.make_schedule("cosine", 1000),
        step=0,
        prediction="eps",
    )
