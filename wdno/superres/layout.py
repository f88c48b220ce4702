"""The super-resolution model's tensor: fine coefficients given coarse ones (spec §3.4, §4.2, §7).

The super-resolution model (SRM) denoises the joint wavelet coefficients of a trajectory at
resolution ``2r`` given those at resolution ``r``. Its tensor is the ordinary encoding of the fine
trajectory (:mod:`wdno.transforms.encoding`: state bands, control bands, ``u0`` bands, padding)
followed by the coarse trajectory's coefficients up-sampled 2x along time and every spatial axis
by repetition (the "low" channels, spec §4.4 ``low = repeat2x2(c)``), always known::

    [fine state bands | fine control bands | fine u0 bands | low state bands | low control bands]

**Alignment.** With ``periodization`` coefficient ``k`` of a 1-level DWT sits at sample ``2k``
(bior2.4 and bior1.3 have symmetric filters centred on the offset used), so coarse coefficient
``j`` (coarse sample ``2j`` = fine sample ``4j``) sits on fine coefficient ``2j``; repetition puts
it at fine coefficients ``2j`` and ``2j + 1``. No border shift is needed (unlike the smoke
``zero``-mode model, spec pitfall 9).

**Odd sizes (spec pitfall 2).** 81 time levels give 41 coefficients, 41 give 21, whose 2x repeat
has 42 rows. The original appends a copy of the last *target* row (41 -> 42) and drops it after
sampling, which also makes the ``f`` condition on that row differ between training (repeated
value) and inference (zero). We crop the *low* channels to the fine coefficient extent instead
(42 -> 41): the dropped row is the second copy of the last coarse row, whose first copy (row 40)
stays, so no coarse coefficient is lost (:func:`low_coefficients` recovers them all), the target
is exactly the fine coefficients, and training and inference see the same tensor. In general the
repeat has ``2 ceil(n_c / 2) >= n_c >= n_f`` entries and coarse entry ``j`` sits at ``2j < n_f``.

Padding, masks and decoding are the fine layout's; the low channels are known everywhere and
padded (known zero) outside the fine coefficient extent. ``transform="identity"`` works the same
way on the physical fields (the multi-resolution physical-space DDPM of the paper's ablation).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from wdno.superres import pairs
from wdno.transforms import encoding

__all__ = [
    "SuperResLayout",
    "decode",
    "encode",
    "encode_pair",
    "low_coefficients",
    "make_layout",
    "superres_scale",
    "trajectory_coefficients",
    "upsample",
]


def _extent(layout: encoding.TrajectoryLayout) -> tuple[int, ...]:
    """Grid extent of the joint trajectory channels (coefficient canvas, or the grid itself)."""
    return tuple(layout.trajectory_coeffs.canvas_shape) if layout.is_wavelet else layout.grid_shape


def _band_shapes(layout: encoding.TrajectoryLayout) -> list[tuple[int, ...]]:
    """Extent of each trajectory channel, in channel order."""
    n = layout.num_state_channels + layout.num_control_channels
    if not layout.is_wavelet:
        return [layout.grid_shape] * n
    bands = layout.trajectory_coeffs.band_shapes
    return [tuple(bands[c % len(bands)]) for c in range(n)]


@dataclasses.dataclass(frozen=True)
class SuperResLayout:
    """Static description of the SRM tensor for one fine grid (hashable, jit-static).

    Attributes:
        fine: the encoding of the trajectory at resolution ``2r`` (the generated one).
    """

    fine: encoding.TrajectoryLayout

    def __post_init__(self):
        if self.fine.target:
            raise ValueError("SuperResLayout: super-resolution of control layouts is not supported")
        pairs.coarsen_shape(self.fine.grid_shape)  # checks that one level down exists

    @property
    def coarse(self) -> encoding.TrajectoryLayout:
        """The encoding of the trajectory one level down (its coefficients are the low input)."""
        num_times, *spatial = pairs.coarsen_shape(self.fine.grid_shape)
        return dataclasses.replace(self.fine, num_times=num_times, spatial_shape=tuple(spatial))

    @property
    def num_trajectory_channels(self) -> int:
        """Joint state and control channels ``n`` (also the number of low channels)."""
        return self.fine.num_state_channels + self.fine.num_control_channels

    @property
    def num_low_channels(self) -> int:
        return self.num_trajectory_channels

    @property
    def low_channels(self) -> slice:
        return slice(self.fine.num_channels, self.num_channels)

    @property
    def num_channels(self) -> int:
        return self.fine.num_channels + self.num_low_channels

    @property
    def canvas_shape(self) -> tuple[int, ...]:
        return self.fine.canvas_shape

    @property
    def shape(self) -> tuple[int, ...]:
        """Tensor shape of one sample: ``(*canvas_shape, num_channels)``."""
        return (*self.canvas_shape, self.num_channels)

    @property
    def fine_extent(self) -> tuple[int, ...]:
        """Extent of the fine joint coefficients (Burgers 81x120: ``(41, 60)``)."""
        return _extent(self.fine)

    @property
    def coarse_extent(self) -> tuple[int, ...]:
        """Extent of the coarse joint coefficients (Burgers 41x60: ``(21, 30)``)."""
        return _extent(self.coarse)

    def channel_names(self, state_names=None, control_names=None) -> list[str]:
        fine = self.fine.channel_names(state_names, control_names)
        return fine + [f"low {name}" for name in fine[: self.num_trajectory_channels]]

    def pad_mask(self) -> np.ndarray:
        """``(*canvas, C)`` bool: padded entries (the fine layout's, and the low channels outside
        the up-sampled coarse bands cropped to the fine extent)."""
        low = np.ones((*self.canvas_shape, self.num_low_channels), bool)
        for channel, band in enumerate(_band_shapes(self.coarse)):
            region = tuple(
                slice(0, min(2 * b, f)) for b, f in zip(band, self.fine_extent, strict=True)
            )
            low[(*region, channel)] = False
        return np.concatenate([self.fine.pad_mask(), low], axis=-1)

    def known_mask(self, *, initial_state: bool = True, control: bool = True) -> np.ndarray:
        """``(*canvas, C)`` bool: the fine layout's known entries (``u0``, the control, padding)
        and every low channel."""
        fine = self.fine.known_mask(initial_state=initial_state, control=control, target=False)
        low = np.ones((*self.canvas_shape, self.num_low_channels), bool)
        return np.concatenate([fine, low], axis=-1)


def make_layout(
    config: encoding.EncodingConfig,
    state_shape: Sequence[int],
    control_shape: Sequence[int] | None = None,
) -> SuperResLayout:
    """SRM layout for fine states ``(T, *spatial, Fs)`` and controls ``(T - 1, *spatial, Fc)``."""
    return SuperResLayout(encoding.make_layout(config, state_shape, control_shape))


def trajectory_coefficients(layout: encoding.TrajectoryLayout, encoded: jax.Array) -> jax.Array:
    """The joint state and control coefficients of an encoded batch, without padding or
    condition channels: ``(N, *extent, n)`` (Burgers 81x120: ``(N, 41, 60, 8)``)."""
    n = layout.num_state_channels + layout.num_control_channels
    extent = _extent(layout)
    return encoded[(slice(None), *(slice(0, k) for k in extent), slice(0, n))]


def upsample(coefficients: jax.Array, extent: Sequence[int]) -> jax.Array:
    """Repeat every entry 2x along each grid axis of ``(N, *grid, C)``, then crop to ``extent``
    (module docstring: the crop drops only second copies)."""
    x = jnp.asarray(coefficients)
    for axis, size in enumerate(extent, start=1):
        if not x.shape[axis] <= size <= 2 * x.shape[axis]:
            raise ValueError(
                f"upsample: axis {axis} has {x.shape[axis]} entries, cannot be repeated to {size}"
            )
        x = jax.lax.slice_in_dim(jnp.repeat(x, 2, axis=axis), 0, size, axis=axis)
    return x


def low_coefficients(layout: SuperResLayout, encoded: jax.Array) -> jax.Array:
    """The coarse coefficients held in the low channels of an SRM tensor: ``(N, *coarse, n)``."""
    low = encoded[..., layout.low_channels]
    index = tuple(slice(0, 2 * k, 2) for k in layout.coarse_extent)
    return low[(slice(None), *index, slice(None))]


def encode(
    layout: SuperResLayout,
    state: jax.Array,
    control: jax.Array | None,
    coarse_coefficients: jax.Array,
) -> jax.Array:
    """SRM tensor (un-normalised) of fine trajectories and the coarse coefficients.

    Args:
        layout: from :func:`make_layout`.
        state: ``(N, T, *spatial, Fs)`` at the fine resolution (at inference only ``u0`` matters:
            the rest is generated).
        control: ``(N, T - 1, *spatial, Fc)`` at the fine resolution, or None.
        coarse_coefficients: ``(N, *layout.coarse_extent, n)``: :func:`trajectory_coefficients`
            of the coarse encoding, or the previous level's generated coefficients.

    Returns:
        ``(N, *layout.canvas_shape, layout.num_channels)``.
    """
    expected = (*layout.coarse_extent, layout.num_low_channels)
    if tuple(coarse_coefficients.shape[1:]) != expected:
        raise ValueError(
            f"superres encode: coarse coefficients {tuple(coarse_coefficients.shape)} do not "
            f"match (N, *{expected})"
        )
    fine = encoding.encode(layout.fine, state, control)
    low = upsample(coarse_coefficients, layout.fine_extent).astype(fine.dtype)
    extent = zip(layout.canvas_shape, low.shape[1:-1], strict=True)
    widths = [(0, 0), *((0, canvas - size) for canvas, size in extent), (0, 0)]
    return jnp.concatenate([fine, jnp.pad(low, widths)], axis=-1)


def encode_pair(layout: SuperResLayout, state, control, coarse_state, coarse_control) -> jax.Array:
    """SRM tensor of a training pair: fine and coarse trajectories (:mod:`.pairs`)."""
    coarse = encoding.encode(layout.coarse, coarse_state, coarse_control)
    return encode(layout, state, control, trajectory_coefficients(layout.coarse, coarse))


def decode(layout: SuperResLayout, encoded: jax.Array) -> tuple[jax.Array, jax.Array | None]:
    """Fine ``(state, control or None)`` of an un-normalised SRM tensor (low channels ignored)."""
    return encoding.decode(layout.fine, encoded[..., : layout.fine.num_channels])


def superres_scale(layout: SuperResLayout, max_abs) -> np.ndarray:
    """Tie a ``(C,)`` per-channel statistic of SRM tensors so the low channels share the target
    channels' values: each trajectory band gets the max of its target and low entries.

    The low channels hold the same bands one level down, so one scale per band serves both, at
    every level (see :mod:`wdno.superres.batches`).
    """
    max_abs = np.asarray(max_abs, np.float64)
    if max_abs.shape != (layout.num_channels,):
        raise ValueError(f"superres_scale: expected ({layout.num_channels},), got {max_abs.shape}")
    n = layout.num_trajectory_channels
    bands = np.maximum(max_abs[:n], max_abs[layout.low_channels])
    return np.concatenate([bands, max_abs[n : layout.fine.num_channels], bands])
