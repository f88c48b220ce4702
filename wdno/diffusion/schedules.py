"""Noise schedules of spec §4.1 (linear, cosine, sigmoid) and the guidance weight of spec §2.3.

A :class:`Schedule` is a pytree of the ``T`` betas and cumulative products
``ab_t = alphas_cumprod[t] = prod_{s<=t} (1 - beta_s)``; it is computed once in float64 and
stored in float32, so the loss and the samplers only gather from it.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class Schedule:
    """Noise schedule of ``T`` steps (a pytree of float32 arrays of shape ``(T,)``).

    Attributes:
        betas: ``beta_t``.
        alphas_cumprod: ``ab_t = prod_{s<=t} (1 - beta_s)``.
    """

    betas: jax.Array
    alphas_cumprod: jax.Array

    @property
    def num_steps(self) -> int:
        """Number of diffusion steps ``T`` (static: the array length)."""
        return self.betas.shape[0]

    @property
    def alphas_cumprod_prev(self) -> jax.Array:
        """``ab_{t-1}`` with ``ab_{-1} = 1``."""
        return jnp.concatenate(
            [jnp.ones((1,), self.alphas_cumprod.dtype), self.alphas_cumprod[:-1]]
        )


def _betas_from_alphas_cumprod(alphas_cumprod: np.ndarray) -> np.ndarray:
    """``beta_t = 1 - ab(t+1)/ab(t)`` for a continuous ``ab`` sampled at ``T+1`` points, clipped."""
    return np.clip(1.0 - alphas_cumprod[1:] / alphas_cumprod[:-1], 0.0, 0.999)


def make_schedule(name: str, num_steps: int = 1000, **options) -> Schedule:
    """Beta schedule of spec §4.1 (computed in float64, stored in float32).

    - ``linear`` (DDPM): ``beta`` from ``1e-4 * 1000/T`` to ``0.02 * 1000/T``.
    - ``cosine`` (Nichol & Dhariwal 2021, Eq. 17): ``f(u) = cos((u/T + s)/(1 + s) pi/2)^2``,
      ``beta_t = 1 - f(t+1)/f(t)``, ``s = 0.008``.
    - ``sigmoid`` (Jabri et al. 2022):
      ``f(u) = sig(end/tau) - sig(((end - start) u/T + start)/tau)``,
      ``start = -3, end = 3, tau = 1``.

    Cosine and sigmoid betas are clipped to ``[0, 0.999]``.

    Args:
        name: ``"linear"``, ``"cosine"`` or ``"sigmoid"``.
        num_steps: ``T``.
        **options: ``s`` (cosine), ``start``, ``end``, ``tau`` (sigmoid).
    """
    steps = np.arange(num_steps + 1, dtype=np.float64) / num_steps
    if name == "linear":
        scale = 1000.0 / num_steps
        betas = np.linspace(scale * 1e-4, scale * 0.02, num_steps, dtype=np.float64)
    elif name == "cosine":
        s = options.pop("s", 0.008)
        f = np.cos((steps + s) / (1 + s) * np.pi / 2) ** 2
        betas = _betas_from_alphas_cumprod(f / f[0])
    elif name == "sigmoid":
        start, end = options.pop("start", -3.0), options.pop("end", 3.0)
        tau = options.pop("tau", 1.0)
        sigmoid = lambda z: 1.0 / (1.0 + np.exp(-z))
        f = sigmoid(end / tau) - sigmoid(((end - start) * steps + start) / tau)
        betas = _betas_from_alphas_cumprod(f / f[0])
    else:
        raise ValueError(
            f"make_schedule: unknown schedule {name!r}; expected 'linear', 'cosine' or 'sigmoid'."
        )
    if options:
        raise ValueError(f"make_schedule({name!r}): unexpected options {sorted(options)}.")
    alphas_cumprod = np.cumprod(1.0 - betas)
    return Schedule(
        betas=jnp.asarray(betas, jnp.float32),
        alphas_cumprod=jnp.asarray(alphas_cumprod, jnp.float32),
    )


def cosine_beta_weights(timesteps: jax.Array) -> jax.Array:
    """Guidance weight ``w(t) = beta_t`` of the 1000-step cosine schedule (spec §2.3).

    About 0.999 at ``t = 999``, 0.0195 at 899, 0.0031 at 499 and 4e-5 at 0.
    """
    return make_schedule("cosine", 1000).betas[jnp.asarray(timesteps)]
