"""Multi-resolution pairs: a trajectory and its 2x sub-sampled versions (spec §7.1-7.2).

A level is a trajectory ``(state, control)`` with ``state`` shaped ``(N, T, *spatial, Fs)``
(``u0`` included) and ``control`` ``(N, T - 1, *spatial, Fc)`` (or None). One level down keeps
every second sample along time and along every spatial axis, starting at index 0:

* state: ``state[:, ::2, ::2, ...]``: ``T = 2 T' - 1`` levels become ``T'`` (81 -> 41 -> 21 ->
  11), the first and last time levels are kept, so ``u0`` and ``u(T)`` stay the coarse
  trajectory's end points. ``n = 2 n'`` spatial points become ``n'`` (120 -> 60 -> 30 -> 15).
* control: ``control[:, ::2, ::2, ...]``: frame ``m`` of a control is its value on the interval
  starting at state time ``m``, so the coarse frame ``m`` is the fine frame ``2 m``, the one
  starting at the same time (``T - 1 = 2 (T' - 1)`` frames become ``T' - 1``).

This is the rule of the original (``X[:, :, ::2**i, ::2**i]``, spec §7.2) except for the control's
padding row: the original sub-samples ``f`` with its appended zero row, we sub-sample the
``T - 1`` real frames and let :func:`wdno.transforms.encoding.encode` extend every level the
same way. Whether the rule matches data stored at two resolutions depends on the system's grids
(for Burgers, ``systems/burgers/superres.py`` checks that it is exact).

Pairs are ``(coarse, fine)`` = ``(levels[i + 1], levels[i])`` with ``levels[0]`` the finest.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["coarsen_shape", "downsample", "refine_shape", "resolution_levels", "resolution_pairs"]


def coarsen_shape(grid_shape: Sequence[int]) -> tuple[int, ...]:
    """``(T, *spatial)`` of a state grid to the grid one level down: ``((T + 1) / 2, *n / 2)``.

    Raises:
        ValueError: ``T`` even (the end time would be lost) or a spatial size odd or < 2.
    """
    num_times, *spatial = (int(n) for n in grid_shape)
    if num_times < 3 or num_times % 2 == 0:
        raise ValueError(
            f"coarsen: the state needs an odd number >= 3 of time levels (T = 2 T' - 1, so the "
            f"end time is kept), got {num_times}"
        )
    if any(n < 2 or n % 2 for n in spatial):
        raise ValueError(f"coarsen: spatial sizes must be even and >= 2, got {tuple(spatial)}")
    return ((num_times + 1) // 2, *(n // 2 for n in spatial))


def refine_shape(grid_shape: Sequence[int], factor: int) -> tuple[int, ...]:
    """``(T, *spatial)`` of a state grid to the grid ``factor`` (a power of two) times finer, the
    inverse of :func:`coarsen_shape` applied ``log2(factor)`` times: ``((T - 1) factor + 1,
    *n factor)`` (Burgers 81x120 at factor 8: 641x960)."""
    factor = int(factor)
    if factor < 1 or factor & (factor - 1):
        raise ValueError(f"refine_shape: factor must be a power of two >= 1, got {factor}")
    num_times, *spatial = (int(n) for n in grid_shape)
    return ((num_times - 1) * factor + 1, *(n * factor for n in spatial))


def downsample(state, control=None):
    """One level down (module docstring): ``(state[:, ::2, ::2..], control[:, ::2, ::2..])``.

    Args:
        state: ``(N, T, *spatial, Fs)`` with ``T`` odd and even spatial sizes.
        control: ``(N, T - 1, *spatial, Fc)`` or None.

    Returns:
        ``(state, control)`` at ``((T + 1) / 2, *spatial / 2)``; control None if not given.
    """
    state = np.asarray(state)
    coarsen_shape(state.shape[1:-1])  # checks the sizes
    index = (slice(None),) + (slice(None, None, 2),) * (state.ndim - 2)
    if control is None:
        return state[index], None
    control = np.asarray(control)
    if control.shape[1:-1] != (state.shape[1] - 1, *state.shape[2:-1]):
        raise ValueError(
            f"downsample: control shape {control.shape} does not fit state shape {state.shape} "
            "(one frame fewer, same spatial grid)"
        )
    return state[index], control[index]


def resolution_levels(state, control=None, num_levels: int = 4) -> list[tuple]:
    """The trajectory and its sub-sampled versions, finest first: ``num_levels`` entries.

    Burgers at the base resolution with ``num_levels=4``: states 81x120, 41x60, 21x30, 11x15
    (spec §7.2).
    """
    if num_levels < 1:
        raise ValueError(f"resolution_levels: num_levels must be >= 1, got {num_levels}")
    levels = [(np.asarray(state), None if control is None else np.asarray(control))]
    for _ in range(num_levels - 1):
        levels.append(downsample(*levels[-1]))
    return levels


def resolution_pairs(num_levels: int) -> list[tuple[int, int]]:
    """``(coarse, fine)`` level indices of the training pairs: ``[(1, 0), (2, 1), ...]``."""
    return [(i + 1, i) for i in range(num_levels - 1)]
