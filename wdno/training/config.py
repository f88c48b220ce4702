"""Training configuration: the frozen :class:`TrainConfig`, and the learning-rate, EMA-decay and
optimiser it defines (spec §6: Adam with betas (0.9, 0.99), global gradient-norm clipping at 1.0,
EMA decay 0.995 updated every 10 steps with ema_pytorch's warm-up; the learning rate warms up
and follows one cosine decay, or the original's periodic cosine)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import jax
import jax.numpy as jnp
import optax

from wdno.diffusion import parameterization

__all__ = ["TrainConfig", "ema_decay_schedule", "learning_rate_schedule", "make_optimizer"]


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Static training configuration.

    Attributes:
        num_steps: total optimiser steps (training stops earlier if the data run out).
        batch_size: global batch size (for the record and a consistency check of the batches).
        optimizer: ``"adam"`` or ``"adamw"``.
        learning_rate: peak learning rate.
        beta1, beta2: Adam moment decays (original: 0.9, 0.99).
        weight_decay: AdamW decoupled weight decay.
        lr_schedule: ``"cosine"`` (linear warm-up, then one cosine decay to
            ``final_lr_fraction * learning_rate`` at ``num_steps``), ``"constant"`` (after warm-up)
            or ``"periodic_cosine"`` (the original: ``lr (1 + cos(pi step / period)) / 2``).
        warmup_steps: linear warm-up steps.
        final_lr_fraction: end value of the cosine decay relative to the peak.
        cosine_period: half-period of ``"periodic_cosine"`` (original: 10000).
        grad_clip: global gradient-norm clip (0: none).
        ema_decay: EMA decay per update (the largest decay, with ``ema_warmup``).
        ema_every: update the EMA every this many steps.
        ema_start_step: up to this step the EMA copies the weights (as ema_pytorch).
        ema_warmup: ramp the decay up after ``ema_start_step`` (the EMA warm-up of ema_pytorch,
            the original's EMA library, with ``inv_gamma = 1``): at optimiser step ``s`` the
            decay is ``min(ema_decay, 1 - (1 + n)^(-ema_warmup_power))``, ``n = s -
            ema_start_step``. With power 2/3 it reaches 0.9 at ``n = 31``, 0.99 at ``n = 999``
            and 0.995 at ``n = 2827``, so a short run does not average over its early weights.
            False: the fixed ``ema_decay`` from the first update on.
        ema_warmup_power: exponent of the warm-up (ema_pytorch's default 2/3; 3/4 ramps faster).
        use_ema_for_sampling: sample (and evaluate) with the EMA weights, else the raw ones.
        diffusion_schedule: beta schedule of the default diffusion loss.
        diffusion_steps: ``T`` of the default diffusion loss.
        prediction: the denoiser's target, ``"eps"`` (the paper), ``"x0"`` or ``"v"``
            (:mod:`wdno.diffusion.parameterization`).
        loss_weighting: ``"uniform"`` or ``"min_snr"`` (clamped at ``min_snr_gamma``).
        log_every: log (CSV, progress bar) every this many steps.
        eval_every: call the evaluation hook every this many steps (0: never).
        checkpoint_every: checkpoint every this many steps (0: only at the end).
        checkpoint_minutes: also checkpoint when this much wall-clock time passed since the
            last one (0: never). With several processes the clocks are compared every
            ``log_every`` steps, so that every process saves at the same step.
        max_checkpoints: checkpoints kept (``None``: all).
        seed: seed of the training PRNG key when none is passed.
    """

    num_steps: int = 1000
    batch_size: int = 16
    optimizer: str = "adam"
    learning_rate: float = 1e-4
    beta1: float = 0.9
    beta2: float = 0.99
    weight_decay: float = 0.0
    lr_schedule: str = "cosine"
    warmup_steps: int = 0
    final_lr_fraction: float = 0.0
    cosine_period: int = 10000
    grad_clip: float = 1.0
    ema_decay: float = 0.995
    ema_every: int = 10
    ema_start_step: int = 100
    ema_warmup: bool = True
    ema_warmup_power: float = 2 / 3
    use_ema_for_sampling: bool = True
    diffusion_schedule: str = "cosine"
    diffusion_steps: int = 1000
    prediction: str = "eps"
    loss_weighting: str = "uniform"
    min_snr_gamma: float = 5.0
    log_every: int = 100
    eval_every: int = 0
    checkpoint_every: int = 0
    checkpoint_minutes: float = 5.0
    max_checkpoints: int | None = 3
    seed: int = 0

    def __post_init__(self):
        parameterization.check(self.prediction, self.loss_weighting)
        if self.optimizer not in ("adam", "adamw"):
            raise ValueError(
                f"TrainConfig.optimizer must be 'adam' or 'adamw', got {self.optimizer!r}."
            )
        if self.lr_schedule not in ("cosine", "constant", "periodic_cosine"):
            raise ValueError(
                f"TrainConfig.lr_schedule must be 'cosine', 'constant' or "
                f"'periodic_cosine', got {self.lr_schedule!r}."
            )
        for name in ("num_steps", "batch_size", "ema_every", "log_every"):
            if getattr(self, name) < 1:
                raise ValueError(f"TrainConfig.{name} must be >= 1, got {getattr(self, name)}.")
        if self.checkpoint_every < 0 or not self.checkpoint_minutes >= 0:
            raise ValueError(
                f"TrainConfig: checkpoint_every and checkpoint_minutes must be >= 0, got "
                f"{self.checkpoint_every} and {self.checkpoint_minutes}."
            )
        if not 0.0 <= self.ema_decay < 1.0:
            raise ValueError(f"TrainConfig.ema_decay must be in [0, 1), got {self.ema_decay}.")
        if self.ema_warmup_power <= 0:
            raise ValueError(
                f"TrainConfig.ema_warmup_power must be > 0, got {self.ema_warmup_power}."
            )


def learning_rate_schedule(config: TrainConfig) -> optax.Schedule:
    """Learning rate as a function of the step (see `TrainConfig.lr_schedule`)."""
    peak, warmup = config.learning_rate, config.warmup_steps

    def schedule(step):
        step = jnp.asarray(step, jnp.float32)
        ramp = jnp.minimum(1.0, (step + 1.0) / warmup) if warmup > 0 else 1.0
        if config.lr_schedule == "constant":
            return peak * ramp
        if config.lr_schedule == "periodic_cosine":
            return peak * 0.5 * (1.0 + jnp.cos(jnp.pi * step / config.cosine_period))
        progress = jnp.clip((step - warmup) / max(config.num_steps - warmup, 1), 0.0, 1.0)
        final = config.final_lr_fraction
        return peak * ramp * (final + (1.0 - final) * 0.5 * (1.0 + jnp.cos(jnp.pi * progress)))

    return schedule


def ema_decay_schedule(config: TrainConfig) -> Callable[[jax.Array], jax.Array]:
    """EMA decay as a function of the optimiser step ``s = 1, 2, ...`` just taken.

    0 (a copy of the weights) for ``s <= ema_start_step``; then ``ema_decay``, or with
    `TrainConfig.ema_warmup` ``min(ema_decay, 1 - (1 + n)^(-ema_warmup_power))``,
    ``n = s - ema_start_step``. The EMA is updated as ``e <- d e + (1 - d) w`` on the steps
    divisible by ``ema_every`` (and on every step of the copy phase).
    """

    def decay(step):
        step = jnp.asarray(step, jnp.float32)
        since = jnp.maximum(step - config.ema_start_step, 0.0)
        value = jnp.asarray(config.ema_decay, jnp.float32)
        if config.ema_warmup:
            value = jnp.minimum(value, 1.0 - (1.0 + since) ** -config.ema_warmup_power)
        return jnp.where(step <= config.ema_start_step, 0.0, value)

    return decay


def make_optimizer(config: TrainConfig) -> optax.GradientTransformation:
    """Gradient clipping followed by Adam/AdamW on `learning_rate_schedule`."""
    schedule = learning_rate_schedule(config)
    if config.optimizer == "adam":
        optimizer = optax.adam(schedule, b1=config.beta1, b2=config.beta2)
    else:
        optimizer = optax.adamw(
            schedule, b1=config.beta1, b2=config.beta2, weight_decay=config.weight_decay
        )
    if config.grad_clip > 0:
        return optax.chain(optax.clip_by_global_norm(config.grad_clip), optimizer)
    return optimizer
