"""Trajectory <-> network-tensor encoding: WDNO's wavelet-domain representation (Sec. 3.1).

A sample is a whole trajectory: the state ``u`` at ``T`` time levels (including the initial state
``u0``) and, optionally, a control/forcing ``f`` on the ``T - 1`` intervals between them. The
encoding turns it into one channels-last array a U-Net can denoise, and back:

1. **Time alignment.** The control has one frame fewer than the state. It is extended to ``T``
   frames by repeating its last frame (edge padding), so that state and control share one
   space-time grid and one joint transform. Decoding drops that extra frame again. (The original
   code appends a zero frame instead, which puts a jump at the end of the time axis; the rule is
   lossless either way, edge padding just avoids the artificial discontinuity.)
2. **Transform.** ``transform="wavelet"``: a ``level``-level DWT over time and space jointly
   (``(t, x)`` for a 1-D PDE, ``(t, y, x)`` for a 2-D one), subbands packed into channels by
   :func:`wdno.wavelets.pack` (field-major: all bands of the first state field, ..., then all
   bands of the first control field, ...). ``transform="identity"``: the physical fields
   themselves (the paper's physical-space DDPM baseline).
3. **Initial-state condition** (wavelet only). ``u0`` is not a subset of the joint coefficients, so
   its spatial DWT (same wavelet, mode and level) is packed and broadcast along the time-coefficient
   axis as extra, always-known channels. In physical space ``u0`` is simply the first time row of
   the state channels, which is marked known instead. A layout made with ``target=True`` (the
   control task, spec §2.3: ``u0`` and the target final state ``u_T`` given) carries the final
   state the same way: its spatial DWT in further channels (wavelet), or the last time row of the
   state channels (physical space). The original packs ``u0`` and ``u_T`` into two halves of one
   channel; separate channels say the same without sharing rows. A layout with
   ``past_frames = P > 1`` (forecasting: the first ``P`` frames given, e.g. 12 past hours of
   weather) carries, instead of ``u0``'s spatial DWT, the joint space-time DWT of the known
   frames extended to ``T`` frames by repeating the last known one (the control's rule of step 1):
   one channel per state band, aligned with the state's own coefficients. In physical space the
   first ``P`` time rows are known.
4. **Padding.** The canvas is zero-padded at the end of every grid axis up to a multiple of
   ``pad_multiple`` (the U-Net halves its input ``len(dim_mults) - 1`` times). Padded entries are
   known zeros.
5. **Normalisation.** Each channel is divided by a scale computed from the training set
   (:mod:`wdno.transforms.normalization`).

Channel order of the encoded array:
``[state bands | control bands | initial-state bands | target bands (target=True)]``; use
:meth:`TrajectoryLayout.channel_names` to see it for a given configuration.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from wdno.transforms import wavelets

TRANSFORMS = ("wavelet", "identity")
DATASET_BATCH = 256  # trajectories per call when a whole data set is encoded or reduced


@dataclasses.dataclass(frozen=True)
class EncodingConfig:
    """How a trajectory becomes a network tensor.

    Attributes:
        transform: ``"wavelet"`` (WDNO) or ``"identity"`` (physical-space DDPM baseline).
        wavelet: PyWavelets name; the paper uses bior2.4 for Burgers, bior1.3 for smoke.
        mode: DWT boundary mode (``periodization`` for Burgers, ``zero`` for smoke).
        level: number of decomposition levels (the paper uses 1).
        pad_multiple: the canvas is padded up to a multiple of this along every grid axis.
    """

    transform: str = "wavelet"
    wavelet: str = "bior2.4"
    mode: str = "periodization"
    level: int = 1
    pad_multiple: int = 8

    def __post_init__(self):
        if self.transform not in TRANSFORMS:
            raise ValueError(
                f"EncodingConfig.transform: expected one of {TRANSFORMS}, got {self.transform!r}"
            )
        if self.pad_multiple < 1:
            raise ValueError(f"EncodingConfig.pad_multiple: expected >= 1, got {self.pad_multiple}")


@dataclasses.dataclass(frozen=True)
class TrajectoryLayout:
    """Static description of the encoded tensor for one trajectory grid (hashable, jit-static).

    Attributes:
        config: the encoding configuration.
        num_times: number of state time levels ``T`` (control has ``T - 1`` frames).
        spatial_shape: state grid shape without time, e.g. ``(120,)`` or ``(64, 64)``.
        num_state_fields: state fields ``Fs`` (last axis of the state array).
        num_control_fields: control fields ``Fc`` (0 when there is no control).
        target: the final state ``u(T)`` is carried as a condition (the control task).
        past_frames: how many leading state frames are given (1: the initial state; more: a
            forecast from the past, step 3).
        initial_given: the initial state is given (every task but the inverse problem of a
            control layout: only the target given, the initial state generated with the rest;
            its condition channels are then generated too, consistent with the trajectory).
    """

    config: EncodingConfig
    num_times: int
    spatial_shape: tuple[int, ...]
    num_state_fields: int
    num_control_fields: int
    target: bool = False
    past_frames: int = 1
    initial_given: bool = True

    def __post_init__(self):
        if not self.initial_given and (not self.target or self.past_frames != 1):
            raise ValueError(
                "TrajectoryLayout.initial_given=False is the inverse problem: it needs "
                f"target=True and past_frames=1, got target={self.target}, "
                f"past_frames={self.past_frames}"
            )
        if not 1 <= self.past_frames < self.num_times:
            raise ValueError(
                f"TrajectoryLayout.past_frames: expected 1 <= past_frames < {self.num_times} "
                f"(the time levels), got {self.past_frames}"
            )

    # ---- derived geometry -------------------------------------------------------------------
    @property
    def num_fields(self) -> int:
        return self.num_state_fields + self.num_control_fields

    @property
    def grid_shape(self) -> tuple[int, ...]:
        return (self.num_times, *self.spatial_shape)

    @property
    def trajectory_coeffs(self) -> wavelets.CoeffLayout:
        axes = tuple(range(1, 2 + len(self.spatial_shape)))
        return wavelets.coeff_layout(
            (1, *self.grid_shape, self.num_fields),
            self.config.wavelet,
            level=self.config.level,
            mode=self.config.mode,
            axes=axes,
        )

    @property
    def initial_coeffs(self) -> wavelets.CoeffLayout:
        axes = tuple(range(1, 1 + len(self.spatial_shape)))
        return wavelets.coeff_layout(
            (1, *self.spatial_shape, self.num_state_fields),
            self.config.wavelet,
            level=self.config.level,
            mode=self.config.mode,
            axes=axes,
        )

    @property
    def is_wavelet(self) -> bool:
        return self.config.transform == "wavelet"

    @property
    def valid_shape(self) -> tuple[int, ...]:
        """Canvas extent holding data (before padding to ``pad_multiple``)."""
        if not self.is_wavelet:
            return self.grid_shape
        canvas = tuple(self.trajectory_coeffs.canvas_shape)
        initial = tuple(self.initial_coeffs.canvas_shape)
        return (canvas[0], *(max(a, b) for a, b in zip(canvas[1:], initial, strict=True)))

    @property
    def canvas_shape(self) -> tuple[int, ...]:
        m = self.config.pad_multiple
        return tuple(int(math.ceil(n / m) * m) for n in self.valid_shape)

    @property
    def bands_per_field(self) -> int:
        return self.trajectory_coeffs.num_channels // self.num_fields if self.is_wavelet else 1

    @property
    def num_state_channels(self) -> int:
        return self.num_state_fields * self.bands_per_field

    @property
    def num_control_channels(self) -> int:
        return self.num_control_fields * self.bands_per_field

    @property
    def num_initial_channels(self) -> int:
        """Channels of the initial-state (or past-frames) condition (wavelet only)."""
        if not self.is_wavelet:
            return 0
        if self.past_frames > 1:
            return self.num_state_channels
        return self.initial_coeffs.num_channels

    @property
    def num_target_channels(self) -> int:
        """Channels of the final-state condition (wavelet layouts made with ``target=True``)."""
        return self.initial_coeffs.num_channels if self.target and self.is_wavelet else 0

    @property
    def num_condition_channels(self) -> int:
        return self.num_initial_channels + self.num_target_channels

    @property
    def num_channels(self) -> int:
        return self.num_state_channels + self.num_control_channels + self.num_condition_channels

    @property
    def shape(self) -> tuple[int, ...]:
        """Encoded shape of one sample: ``(*canvas_shape, num_channels)``."""
        return (*self.canvas_shape, self.num_channels)

    def channel_names(
        self, state_names: Sequence[str] | None = None, control_names: Sequence[str] | None = None
    ) -> list[str]:
        state_names = list(state_names or [f"state{i}" for i in range(self.num_state_fields)])
        control_names = list(
            control_names or [f"control{i}" for i in range(self.num_control_fields)]
        )
        if not self.is_wavelet:
            return state_names + control_names
        names = self.trajectory_coeffs.channel_names(state_names + control_names)
        if self.past_frames == 1:
            initial = self.initial_coeffs.channel_names([f"{n}(t=0)" for n in state_names])
        else:
            past = [f"{n}(t<{self.past_frames})" for n in state_names]
            initial = self.trajectory_coeffs.channel_names(past + control_names)[
                : self.num_state_channels
            ]
        target = self.initial_coeffs.channel_names([f"{n}(t=T)" for n in state_names])
        return names + initial + (target if self.target else [])

    # ---- masks (numpy, static) ----------------------------------------------------------------
    def _valid_region(self, extent: Sequence[int]) -> np.ndarray:
        mask = np.zeros(self.canvas_shape, dtype=bool)
        mask[tuple(slice(0, n) for n in extent)] = True
        return mask

    def pad_mask(self) -> np.ndarray:
        """``(*canvas, C)`` bool: True on padded entries (always zero).

        Padding is the canvas padding up to ``pad_multiple`` plus, with ``level > 1``, the
        zero-padding of each band smaller than the coefficient canvas (``wavelets.pack``).
        """
        mask = np.ones(self.shape, dtype=bool)
        if self.is_wavelet:
            n = self.num_state_channels + self.num_control_channels
            traj = self.trajectory_coeffs
            for channel in range(n):
                band_shape = traj.band_shapes[channel % traj.num_bands]
                mask[..., channel] = ~self._valid_region(band_shape)
            init = self.initial_coeffs
            past = self.past_frames > 1
            for channel in range(self.num_condition_channels):  # initial (and target) bands
                if past and channel < self.num_initial_channels:  # past: like the state bands
                    band_shape = traj.band_shapes[channel % traj.num_bands]
                    mask[..., n + channel] = ~self._valid_region(band_shape)
                    continue
                band_shape = init.band_shapes[channel % init.num_bands]
                region = self._valid_region((self.canvas_shape[0], *band_shape))
                mask[..., n + channel] = ~region
        else:
            mask[...] = ~self._valid_region(self.grid_shape)[..., None]
        return mask

    def known_mask(
        self, *, initial_state: bool = True, control: bool = True, target: bool | None = None
    ) -> np.ndarray:
        """``(*canvas, C)`` bool: entries imposed by inpainting (conditions and padding).

        Args:
            initial_state: the initial state is given (simulation and control tasks).
            control: the control/forcing is given (simulation task); False to generate it.
            target: the final state is given (control task); default: the layout's ``target``.
        """
        target = self.target if target is None else target
        if target and not self.target:
            raise ValueError("known_mask(target=True): this layout carries no target condition")
        known = self.pad_mask().copy()
        s, c = self.num_state_channels, self.num_control_channels
        i = self.num_initial_channels
        if control:
            known[..., s : s + c] = True
        if self.is_wavelet:
            known[..., s + c : s + c + i] |= initial_state
            known[..., s + c + i :] |= target
        else:
            known[: self.past_frames, ..., :s] |= initial_state
            known[self.num_times - 1, ..., :s] |= target
        return known

    @property
    def mode(self) -> str:
        """``"control"`` for a layout with a target condition, else ``"simulation"``."""
        return "control" if self.target else "simulation"

    def task_known_mask(self) -> np.ndarray:
        """The known entries of the task the layout was made for: simulation (``u0`` and the
        control given) or control (``u0``, unless ``initial_given`` is False, and the target
        given; the control generated)."""
        if self.target:
            return self.known_mask(initial_state=self.initial_given, control=False, target=True)
        return self.known_mask(initial_state=True, control=True)


def make_layout(
    config: EncodingConfig,
    state_shape: Sequence[int],
    control_shape: Sequence[int] | None = None,
    *,
    target: bool = False,
    past_frames: int = 1,
    initial_given: bool = True,
) -> TrajectoryLayout:
    """Layout for states shaped ``(T, *spatial, Fs)`` and controls ``(T - 1, *spatial, Fc)``.

    Shapes are per sample (no batch axis). ``target=True`` adds the final-state condition of
    the control task; ``past_frames`` is the number of leading state frames given;
    ``initial_given=False`` (with ``target``) makes the inverse problem's layout.
    """
    state_shape = tuple(int(n) for n in state_shape)
    if len(state_shape) < 3:
        raise ValueError(
            "state shape: expected (time, *spatial, fields) with >= 1 spatial axis, got "
            f"{state_shape}"
        )
    num_control_fields = 0
    if control_shape is not None:
        control_shape = tuple(int(n) for n in control_shape)
        expected = (state_shape[0] - 1, *state_shape[1:-1])
        if control_shape[:-1] != expected:
            raise ValueError(
                f"control shape: expected {expected + ('fields',)} (one frame fewer than the "
                f"{state_shape[0]} state time levels, same spatial grid), got {control_shape}"
            )
        num_control_fields = control_shape[-1]
    return TrajectoryLayout(
        config=config,
        num_times=state_shape[0],
        spatial_shape=state_shape[1:-1],
        num_state_fields=state_shape[-1],
        num_control_fields=num_control_fields,
        target=bool(target),
        past_frames=int(past_frames),
        initial_given=bool(initial_given),
    )


def _pad_to(x: jax.Array, shape: Sequence[int], first_axis: int = 1) -> jax.Array:
    widths = [(0, 0)] * x.ndim
    for i, n in enumerate(shape):
        widths[first_axis + i] = (0, n - x.shape[first_axis + i])
    return jnp.pad(x, widths)


def extend_control(control: jax.Array) -> jax.Array:
    """``(N, T - 1, ...)`` control to ``(N, T, ...)`` by repeating its last frame (step 1 above):
    the one rule by which a control shares the state's time grid, for every model."""
    control = jnp.asarray(control)
    return jnp.concatenate([control, control[:, -1:]], axis=1)


def encode(
    layout: TrajectoryLayout, state: jax.Array, control: jax.Array | None = None
) -> jax.Array:
    """Encode a batch of trajectories (un-normalised).

    Args:
        layout: from :func:`make_layout`.
        state: ``(N, T, *spatial, Fs)``, including the initial state at ``t = 0``.
        control: ``(N, T - 1, *spatial, Fc)`` or None when the layout has no control.

    Returns:
        ``(N, *layout.canvas_shape, layout.num_channels)``.
    """
    expected = (layout.num_times, *layout.spatial_shape, layout.num_state_fields)
    if tuple(state.shape[1:]) != expected:
        raise ValueError(
            f"encode: state shape {tuple(state.shape)} does not match (N, *{expected})"
        )
    fields = [state]
    if not layout.num_control_fields and control is not None:
        raise ValueError(
            "encode: this layout has no control fields (make_layout(..., control_shape=None)) "
            f"but a control of shape {tuple(control.shape)} was given"
        )
    if layout.num_control_fields:
        if control is None:
            raise ValueError("encode: this layout has control fields but control=None was given")
        expected_control = (layout.num_times - 1, *layout.spatial_shape, layout.num_control_fields)
        if control.ndim != state.ndim or tuple(control.shape[1:]) != expected_control:
            raise ValueError(
                f"encode: control shape {tuple(control.shape)} does not match "
                f"(N, *{expected_control}) (one frame fewer than the {layout.num_times} state "
                "time levels)"
            )
        if control.shape[0] != state.shape[0]:
            raise ValueError(
                f"encode: control batch size {control.shape[0]} differs from state batch size "
                f"{state.shape[0]}"
            )
        fields.append(extend_control(control).astype(state.dtype))
    trajectory = jnp.concatenate(fields, axis=-1)
    if not layout.is_wavelet:
        return _pad_to(trajectory, layout.canvas_shape)

    cfg = layout.config
    ndim = 1 + len(layout.spatial_shape)
    coeffs = wavelets.wavedec(
        trajectory, cfg.wavelet, level=cfg.level, mode=cfg.mode, axes=tuple(range(1, 1 + ndim))
    )
    packed = _pad_to(wavelets.pack(coeffs), layout.canvas_shape)
    if layout.past_frames == 1:
        conditions = [_frame_channels(layout, state[:, 0])]
    else:
        conditions = [_past_channels(layout, state[:, : layout.past_frames])]
    if layout.target:
        conditions.append(_frame_channels(layout, state[:, -1]))
    return jnp.concatenate([packed, *conditions], axis=-1)


def _past_channels(layout: TrajectoryLayout, past: jax.Array) -> jax.Array:
    """The known frames ``(N, P, *spatial, Fs)`` as condition channels: extended to ``T`` frames
    by repeating the last one, then the same joint DWT as the trajectory (step 3 above)."""
    cfg = layout.config
    repeats = layout.num_times - past.shape[1]
    extended = jnp.concatenate([past, jnp.repeat(past[:, -1:], repeats, axis=1)], axis=1)
    axes = tuple(range(1, 2 + len(layout.spatial_shape)))
    coeffs = wavelets.wavedec(extended, cfg.wavelet, level=cfg.level, mode=cfg.mode, axes=axes)
    return _pad_to(wavelets.pack(coeffs), layout.canvas_shape)


def _frame_channels(layout: TrajectoryLayout, frame: jax.Array) -> jax.Array:
    """One state frame ``(N, *spatial, Fs)`` as condition channels: its packed spatial DWT,
    padded and broadcast along the time-coefficient axis (step 3 above)."""
    cfg = layout.config
    axes = tuple(range(1, 1 + len(layout.spatial_shape)))
    packed = wavelets.pack(
        wavelets.wavedec(frame, cfg.wavelet, level=cfg.level, mode=cfg.mode, axes=axes)
    )
    packed = _pad_to(packed, layout.canvas_shape[1:])
    return jnp.broadcast_to(
        packed[:, None], (packed.shape[0], layout.canvas_shape[0], *packed.shape[1:])
    )


def decode(layout: TrajectoryLayout, encoded: jax.Array) -> tuple[jax.Array, jax.Array | None]:
    """Invert :func:`encode` (un-normalised input): returns ``(state, control or None)``."""
    if tuple(encoded.shape[1:]) != layout.shape:
        raise ValueError(
            f"decode: encoded shape {tuple(encoded.shape)} does not match (N, *{layout.shape})"
        )
    n = layout.num_state_channels + layout.num_control_channels
    if layout.is_wavelet:
        coeff_layout = layout.trajectory_coeffs
        valid = tuple(slice(0, k) for k in coeff_layout.canvas_shape)
        trajectory = wavelets.waverec(
            wavelets.unpack(encoded[(slice(None), *valid, slice(0, n))], coeff_layout)
        )
    else:
        valid = tuple(slice(0, k) for k in layout.grid_shape)
        trajectory = encoded[(slice(None), *valid, slice(0, n))]
    state = trajectory[..., : layout.num_state_fields]
    if not layout.num_control_fields:
        return state, None
    return state, trajectory[:, :-1, ..., layout.num_state_fields :]


def encode_dataset(
    layout: TrajectoryLayout, state, control=None, *, batch_size: int = DATASET_BATCH
) -> np.ndarray:
    """:func:`encode` a whole data set (un-normalised) in batches, one compilation per shape."""
    encode_batch = jax.jit(encode, static_argnums=0)
    parts = []
    for start in range(0, len(state), batch_size):
        c = None if control is None else control[start : start + batch_size]
        parts.append(np.asarray(encode_batch(layout, state[start : start + batch_size], c)))
    return np.concatenate(parts)
