"""Guided sampling with known entries: the machinery shared by the controller and the guided
forecaster (paper Sec. 3.3, Eq. 4-5; spec §2.3).

A diffusion model (:class:`wdno.simulators.DiffusionSimulator`, WDNO or the physical-space DDPM)
samples its domain with the entries of its task known (``layout.task_known_mask()``: the past
frames and the control for a simulation or forecast model; the initial state, unless generated,
and the target for a control model) imposed by replacement at every step. The known values are
the encoding of a full known-state array, ``(N, T, *spatial, Fs)`` with the known frames filled
in (the rest is ignored), and a known control (ignored where the control is generated).

Guidance: at every denoising step the predicted clean sample ``x0_hat`` gets the known entries
imposed, is de-normalised and decoded to physical ``(state, control)``, and the gradient of the
objective ``J(state, control, given)`` (one sample, :mod:`wdno.control.evaluation`) with respect
to ``x0_hat`` is added to the predicted noise with weight ``scale * w(t)``
(:mod:`wdno.control.weights`); the samplers then re-derive the noise from the clipped clean
estimate (:mod:`wdno.diffusion.samplers`). A zero scale (or no objective) samples unguided, with
the very operations of :func:`wdno.simulators.sampling.simulate`: the same key gives the same
samples.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Mapping

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx
from tqdm.auto import tqdm

from wdno import diffusion
from wdno.control import evaluation
from wdno.control.weights import GuidanceSettings
from wdno.simulators.sampling import SamplerConfig
from wdno.training import batches
from wdno.transforms import encoding, normalization

__all__ = ["guided_samples", "is_diffusion_model", "sample_shapes"]


def is_diffusion_model(model) -> bool:
    """A trained diffusion model (it has a layout and a schedule)."""
    return getattr(model, "layout", None) is not None and hasattr(model, "schedule")


def sample_shapes(layout: encoding.TrajectoryLayout) -> tuple[tuple, tuple]:
    """Per-sample ``(state (T, *spatial, Fs), control (T - 1, *spatial, Fc))`` shapes of a layout
    (``Fc = 0`` without control: the objective then gets an empty control)."""
    state = (layout.num_times, *layout.spatial_shape, layout.num_state_fields)
    control = (layout.num_times - 1, *layout.spatial_shape, layout.num_control_fields)
    return state, control


@functools.partial(
    jax.jit,
    static_argnames=("graphdef", "layout", "sampler", "prediction", "objective", "guidance"),
)
def _guided_batch(
    weights,
    scale,
    schedule,
    key,
    known_state,
    known_control,
    given,
    guidance_scale,
    *,
    graphdef,
    layout,
    sampler,
    prediction,
    objective,
    guidance,
):
    """One batch of (guided) samples, decoded: ``(state, control)``.

    ``known_state``: ``(B, T, *spatial, Fs)``, known frames filled in; ``known_control``:
    ``(B, T - 1, *spatial, Fc)`` or None for a layout without control; ``given``: the objective's
    batched known parts. ``objective`` None samples unguided (``given`` and ``guidance_scale``
    unused).
    """
    normalizer = normalization.Normalizer(scale)
    mask = jnp.asarray(layout.task_known_mask())
    known_values = normalizer.normalize(encoding.encode(layout, known_state, known_control))
    empty = jnp.zeros((known_state.shape[0], *sample_shapes(layout)[1]))

    def decoded(x0):  # (state, control); a system without control gets an empty one
        state, control = encoding.decode(layout, normalizer.denormalize(x0))
        return state, empty if control is None else control

    options = dict(
        known_mask=mask,
        known_values=known_values,
        clip_range=(-1.0, 1.0) if sampler.clip else None,
    )
    if objective is not None:

        def guidance_objective(x0):
            x0 = jnp.where(mask, known_values, x0)  # known entries imposed before J (spec §2.3)
            state, control = decoded(x0)
            return jnp.sum(evaluation.batch_objective(objective, state, control, given))

        def weight(t):  # the scale is traced: changing it does not recompile
            return guidance_scale * guidance.weight(t)

        options["guidance"] = diffusion.Guidance(guidance_objective, weight)
    denoise = diffusion.noise_predictor(nnx.merge(graphdef, weights), schedule, prediction)
    shape = (known_state.shape[0], *layout.shape)
    if sampler.method == "ddim":
        sample = diffusion.ddim_sample(
            denoise, shape, key, schedule, num_steps=sampler.num_steps, eta=sampler.eta, **options
        )
    else:
        sample = diffusion.ddpm_sample(denoise, shape, key, schedule, **options)
    return decoded(sample)


def guided_samples(
    model,
    known_state,
    known_control,
    given: Mapping[str, np.ndarray],
    *,
    objective: Callable | None,
    guidance: GuidanceSettings,
    sampler: SamplerConfig,
    key: jax.Array | int = 0,
    batch_size: int = 50,
    progress: bool = True,
    description: str = "guided sampling",
) -> tuple[np.ndarray, np.ndarray]:
    """Samples of a diffusion model with its task's known entries imposed, guided by
    ``objective``; returns ``(state (N, T, *spatial, Fs), control (N, T - 1, *spatial, Fc))``
    as numpy arrays (the decoded samples, known entries as the model decoded them).

    Args:
        model: a :class:`wdno.simulators.DiffusionSimulator` (any mode).
        known_state: ``(N, T, *spatial, Fs)``, the known frames filled in (the rest ignored).
        known_control: ``(N, T - 1, *spatial, Fc)``, or None for a layout without control.
        given: the objective's known parts, each batched along axis 0 (``N`` rows).
        objective: ``J(state, control, given)`` on one sample, or None (unguided).
        guidance: scale and weight schedule; a zero scale samples unguided.
        sampler: sampler settings.
        key: PRNG key or seed; batch ``b`` samples with ``fold_in(key, b)``.
        batch_size: samples per compiled batch (the last batch padded: one compilation).
        progress: progress bar over batches.
        description: the progress bar's label.
    """
    layout = model.layout
    key = jax.random.key(int(key)) if isinstance(key, (int, np.integer)) else key
    if guidance.scale == 0:  # unguided, exactly: no gradient term at all
        objective = None
    graphdef, weights = nnx.split(model.model)
    static = dict(
        graphdef=graphdef,
        layout=layout,
        sampler=sampler,
        prediction=model.prediction,
        objective=objective,
        guidance=None if objective is None else dataclasses.replace(guidance, scale=1.0),
    )
    scale = jnp.asarray(model.normalizer.scale, jnp.float32)
    guidance_scale = jnp.asarray(guidance.scale, jnp.float32)
    known_state = np.asarray(known_state, np.float32)
    known_control = None if known_control is None else np.asarray(known_control, np.float32)
    given = {name: np.asarray(value, np.float32) for name, value in given.items()}
    states, controls = [], []
    padded = list(batches.padded_batches(len(known_state), batch_size))
    for number, (rows, index) in enumerate(tqdm(padded, desc=description, disable=not progress)):
        state, control = _guided_batch(
            weights,
            scale,
            model.schedule,
            jax.random.fold_in(key, number),
            known_state[index],
            None if known_control is None else known_control[index],
            {name: value[index] for name, value in given.items()},
            guidance_scale,
            **static,
        )
        states.append(np.asarray(state)[rows])
        controls.append(np.asarray(control)[rows])
    return np.concatenate(states), np.concatenate(controls)
