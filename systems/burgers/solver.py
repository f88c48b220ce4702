"""Viscous Burgers with a control force, the physics of the paper's 1-D experiments (spec Sec. 8.1).

Solves ``u_t + (u^2 / 2)_x = nu u_xx + f(t, x)`` on ``x in [0, 1]`` with ``u = 0`` at both
walls, for ``t in [0, T]``, on ONE sample (callers ``vmap``). The force is piecewise constant
in time on the control intervals and given at the stored x points; the grids are defined in
:mod:`systems.burgers.grid`.

Space: second-order central differences on the solver's uniform grid. The convective term is
written in the skew-symmetric form ``(u^2)_x / 3 + u u_x / 3``, whose discrete version
``N_i = (u_{i+1} + u_i + u_{i-1}) (u_{i+1} - u_{i-1}) / (6 dx)`` is conservative and exactly
energy-neutral (``sum_i u_i N_i = 0``), so the semi-discrete energy balance is
``dE/dt = -nu sum (du/dx)^2 dx + sum u f dx`` with ``E = sum u^2 dx / 2``.

Time: the four-stage linearly implicit Rosenbrock-W method ROS34PW2 (Rang & Angermann 2005),
third order, L-stable and stiffly accurate, with the exact tridiagonal Jacobian ``J`` of the
discrete right-hand side. All four stages share ``W = I - gamma dt J``, factored once per step by
the Thomas algorithm (a ``lax.scan`` over the grid that ``vmap`` vectorises over samples; about
4x faster on CPU than ``lax.linalg.tridiagonal_solve``, which is used on GPU; see
``SolverConfig.linear_solver``). The step is set by accuracy, not by the
diffusive or convective stability limits: the default 8 steps per control interval
(dt = 1/80) give a relative L2 error of ~2e-4 on the stored grid against a converged run
(see ``benchmarks/burgers_solver.py``); L-stability damps the wall layer of an initial state
that does not vanish at the walls. Everything is ``lax.scan`` and differentiable end to end
(``jax.grad`` through the force).
"""

from __future__ import annotations

import dataclasses
import functools

import jax
import jax.numpy as jnp
import numpy as np

from systems.burgers import grid

__all__ = [
    "SolverConfig",
    "factor_tridiagonal",
    "jacobian_bands",
    "right_hand_side",
    "rosenbrock_step",
    "solve",
    "solve_factored",
    "solver_trajectory",
    "to_solver_grid",
    "tridiagonal_matvec",
]

# ROS34PW2 in the form  W k_i = dt F(u + sum_j alpha_ij k_j) + dt J sum_j gamma_ij k_j,
# u_next = u + sum_i b_i k_i,  W = I - GAMMA dt J  (Rang & Angermann, BIT 45, 2005).
GAMMA = 4.3586652150845900e-01
ALPHA = (
    (),
    (8.7173304301691801e-01,),
    (8.4457060015369423e-01, -1.1299064236484185e-01),
    (0.0, 0.0, 1.0),
)
GAMMA_LOWER = (
    (),
    (-8.7173304301691801e-01,),
    (-9.0338057013044082e-01, 5.4180672388095326e-02),
    (2.4212380706095346e-01, -1.2232505839045147e00, 5.4526025533510214e-01),
)
WEIGHTS = (2.4212380706095346e-01, -1.2232505839045147e00, 1.5452602553351020e00, GAMMA)


@dataclasses.dataclass(frozen=True)
class SolverConfig:
    """Static settings of the Burgers solver.

    Attributes:
        viscosity: ``nu`` in ``nu u_xx`` (paper: 0.01).
        end_time: ``T`` (released generator: 8).
        num_points: interior points of the solver grid, ``dx = 1 / (num_points + 1)``.
            960 (the default) contains every stored grid, so inputs and outputs at the stored
            points need no interpolation.
        steps_per_interval: ROS34PW2 steps per control interval (``dt = T / (80 * this)``). Must be
            divisible by the output time factor (1, 2, 4 or 8).
        num_intervals: control intervals in ``[0, T]`` (the force has this many frames).
        linear_solver: how ``W`` is solved: ``"thomas"`` (our ``lax.scan`` factorisation, fast on
            CPU), ``"library"`` (``lax.linalg.tridiagonal_solve``: LAPACK on CPU, cuSPARSE on
            GPU) or ``"auto"`` (thomas on CPU, library elsewhere; decided when tracing).
    """

    viscosity: float = 0.01
    end_time: float = grid.END_TIME
    num_points: int = 960
    steps_per_interval: int = 8
    num_intervals: int = grid.NUM_CONTROL_INTERVALS
    linear_solver: str = "auto"

    def __post_init__(self):
        if self.linear_solver not in ("auto", "thomas", "library"):
            raise ValueError(
                f"SolverConfig.linear_solver must be 'auto', 'thomas' or 'library', "
                f"got {self.linear_solver!r}"
            )

    @property
    def dx(self) -> float:
        return 1.0 / (self.num_points + 1)

    @property
    def dt(self) -> float:
        return self.end_time / (self.num_intervals * self.steps_per_interval)


def right_hand_side(u: jax.Array, force: jax.Array, dx: float, viscosity: float) -> jax.Array:
    """Discrete ``-(u^2/2)_x + nu u_xx + f`` (skew-symmetric convection), zero wall values."""
    padded = jnp.pad(u, 1)
    left, right = padded[:-2], padded[2:]
    convection = (left + u + right) * (right - left) / (6.0 * dx)
    diffusion = viscosity * (left - 2.0 * u + right) / dx**2
    return -convection + diffusion + force


def jacobian_bands(u: jax.Array, dx: float, viscosity: float):
    """The three bands ``(lower, diagonal, upper)`` of d(right_hand_side)/du.

    ``lower[i] = dF_i/du_{i-1}`` (``lower[0] = 0``), ``upper[i] = dF_i/du_{i+1}``
    (``upper[-1] = 0``): the layout of ``lax.linalg.tridiagonal_solve``.
    """
    padded = jnp.pad(u, 1)
    left, right = padded[:-2], padded[2:]
    diffusion = viscosity / dx**2
    lower = (u + 2.0 * left) / (6.0 * dx) + diffusion
    diagonal = -(right - left) / (6.0 * dx) - 2.0 * diffusion
    upper = -(2.0 * right + u) / (6.0 * dx) + diffusion
    lower = lower.at[0].set(0.0)
    upper = upper.at[-1].set(0.0)
    return lower, diagonal, upper


def factor_tridiagonal(lower: jax.Array, diagonal: jax.Array, upper: jax.Array):
    """Thomas factorisation (no pivoting) of a tridiagonal matrix in ``(lower, diagonal, upper)``.

    Returns ``(ratios, pivots)`` for :func:`solve_factored`. Stable for the well-conditioned
    ``W = I - gamma dt J`` of this solver (checked against a pivoting LAPACK solve in the tests).
    """

    def eliminate(previous_ratio, row):
        lower_i, diagonal_i, upper_i = row
        pivot = diagonal_i - lower_i * previous_ratio
        ratio = upper_i / pivot
        return ratio, (ratio, pivot)

    zero = jnp.zeros((), diagonal.dtype)
    _, (ratios, pivots) = jax.lax.scan(eliminate, zero, (lower, diagonal, upper), unroll=8)
    return ratios, pivots


def solve_factored(lower: jax.Array, ratios: jax.Array, pivots: jax.Array, rhs: jax.Array):
    """Solve ``A x = rhs`` given :func:`factor_tridiagonal` of ``A`` (forward, then back)."""

    def forward(previous, row):
        lower_i, pivot_i, rhs_i = row
        value = (rhs_i - lower_i * previous) / pivot_i
        return value, value

    def backward(following, row):
        ratio_i, value_i = row
        value = value_i - ratio_i * following
        return value, value

    zero = jnp.zeros((), rhs.dtype)
    _, partial = jax.lax.scan(forward, zero, (lower, pivots, rhs), unroll=8)
    _, solution = jax.lax.scan(backward, zero, (ratios, partial), reverse=True, unroll=8)
    return solution


def tridiagonal_matvec(lower, diagonal, upper, vector):
    """``J v`` for a tridiagonal ``J`` given by its bands (zero values beyond the walls)."""
    padded = jnp.pad(vector, 1)
    return lower * padded[:-2] + diagonal * vector + upper * padded[2:]


def rosenbrock_step(
    u: jax.Array,
    force: jax.Array,
    dt: float,
    dx: float,
    viscosity: float,
    linear_solver: str = "thomas",
) -> jax.Array:
    """One ROS34PW2 step of ``u' = F(u) = right_hand_side(u, force)``; the force is constant."""
    bands = jacobian_bands(u, dx, viscosity)
    lower, diagonal, upper = bands
    w_bands = (-GAMMA * dt * lower, 1.0 - GAMMA * dt * diagonal, -GAMMA * dt * upper)
    if linear_solver == "auto":
        linear_solver = "thomas" if jax.default_backend() == "cpu" else "library"
    if linear_solver == "thomas":
        ratios, pivots = factor_tridiagonal(*w_bands)
        solve_w = functools.partial(solve_factored, w_bands[0], ratios, pivots)
    else:

        def solve_w(rhs):
            return jax.lax.linalg.tridiagonal_solve(*w_bands, rhs[:, None])[:, 0]

    stages = []
    for alpha, gamma in zip(ALPHA, GAMMA_LOWER, strict=True):
        state = u + sum((a * k for a, k in zip(alpha, stages, strict=True)), jnp.zeros_like(u))
        rhs = dt * right_hand_side(state, force, dx, viscosity)
        if stages:
            coupling = sum(g * k for g, k in zip(gamma, stages, strict=True))
            rhs = rhs + dt * tridiagonal_matvec(*bands, coupling)
        stages.append(solve_w(rhs))
    return u + sum(b * k for b, k in zip(WEIGHTS, stages, strict=True))


def solver_trajectory(
    u0: jax.Array, force: jax.Array, config: SolverConfig, samples_per_interval: int = 1
) -> jax.Array:
    """Integrate on the solver grid.

    Args:
        u0: initial state on the solver grid, shape ``[num_points]``.
        force: force on the solver grid, one frame per control interval,
            shape ``[num_intervals, num_points]``.
        config: solver settings.
        samples_per_interval: how many equally spaced states to record per control interval
            (must divide ``config.steps_per_interval``).

    Returns:
        ``[num_intervals * samples_per_interval + 1, num_points]``: ``u0`` then the recorded states.
    """
    expected = (config.num_intervals, config.num_points)
    if u0.shape != expected[1:] or force.shape != expected:
        raise ValueError(
            f"Burgers solver_trajectory acts on one sample on the solver grid: expected u0 "
            f"{expected[1:]} and force {expected}, got {u0.shape} and {force.shape}"
        )
    if config.steps_per_interval % samples_per_interval:
        raise ValueError(
            f"Burgers solver: steps_per_interval={config.steps_per_interval} is not divisible "
            f"by samples_per_interval={samples_per_interval}"
        )
    steps_per_sample = config.steps_per_interval // samples_per_interval
    step = functools.partial(
        rosenbrock_step,
        dt=config.dt,
        dx=config.dx,
        viscosity=config.viscosity,
        linear_solver=config.linear_solver,
    )

    @jax.checkpoint  # keeps reverse-mode memory at one state per recorded sample
    def advance(u, frame):
        u, _ = jax.lax.scan(lambda v, _: (step(v, frame), None), u, None, length=steps_per_sample)
        return u, u

    frames = jnp.repeat(force, samples_per_interval, axis=0)
    _, states = jax.lax.scan(advance, u0, frames)
    return jnp.concatenate([u0[None], states], axis=0)


@functools.lru_cache(maxsize=64)
def _matrix(source: tuple, target: tuple) -> np.ndarray:
    kind, size = source
    source_x = grid.solver_x(size) if kind == "solver" else grid.stored_x(size)
    kind, size = target
    target_x = grid.solver_x(size) if kind == "solver" else grid.stored_x(size)
    return grid.interpolation_matrix(source_x, target_x)


def _move(values: jax.Array, source: tuple, target: tuple) -> jax.Array:
    """Apply the (cached, static) interpolation matrix along the last axis."""
    matrix = _matrix(source, target)
    if matrix.shape[0] == matrix.shape[1] and np.array_equal(matrix, np.eye(matrix.shape[0])):
        return values
    if np.all(np.count_nonzero(matrix, axis=1) == 1) and np.all(matrix.max(axis=1) == 1.0):
        return values[..., np.argmax(matrix, axis=1)]  # exact selection of contained points
    return values @ jnp.asarray(matrix.T, dtype=values.dtype)


def to_solver_grid(values: jax.Array, config: SolverConfig, where: str = "input") -> jax.Array:
    """Map a field given at the stored x points (any factor, last axis) to the solver grid."""
    factor = grid.factor_of_points(values.shape[-1], where)
    return _move(values, ("stored", factor), ("solver", config.num_points))


@functools.partial(jax.jit, static_argnames=("config", "output_factor"))
def solve(
    u0: jax.Array, force: jax.Array, config: SolverConfig = SolverConfig(), output_factor: int = 1
) -> jax.Array:
    """Solve one Burgers trajectory from stored-grid inputs to a stored-grid output.

    Args:
        u0: initial state at the stored x points of any resolution factor, shape ``[120 k]``.
        force: force on the control grid at the stored x points of any factor,
            shape ``[num_intervals, 120 k']`` (a finer stored ``f`` with ``80 k`` frames is
            reduced to control frames by ``f[::k]``).
        config: solver settings.
        output_factor: resolution factor ``k_out`` of the returned grid.

    Returns:
        ``u`` of shape ``[80 k_out + 1, 120 k_out]`` on the stored grid of factor ``k_out``
        (``u0`` included, mapped through the solver grid).
    """
    if u0.ndim != 1:
        raise ValueError(
            f"Burgers solve acts on one sample: u0 must have shape [x], got {u0.shape}; "
            "use jax.vmap for a batch"
        )
    if force.ndim != 2 or force.shape[0] != config.num_intervals:
        raise ValueError(
            f"Burgers solve acts on one sample: force must have shape "
            f"[{config.num_intervals} control intervals, x], got {force.shape}; "
            "use jax.vmap for a batch and f[::k] for a force stored at time factor k"
        )
    grid.check_factor(output_factor)
    u0_solver = to_solver_grid(u0, config, "u0")
    force_solver = to_solver_grid(force, config, "force")
    states = solver_trajectory(u0_solver, force_solver, config, output_factor)
    return _move(states, ("solver", config.num_points), ("stored", output_factor))
