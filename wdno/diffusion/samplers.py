"""DDPM and DDIM samplers with inpainting and guidance, as ``lax.scan`` loops (spec §4, §2.3).

Conditioning is by replacement ("inpainting", spec §4.1): entries where ``known_mask`` is true
are overwritten with ``known_values`` before every network call and on the returned sample.
Padding is handled the same way (known entries with value 0). Guidance (spec §2.3) adds
``w(t) grad J(x0_hat)`` to the predicted noise, then re-derives the noise from the clipped clean
estimate. The network enters as a plain callable ``denoise_fn(x_t, t) -> eps``. Diffusion steps
are integers ``t = 0 .. T-1``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from tqdm.auto import tqdm

from wdno.diffusion.guidance import Guidance, check_guidance
from wdno.diffusion.loss import DenoiseFn, broadcast_mask, predict_noise, predict_start
from wdno.diffusion.schedules import Schedule


def _known(shape, known_mask, known_values):
    if (known_mask is None) != (known_values is None):
        raise ValueError("Pass both known_mask and known_values for inpainting, or neither.")
    if known_mask is None:
        return None, None
    mask = broadcast_mask(known_mask, shape, "known_mask")
    try:
        values = jnp.broadcast_to(jnp.asarray(known_values, jnp.float32), shape)
    except ValueError:
        raise ValueError(
            f"known_values of shape {np.shape(known_values)} does not broadcast to {shape}."
        ) from None
    return mask, values


def _impose(x, mask, values):
    return x if mask is None else jnp.where(mask, values, x)


def _denoise(denoise_fn, x, t, alpha_bar, step_index, clip_range, guidance):
    """Predicted (x0, eps) at ``x_t``: clip, guide, re-derive (spec §2.3 pseudo-code)."""
    t_batch = jnp.full(x.shape[:1], t, jnp.int32)
    eps = denoise_fn(x, t_batch)
    clip = (lambda z: z) if clip_range is None else (lambda z: jnp.clip(z, *clip_range))
    x0 = clip(predict_start(x, alpha_bar, eps))
    if guidance is not None:
        gradient = jax.grad(lambda z: jnp.sum(guidance.objective(z)))(jax.lax.stop_gradient(x0))
        eps = eps + guidance.weight(step_index, t) * gradient
        x0 = clip(predict_start(x, alpha_bar, eps))
    if clip_range is not None or guidance is not None:
        eps = predict_noise(x, alpha_bar, x0)
    return x0, eps


def _progress_callback(progress, total, description):
    """A host callback that advances a tqdm bar; returns ``None`` when progress is off."""
    if not progress:
        return None
    bars = []  # created at the first call, so every run of a compiled sampler shows its bar

    def advance(index):  # unordered (multi-device safe): close after the last of `total` calls
        if not bars or bars[-1].n >= total:
            bars.append(tqdm(total=total, desc=description, leave=False))
        bars[-1].update(1)
        if bars[-1].n >= total:
            bars[-1].close()

    return advance


def ddim_timesteps(num_steps: int, schedule_steps: int) -> tuple[np.ndarray, np.ndarray]:
    """Time pairs ``(t, t')`` of spec §4.1: ``int(linspace(-1, T-1, S+1))`` reversed.

    For ``S = 50, T = 1000``: (999, 979), (979, 959), ..., (19, -1); ``t' = -1`` means "return
    x0_hat".
    """
    if not 1 <= num_steps <= schedule_steps:
        raise ValueError(f"DDIM num_steps must be in [1, {schedule_steps}], got {num_steps}.")
    times = np.linspace(-1, schedule_steps - 1, num_steps + 1).astype(np.int32)[::-1]
    return times[:-1].copy(), times[1:].copy()


def ddim_sample(
    denoise_fn: DenoiseFn,
    shape: tuple[int, ...],
    key: jax.Array,
    schedule: Schedule,
    *,
    num_steps: int = 50,
    eta: float = 1.0,
    known_mask: jax.Array | None = None,
    known_values: jax.Array | None = None,
    clip_range: tuple[float, float] | None = (-1.0, 1.0),
    guidance: Guidance | None = None,
    progress: bool = False,
) -> jax.Array:
    """DDIM sampler (Song et al. 2021, Eq. 12) as a ``lax.scan`` over ``num_steps`` steps.

    For each pair ``(t, t')``: ``sigma = eta sqrt((1 - ab_t/ab_t')(1 - ab_t')/(1 - ab_t))``,
    ``x_t' = sqrt(ab_t') x0_hat + sqrt(1 - ab_t' - sigma^2) eps_hat + sigma z``; the last step
    (``t' = -1``, ``ab = 1``) returns ``x0_hat``. ``eta = 1`` is the original's setting.

    Args:
        denoise_fn: ``denoise_fn(x_t, t) -> eps`` with ``t`` of shape ``(B,)``.
        shape: sample shape ``(B, ..., C)``.
        key: PRNG key.
        schedule: the training schedule.
        num_steps: number of sampling steps ``S``.
        eta: 0 for deterministic DDIM, 1 for DDPM-like stochasticity.
        known_mask, known_values: inpainting condition (both broadcastable to ``shape``).
        clip_range: range of ``x0_hat`` (``None``: no clipping); eps is re-derived after clipping.
        guidance: optional `Guidance`.
        progress: show a tqdm bar (via a host callback).

    Returns:
        Samples of shape ``shape``, known entries equal to ``known_values``.
    """
    times, next_times = ddim_timesteps(num_steps, schedule.num_steps)
    check_guidance(guidance, num_steps)
    mask, values = _known(shape, known_mask, known_values)
    alphas_cumprod = schedule.alphas_cumprod
    init_key, loop_key = jax.random.split(key)
    x = _impose(jax.random.normal(init_key, shape, jnp.float32), mask, values)
    callback = _progress_callback(progress, num_steps, "DDIM")

    def step(x, inputs):
        index, t, t_next, step_key = inputs
        alpha_bar = alphas_cumprod[t]
        alpha_bar_next = jnp.where(t_next >= 0, alphas_cumprod[jnp.maximum(t_next, 0)], 1.0)
        x = _impose(x, mask, values)
        x0, eps = _denoise(denoise_fn, x, t, alpha_bar, index, clip_range, guidance)
        sigma = eta * jnp.sqrt(
            (1.0 - alpha_bar / alpha_bar_next) * (1.0 - alpha_bar_next) / (1.0 - alpha_bar)
        )
        direction = jnp.sqrt(jnp.maximum(1.0 - alpha_bar_next - sigma**2, 0.0))
        noise = jax.random.normal(step_key, shape, x.dtype)
        x = jnp.sqrt(alpha_bar_next) * x0 + direction * eps + sigma * noise
        if callback is not None:
            jax.debug.callback(callback, index)
        return x, None

    inputs = (
        jnp.arange(num_steps),
        jnp.asarray(times),
        jnp.asarray(next_times),
        jax.random.split(loop_key, num_steps),
    )
    x, _ = jax.lax.scan(step, x, inputs)
    return _impose(x, mask, values)


def ddpm_sample(
    denoise_fn: DenoiseFn,
    shape: tuple[int, ...],
    key: jax.Array,
    schedule: Schedule,
    *,
    known_mask: jax.Array | None = None,
    known_values: jax.Array | None = None,
    clip_range: tuple[float, float] | None = (-1.0, 1.0),
    guidance: Guidance | None = None,
    progress: bool = False,
) -> jax.Array:
    """Ancestral DDPM sampler over all ``T`` steps (DDPM Eq. 6-7, Algorithm 2), as a ``lax.scan``.

    ``x_{t-1} = c0_t x0_hat + ct_t x_t + sqrt(beta~_t) z`` with the posterior coefficients
    ``c0_t = sqrt(ab_{t-1}) beta_t / (1 - ab_t)``, ``ct_t = sqrt(alpha_t)(1 - ab_{t-1})/(1 - ab_t)``
    and variance ``beta~_t = beta_t (1 - ab_{t-1}) / (1 - ab_t)``; no noise at ``t = 0``.
    Arguments as in `ddim_sample` (``guidance.weights`` has ``T`` entries, first for ``t = T-1``).
    """
    num_steps = schedule.num_steps
    check_guidance(guidance, num_steps)
    mask, values = _known(shape, known_mask, known_values)
    alphas_cumprod, betas = schedule.alphas_cumprod, schedule.betas
    alphas_cumprod_prev = schedule.alphas_cumprod_prev
    init_key, loop_key = jax.random.split(key)
    x = _impose(jax.random.normal(init_key, shape, jnp.float32), mask, values)
    callback = _progress_callback(progress, num_steps, "DDPM")

    def step(x, inputs):
        index, t, step_key = inputs
        alpha_bar, alpha_bar_prev, beta = alphas_cumprod[t], alphas_cumprod_prev[t], betas[t]
        x = _impose(x, mask, values)
        x0, _ = _denoise(denoise_fn, x, t, alpha_bar, index, clip_range, guidance)
        coefficient_start = jnp.sqrt(alpha_bar_prev) * beta / (1.0 - alpha_bar)
        coefficient_current = jnp.sqrt(1.0 - beta) * (1.0 - alpha_bar_prev) / (1.0 - alpha_bar)
        variance = beta * (1.0 - alpha_bar_prev) / (1.0 - alpha_bar)
        noise = jax.random.normal(step_key, shape, x.dtype)
        x = coefficient_start * x0 + coefficient_current * x + jnp.sqrt(variance) * noise
        if callback is not None:
            jax.debug.callback(callback, index)
        return x, None

    inputs = (
        jnp.arange(num_steps),
        jnp.arange(num_steps - 1, -1, -1),
        jax.random.split(loop_key, num_steps),
    )
    x, _ = jax.lax.scan(step, x, inputs)
    return _impose(x, mask, values)
