"""Multi-level discrete wavelet transform over chosen axes (paper Sec. 3.1; spec Sec. 3).

WDNO diffuses in wavelet space: a 1-D PDE trajectory ``u(t, x)`` is transformed jointly over
``(t, x)`` and a 2-D one over ``(t, y, x)``, one level deep (bior2.4/periodization for Burgers,
bior1.3/zero for smoke). This module is a pure-JAX ``wavedec``/``waverec`` that reproduces
PyWavelets' ``wavedecn``/``waverecn`` exactly (shapes and values, odd lengths included), is
differentiable (control guidance differentiates through ``waverec``) and works under ``jit`` and
``vmap``. PyWavelets only supplies the filter taps at trace time and is the test oracle.

The public interface is this module; its parts are one module each:

* :mod:`wdno.transforms.filters`: filter taps from PyWavelets; checks of the wavelet, mode, axes
  and level; coefficient sizes.
* :mod:`wdno.transforms.dwt`: one level along one axis and over several axes (boundary
  extension, polyphase synthesis), and the chunking of large batches.
* :mod:`wdno.transforms.coefficients`: the :class:`WaveletCoeffs` pytree, :class:`CoeffLayout`
  and ``pack``/``unpack`` into channels (the channel order is documented there).

Multi-axis transforms are separable. Band keys are PyWavelets' ``wavedecn`` keys: one letter per
transformed axis, in the order of ``axes``, ``'a'`` = lowpass and ``'d'`` = highpass. For
``axes=(t, x)``: ``'ad'`` is the detail along x (pywt ``cV``), ``'da'`` the detail along t (pywt
``cH``, the official code's ``LH``), ``'dd'`` the diagonal detail.

Level rule: ``level`` must satisfy ``1 <= level <= floor(log2(n_min))`` where ``n_min`` is the
shortest transformed length (every level halves an axis of at least 2 samples). Levels above
``pywt.dwt_max_level`` are allowed (PyWavelets only warns): WDNO's coarsest Burgers grid, 11 x 15
with bior2.4, needs level 1 although its boundary-effect-free maximum is 0. ``level=None`` is
``pywt.dwt_max_level`` of the shortest axis, and an error if that is 0.
"""

from __future__ import annotations

from collections.abc import Sequence

import jax
import jax.numpy as jnp

from wdno.transforms import dwt
from wdno.transforms.coefficients import (
    CoeffLayout,
    WaveletCoeffs,
    coeff_layout,
    pack,
    unpack,
)
from wdno.transforms.filters import (
    MODES,
    check_mode,
    check_wavelet,
    filter_bank,
    level_input_sizes,
    normalize_axes,
    resolve_level,
)

__all__ = [
    "MODES",
    "CoeffLayout",
    "WaveletCoeffs",
    "coeff_layout",
    "pack",
    "unpack",
    "wavedec",
    "waverec",
]


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
    name = check_wavelet(wavelet, where)
    check_mode(mode, where)
    x = _as_inexact(x)
    axes = normalize_axes(axes, x.ndim, where)
    sizes = tuple(x.shape[axis] for axis in axes)
    filters = filter_bank(name)
    level = resolve_level(level, sizes, filters.length, where)
    approx_key = "a" * len(axes)

    def decompose(x):  # any leading axes: the transformed axes are negative indices
        details = []
        for _ in range(level):  # a Python loop: every level has a different shape
            bands = dwt.analysis(x, filters, mode, axes)
            x = bands.pop(approx_key)
            details.append(bands)
        return x, tuple(reversed(details))

    approx, details = dwt.map_over_batch(decompose, x, x.ndim + min(axes))
    return WaveletCoeffs(approx, details, name, mode, level, axes, sizes)


def _check_coeff_shapes(coeffs: WaveletCoeffs, expected, where: str) -> None:
    axes, keys = coeffs.axes, dwt.band_keys(len(coeffs.axes))
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
    filters = filter_bank(coeffs.wavelet)
    per_level = level_input_sizes(coeffs.sizes, filters.length, coeffs.mode, coeffs.level)
    _check_coeff_shapes(coeffs, per_level, "waverec")
    approx_key = "a" * len(coeffs.axes)

    def reconstruct(bands):  # any leading axes, like ``decompose``
        approx, all_details = bands
        for index, details in enumerate(all_details):
            target = per_level[coeffs.level - index - 1]
            approx = dwt.synthesis(
                {approx_key: approx, **details}, filters, coeffs.mode, coeffs.axes, target
            )
        return approx

    num_batch_axes = coeffs.approx.ndim + min(coeffs.axes)
    return dwt.map_over_batch(reconstruct, (coeffs.approx, coeffs.details), num_batch_axes)
