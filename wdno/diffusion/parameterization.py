"""What the denoiser predicts, and how each choice becomes the noise the samplers use.

Three standard targets for the network output at ``x_t = sqrt(ab) x0 + sqrt(1 - ab) eps``:

- ``"eps"``: the noise (DDPM, Ho et al. 2020; the paper's and the original's choice);
- ``"x0"``: the clean sample;
- ``"v"``: ``v = sqrt(ab) eps - sqrt(1 - ab) x0`` (Salimans & Ho 2022, progressive distillation).

The samplers and guidance work with a noise predictor; :func:`noise_predictor` wraps a network of
any target into one (the wrapper changes no weights), using ``eps = (x_t - sqrt(ab) x0) /
sqrt(1 - ab)`` and ``eps = sqrt(1 - ab) x_t + sqrt(ab) v``.

Loss weighting over noise levels (``weighting``): ``"uniform"`` weighs every step alike in the
chosen target's loss; ``"min_snr"`` (Hang et al. 2023, "Efficient diffusion training via min-SNR
weighting") clamps the signal-to-noise ratio ``snr = ab / (1 - ab)`` at ``gamma``: the weight of
a sample is ``min(snr, gamma) / snr`` for eps, ``min(snr, gamma)`` for x0 and
``min(snr, gamma) / (snr + 1)`` for v, i.e. every target gets the same effective x0-weight
``min(snr, gamma)``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from wdno.diffusion.schedules import Schedule

__all__ = ["PREDICTIONS", "WEIGHTINGS", "loss_weight", "noise_predictor", "target"]

PREDICTIONS = ("eps", "x0", "v")
WEIGHTINGS = ("uniform", "min_snr")


def check(prediction: str, weighting: str = "uniform") -> None:
    if prediction not in PREDICTIONS:
        raise ValueError(f"prediction: expected one of {PREDICTIONS}, got {prediction!r}")
    if weighting not in WEIGHTINGS:
        raise ValueError(f"loss weighting: expected one of {WEIGHTINGS}, got {weighting!r}")


def _expand(values: jax.Array, ndim: int) -> jax.Array:
    return values.reshape(values.shape + (1,) * (ndim - values.ndim))


def target(prediction: str, x0: jax.Array, noise: jax.Array, alpha_bar: jax.Array) -> jax.Array:
    """The regression target of the network for ``x0``, ``noise`` and ``alpha_bar`` (broadcast)."""
    check(prediction)
    if prediction == "eps":
        return noise
    if prediction == "x0":
        return x0
    return jnp.sqrt(alpha_bar) * noise - jnp.sqrt(1.0 - alpha_bar) * x0


def loss_weight(
    prediction: str, weighting: str, alpha_bar: jax.Array, gamma: float = 5.0
) -> jax.Array:
    """Per-sample weight of the squared error for ``alpha_bar (B,)`` (module docstring)."""
    check(prediction, weighting)
    if weighting == "uniform":
        return jnp.ones_like(alpha_bar)
    snr = alpha_bar / (1.0 - alpha_bar)
    clamped = jnp.minimum(snr, gamma)
    return {"eps": clamped / snr, "x0": clamped, "v": clamped / (snr + 1.0)}[prediction]


def noise_predictor(denoise_fn, schedule: Schedule, prediction: str):
    """``denoise_fn(x_t, t) -> prediction`` as a noise predictor ``(x_t, t) -> eps``."""
    check(prediction)
    if prediction == "eps":
        return denoise_fn

    def predict_eps(x_t, t):
        output = denoise_fn(x_t, t)
        alpha_bar = _expand(schedule.alphas_cumprod[t], x_t.ndim)
        if prediction == "x0":
            return (x_t - jnp.sqrt(alpha_bar) * output) / jnp.sqrt(1.0 - alpha_bar)
        return jnp.sqrt(1.0 - alpha_bar) * x_t + jnp.sqrt(alpha_bar) * output

    return predict_eps
