"""The Burgers grids: where the stored data, the control force and the solver live (spec Sec. 8.1).

This module is the one place that defines the grid convention; everything else imports it.

Space. The finest stored grid is the ``FINEST_POINTS = 960`` interior points
``x_i = (i + 1) / 961`` of ``[0, 1]`` (``u = 0`` at the walls ``x = 0`` and ``x = 1``, which
are not stored). The stored grid at resolution factor ``k`` in ``RESOLUTIONS = (1, 2, 4, 8)``
is its ``[:: 8 // k]`` subsample, so it has ``120 k`` points and every coarser grid is an exact
subset of every finer one. The paper's grid is ``k = 1`` (120 points).

Time. ``u`` is stored at ``80 k + 1`` levels ``t = linspace(0, T, 80 k + 1)`` (``u0`` included),
so the base 81 levels are the ``[::k]`` subsample of the finer ones. The control force is
piecewise constant in time on the ``NUM_CONTROL_INTERVALS = 80`` intervals
``[j T / 80, (j + 1) T / 80)`` (the control grid). A stored ``f`` at factor ``k`` has ``80 k``
frames: frame ``m`` is the force on ``[t_m, t_{m+1})``, i.e. each control frame repeated ``k``
times, sampled at the stored ``x`` points. Its time coordinate (``t_force``) is the start of
each interval, ``t[:-1]``.

Solver. The solver works on its own uniform grid of ``num_points`` interior points
``x_i = (i + 1) / (num_points + 1)``. When ``num_points + 1`` is a multiple of 961 the solver
grid contains every stored point and moving between the grids is an exact selection; otherwise
fields are moved with the local cubic (four-point) Lagrange rule of :func:`interpolation_matrix`,
using ``u = 0`` (and ``f = 0``) at the two walls as extra nodes.
"""

from __future__ import annotations

import numpy as np

NUM_CONTROL_INTERVALS = 80
BASE_POINTS = 120
FINEST_FACTOR = 8
FINEST_POINTS = BASE_POINTS * FINEST_FACTOR
RESOLUTIONS = (1, 2, 4, 8)
END_TIME = 8.0  # T of the released generator

__all__ = [
    "BASE_POINTS",
    "END_TIME",
    "FINEST_FACTOR",
    "FINEST_POINTS",
    "NUM_CONTROL_INTERVALS",
    "RESOLUTIONS",
    "check_factor",
    "factor_of_points",
    "force_times",
    "interpolation_matrix",
    "solver_x",
    "stored_times",
    "stored_x",
]


def check_factor(factor: int) -> int:
    """Return ``factor`` if it is a stored resolution factor, else raise ``ValueError``."""
    if factor not in RESOLUTIONS:
        raise ValueError(
            f"Burgers grid: resolution factor must be one of {RESOLUTIONS}, got {factor!r}"
        )
    return int(factor)


def stored_x(factor: int = 1) -> np.ndarray:
    """The ``120 * factor`` stored x points at resolution ``factor`` (float64)."""
    stride = FINEST_FACTOR // check_factor(factor)
    return ((np.arange(FINEST_POINTS) + 1.0) / (FINEST_POINTS + 1.0))[::stride]


def stored_times(factor: int = 1, end_time: float = END_TIME) -> np.ndarray:
    """The ``80 * factor + 1`` stored time levels of ``u`` at resolution ``factor`` (float64)."""
    return np.linspace(0.0, end_time, NUM_CONTROL_INTERVALS * check_factor(factor) + 1)


def force_times(factor: int = 1, end_time: float = END_TIME) -> np.ndarray:
    """Start times of the ``80 * factor`` stored force frames (the force is constant on each)."""
    return stored_times(factor, end_time)[:-1]


def factor_of_points(num_points: int, where: str = "x axis") -> int:
    """The resolution factor whose stored grid has ``num_points`` points (raises otherwise)."""
    for factor in RESOLUTIONS:
        if num_points == BASE_POINTS * factor:
            return factor
    expected = ", ".join(str(BASE_POINTS * k) for k in RESOLUTIONS)
    raise ValueError(f"Burgers grid: {where} has {num_points} points, expected one of {expected}")


def solver_x(num_points: int) -> np.ndarray:
    """The solver's ``num_points`` uniform interior points of ``[0, 1]`` (float64)."""
    return (np.arange(num_points) + 1.0) / (num_points + 1.0)


def interpolation_matrix(source_x: np.ndarray, target_x: np.ndarray) -> np.ndarray:
    """Matrix ``M`` with ``M @ values(source_x) ~ values(target_x)`` for fields zero at the walls.

    Local cubic Lagrange interpolation on the nodes ``[0, *source_x, 1]`` with the wall values
    set to zero (Dirichlet data): each target point uses the four nearest consecutive nodes.
    A target that coincides with a source node (to 1e-12) copies it exactly. Fourth-order
    accurate for smooth fields that vanish at the walls.

    Args:
        source_x: increasing interior points in (0, 1), shape ``[S]``.
        target_x: points in [0, 1], shape ``[P]``.

    Returns:
        float64 array of shape ``[P, S]``.
    """
    source_x = np.asarray(source_x, dtype=np.float64)
    target_x = np.asarray(target_x, dtype=np.float64)
    nodes = np.concatenate([[0.0], source_x, [1.0]])
    if np.any(np.diff(nodes) <= 0):
        raise ValueError("interpolation_matrix: source_x must be increasing and inside (0, 1)")
    matrix = np.zeros((target_x.size, nodes.size))
    for row, x in enumerate(target_x):
        match = np.flatnonzero(np.abs(nodes - x) < 1e-12)
        if match.size:
            matrix[row, match[0]] = 1.0
            continue
        right = int(np.clip(np.searchsorted(nodes, x), 2, nodes.size - 2))
        stencil = np.arange(right - 2, right + 2)
        for j in stencil:
            others = stencil[stencil != j]
            matrix[row, j] = np.prod((x - nodes[others]) / (nodes[j] - nodes[others]))
    return matrix[:, 1:-1]  # the wall nodes carry zero
