"""Multi-level discrete wavelet transform over chosen axes (paper Sec. 3.1; spec Sec. 3).

WDNO diffuses in wavelet space: a 1-D PDE trajectory ``u(t, x)`` is transformed jointly over
``(t, x)`` and a 2-D one over ``(t, y, x)``, one level deep (bior2.4/periodization for Burgers,
bior1.3/zero for smoke). This module is a pure-JAX ``wavedec``/``waverec`` that reproduces
PyWavelets' ``wavedecn``/``waverecn`` exactly (shapes and values, odd lengths included), is
differentiable (control guidance differentiates through ``waverec``) and works under ``jit`` and
``vmap``. PyWavelets only supplies the filter taps at trace time and is the test oracle.

Conventions, per transformed axis with filters of length ``L`` from ``pywt.Wavelet(name)``:

* ``zero`` / ``symmetric``: extend the signal with zeros / half-sample mirror, then
  ``a[k] = sum_j dec_lo[j] x[2k + 1 - j]`` (``d`` with ``dec_hi``), ``floor((N + L - 1) / 2)``
  outputs.
* ``periodization``: odd ``N`` first gets a copy of its last sample; then
  ``a[k] = sum_j dec_lo[j] x[(2k + L/2 - j) mod N]``, ``ceil(N / 2)`` outputs.
* The inverse is the transposed polyphase sum (even and odd outputs are sums of shifted
  coefficient slices, then interleaved); ``waverec`` crops to the original sizes (odd lengths
  reconstruct one extra sample, which is dropped, as ``pywt.waverecn`` does given the shapes).

Every 1-D pass is a sum of constant-offset strided slices, which XLA fuses into one loop per
band. Inputs above 32 MiB are transformed in chunks of batch elements of at most 4 MiB with
``lax.map`` (same result; small reused intermediates instead of full-size ones, see
``_map_over_batch``).

Multi-axis transforms are separable. Band keys are PyWavelets' ``wavedecn`` keys: one letter per
transformed axis, in the order of ``axes``, ``'a'`` = lowpass and ``'d'`` = highpass. For
``axes=(t, x)``: ``'ad'`` is the detail along x (pywt ``cV``), ``'da'`` the detail along t (pywt
``cH``, the official code's ``LH``), ``'dd'`` the diagonal detail.

Level rule: ``level`` must satisfy ``1 <= level <= floor(log2(n_min))`` where ``n_min`` is the
shortest transformed length (every level halves an axis of at least 2 samples). Levels above
``pywt.dwt_max_level`` are allowed (PyWavelets only warns): WDNO's coarsest Burgers grid, 11 x 15
with bior2.4, needs level 1 although its boundary-effect-free maximum is 0. ``level=None`` is
``pywt.dwt_max_level`` of the shortest axis, and an error if that is 0.

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
import itertools
import math
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np
import pywt
from jax import lax

MODES = ("periodization", "zero", "symmetric")
"""Supported signal-extension modes (PyWavelets names)."""


# ----------------------------------------------------------------------------------------------
# Static configuration: filters, validation, sizes.
# ----------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class _Filters:
    """Filter taps of one wavelet as Python floats (constants folded into the jitted code)."""

    dec_lo: tuple[float, ...]
    dec_hi: tuple[float, ...]
    rec_lo: tuple[float, ...]
    rec_hi: tuple[float, ...]

    @property
    def length(self) -> int:
        return len(self.dec_lo)


@functools.cache
def _filters(name: str) -> _Filters:
    wavelet = pywt.Wavelet(name)
    return _Filters(
        *(tuple(float(tap) for tap in taps) for taps in wavelet.filter_bank)  # type: ignore[arg-type]
    )


def _check_wavelet(wavelet, where: str) -> str:
    name = wavelet.name if isinstance(wavelet, pywt.Wavelet) else wavelet
    if not isinstance(name, str) or name not in pywt.wavelist(kind="discrete"):
        raise ValueError(
            f"{where}: unknown wavelet {wavelet!r}; expected the name of a discrete PyWavelets "
            "wavelet such as 'haar', 'db2', 'bior2.4' (list them with "
            "pywt.wavelist(kind='discrete'))"
        )
    return name


def _check_mode(mode, where: str) -> str:
    if mode not in MODES:
        raise ValueError(f"{where}: unknown mode {mode!r}; supported modes are {list(MODES)}")
    return mode


def _normalize_axes(axes, ndim: int, where: str) -> tuple[int, ...]:
    """Returns the axes as negative indices (stable under added leading batch axes)."""
    axes_tuple = (axes,) if isinstance(axes, (int, np.integer)) else tuple(axes)
    if not axes_tuple:
        raise ValueError(f"{where}: axes is empty; expected at least one axis to transform")
    normalized = []
    for axis in axes_tuple:
        if not isinstance(axis, (int, np.integer)) or isinstance(axis, bool):
            raise ValueError(f"{where}: axes must be integers, got {axes!r}")
        if not -ndim <= axis < ndim:
            raise ValueError(
                f"{where}: axis {axis} is out of range for an array with {ndim} dimensions "
                f"(expected -{ndim} <= axis < {ndim}), got axes={axes!r}"
            )
        normalized.append(int(axis) - ndim if axis >= 0 else int(axis))
    if len(set(normalized)) != len(normalized):
        raise ValueError(
            f"{where}: axes {axes!r} name the same axis twice for an array with {ndim} dimensions"
        )
    return tuple(normalized)


def _coefficient_size(size: int, filter_length: int, mode: str) -> int:
    if mode == "periodization":
        return (size + 1) // 2
    return (size + filter_length - 1) // 2


def _level_input_sizes(
    sizes: tuple[int, ...], filter_length: int, mode: str, level: int
) -> tuple[tuple[int, ...], ...]:
    """Sizes along the transformed axes entering levels 1..level, then the level-L coefficients."""
    result = [tuple(sizes)]
    for _ in range(level):
        result.append(tuple(_coefficient_size(n, filter_length, mode) for n in result[-1]))
    return tuple(result)


def _resolve_level(level, sizes: tuple[int, ...], filter_length: int, where: str) -> int:
    shortest = min(sizes)
    if level is None:
        level = pywt.dwt_max_level(shortest, filter_length)
        if level < 1:
            raise ValueError(
                f"{where}: level=None picks pywt.dwt_max_level({shortest}, filter length "
                f"{filter_length}) = 0 for sizes {sizes}; pass level=1 explicitly to accept "
                "boundary effects, or use a shorter wavelet"
            )
        return level
    limit = int(math.floor(math.log2(shortest))) if shortest >= 1 else 0
    if (
        isinstance(level, bool)
        or not isinstance(level, (int, np.integer))
        or not (1 <= level <= limit)
    ):
        raise ValueError(
            f"{where}: level {level!r} is impossible for sizes {sizes}; expected an integer "
            f"1 <= level <= floor(log2({shortest})) = {limit} (each level halves the shortest "
            "transformed axis, which needs at least 2 samples)"
        )
    return int(level)


# ----------------------------------------------------------------------------------------------
# One level along one axis.
# ----------------------------------------------------------------------------------------------


def _extension_indices(size: int, start: int, stop: int, mode: str) -> np.ndarray:
    """Source index of extended-signal positions ``[start, stop)``; ``size`` stands for zero."""
    position = np.arange(start, stop)
    if mode == "periodization":  # odd lengths repeat their last sample, then wrap
        return np.minimum(position % (size + size % 2), size - 1)
    if mode == "symmetric":  # half-sample mirror: x[-1] = x[0], period 2 * size
        folded = position % (2 * size)
        return np.where(folded < size, folded, 2 * size - 1 - folded)
    if mode == "wrap":  # plain circular indexing (coefficients in the periodic inverse)
        return position % size
    return np.where((position >= 0) & (position < size), position, size)  # zero


def _gather(x: jax.Array, indices: np.ndarray, axis: int) -> jax.Array:
    """``x`` at constant ``indices`` along ``axis`` (index ``size`` gives 0), as slice runs."""
    size, pieces, begin = x.shape[axis], [], 0
    while begin < len(indices):
        end = begin + 1
        if indices[begin] == size:
            while end < len(indices) and indices[end] == size:
                end += 1
            shape = x.shape[:axis] + (end - begin,) + x.shape[axis + 1 :]
            pieces.append(jnp.zeros(shape, x.dtype))
        else:
            while end < len(indices) and indices[end] == indices[end - 1] + 1 < size:
                end += 1
            start = int(indices[begin])
            pieces.append(lax.slice_in_dim(x, start, start + end - begin, axis=axis))
        begin = end
    return pieces[0] if len(pieces) == 1 else jnp.concatenate(pieces, axis=axis)


def _strided_sums(sources, outputs, axis: int, stride: int, count: int, extension: str):
    """Computes ``out[k] = sum c * source_ext[stride * k + offset]`` for ``k < count``.

    Args:
        sources: arrays of equal shape, read along ``axis``.
        outputs: per output, a list of ``(source index, offset, coefficient)`` terms.
        axis: non-negative axis.
        stride: 2 for analysis (downsampling), 1 for the polyphase synthesis.
        count: number of outputs.
        extension: boundary rule for ``_extension_indices``.

    Outputs whose taps all fall inside the signal read it directly (strided slices that XLA
    fuses into one loop); the few boundary outputs read small extended windows.
    """
    size = sources[0].shape[axis]
    offsets = [offset for terms in outputs for _, offset, _ in terms]
    low, high = min(offsets), max(offsets)
    first = min(count, max(0, -(low // stride)))  # first k with stride * k + low >= 0
    stop = max(first, min(count, (size - 1 - high) // stride + 1))
    if stop - first < 1:
        first = stop = count  # too short for an interior: one extended window for all
    regions = [(0, first), (first, stop), (stop, count)]
    results = [[] for _ in outputs]
    for begin, end in regions:
        if end <= begin:
            continue
        if (begin, end) == (first, stop):
            window, origin = sources, 0
        else:  # a short extended window starting at position stride * begin + low
            start = stride * begin + low
            indices = _extension_indices(size, start, stride * (end - 1) + high + 1, extension)
            window, origin = [_gather(source, indices, axis) for source in sources], start
        for result, terms in zip(results, outputs, strict=False):
            total = None
            for source, offset, coefficient in terms:
                start = stride * begin + offset - origin
                piece = lax.slice_in_dim(
                    window[source], start, start + stride * (end - begin - 1) + 1, stride, axis
                )
                total = piece * coefficient if total is None else total + piece * coefficient
            result.append(total)
    return [parts[0] if len(parts) == 1 else jnp.concatenate(parts, axis) for parts in results]


def _analysis_axis(
    x: jax.Array, filters: _Filters, mode: str, axis: int
) -> tuple[jax.Array, jax.Array]:
    """One DWT level along ``axis`` (non-negative): returns (approximation, detail).

    ``out[k] = sum_j f[j] x_ext[2k + shift - j]`` with ``shift = L/2`` (periodization) or 1.
    """
    size, length = x.shape[axis], filters.length
    if mode == "periodization":
        count, shift = (size + 1) // 2, length // 2
    else:
        count, shift = (size + length - 1) // 2, 1
    outputs = [
        [(0, shift - j, tap) for j, tap in enumerate(taps) if tap != 0.0]
        for taps in (filters.dec_lo, filters.dec_hi)
    ]
    approx, detail = _strided_sums([x], outputs, axis, 2, count, mode)
    return approx, detail


def _synthesis_axis(
    approx: jax.Array, detail: jax.Array, filters: _Filters, mode: str, axis: int, size: int
) -> jax.Array:
    """Inverse of one level along ``axis`` (non-negative), cropped to ``size`` samples.

    Polyphase form of pywt's upsample-and-convolve: output ``2p + r`` is
    ``sum_j rec[j] c[p + (r + s - j) / 2]`` over taps with ``r + s - j`` even, where
    ``s = L - 2`` (zero/symmetric: a valid convolution, zeros outside) or ``s = L/2 - 1``
    (periodization: indices modulo the coefficient length).
    """
    count, length = approx.shape[axis], filters.length
    if mode == "periodization":
        full, shift, extension = 2 * count, length // 2 - 1, "wrap"
    else:
        full, shift, extension = 2 * count - length + 2, length - 2, "zero"
    outputs = []
    for phase in (0, 1):
        terms = []
        for j, (low, high) in enumerate(zip(filters.rec_lo, filters.rec_hi, strict=False)):
            if (phase + shift - j) % 2 == 0:
                offset = (phase + shift - j) // 2
                terms += [(0, offset, low)] if low != 0.0 else []
                terms += [(1, offset, high)] if high != 0.0 else []
        outputs.append(terms)
    half = (full + 1) // 2
    even, odd = _strided_sums([approx, detail], outputs, axis, 1, half, extension)
    interleaved = jnp.stack([even, odd], axis=axis + 1)
    shape = even.shape[:axis] + (2 * half,) + even.shape[axis + 1 :]
    return lax.slice_in_dim(interleaved.reshape(shape), 0, size, axis=axis)


# ----------------------------------------------------------------------------------------------
# One level over several axes (separable; keys in pywt.dwtn order).
# ----------------------------------------------------------------------------------------------


def _analysis(x: jax.Array, filters: _Filters, mode: str, axes: tuple[int, ...]) -> dict:
    bands = {"": x}
    for axis in axes:
        split = {}
        for key, band in bands.items():
            split[key + "a"], split[key + "d"] = _analysis_axis(
                band, filters, mode, axis % band.ndim
            )
        bands = split
    return bands


def _synthesis(
    bands: dict, filters: _Filters, mode: str, axes: tuple[int, ...], sizes: tuple[int, ...]
) -> jax.Array:
    for depth in reversed(range(len(axes))):
        merged = {}
        for key in bands:
            if len(key) == depth + 1 and key[-1] == "a":
                prefix = key[:-1]
                approx, detail = bands[prefix + "a"], bands[prefix + "d"]
                merged[prefix] = _synthesis_axis(
                    approx, detail, filters, mode, axes[depth] % approx.ndim, sizes[depth]
                )
        bands = merged
    return bands[""]


def _band_keys(num_axes: int) -> tuple[str, ...]:
    return tuple("".join(letters) for letters in itertools.product("ad", repeat=num_axes))


# ----------------------------------------------------------------------------------------------
# Chunking over batch axes (memory traffic).
# ----------------------------------------------------------------------------------------------

_CHUNK_BYTES = 4 * 2**20
"""Largest input of one chunk of batch elements, unless one element is larger."""

_CHUNK_ABOVE_BYTES = 32 * 2**20
"""Inputs up to this size run in one piece: their buffers stay below glibc's largest mmap
threshold and are reused between calls, and one piece is faster (Burgers' 20 MB batch: 12.9 ms
whole against 16.2 ms in 4 MiB chunks; smoke's 50 MB batch: 99.6 ms whole against 49.7 ms
chunked; measured back to back on the 2-core CI machine)."""


def _map_over_batch(function, tree, num_batch_axes: int):
    """``function(tree)``, evaluated in chunks along the leading ``num_batch_axes`` axes.

    Every batch element is transformed independently, so chunking leaves the result unchanged
    and only changes the memory traffic. In one piece, each separable pass materialises
    full-size intermediates (WDNO's smoke batch: 50 MB in, 88 MB of temporaries; Burgers:
    20 MB in, 22-30 MB); they miss the caches and, being large, often come from fresh pages
    on every call (glibc never reuses allocations above 32 MiB), and on CPU the page faults
    cost as much as the arithmetic. A ``lax.map`` over chunks of at most ``_CHUNK_BYTES``
    reuses a few MB of intermediates instead; only the outputs are full size. Inputs up to
    ``_CHUNK_ABOVE_BYTES`` are transformed in one piece.

    Args:
        function: maps a pytree of arrays to a pytree of arrays; it must act on every element
            of the leading axes independently and accept any number of leading axes (the
            transforms address their axes with negative indices).
        tree: pytree of arrays whose leaves share the leading ``num_batch_axes`` axes.
        num_batch_axes: number of leading batch axes.

    Returns:
        ``function(tree)``.
    """
    leaves = jax.tree_util.tree_leaves(tree)
    batch_shape = leaves[0].shape[:num_batch_axes]
    batch_size = math.prod(batch_shape)
    total_bytes = sum(leaf.size * leaf.dtype.itemsize for leaf in leaves)
    if total_bytes <= _CHUNK_ABOVE_BYTES or batch_size < 2:
        return function(tree)
    if any(leaf.shape[:num_batch_axes] != batch_shape for leaf in leaves):
        return function(tree)
    largest = max(1, _CHUNK_BYTES * batch_size // max(1, total_bytes))  # elements per chunk
    chunk = max(size for size in range(1, min(largest, batch_size) + 1) if batch_size % size == 0)
    if chunk == batch_size:
        return function(tree)
    # A chunk of one element drops the batch axes (``function`` accepts any leading axes).
    prefix = (batch_size // chunk,) + ((chunk,) if chunk > 1 else ())
    chunks = jax.tree_util.tree_map(
        lambda leaf: leaf.reshape(prefix + leaf.shape[num_batch_axes:]), tree
    )
    mapped = lax.map(function, chunks)
    return jax.tree_util.tree_map(
        lambda leaf: leaf.reshape(batch_shape + leaf.shape[len(prefix) :]), mapped
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
        keys = _band_keys(len(self.axes))
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
        filter_length = _filters(self.wavelet).length
        per_level = _level_input_sizes(self.sizes, filter_length, self.mode, self.level)
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
    name = _check_wavelet(wavelet, where)
    _check_mode(mode, where)
    shape = tuple(int(n) for n in shape)
    axes = _normalize_axes(axes, len(shape), where)
    _check_contiguous(axes, where)
    sizes = tuple(shape[axis] for axis in axes)
    level = _resolve_level(level, sizes, _filters(name).length, where)
    trailing = shape[len(shape) + axes[-1] + 1 :]
    return CoeffLayout(name, mode, level, axes, sizes, trailing)


# ----------------------------------------------------------------------------------------------
# Public transforms.
# ----------------------------------------------------------------------------------------------


def _as_inexact(x) -> jax.Array:
    x = jnp.asarray(x)
    if not jnp.issubdtype(x.dtype, jnp.inexact):
        x = x.astype(jnp.result_type(float))
    return x


def wavedec(
    x: jax.Array,
    wavelet,
    *,
    level: int | None = None,
    mode: str = "periodization",
    axes: int | Sequence[int] = (-1,),
) -> WaveletCoeffs:
    """Multi-level DWT of ``x`` over ``axes``, equal to ``pywt.wavedecn``.

    Args:
        x: array; axes not in ``axes`` are carried along (batch, fields). Integer input is cast
            to the default float dtype; float dtypes are kept.
        wavelet: PyWavelets discrete wavelet name (``pywt.wavelist(kind='discrete')``).
        level: number of levels; ``None`` is ``pywt.dwt_max_level`` of the shortest axis.
        mode: ``'periodization'``, ``'zero'`` or ``'symmetric'``.
        axes: one or more distinct axes to transform, in transform (band-key) order.

    Returns:
        WaveletCoeffs with ``details`` coarsest first.

    Raises:
        ValueError: unknown wavelet or mode, bad axes, or an impossible level.
    """
    where = "wavedec"
    name = _check_wavelet(wavelet, where)
    _check_mode(mode, where)
    x = _as_inexact(x)
    axes = _normalize_axes(axes, x.ndim, where)
    sizes = tuple(x.shape[axis] for axis in axes)
    filters = _filters(name)
    level = _resolve_level(level, sizes, filters.length, where)
    approx_key = "a" * len(axes)

    def decompose(x):  # any leading axes: the transformed axes are negative indices
        details = []
        for _ in range(level):  # a Python loop: every level has a different shape
            bands = _analysis(x, filters, mode, axes)
            x = bands.pop(approx_key)
            details.append(bands)
        return x, tuple(reversed(details))

    approx, details = _map_over_batch(decompose, x, x.ndim + min(axes))
    return WaveletCoeffs(approx, details, name, mode, level, axes, sizes)


def _check_coeff_shapes(coeffs: WaveletCoeffs, expected, where: str) -> None:
    axes, keys = coeffs.axes, _band_keys(len(coeffs.axes))
    if len(coeffs.details) != coeffs.level:
        raise ValueError(
            f"{where}: expected {coeffs.level} detail levels, got {len(coeffs.details)}"
        )
    bands = [("approx", coeffs.approx, expected[-1])]
    for index, details in enumerate(coeffs.details):
        if set(details) != set(keys[1:]):
            raise ValueError(
                f"{where}: details[{index}] must have keys {list(keys[1:])}, got {list(details)}"
            )
        level_shape = expected[coeffs.level - index]
        bands.extend((f"details[{index}][{key!r}]", details[key], level_shape) for key in keys[1:])
    for label, band, sizes in bands:
        got = tuple(band.shape[axis] for axis in axes) if band.ndim >= -min(axes) else None
        if got != sizes:
            raise ValueError(
                f"{where}: {label} has sizes {got} along axes {axes}, expected {sizes} "
                f"(wavelet {coeffs.wavelet!r}, mode {coeffs.mode!r}, original sizes "
                f"{coeffs.sizes})"
            )


def waverec(coeffs: WaveletCoeffs) -> jax.Array:
    """Inverse of ``wavedec``: the array of the original shape (``pywt.waverecn``, cropped)."""
    filters = _filters(coeffs.wavelet)
    per_level = _level_input_sizes(coeffs.sizes, filters.length, coeffs.mode, coeffs.level)
    _check_coeff_shapes(coeffs, per_level, "waverec")
    approx_key = "a" * len(coeffs.axes)

    def reconstruct(bands):  # any leading axes, like ``decompose``
        approx, all_details = bands
        for index, details in enumerate(all_details):
            target = per_level[coeffs.level - index - 1]
            approx = _synthesis(
                {approx_key: approx, **details}, filters, coeffs.mode, coeffs.axes, target
            )
        return approx

    num_batch_axes = coeffs.approx.ndim + min(coeffs.axes)
    return _map_over_batch(reconstruct, (coeffs.approx, coeffs.details), num_batch_axes)


# ----------------------------------------------------------------------------------------------
# Packing into channels.
# ----------------------------------------------------------------------------------------------


def _bands_in_order(coeffs: WaveletCoeffs) -> list[jax.Array]:
    keys = _band_keys(len(coeffs.axes))
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
    keys = _band_keys(num_axes)[1:]
    per_level = len(keys)
    details = tuple(
        dict(zip(keys, bands[1 + level * per_level : 1 + (level + 1) * per_level], strict=False))
        for level in range(layout.level)
    )
    return WaveletCoeffs(
        bands[0], details, layout.wavelet, layout.mode, layout.level, layout.axes, layout.sizes
    )
