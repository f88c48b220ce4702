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

Modules: :mod:`~wdno.diffusion.schedules` (noise schedules, guidance weight),
:mod:`~wdno.diffusion.loss` (forward process, parameterisation, masked loss),
:mod:`~wdno.diffusion.guidance` (gradient guidance as data) and
:mod:`~wdno.diffusion.samplers` (DDPM/DDIM). Their public names are re-exported here.
"""

from __future__ import annotations

from wdno.diffusion.guidance import Guidance
from wdno.diffusion.loss import (
    DenoiseFn,
    diffusion_loss,
    predict_noise,
    predict_start,
    q_sample,
)
from wdno.diffusion.parameterization import PREDICTIONS, WEIGHTINGS, noise_predictor
from wdno.diffusion.samplers import ddim_sample, ddim_timesteps, ddpm_sample
from wdno.diffusion.schedules import Schedule, cosine_beta_weights, make_schedule

__all__ = [
    "PREDICTIONS",
    "WEIGHTINGS",
    "DenoiseFn",
    "Guidance",
    "Schedule",
    "cosine_beta_weights",
    "ddim_sample",
    "ddim_timesteps",
    "ddpm_sample",
    "diffusion_loss",
    "make_schedule",
    "noise_predictor",
    "predict_noise",
    "predict_start",
    "q_sample",
]
