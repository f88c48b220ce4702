"""Guidance weights over the denoising steps (spec §2.3, paper App. C.3).

At diffusion step ``t`` the controller adds ``scale * w(t) * grad J`` to the predicted noise.
``w`` is one of:

- ``"constant"``: ``w(t) = 1`` (the original's smoke control, ``eps + 100 grad J``);
- ``"cosine_beta"``: ``w(t) = beta_t`` of the 1000-step cosine schedule, about 0.999 at
  ``t = 999``, 0.0195 at 899, 0.0031 at 499 (the released Burgers control, ``--J_scheduler
  cosine``): guidance acts mostly early in sampling;
- a callable ``w(t)`` of the integer diffusion step (an array of shape ``()``), traceable by JAX.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import jax
import jax.numpy as jnp

from wdno.diffusion.schedules import cosine_beta_weights

__all__ = ["SCHEDULES", "GuidanceSettings"]

SCHEDULES = ("constant", "cosine_beta")


@dataclasses.dataclass(frozen=True)
class GuidanceSettings:
    """How strongly the objective steers sampling.

    Attributes:
        scale: overall factor (the original's Burgers ``wu = 1.2e5``); 0 samples unguided.
        schedule: ``"constant"``, ``"cosine_beta"`` or a callable ``w(t)`` (see module docstring).
    """

    scale: float = 1.0
    schedule: str | Callable[[jax.Array], jax.Array] = "constant"

    def __post_init__(self):
        if not callable(self.schedule) and self.schedule not in SCHEDULES:
            raise ValueError(
                f"GuidanceSettings.schedule: expected one of {SCHEDULES} or a callable w(t), "
                f"got {self.schedule!r}"
            )
        if not (self.scale >= 0):
            raise ValueError(f"GuidanceSettings.scale: expected >= 0, got {self.scale}")

    def weight(self, t: jax.Array) -> jax.Array:
        """``scale * w(t)`` at diffusion step ``t``."""
        if callable(self.schedule):
            w = self.schedule(t)
        elif self.schedule == "cosine_beta":
            w = cosine_beta_weights(t)
        else:
            w = jnp.ones((), jnp.float32)
        return self.scale * jnp.asarray(w, jnp.float32)
