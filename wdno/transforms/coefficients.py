"""Wavelet coefficients as a pytree, their static layout, and packing into channels.

Part of the wavelet transform of paper Sec. 3.1 / spec Sec. 3: :class:`WaveletCoeffs` is what
``wavelets.wavedec`` returns, :class:`CoeffLayout` its hashable static description (from data or,
with :func:`coeff_layout`, from a shape alone), and :func:`pack`/:func:`unpack` convert between
coefficients and the one channels-last array the diffusion model sees.

Packing (``pack``/``unpack``) turns coefficients into one channels-last array. The transformed
axes must be contiguous; axes before them are batch axes and axes after them (``F`` fields in
all, e.g. a field axis) are merged with the band index into the last axis:

====================  =========================================================================
output shape          ``(*batch, *canvas, F * B)`` with ``B = 1 + (2**n - 1) * level`` bands
channel index         ``field * B + band`` (field-major)
band order            approximation, then details coarsest to finest level, within a level in
                      pywt key order; one level over (t, x): ``[aa, ad, da, dd]``; over
                      (t, y, x): ``[aaa, aad, ada, add, daa, dad, dda, ddd]``
band names            ``'aa'``, ``'ad'``, ...; with ``level > 1`` details get their pywt level
                      number (``'ad2'`` coarsest ... ``'ad1'`` finest)
canvas                per axis the largest band size; each band sits at the origin and is
                      zero-padded at the end; ``unpack`` crops it back (lossless)
====================  =========================================================================

With one level (WDNO) all bands have the same size and nothing is padded. Note the official
Burgers code orders 2-D bands ``[LL, LH, HL, HH] = [aa, da, ad, dd]``; here the middle two are
swapped (pywt order), which matters when reusing its per-channel RESCALER values.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Sequence

import jax
import jax.numpy as jnp

from wdno.transforms import dwt
from wdno.transforms.filters import (
    check_mode,
    check_wavelet,
    filter_bank,
    level_input_sizes,
    normalize_axes,
    resolve_level,
)

# ----------------------------------------------------------------------------------------------
# Coefficient container and layout.
# ----------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class CoeffLayout:
    """Static description of packed coefficients (hashable; pass it to ``unpack``).

    Attributes:
        wavelet: PyWavelets wavelet name.
        mode: signal-extension mode, one of ``MODES``.
        level: number of decomposition levels.
        axes: transformed axes as negative indices (contiguous).
        sizes: original sizes along the transformed axes.
        trailing_shape: shape of the non-transformed axes after the transformed ones (fields).
    """

    wavelet: str
    mode: str
    level: int
    axes: tuple[int, ...]
    sizes: tuple[int, ...]
    trailing_shape: tuple[int, ...]

    @property
    def band_keys(self) -> tuple[tuple[int, str], ...]:
        """(pywt level number, key) per band in channel order; the approximation first."""
        keys = dwt.band_keys(len(self.axes))
        result = [(self.level, keys[0])]
        for level in range(self.level, 0, -1):
            result.extend((level, key) for key in keys[1:])
        return tuple(result)

    @property
    def band_names(self) -> tuple[str, ...]:
        """Band names in channel order, e.g. ``('aa', 'ad', 'da', 'dd')`` for one 2-D level."""
        names = [self.band_keys[0][1]]
        suffix = self.level > 1
        names.extend(f"{key}{level}" if suffix else key for level, key in self.band_keys[1:])
        return tuple(names)

    @property
    def band_shapes(self) -> tuple[tuple[int, ...], ...]:
        """Size of every band along the transformed axes, in channel order."""
        filter_length = filter_bank(self.wavelet).length
        per_level = level_input_sizes(self.sizes, filter_length, self.mode, self.level)
        return tuple(per_level[level] for level, _ in self.band_keys)

    @property
    def canvas_shape(self) -> tuple[int, ...]:
        """Per transformed axis, the largest band size (the packed spatial shape)."""
        return tuple(max(sizes) for sizes in zip(*self.band_shapes, strict=False))

    @property
    def num_bands(self) -> int:
        return 1 + (2 ** len(self.axes) - 1) * self.level

    @property
    def num_fields(self) -> int:
        return math.prod(self.trailing_shape)

    @property
    def num_channels(self) -> int:
        return self.num_fields * self.num_bands

    def channel_names(self, field_names: Sequence[str] | None = None) -> list[str]:
        """Names of the packed channels, e.g. ``['u:aa', 'u:ad', ...]`` (field-major).

        Args:
            field_names: one name per field (``num_fields``); ``None`` numbers them.
        """
        if field_names is None:
            field_names = [str(index) for index in range(self.num_fields)]
        if len(field_names) != self.num_fields:
            raise ValueError(
                f"channel_names: expected {self.num_fields} field names for trailing shape "
                f"{self.trailing_shape}, got {len(field_names)}: {list(field_names)!r}"
            )
        return [f"{field}:{band}" for field in field_names for band in self.band_names]


@functools.partial(
    jax.tree_util.register_dataclass,
    data_fields=["approx", "details"],
    meta_fields=["wavelet", "mode", "level", "axes", "sizes"],
)
@dataclasses.dataclass(frozen=True)
class WaveletCoeffs:
    """Wavelet coefficients as a pytree (arrays are leaves, the rest is static).

    Attributes:
        approx: level-``level`` approximation (band ``'a' * n``).
        details: one dict per level, coarsest first (like ``pywt.wavedecn``), keyed by pywt band
            keys (``'d'``; ``'ad'``, ``'da'``, ``'dd'``; ``'aad'``, ...).
        wavelet: PyWavelets wavelet name.
        mode: signal-extension mode.
        level: number of levels.
        axes: transformed axes as negative indices, in transform order.
        sizes: original sizes along ``axes``.
    """

    approx: jax.Array
    details: tuple[dict[str, jax.Array], ...]
    wavelet: str
    mode: str
    level: int
    axes: tuple[int, ...]
    sizes: tuple[int, ...]

    @property
    def layout(self) -> CoeffLayout:
        """The ``CoeffLayout`` of these coefficients (needs contiguous axes)."""
        _check_contiguous(self.axes, "WaveletCoeffs.layout")
        trailing = self.approx.shape[len(self.approx.shape) + self.axes[-1] + 1 :]
        return CoeffLayout(
            self.wavelet, self.mode, self.level, self.axes, self.sizes, tuple(trailing)
        )


def _check_contiguous(axes: tuple[int, ...], where: str) -> None:
    if any(second != first + 1 for first, second in zip(axes, axes[1:], strict=False)):
        raise ValueError(
            f"{where}: packing needs contiguous, increasing transformed axes, got axes {axes} "
            "(as negative indices); move the axes together first (e.g. jnp.moveaxis)"
        )


def coeff_layout(
    shape: Sequence[int],
    wavelet,
    *,
    level: int | None = None,
    mode: str = "periodization",
    axes: int | Sequence[int] = (-1,),
) -> CoeffLayout:
    """Layout of ``pack(wavedec(x, ...))`` for an input of ``shape``, without data."""
    where = "coeff_layout"
    name = check_wavelet(wavelet, where)
    check_mode(mode, where)
    shape = tuple(int(n) for n in shape)
    axes = normalize_axes(axes, len(shape), where)
    _check_contiguous(axes, where)
    sizes = tuple(shape[axis] for axis in axes)
    level = resolve_level(level, sizes, filter_bank(name).length, where)
    trailing = shape[len(shape) + axes[-1] + 1 :]
    return CoeffLayout(name, mode, level, axes, sizes, trailing)


# ----------------------------------------------------------------------------------------------
# Packing into channels.
# ----------------------------------------------------------------------------------------------


def _bands_in_order(coeffs: WaveletCoeffs) -> list[jax.Array]:
    keys = dwt.band_keys(len(coeffs.axes))
    bands = [coeffs.approx]
    for details in coeffs.details:
        bands.extend(details[key] for key in keys[1:])
    return bands


def pack(coeffs: WaveletCoeffs) -> jax.Array:
    """Packs coefficients into a channels-last array ``(*batch, *canvas, F * B)``.

    See the module docstring for the channel order and padding rule.
    """
    layout = coeffs.layout
    num_axes, num_trailing = len(layout.axes), len(layout.trailing_shape)
    canvas = layout.canvas_shape
    batch_shape = coeffs.approx.shape[: coeffs.approx.ndim - num_axes - num_trailing]
    columns = []
    for band, band_shape in zip(_bands_in_order(coeffs), layout.band_shapes, strict=False):
        widths = [(0, 0)] * len(batch_shape)
        widths += [(0, full - size) for full, size in zip(canvas, band_shape, strict=False)]
        widths += [(0, 0)] * num_trailing
        band = jnp.pad(band, widths) if any(after for _, after in widths) else band
        columns.append(band.reshape(batch_shape + canvas + (layout.num_fields,)))
    stacked = jnp.stack(columns, axis=-1)  # (*batch, *canvas, fields, bands)
    return stacked.reshape(batch_shape + canvas + (layout.num_channels,))


def unpack(packed: jax.Array, layout: CoeffLayout) -> WaveletCoeffs:
    """Inverse of ``pack``: crops every band out of ``packed`` of shape ``(*batch, *canvas, C)``."""
    packed = jnp.asarray(packed)
    canvas, num_axes = layout.canvas_shape, len(layout.axes)
    expected = canvas + (layout.num_channels,)
    if packed.ndim < num_axes + 1 or tuple(packed.shape[-num_axes - 1 :]) != expected:
        raise ValueError(
            f"unpack: packed array has shape {tuple(packed.shape)}, expected (*batch, "
            f"{', '.join(map(str, expected))}) for layout with canvas {canvas} and "
            f"{layout.num_channels} channels ({layout.num_fields} fields x {layout.num_bands} "
            "bands)"
        )
    batch_shape = packed.shape[: packed.ndim - num_axes - 1]
    grid = packed.reshape(batch_shape + canvas + (layout.num_fields, layout.num_bands))
    bands = []
    for index, band_shape in enumerate(layout.band_shapes):
        band = grid[..., index]
        band = band[(Ellipsis,) + tuple(slice(0, size) for size in band_shape) + (slice(None),)]
        bands.append(band.reshape(batch_shape + band_shape + layout.trailing_shape))
    keys = dwt.band_keys(num_axes)[1:]
    per_level = len(keys)
    details = tuple(
        dict(zip(keys, bands[1 + level * per_level : 1 + (level + 1) * per_level], strict=False))
        for level in range(layout.level)
    )
    return WaveletCoeffs(
        bands[0], details, layout.wavelet, layout.mode, layout.level, layout.axes, layout.sizes
    )
