"""Burgers glue for multi-resolution training and super-resolution (spec §7.2).

Grid alignment. Sub-sampling a stored level ``[::2]`` in ``t`` and ``x`` (:mod:`wdno.superres.
pairs`) gives exactly the stored grid of the next coarser factor (:mod:`systems.burgers.grid`):

* x: the stored points at factor ``k`` are ``finest[:: 8 // k]`` of the 960 finest interior points
  ``(i + 1) / 961``, so ``stored_x(k)[::2] == stored_x(k // 2)`` bit for bit. Below the base
  resolution the same rule continues: level ``i`` under the base has ``stored_x(1)[:: 2**i]``
  (60, 30, 15 points; ``x = (16 * 2**i j + 1) / 961``), like the original's ``::2**i``.
* t: ``stored_times(k) = linspace(0, T, 80 k + 1)``, so ``[::2]`` gives ``stored_times(k // 2)``
  (81 -> 41 -> 21 -> 11 levels below the base, ``t = 0`` and ``t = T`` kept).
* force: frame ``m`` of the stored ``f`` at factor ``k`` is the force on
  ``[force_times(k)[m], force_times(k)[m + 1])``, the control frames repeated ``k`` times, so for
  ``k >= 2`` ``f_k[::2] == f_{k/2}`` exactly (``force_times(k)[::2] == force_times(k // 2)``).
  Below the base a coarse frame spans two control intervals and ``f[::2]`` keeps the value on the
  first: a sample at the frame's start time, the ``force_times`` convention.

The generator (:mod:`systems.burgers.generate`) solves on the finest grid and sub-samples, so data
generated at factors ``k`` and ``2k`` with the same seed satisfy these identities exactly (tested).

The experiment (train the SRM, super-resolve the test set, score) is
:mod:`experiments._burgers_superres` (the `wdno burgers superres` verb).
"""

from __future__ import annotations

import numpy as np

from systems.burgers import grid
from wdno.superres import pairs

__all__ = ["conditions", "level_grids", "training_levels"]


def level_grids(factor: int = 1, num_levels: int = 4, end_time: float = grid.END_TIME) -> list:
    """``{"t", "t_force", "x"}`` of the levels sub-sampled from the stored grid at ``factor``,
    finest first (``factor=1``: 81x120, 41x60, 21x30, 11x15)."""
    result = []
    for level in range(num_levels):
        stride = 2**level
        result.append(
            {
                "t": grid.stored_times(factor, end_time)[::stride],
                "t_force": grid.force_times(factor, end_time)[::stride],
                "x": grid.stored_x(factor)[::stride],
            }
        )
    return result


def training_levels(u, f, num_levels: int = 4) -> list[tuple[np.ndarray, np.ndarray]]:
    """Levels of stored data ``u (N, 80k+1, 120k)``, ``f (N, 80k, 120k)`` with field axes added:
    ``[(state (N, T, X, 1), control (N, T - 1, X, 1)), ...]``, finest first."""
    return pairs.resolution_levels(np.asarray(u)[..., None], np.asarray(f)[..., None], num_levels)


def conditions(u, f) -> tuple[np.ndarray, np.ndarray]:
    """The known conditions of a cascade level from data at that resolution: ``(u0 (N, X, 1),
    f (N, T - 1, X, 1))``."""
    return np.asarray(u)[:, 0, :, None], np.asarray(f)[..., None]
