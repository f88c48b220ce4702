"""Sampling an NNX denoiser under one compilation (the diffusion samplers take a plain callable;
this wraps a module's weights as arguments so new weights never recompile)."""

from __future__ import annotations

import dataclasses
import functools

import jax
import jax.numpy as jnp
from flax import nnx

from wdno.diffusion import Guidance, Schedule, ddim_sample, ddpm_sample

__all__ = ["sample_model"]

_SAMPLERS = {"ddim": ddim_sample, "ddpm": ddpm_sample}


def sample_model(
    model: nnx.Module,
    shape: tuple[int, ...],
    key: jax.Array,
    schedule: Schedule,
    *,
    method: str = "ddim",
    known_mask: jax.Array | None = None,
    known_values: jax.Array | None = None,
    **options,
) -> jax.Array:
    """Sample from an NNX denoiser under one ``jax.jit`` (weights are arguments, not constants).

    One compilation per model structure, ``shape``, ``method`` and options: later calls with new
    weights, keys, schedules of the same length or conditions of the same shapes reuse it.

    Args:
        model: noise predictor ``model(x_t, t)``.
        shape: sample shape ``(B, ..., C)``.
        key: PRNG key.
        schedule: the training schedule.
        method: ``"ddim"`` (`wdno.diffusion.ddim_sample`) or ``"ddpm"``.
        known_mask, known_values: inpainting condition.
        **options: further keyword arguments of the sampler (``num_steps``, ``eta``,
            ``clip_range``, ``guidance``, ``progress``); static, so hashable (numbers, tuples,
            functions). Array weights of a `Guidance` are traced; its objective is static (the
            same function object compiles once).
    """
    if method not in _SAMPLERS:
        raise ValueError(f"sample_model: method must be 'ddim' or 'ddpm', got {method!r}.")
    guidance = options.pop("guidance", None)
    guidance_weights = None
    if guidance is not None and not callable(guidance.weights):
        guidance_weights = jnp.asarray(guidance.weights, jnp.float32)
        guidance = dataclasses.replace(guidance, weights=None)
    options = tuple(
        sorted((name, tuple(v) if isinstance(v, list) else v) for name, v in options.items())
    )
    try:
        hash((options, guidance))
    except TypeError:
        raise TypeError(
            f"sample_model: sampler options must be hashable (numbers, tuples, functions), "
            f"got {dict(options)}."
        ) from None
    graphdef, state = nnx.split(model)
    return _sample_jit(
        state,
        key,
        schedule,
        known_mask,
        known_values,
        guidance_weights,
        graphdef=graphdef,
        shape=tuple(int(n) for n in shape),
        method=method,
        guidance=guidance,
        options=options,
    )


@functools.partial(jax.jit, static_argnames=("graphdef", "shape", "method", "guidance", "options"))
def _sample_jit(
    state,
    key,
    schedule,
    known_mask,
    known_values,
    guidance_weights,
    *,
    graphdef,
    shape,
    method,
    guidance: Guidance | None,
    options: tuple,
):
    """`sample_model` under jit: the structure, shape and options are static arguments."""
    if guidance is not None and guidance.weights is None:
        guidance = dataclasses.replace(guidance, weights=guidance_weights)
    return _SAMPLERS[method](
        nnx.merge(graphdef, state),
        shape,
        key,
        schedule,
        known_mask=known_mask,
        known_values=known_values,
        guidance=guidance,
        **dict(options),
    )
