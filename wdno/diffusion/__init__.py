"""Gaussian diffusion: schedules, masked training loss, DDPM/DDIM samplers with inpainting and
guidance; spec §4 (diffusion), §2.3 (guidance), §4.4 (pseudo-code).

Notation (DDPM, Ho et al. 2020; DDIM, Song et al. 2021), ``ab_t`` = ``alphas_cumprod[t]``::

    q(x_t | x_0) = N(sqrt(ab_t) x_0, (1 - ab_t) I)                         (DDPM Eq. 4)
    x0_hat = (x_t - sqrt(1 - ab_t) eps) / sqrt(ab_t)                       (DDPM Eq. 15)
    eps    = (x_t / sqrt(ab_t) - x0_hat) / sqrt(1 / ab_t - 1)              (re-derived noise)

Conditioning is by replacement ("inpainting", spec §4.1): entries where ``known_mask`` is true
are overwritten with ``known_values`` before every network call and on the returned sample.
Padding is handled the same way (known entries with value 0). Guidance (spec §2.3) adds
``w(t) grad J(x0_hat)`` to the predicted noise, then re-derives the noise from the clipped clean
estimate. The network enters as a plain callable ``denoise_fn(x_t, t) -> eps``; nothing here
depends on flax. Diffusion steps are integers ``t = 0 .. T-1``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
from tqdm.auto import tqdm

__all__ = [
    "Guidance",
    "Schedule",
    "cosine_beta_weights",
    "ddim_sample",
    "ddim_timesteps",
    "ddpm_sample",
    "diffusion_loss",
    "make_schedule",
    "predict_noise",
    "predict_start",
    "q_sample",
]

DenoiseFn = Callable[[jax.Array, jax.Array], jax.Array]


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


def _mask(mask, shape, what):
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

    Returns:
        Scalar loss.
    """
    time_key, noise_key = jax.random.split(key)
    t = jax.random.randint(time_key, x0.shape[:1], 0, schedule.num_steps)
    noise = jax.random.normal(noise_key, x0.shape, x0.dtype)
    x_t = q_sample(schedule, x0, t, noise)
    known = _mask(known_mask, x0.shape, "diffusion_loss: known_mask")
    counted = jnp.ones(x0.shape, bool)
    if known is not None:
        x_t = jnp.where(known, x0, x_t)
        counted = ~known
    loss_mask = _mask(loss_mask, x0.shape, "diffusion_loss: loss_mask")
    if loss_mask is not None:
        counted = counted & loss_mask
    error = jnp.square(denoise_fn(x_t, t) - noise)
    if error.shape != x0.shape:
        raise ValueError(f"diffusion_loss: denoise_fn returned {error.shape}, expected {x0.shape}.")
    if channel_weights is not None:
        error = error * jnp.asarray(channel_weights, error.dtype)
    counted = counted.astype(error.dtype)
    return jnp.sum(error * counted) / jnp.maximum(jnp.sum(counted), 1.0)


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


def _check_guidance(guidance, num_steps):
    if guidance is None or callable(guidance.weights):
        return
    weights = np.shape(guidance.weights)
    if weights != (num_steps,):
        raise ValueError(
            f"Guidance.weights must have one entry per sampling step, shape ({num_steps},), "
            f"got {weights}."
        )


def _known(shape, known_mask, known_values):
    if (known_mask is None) != (known_values is None):
        raise ValueError("Pass both known_mask and known_values for inpainting, or neither.")
    if known_mask is None:
        return None, None
    mask = _mask(known_mask, shape, "known_mask")
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
    bar = tqdm(total=total, desc=description, leave=False)

    def advance(index):  # unordered (multi-device safe): close after the last of `total` calls
        bar.update(1)
        if bar.n >= total:
            bar.close()

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
    _check_guidance(guidance, num_steps)
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
    _check_guidance(guidance, num_steps)
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
