"""Objectives evaluated by a system's true solver (spec §2.4: the reported ``J`` always rolls the
control out with the solver, never with the model's own prediction).

An objective is a plain JAX function of ONE sample in physical space,
``J(state (T, *spatial, Fs), control (T - 1, *spatial, Fc), given) -> scalar``, where ``given``
is a dict of the problem's known parts (``"initial_state"``, ``"target"``: ``(*spatial, Fs)``).
A rollout is the system's batched, differentiable solver,
``rollout(initial_state (N, *spatial, Fs), control (N, T - 1, *spatial, Fc)) -> (N, T, ...)``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

__all__ = ["Objective", "Rollout", "batch_objective", "check_objective", "solver_objective"]

Objective = Callable[[jax.Array, jax.Array, dict], jax.Array]
Rollout = Callable[[jax.Array, jax.Array], jax.Array]


def batch_objective(objective: Objective, state, control, given: dict) -> jax.Array:
    """``(N,)``: the per-sample objective over a batch (``given`` batched along axis 0)."""
    return jax.vmap(objective)(state, control, given)


def check_objective(objective, state_shape, control_shape, given_shapes: dict, name="objective"):
    """Raise a clear error, before any compilation, unless ``objective`` is a callable of one
    sample that returns a real scalar and can be differentiated with respect to state and control.

    Shapes are per sample (no batch axis). Tracing uses abstract values only (``jax.eval_shape``).
    """
    if not callable(objective):
        raise TypeError(f"{name}: expected a callable J(state, control, given), got {objective!r}")
    state = jax.ShapeDtypeStruct(tuple(state_shape), jnp.float32)
    control = jax.ShapeDtypeStruct(tuple(control_shape), jnp.float32)
    given = {k: jax.ShapeDtypeStruct(tuple(v), jnp.float32) for k, v in given_shapes.items()}
    try:
        out = jax.eval_shape(objective, state, control, given)
    except Exception as error:  # the user's function failed on abstract inputs: say where
        raise ValueError(
            f"{name}: calling J(state {state.shape}, control {control.shape}, given "
            f"{ {k: v.shape for k, v in given.items()} }) failed: {type(error).__name__}: {error}"
        ) from error
    if not hasattr(out, "shape") or out.shape != ():
        shape = getattr(out, "shape", type(out).__name__)
        raise ValueError(f"{name}: J must return a scalar for one sample, got shape {shape}")
    if not jnp.issubdtype(out.dtype, jnp.floating):
        raise ValueError(f"{name}: J must return a real floating scalar, got dtype {out.dtype}")
    try:
        jax.eval_shape(jax.grad(objective, argnums=(0, 1)), state, control, given)
    except Exception as error:
        raise ValueError(
            f"{name}: J is not differentiable with respect to (state, control) by jax.grad: "
            f"{type(error).__name__}: {error}"
        ) from error


@functools.partial(jax.jit, static_argnames=("rollout", "objective"))
def _solver_batch(rollout, objective, initial_state, control, given):
    state = rollout(initial_state, control)
    return state, batch_objective(objective, state, control, given)


def solver_objective(
    rollout: Rollout,
    objective: Objective,
    initial_state,
    control,
    given: dict,
    *,
    batch_size: int = 64,
) -> tuple[np.ndarray, np.ndarray]:
    """Roll ``control`` out with the true solver from ``initial_state``; returns
    ``(state (N, T, ...), J (N,))`` as numpy arrays. Batches of ``batch_size`` (the last padded
    by repetition, so one compilation)."""
    initial_state = np.asarray(initial_state, np.float32)
    control = np.asarray(control, np.float32)
    num = len(initial_state)
    states, values = [], []
    for start in range(0, num, batch_size):
        rows = np.arange(start, min(start + batch_size, num))
        index = np.concatenate([rows, np.full(batch_size - len(rows), rows[-1])])
        if num < batch_size:
            index = rows
        batch_given = {k: np.asarray(v, np.float32)[index] for k, v in given.items()}
        state, value = _solver_batch(
            rollout, objective, initial_state[index], control[index], batch_given
        )
        states.append(np.asarray(state)[: len(rows)])
        values.append(np.asarray(value)[: len(rows)])
    return np.concatenate(states), np.concatenate(values)
