"""Train a tiny diffusion model on toy 8x8 images and sample from it (see docs/toy_diffusion.md).

Usage: python docs/examples/toy_diffusion.py [num_steps] [workdir]
"""

import sys

import jax
import numpy as np
from flax import nnx

from wdno.diffusion import make_schedule
from wdno.nets.unet import UNet, UNetConfig
from wdno.training import TrainConfig, sample_model, train

num_steps = int(sys.argv[1]) if len(sys.argv) > 1 else 400
workdir = sys.argv[2] if len(sys.argv) > 2 else "runs/toy_diffusion"


def toy_batches(start_step):  # 16 images: a level c ~ N(0.2, 0.3^2) plus pixel noise 0.05
    for step in range(start_step, num_steps):
        rng = np.random.default_rng(step)
        level = 0.2 + 0.3 * rng.normal(size=(16, 1, 1, 1))
        yield {"x0": (level + 0.05 * rng.normal(size=(16, 8, 8, 1))).astype(np.float32)}


# One resolution level, width 8, no attention: enough for this distribution, quick to compile.
network = UNetConfig.tiny(1, dim=8, dim_mults=(1,), num_groups=2, attention=False)
model = UNet(network, rngs=nnx.Rngs(0))
config = TrainConfig(
    num_steps=num_steps,
    learning_rate=2e-3,
    warmup_steps=20,
    log_every=50,
    ema_decay=0.99,
    ema_every=1,
)
result = train(model, toy_batches, config, workdir=workdir)
samples = sample_model(
    result.sampling_model, (256, 8, 8, 1), jax.random.key(1), make_schedule("cosine"), num_steps=50
)
print(
    f"mean {samples.mean():.3f} (data 0.2), std of image levels "
    f"{samples.mean(axis=(1, 2, 3)).std():.3f} (data 0.3)"
)
