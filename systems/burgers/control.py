"""Burgers control (spec §2.3-2.4, paper Eq. 6-7): reach a target final state with little force.

Given ``u0`` and a target ``u_T`` (both from a test trajectory), find the force ``f`` on the
80 x 120 control grid minimising

    J = mean_x (u(T, x) - u_T(x))^2 + alpha sum_{t,x} f(t, x)^2,      alpha = 2e-5,

with ``u`` from our solver run on ``f`` (never a model's prediction). Sampling is guided by the
released objective (``--wus 120000 --wfs 0.00002 --J_scheduler cosine``)

    J_g = mean_x (u(0) - u0)^2 + mean_x (u(T) - u_T)^2 + alpha sum f^2,

scaled by ``wu = 1.2e5`` with the cosine-beta weight schedule. Its ``(u(0) - u0)^2`` term keeps
the generated initial state on the given one, which the model only sees as a condition.
Objectives act on one sample, channels last: ``state (81, 120, 1)``, ``control (80, 120, 1)``.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp

from systems.burgers import solver
from wdno.control.weights import GuidanceSettings

__all__ = [
    "ALPHA",
    "GRADIENT_SOLVER",
    "GUIDANCE",
    "gradient_rollout",
    "guidance_objective",
    "objective",
    "rollout",
]

ALPHA = 2e-5  # control-energy weight (the released --wfs)
GUIDANCE = GuidanceSettings(scale=1.2e5, schedule="cosine_beta")  # the released --wus, scheduler
# The solver-gradient baselines' gradient solver: 240 points, 2 steps per control interval. Its
# gradient agrees with the default solver's to cosine similarity 0.9995 (3 % relative error) at
# about 1/15 of the cost (0.55 s against 7-10 s per Adam step for 50 problems on 2 CPU cores);
# 100 Adam steps reach J = 0.01834 with it and 0.01845 with the full gradient (8 problems, both
# scored by the default solver). One step per interval is unstable (NaN).
GRADIENT_SOLVER = solver.SolverConfig(num_points=240, steps_per_interval=2)


def objective(state: jax.Array, control: jax.Array, given: dict) -> jax.Array:
    """The evaluation objective: final-state misfit plus ``ALPHA`` times the control energy."""
    misfit = jnp.mean((state[-1] - given["target"]) ** 2)
    return misfit + ALPHA * jnp.sum(control**2)


def guidance_objective(state: jax.Array, control: jax.Array, given: dict) -> jax.Array:
    """The released guidance objective (without its scale ``wu``): adds the initial misfit."""
    initial = jnp.mean((state[0] - given["initial_state"]) ** 2)
    return initial + objective(state, control, given)


@jax.jit
def rollout(initial_state: jax.Array, control: jax.Array) -> jax.Array:
    """The true solver on a batch: ``(N, 120, 1)``, ``(N, 80, 120, 1)`` -> ``(N, 81, 120, 1)``
    (default :class:`systems.burgers.solver.SolverConfig`, differentiable)."""
    return jax.vmap(solver.solve)(initial_state[..., 0], control[..., 0])[..., None]


@jax.jit
def gradient_rollout(initial_state: jax.Array, control: jax.Array) -> jax.Array:
    """:func:`rollout` on the coarser :data:`GRADIENT_SOLVER` (gradients of the baselines only)."""
    solve = functools.partial(solver.solve, config=GRADIENT_SOLVER)
    return jax.vmap(solve)(initial_state[..., 0], control[..., 0])[..., None]
