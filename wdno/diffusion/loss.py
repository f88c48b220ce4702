"""Forward process, the clean/noise parameterisation and the masked training loss (spec §4, §4.4).

Notation (DDPM, Ho et al. 2020), ``ab_t`` = ``alphas_cumprod[t]``::

    q(x_t | x_0) = N(sqrt(ab_t) x_0, (1 - ab_t) I)                         (DDPM Eq. 4)
    x0_hat = (x_t - sqrt(1 - ab_t) eps) / sqrt(ab_t)                       (DDPM Eq. 15)
    eps    = (x_t / sqrt(ab_t) - x0_hat) / sqrt(1 / ab_t - 1)              (re-derived noise)

Conditioning is by replacement ("inpainting", spec §4.1): in training, entries where
``known_mask`` is true are overwritten with the clean data before the network call and do not
count in the loss; padding is excluded the same way, through ``loss_mask``. The network enters as
a plain callable ``denoise_fn(x_t, t) -> eps``.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp

from wdno.diffusion import parameterization
from wdno.diffusion.schedules import Schedule

DenoiseFn = Callable[[jax.Array, jax.Array], jax.Array]


def _broadcast_steps(values: jax.Array, t: jax.Array, ndim: int) -> jax.Array:
    """Gather ``values[t]`` for a ``(B,)`` step vector and shape it ``(B, 1, ..., 1)``."""
    return values[t].reshape(t.shape + (1,) * (ndim - t.ndim))


def q_sample(schedule: Schedule, x0: jax.Array, t: jax.Array, noise: jax.Array) -> jax.Array:
    """Forward process sample ``x_t = sqrt(ab_t) x0 + sqrt(1 - ab_t) eps`` (DDPM Eq. 4)."""
    ab = _broadcast_steps(schedule.alphas_cumprod, t, x0.ndim)
    return jnp.sqrt(ab) * x0 + jnp.sqrt(1.0 - ab) * noise


def predict_start(x_t: jax.Array, alpha_bar: jax.Array, eps: jax.Array) -> jax.Array:
    """``x0_hat = (x_t - sqrt(1 - ab) eps) / sqrt(ab)`` (DDPM Eq. 15)."""
    return (x_t - jnp.sqrt(1.0 - alpha_bar) * eps) / jnp.sqrt(alpha_bar)


def predict_noise(x_t: jax.Array, alpha_bar: jax.Array, x0: jax.Array) -> jax.Array:
    """``eps = (x_t / sqrt(ab) - x0) / sqrt(1/ab - 1)``, the noise consistent with ``x0``."""
    return (x_t / jnp.sqrt(alpha_bar) - x0) / jnp.sqrt(1.0 / alpha_bar - 1.0)


def broadcast_mask(mask, shape, what):
    """``mask`` broadcast to ``shape`` as bools (``None`` stays ``None``); ``what`` names it."""
    if mask is None:
        return None
    mask = jnp.asarray(mask, bool)
    try:
        return jnp.broadcast_to(mask, shape)
    except ValueError:
        raise ValueError(f"{what} of shape {mask.shape} does not broadcast to {shape}.") from None


def diffusion_loss(
    denoise_fn: DenoiseFn,
    x0: jax.Array,
    key: jax.Array,
    schedule: Schedule,
    *,
    known_mask: jax.Array | None = None,
    loss_mask: jax.Array | None = None,
    channel_weights: jax.Array | None = None,
    prediction: str = "eps",
    weighting: str = "uniform",
    min_snr_gamma: float = 5.0,
) -> jax.Array:
    """Masked epsilon-prediction loss (DDPM Eq. 14 with inpainting, spec §4.4).

    ``t ~ U{0..T-1}``, ``x_t = q_sample(x0, t, eps)``, known entries of ``x_t`` replaced by
    ``x0``; the loss is ``sum(m w (eps_theta(x_t, t) - eps)^2) / sum(m)`` with ``m`` = loss mask
    and not known, ``w`` the channel weights (broadcast over the last axis).

    Unlike the original (which sets the noise target to 0 on known/padded entries and averages
    over all entries, so the net also learns to output 0 there), known and masked entries do not
    count at all, and we normalise by the number of counted entries.

    Args:
        denoise_fn: ``denoise_fn(x_t, t) -> eps`` on a batch.
        x0: clean batch ``(B, ..., C)``.
        key: PRNG key.
        schedule: noise schedule.
        known_mask: bool, broadcastable to ``x0``; true where the entry is a condition.
        loss_mask: bool, broadcastable to ``x0``; false where the entry must not count (padding).
        channel_weights: ``(C,)`` per-channel loss weights (spec §4.1, Burgers' ``RESCALER``).
        prediction: what ``denoise_fn`` predicts, ``"eps"`` (the paper), ``"x0"`` or ``"v"``
            (:mod:`wdno.diffusion.parameterization`); the loss compares it with that target.
        weighting: ``"uniform"`` or ``"min_snr"`` over noise levels, clamped at
            ``min_snr_gamma``.

    Returns:
        Scalar loss.
    """
    time_key, noise_key = jax.random.split(key)
    t = jax.random.randint(time_key, x0.shape[:1], 0, schedule.num_steps)
    noise = jax.random.normal(noise_key, x0.shape, x0.dtype)
    x_t = q_sample(schedule, x0, t, noise)
    known = broadcast_mask(known_mask, x0.shape, "diffusion_loss: known_mask")
    counted = jnp.ones(x0.shape, bool)
    if known is not None:
        x_t = jnp.where(known, x0, x_t)
        counted = ~known
    loss_mask = broadcast_mask(loss_mask, x0.shape, "diffusion_loss: loss_mask")
    if loss_mask is not None:
        counted = counted & loss_mask
    alpha_bar = _broadcast_steps(schedule.alphas_cumprod, t, x0.ndim)
    wanted = parameterization.target(prediction, x0, noise, alpha_bar)
    error = jnp.square(denoise_fn(x_t, t) - wanted)
    if error.shape != x0.shape:
        raise ValueError(f"diffusion_loss: denoise_fn returned {error.shape}, expected {x0.shape}.")
    if channel_weights is not None:
        error = error * jnp.asarray(channel_weights, error.dtype)
    if weighting != "uniform":
        weight = parameterization.loss_weight(
            prediction, weighting, schedule.alphas_cumprod[t], min_snr_gamma
        )
        error = error * weight.reshape(t.shape + (1,) * (x0.ndim - 1)).astype(error.dtype)
    counted = counted.astype(error.dtype)
    return jnp.sum(error * counted) / jnp.maximum(jnp.sum(counted), 1.0)
