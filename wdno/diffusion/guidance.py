"""Gradient guidance of spec §2.3, as data handed to the samplers.

Guidance adds ``w(t) grad J(x0_hat)`` to the predicted noise; the samplers then re-derive the
noise from the clipped clean estimate (see :mod:`wdno.diffusion.samplers`). The objective ``J``
and the weights ``w`` are plain callables and arrays; nothing here depends on flax.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np


@dataclasses.dataclass(frozen=True)
class Guidance:
    """Gradient guidance of spec §2.3: ``eps <- eps + w(t) grad_{x0_hat} J(x0_hat)``.

    Attributes:
        objective: ``J(x0_hat) -> scalar`` on the whole batch (sum over samples so per-sample
            gradients are independent), differentiable. Compose it with the inverse wavelet
            transform and the de-normalisation yourself.
        weights: one weight per sampling step (array of length ``num_steps``, first entry for the
            first, noisiest step), or a callable ``w(t)`` of the integer diffusion step.
    """

    objective: Callable[[jax.Array], jax.Array]
    weights: jax.Array | Callable[[jax.Array], jax.Array]

    def weight(self, step_index: jax.Array, t: jax.Array) -> jax.Array:
        """Weight at sampling step ``step_index`` (diffusion step ``t``)."""
        if callable(self.weights):
            return jnp.asarray(self.weights(t), jnp.float32)
        return jnp.asarray(self.weights, jnp.float32)[step_index]


def check_guidance(guidance, num_steps):
    """Raises a ValueError unless array weights have one entry per sampling step."""
    if guidance is None or callable(guidance.weights):
        return
    weights = np.shape(guidance.weights)
    if weights != (num_steps,):
        raise ValueError(
            f"Guidance.weights must have one entry per sampling step, shape ({num_steps},), "
            f"got {weights}."
        )
