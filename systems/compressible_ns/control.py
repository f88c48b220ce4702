"""The compressible-NS inverse problem (issue 13): which initial state reaches a given final state?

Given a target final state ``(rho, v, p)(T, x)`` (a test trajectory's own), find an initial state
whose solver trajectory ends there:

    J(u0) = mean_{x, fields} (u(T, x) - u_T(x))^2,      u = solve(u0),

with ``u`` from our solver started from the found ``u0`` (never a model's own trajectory). The
control models generate the whole trajectory, initial state included, from the target
(``Task.known["control"] = ("target",)``); guidance uses the same misfit on the sampled
trajectory. The solver-gradient baseline (:func:`wdno.control.baselines.initial_state_gradient`)
descends on ``(log rho, v, log p)`` of ``u0`` (:data:`PARAMETRIZATION`: density and pressure stay
positive) through :func:`solve_scan`, a fixed-length, reverse-differentiable form of the solver.

Shock problems are ill-posed backwards in time (a shock forgets what formed it), so many initial
states reach nearly the same final state: ``J`` measures the reached state, not the distance to
the test trajectory's own initial state (reported beside it as ``initial_misfit``).
"""

from __future__ import annotations

import dataclasses
import functools

import jax
import jax.numpy as jnp

from systems.compressible_ns import solver
from wdno.control.weights import GuidanceSettings

__all__ = [
    "FLOOR",
    "GUIDANCE",
    "PARAMETRIZATION",
    "STEPS_PER_OUTPUT",
    "gradient_rollout",
    "objective",
    "rollout",
    "solve_scan",
]

# Density and pressure below this are raised to it before solving a generated initial state (the
# data's lowest level is 0.1; a sample's wavelet ringing at a jump can dip below zero).
FLOOR = 1e-2
# Adaptive steps per output interval of the differentiable solver: the true solver needed at most
# 20 (mean 10.7) on 200 random initial states of the cpu preset's grid (128 cells, 40 outputs).
# Every step costs (the scan runs them all), so no margin: an interval left unfinished only makes
# the gradient approximate, the reported J is the adaptive solver's. (A 2x coarser grid would be
# 3x cheaper, but its gradient's cosine to this one is 0.73 on average, 0.22 at worst.)
STEPS_PER_OUTPUT = 20
GUIDANCE = GuidanceSettings(scale=1.0e3, schedule="cosine_beta")


def objective(state: jax.Array, control: jax.Array, given: dict) -> jax.Array:
    """Mean squared misfit of the final state ``(X, 3)`` to the target (``control`` unused)."""
    del control
    return jnp.mean((state[-1] - given["target"]) ** 2)


def _encode(initial_state):
    return jnp.stack(
        [
            jnp.log(initial_state[..., 0]),
            initial_state[..., 1],
            jnp.log(initial_state[..., 2]),
        ],
        axis=-1,
    )


def _decode(decision):
    return jnp.stack(
        [jnp.exp(decision[..., 0]), decision[..., 1], jnp.exp(decision[..., 2])], axis=-1
    )


PARAMETRIZATION = (_encode, _decode)


def _config(initial_state: jax.Array, control: jax.Array) -> solver.SolverConfig:
    """The data's solver settings, from the shapes (cells; outputs = control frames)."""
    return dataclasses.replace(
        solver.SolverConfig(), num_cells=initial_state.shape[-2], num_outputs=control.shape[-3]
    )


def _floored(initial_state: jax.Array) -> jax.Array:
    floor = jnp.asarray([FLOOR, -jnp.inf, FLOOR], initial_state.dtype)
    return jnp.maximum(initial_state, floor)


def solve_scan(
    initial_state: jax.Array, config: solver.SolverConfig, steps_per_output: int
) -> tuple[jax.Array, jax.Array]:
    """:func:`systems.compressible_ns.solver.solve` as nested ``lax.scan``s (reverse-mode
    differentiable): each output interval takes exactly ``steps_per_output`` steps of
    ``dt = min(stable dt, time left)``, the same steps as the adaptive solver until the interval is
    done, then steps of ``dt = 0`` (no-ops). Returns ``(trajectory (T, X, 3), time_left (T - 1,))``:
    a positive ``time_left`` means an interval needed more steps."""
    interval = config.end_time / config.num_outputs

    def step(carry, _):
        conserved, remaining = carry
        dt = jnp.minimum(solver.stable_time_step(conserved, config), remaining)
        return (solver.ssp_rk3_step(conserved, dt, config), remaining - dt), None

    def output(conserved, _):
        start = (conserved, jnp.asarray(interval, conserved.dtype))
        (conserved, remaining), _ = jax.lax.scan(step, start, None, length=steps_per_output)
        return conserved, (conserved, remaining)

    conserved = solver.primitive_to_conserved(initial_state, config.gamma)
    _, (states, remaining) = jax.lax.scan(output, conserved, None, length=config.num_outputs)
    trajectory = jnp.concatenate(
        [initial_state[None], solver.conserved_to_primitive(states, config.gamma)], axis=0
    )
    return trajectory, remaining


@jax.jit
def rollout(initial_state: jax.Array, control: jax.Array) -> jax.Array:
    """The true (adaptive) solver on a batch: ``(N, X, 3)`` and ``(N, T - 1, X, 0)`` (no
    control; it fixes ``T``) -> ``(N, T, X, 3)``, density and pressure floored at :data:`FLOOR`.
    Not reverse-differentiable: it scores, :func:`gradient_rollout` differentiates."""
    config = _config(initial_state, control)
    return jax.vmap(functools.partial(solver.solve, config=config))(_floored(initial_state))


@jax.jit
def gradient_rollout(initial_state: jax.Array, control: jax.Array) -> jax.Array:
    """:func:`rollout` through :func:`solve_scan` with :data:`STEPS_PER_OUTPUT` (differentiable)."""
    config = _config(initial_state, control)
    solve = functools.partial(solve_scan, config=config, steps_per_output=STEPS_PER_OUTPUT)
    trajectory, _ = jax.vmap(solve)(_floored(initial_state))
    return trajectory
