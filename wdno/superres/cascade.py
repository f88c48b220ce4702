"""Zero-shot super-resolution cascade: base samples refined 2x per level by the SRM (spec §7, §4.4).

Design notes
------------
* **What is given.** The base level is an input: trajectories at the base resolution (Burgers
  81x120), e.g. sampled by the ordinary simulation model (:func:`wdno.simulators.sampling.
  simulate`). Its joint coefficients are recomputed from those arrays with the base encoding
  (the base model's own ``u(t=0)`` is replaced by the given ``u0`` there, a difference of the
  order of ``initial_state_error``). Every finer level needs its known conditions *at that
  level*: the initial state and the control on the finer grid. For levels beyond the training
  resolutions (zero-shot: Burgers 161x240, 321x480, 641x960) they come from data generated at
  that resolution (spec §7.2, "f and u0 conditions at that resolution taken from the
  high-resolution test set").
* **One level** (:func:`refine`): the SRM tensor (:mod:`wdno.superres.layout`) holds the fine
  ``u0`` bands, the fine control bands and the previous level's coefficients repeated 2x2 as
  known channels; DDIM with inpainting (:func:`wdno.diffusion.ddim_sample`) generates the rest.
  The low input is the previous level's *generated coefficients* (spec §4.4 ``c[:8]``), not a
  re-encoding of its decoded trajectory, so nothing is lost between levels.
* **Odd sizes.** The low channels are cropped to the fine coefficient extent (41 time
  coefficients at 81x120, 81 at 161x240, ...), so no repeated target row has to be dropped; see
  :mod:`wdno.superres.layout`.
* **Shapes** (Burgers, base 81x120): level ``k`` has states ``(80 * 2**k + 1) x (120 * 2**k)``,
  controls ``(80 * 2**k) x (120 * 2**k)`` and coefficients ``(40 * 2**k + 1) x (60 * 2**k)``:
  161x240 (81x120), 321x480 (161x240), 641x960 (321x480).
* **Scales.** One normaliser serves every level (the SRM's, :mod:`wdno.superres.batches`); the
  base model's normaliser is not used here.
* **Guarantees.** Imposed entries equal their inputs exactly in normalised space, so the
  returned coefficients' control bands equal those of the given control and the decoded control
  equals it up to float32 round-off. ``u0`` is not a subset of the joint coefficients: as in
  :func:`wdno.simulators.sampling.simulate`, the returned state carries the given ``u0`` at
  ``t = 0`` and ``initial_state_error`` says how far the model's own ``u(t=0)`` was.
* **Compilation.** One compiled sampler per level and call (its shapes differ; the denoiser is
  closed over); batches within a level reuse it (the last batch is padded).
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np
from tqdm.auto import tqdm

from wdno import diffusion
from wdno.simulators.sampling import SamplerConfig
from wdno.superres import layout as sr_layout
from wdno.training import batches
from wdno.transforms import encoding, normalization

__all__ = ["Level", "level_layout", "refine", "super_resolve"]


@dataclasses.dataclass(frozen=True)
class Level:
    """One resolution of a cascade (numpy arrays).

    Attributes:
        state: ``(N, T, *spatial, Fs)``, ``state[:, 0]`` the given initial state.
        control: ``(N, T - 1, *spatial, Fc)`` decoded (equals the given one up to round-off), or
            None without control.
        coefficients: ``(N, *extent, n)`` un-normalised joint coefficients (the next level's low
            input).
        initial_state_error: ``(N,)`` max |decoded u(t=0) - given u0| (zero at the base level).
    """

    state: np.ndarray
    control: np.ndarray | None
    coefficients: np.ndarray
    initial_state_error: np.ndarray


def refine(
    denoise_fn: diffusion.DenoiseFn,
    layout: sr_layout.SuperResLayout,
    scale: jax.Array,
    schedule: diffusion.Schedule,
    coarse_coefficients: jax.Array,
    initial_state: jax.Array,
    control: jax.Array | None,
    *,
    key: jax.Array,
    sampler: SamplerConfig | None = None,
) -> jax.Array:
    """One 2x refinement: a sampled SRM tensor (un-normalised), known entries imposed.

    Pure and traceable (wrap it in ``jax.jit`` with ``layout`` and ``sampler`` fixed).

    Args:
        denoise_fn: ``denoise_fn(x_t, t) -> eps`` of the SRM on normalised tensors.
        layout: the SRM layout of the fine grid.
        scale: ``(C,)`` the SRM's channel scales.
        schedule: its diffusion schedule.
        coarse_coefficients: ``(N, *layout.coarse_extent, n)`` un-normalised.
        initial_state: ``(N, *spatial, Fs)`` on the fine grid.
        control: ``(N, T - 1, *spatial, Fc)`` on the fine grid, or None.
        key: PRNG key.
        sampler: sampler settings (DDIM or DDPM; default :class:`SamplerConfig`).

    Returns:
        ``(N, *layout.shape)``; decode it with :func:`wdno.superres.layout.decode`.
    """
    sampler = sampler or SamplerConfig()
    fine = layout.fine
    num = initial_state.shape[0]
    state = jnp.zeros((num, *fine.grid_shape, fine.num_state_fields), jnp.float32)
    state = state.at[:, 0].set(initial_state)
    normalizer = normalization.Normalizer(scale)
    known_values = normalizer.normalize(
        sr_layout.encode(layout, state, control, jnp.asarray(coarse_coefficients, jnp.float32))
    )
    options = dict(
        known_mask=jnp.asarray(layout.known_mask(initial_state=True, control=True)),
        known_values=known_values,
        clip_range=(-1.0, 1.0) if sampler.clip else None,
    )
    shape = (num, *layout.shape)
    if sampler.method == "ddim":
        sample = diffusion.ddim_sample(
            denoise_fn,
            shape,
            key,
            schedule,
            num_steps=sampler.num_steps,
            eta=sampler.eta,
            **options,
        )
    else:
        sample = diffusion.ddpm_sample(denoise_fn, shape, key, schedule, **options)
    return normalizer.denormalize(sample)


def level_layout(
    config: encoding.EncodingConfig, initial_state_shape, control_shape, num_times: int
) -> sr_layout.SuperResLayout:
    """SRM layout of a level from its condition shapes (per sample, no batch axis)."""
    state_shape = (num_times, *initial_state_shape)
    control_shape = None if control_shape is None else (num_times - 1, *control_shape[1:])
    return sr_layout.make_layout(config, state_shape, control_shape)


def super_resolve(
    denoise_fn: diffusion.DenoiseFn,
    config: encoding.EncodingConfig,
    normalizer: normalization.Normalizer,
    schedule: diffusion.Schedule,
    base_state,
    base_control,
    conditions: Sequence[tuple],
    *,
    key: jax.Array | int = 0,
    sampler: SamplerConfig | None = None,
    batch_size: int = 16,
    progress: bool = False,
) -> list[Level]:
    """Refine base trajectories level by level (module design notes).

    Args:
        denoise_fn: the SRM's ``denoise_fn(x_t, t) -> eps`` (e.g. ``wdno.diffusion.
            noise_predictor(model, schedule, prediction)``); the same callable serves every level
            (the network is convolutional).
        config: the SRM's encoding configuration.
        normalizer: the SRM's shared channel scales.
        schedule: the SRM's diffusion schedule.
        base_state: ``(N, T, *spatial, Fs)`` at the base resolution.
        base_control: ``(N, T - 1, *spatial, Fc)`` or None.
        conditions: per finer level, ``(initial_state, control)`` on that level's grid:
            ``(N, *2**k spatial, Fs)`` and ``(N, 2**k (T - 1), *2**k spatial, Fc)`` (or None).
        key: PRNG key or seed; level ``k`` batch ``b`` uses ``fold_in(fold_in(key, k), b)``.
        sampler: sampler settings (default: DDIM, 50 steps, eta 1, clipping).
        batch_size: trajectories per compiled call.
        progress: a progress bar per level.

    Returns:
        ``len(conditions) + 1`` :class:`Level` entries, the base level first.
    """
    key = jax.random.key(int(key)) if isinstance(key, (int, np.integer)) else key
    sampler = sampler or SamplerConfig()
    base_state = np.asarray(base_state, np.float32)
    base_control = None if base_control is None else np.asarray(base_control, np.float32)
    base = encoding.make_layout(
        config, base_state.shape[1:], None if base_control is None else base_control.shape[1:]
    )
    encoded = encoding.encode_dataset(base, base_state, base_control)
    coefficients = np.asarray(sr_layout.trajectory_coefficients(base, encoded))
    num = len(base_state)
    levels = [Level(base_state, base_control, coefficients, np.zeros(num, np.float32))]
    scale = jnp.asarray(normalizer.scale, jnp.float32)
    num_times, spatial = base.num_times, base.spatial_shape
    for index, (initial_state, control) in enumerate(conditions, start=1):
        num_times = 2 * num_times - 1
        initial_state = np.asarray(initial_state, np.float32)
        control = None if control is None else np.asarray(control, np.float32)
        layout = level_layout(
            config,
            initial_state.shape[1:],
            None if control is None else control.shape[1:],
            num_times,
        )
        _check_level(layout, spatial, initial_state, control, coefficients, num, index)
        spatial = layout.fine.spatial_shape
        sample = jax.jit(functools.partial(_sample_level, denoise_fn, layout, sampler))
        level_key = jax.random.fold_in(key, index)
        parts = {"state": [], "control": [], "coefficients": []}
        padded = list(batches.padded_batches(num, batch_size))
        bar = tqdm(padded, desc=f"super-resolve x{2**index}", disable=not progress)
        for number, (rows, picked) in enumerate(bar):
            outputs = sample(
                scale,
                schedule,
                jax.random.fold_in(level_key, number),
                coefficients[picked],
                initial_state[picked],
                None if control is None else control[picked],
            )
            for name, value in zip(parts, outputs, strict=True):
                if value is not None:
                    parts[name].append(np.asarray(value)[rows])
        state = np.concatenate(parts["state"])
        coefficients = np.concatenate(parts["coefficients"])
        error = np.abs(state[:, 0] - initial_state).reshape(num, -1).max(axis=1)
        state[:, 0] = initial_state
        decoded_control = np.concatenate(parts["control"]) if parts["control"] else None
        levels.append(Level(state, decoded_control, coefficients, error))
    return levels


def _sample_level(
    denoise_fn, layout, sampler, scale, schedule, key, coarse, initial_state, control
):
    sample = refine(
        denoise_fn,
        layout,
        scale,
        schedule,
        coarse,
        initial_state,
        control,
        key=key,
        sampler=sampler,
    )
    state, decoded_control = sr_layout.decode(layout, sample)
    return state, decoded_control, sr_layout.trajectory_coefficients(layout.fine, sample)


def _check_level(layout, previous_spatial, initial_state, control, coefficients, num, index):
    where = f"cascade level {index}"
    fine = layout.fine
    if len(initial_state) != num or (control is not None and len(control) != num):
        raise ValueError(f"{where}: conditions must have the base batch size {num}")
    if tuple(layout.coarse.spatial_shape) != tuple(previous_spatial):
        raise ValueError(
            f"{where}: initial_state spatial shape {initial_state.shape[1:-1]} is not twice the "
            f"previous level's {tuple(previous_spatial)}"
        )
    expected = (fine.num_times - 1, *fine.spatial_shape, fine.num_control_fields)
    if (control is None) != (fine.num_control_fields == 0) or (
        control is not None and tuple(control.shape[1:]) != expected
    ):
        raise ValueError(
            f"{where}: control must be (N, *{expected}), got "
            f"{None if control is None else control.shape}"
        )
    if tuple(coefficients.shape[1:]) != (*layout.coarse_extent, layout.num_low_channels):
        raise ValueError(
            f"{where}: previous coefficients {coefficients.shape[1:]} do not fit the layout's "
            f"coarse extent {layout.coarse_extent}"
        )
