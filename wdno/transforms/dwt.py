"""One level of the discrete wavelet transform along chosen axes (paper Sec. 3.1; spec Sec. 3).

Reproduces one level of PyWavelets' ``dwtn``/``idwtn`` exactly (odd lengths included) in pure
JAX. Conventions, per transformed axis with filters of length ``L`` from ``pywt.Wavelet(name)``:

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
``map_over_batch``).

Multi-axis transforms are separable: :func:`analysis` splits every band along each axis in turn
and :func:`synthesis` merges them back in reverse order. Band keys are PyWavelets' ``dwtn`` keys
(:func:`band_keys`): one letter per transformed axis, in the order of ``axes``, ``'a'`` = lowpass
and ``'d'`` = highpass.
"""

from __future__ import annotations

import itertools
import math

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from wdno.transforms.filters import Filters

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
    x: jax.Array, filters: Filters, mode: str, axis: int
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
    approx: jax.Array, detail: jax.Array, filters: Filters, mode: str, axis: int, size: int
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


def analysis(x: jax.Array, filters: Filters, mode: str, axes: tuple[int, ...]) -> dict:
    """One DWT level over ``axes`` (negative indices): ``{band key: coefficients}``."""
    bands = {"": x}
    for axis in axes:
        split = {}
        for key, band in bands.items():
            split[key + "a"], split[key + "d"] = _analysis_axis(
                band, filters, mode, axis % band.ndim
            )
        bands = split
    return bands


def synthesis(
    bands: dict, filters: Filters, mode: str, axes: tuple[int, ...], sizes: tuple[int, ...]
) -> jax.Array:
    """Inverse of ``analysis``: merges the bands, cropped to ``sizes`` along ``axes``."""
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


def band_keys(num_axes: int) -> tuple[str, ...]:
    """Band keys of one level over ``num_axes`` axes in pywt order (``'aa', 'ad', 'da', 'dd'``)."""
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


def map_over_batch(function, tree, num_batch_axes: int):
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
