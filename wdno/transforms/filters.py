"""Static configuration of the wavelet transform: filters, validation, sizes (spec Sec. 3).

PyWavelets only supplies the filter taps, at trace time (:func:`filter_bank`, folded into the
jitted code as Python floats). This module also checks the user's wavelet, mode, axes and level
and computes the coefficient sizes, per transformed axis of ``N`` samples with filters of length
``L``: ``floor((N + L - 1) / 2)`` for ``zero`` / ``symmetric`` and ``ceil(N / 2)`` for
``periodization`` (the rules of ``pywt.dwt_coeff_len``). The level rule is stated in
:mod:`wdno.transforms.wavelets`.
"""

from __future__ import annotations

import dataclasses
import functools
import math

import numpy as np
import pywt

MODES = ("periodization", "zero", "symmetric")
"""Supported signal-extension modes (PyWavelets names)."""


@dataclasses.dataclass(frozen=True)
class Filters:
    """Filter taps of one wavelet as Python floats (constants folded into the jitted code)."""

    dec_lo: tuple[float, ...]
    dec_hi: tuple[float, ...]
    rec_lo: tuple[float, ...]
    rec_hi: tuple[float, ...]

    @property
    def length(self) -> int:
        return len(self.dec_lo)


@functools.cache
def filter_bank(name: str) -> Filters:
    """The taps of PyWavelets' wavelet ``name`` (cached)."""
    wavelet = pywt.Wavelet(name)
    return Filters(
        *(tuple(float(tap) for tap in taps) for taps in wavelet.filter_bank)  # type: ignore[arg-type]
    )


def check_wavelet(wavelet, where: str) -> str:
    """The wavelet's name, or a ValueError (prefixed with ``where``) if it is unknown."""
    name = wavelet.name if isinstance(wavelet, pywt.Wavelet) else wavelet
    if not isinstance(name, str) or name not in pywt.wavelist(kind="discrete"):
        raise ValueError(
            f"{where}: unknown wavelet {wavelet!r}; expected the name of a discrete PyWavelets "
            "wavelet such as 'haar', 'db2', 'bior2.4' (list them with "
            "pywt.wavelist(kind='discrete'))"
        )
    return name


def check_mode(mode, where: str) -> str:
    """``mode``, or a ValueError (prefixed with ``where``) if it is not in ``MODES``."""
    if mode not in MODES:
        raise ValueError(f"{where}: unknown mode {mode!r}; supported modes are {list(MODES)}")
    return mode


def normalize_axes(axes, ndim: int, where: str) -> tuple[int, ...]:
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


def level_input_sizes(
    sizes: tuple[int, ...], filter_length: int, mode: str, level: int
) -> tuple[tuple[int, ...], ...]:
    """Sizes along the transformed axes entering levels 1..level, then the level-L coefficients."""
    result = [tuple(sizes)]
    for _ in range(level):
        result.append(tuple(_coefficient_size(n, filter_length, mode) for n in result[-1]))
    return tuple(result)


def resolve_level(level, sizes: tuple[int, ...], filter_length: int, where: str) -> int:
    """The number of levels for ``level`` (``None``: pywt's maximum), checked against ``sizes``."""
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
