"""Control baselines: zero control, nearest training control, gradient descent through the solver.

The gradient baseline is checked on a tiny linear system, ``u_{t+1} = M u_t + B f_t``, whose
quadratic objective ``J = mean (u_T - y)^2 + alpha |f|^2`` has the closed-form optimum of the
normal equations ``(A^T A / X + alpha I) f = A^T (y - M^T u0) / X`` with ``u_T = A f + M^T u0``,
``A = [M^(T-1) B, ..., M B, B]`` (built and solved in numpy, independently of JAX).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from wdno.control import baselines

NUM_POINTS, NUM_INTERVALS, ALPHA = 4, 2, 0.05
_rng = np.random.default_rng(0)
MATRIX = (0.6 * np.eye(NUM_POINTS) + 0.2 * _rng.normal(size=(NUM_POINTS,) * 2)).astype(np.float32)
INPUT = (np.eye(NUM_POINTS) + 0.3 * _rng.normal(size=(NUM_POINTS,) * 2)).astype(np.float32)
CONTROL_SHAPE = (NUM_INTERVALS, NUM_POINTS, 1)


def linear_rollout(initial_state, control):
    """``(N, X, 1)``, ``(N, T - 1, X, 1)`` -> ``(N, T, X, 1)`` for ``u_{t+1} = M u_t + B f_t``."""

    def step(u, f):
        u = u @ MATRIX.T + f @ INPUT.T
        return u, u

    _, states = jax.lax.scan(step, initial_state[..., 0], jnp.swapaxes(control[..., 0], 0, 1))
    return jnp.concatenate([initial_state[:, None], jnp.swapaxes(states, 0, 1)[..., None]], 1)


def tanh_rollout(initial_state, control):
    """A nonlinear variant, for the finite-difference gradient check."""

    def step(u, f):
        u = jnp.tanh(u @ MATRIX.T + f @ INPUT.T)
        return u, u

    _, states = jax.lax.scan(step, initial_state[..., 0], jnp.swapaxes(control[..., 0], 0, 1))
    return jnp.concatenate([initial_state[:, None], jnp.swapaxes(states, 0, 1)[..., None]], 1)


def objective(state, control, given):
    return jnp.mean((state[-1] - given["target"]) ** 2) + ALPHA * jnp.sum(control**2)


def problems(num, seed=1):
    rng = np.random.default_rng(seed)
    initial = rng.normal(size=(num, NUM_POINTS, 1)).astype(np.float32)
    target = rng.normal(size=(num, NUM_POINTS, 1)).astype(np.float32)
    return initial, {"initial_state": initial, "target": target}


def optimum(initial_state, target):
    """The exact minimiser of ``J`` for the linear rollout, per problem (numpy, float64)."""
    m, b = MATRIX.astype(np.float64), INPUT.astype(np.float64)
    blocks = [np.linalg.matrix_power(m, NUM_INTERVALS - 1 - t) @ b for t in range(NUM_INTERVALS)]
    a = np.concatenate(blocks, axis=1)  # u_T = a @ [f_0; f_1; ...] + m^T u0
    free = initial_state[..., 0] @ np.linalg.matrix_power(m, NUM_INTERVALS).T
    lhs = a.T @ a / NUM_POINTS + ALPHA * np.eye(a.shape[1])
    rhs = (target[..., 0] - free) @ a / NUM_POINTS
    return np.linalg.solve(lhs, rhs.T).T.reshape(len(initial_state), *CONTROL_SHAPE)


def solve(initial, given, **options):
    options = {"control_shape": CONTROL_SHAPE, "progress": False, **options}
    return baselines.solver_gradient(linear_rollout, objective, initial, given, **options)


def test_gradient_matches_finite_differences():
    initial, given = problems(2)
    control = np.random.default_rng(2).normal(size=(2, *CONTROL_SHAPE)).astype(np.float32)
    values, gradient = baselines.objective_gradient(
        tanh_rollout, objective, initial, control, given
    )

    def value(control):
        state = tanh_rollout(jnp.asarray(initial), jnp.asarray(control))
        return np.asarray(jax.vmap(objective)(state, jnp.asarray(control), given), np.float64)

    np.testing.assert_allclose(values, value(control), rtol=1e-6)
    entry, step = (1, 0, 2, 0), 1e-2
    plus, minus = control.copy(), control.copy()
    plus[entry] += step
    minus[entry] -= step
    difference = (value(plus) - value(minus)) / (2 * step)
    assert abs(difference[0]) < 1e-6  # problem 0 does not depend on problem 1's control
    np.testing.assert_allclose(gradient[entry], difference[1], rtol=2e-3)


def test_converges_to_closed_form_optimum():
    initial, given = problems(3)
    result = solve(initial, given, learning_rate=0.05, max_steps=2000, tolerance=1e-6, window=20)
    expected = optimum(initial, given["target"])
    np.testing.assert_allclose(result.control, expected, atol=2e-3)
    best = np.asarray(
        jax.vmap(objective)(linear_rollout(initial, expected), jnp.asarray(expected), given)
    )
    np.testing.assert_allclose(result.objective, best, rtol=1e-5)
    assert result.stopped == "converged" and 20 < result.steps < 2000
    means = result.history["mean_objective"]
    assert min(means[:-20]) - min(means[-20:]) <= 1e-6 * min(means[:-20])
    assert result.history["objective"].shape == (result.steps, 3)
    np.testing.assert_allclose(means, result.history["objective"].mean(axis=1), rtol=1e-6)
    assert np.all(np.diff(result.history["seconds"]) >= 0)


def test_problems_are_independent_and_batches_agree():
    initial, given = problems(3)
    options = {"learning_rate": 0.1, "max_steps": 20}
    together = solve(initial, given, **options)
    for n in range(3):
        alone = solve(initial[n : n + 1], {k: v[n : n + 1] for k, v in given.items()}, **options)
        np.testing.assert_allclose(alone.control[0], together.control[n], rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(alone.objective[0], together.objective[n], rtol=1e-5)
    batched = solve(initial, given, batch_size=2, **options)  # last batch padded
    np.testing.assert_allclose(batched.control, together.control, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(batched.history["objective"], together.history["objective"])


def test_stops_on_time_budget():
    initial, given = problems(2)
    result = solve(initial, given, max_steps=50, time_budget=0.0)
    assert result.steps == 1 and result.stopped == "time_budget"
    assert result.seconds == result.history["seconds"][-1] > 0


def test_init_is_respected_and_compiled_step_reused():
    initial, given = problems(2)
    init = np.random.default_rng(3).normal(size=(2, *CONTROL_SHAPE)).astype(np.float32)
    result = solve(initial, given, init=init, max_steps=0)
    expected = jax.vmap(objective)(linear_rollout(initial, init), jnp.asarray(init), given)
    np.testing.assert_array_equal(result.control, init)
    np.testing.assert_allclose(result.objective, expected, rtol=1e-6)
    assert result.steps == 0 and result.history["objective"].shape == (0, 2)
    first = solve(initial, given, init=init, max_steps=1, learning_rate=0.1)
    np.testing.assert_allclose(first.history["objective"][0], expected, rtol=1e-6)
    hits = baselines._compiled_step.cache_info().hits
    second = solve(initial, given, init=init, max_steps=1, learning_rate=0.2)
    assert baselines._compiled_step.cache_info().hits == hits + 1  # no recompilation
    # Adam's first update is lr * sign(gradient) (up to eps): twice the rate, twice the move
    np.testing.assert_allclose(second.control - init, 2 * (first.control - init), rtol=1e-4)
    scheduled = solve(initial, given, init=init, max_steps=1, learning_rate=lambda step: 0.2)
    np.testing.assert_array_equal(scheduled.control, second.control)


def test_zero_and_nearest_training_control():
    initial, _ = problems(3)
    np.testing.assert_array_equal(
        baselines.zero_control(initial, CONTROL_SHAPE), np.zeros((3, *CONTROL_SHAPE))
    )
    rng = np.random.default_rng(4)
    train_initial = rng.normal(size=(10, NUM_POINTS, 1)).astype(np.float32)
    train_controls = rng.normal(size=(10, *CONTROL_SHAPE)).astype(np.float32)
    picks = np.array([7, 2, 7, 0])
    query = train_initial[picks] + 0.01 * rng.normal(size=(4, NUM_POINTS, 1))
    controls, indices = baselines.nearest_training_control(train_initial, train_controls, query)
    np.testing.assert_array_equal(indices, picks)
    np.testing.assert_array_equal(controls, train_controls[picks])
    with pytest.raises(ValueError, match=r"initial_state must be \(N, \*\(4, 1\)\).*\(4, 5, 1\)"):
        baselines.nearest_training_control(train_initial, train_controls, np.zeros((4, 5, 1)))
    with pytest.raises(ValueError, match="one control per training initial state"):
        baselines.nearest_training_control(train_initial, train_controls[:9], query)


def test_bad_shapes_raise_clear_errors():
    initial, given = problems(2)
    with pytest.raises(ValueError, match=r"init must be \(N=2"):
        solve(initial, given, init=np.zeros((3, *CONTROL_SHAPE)))
    with pytest.raises(ValueError, match=r"control must be \(T - 1, 4, Fc\).*\(2, 5, 1\)"):
        solve(initial, given, control_shape=(2, 5, 1))
    with pytest.raises(ValueError, match=r"given\['target'\] must have the batch axis N=2"):
        solve(initial, {**given, "target": given["target"][:1]})
    with pytest.raises(ValueError, match="pass init"):
        solve(initial, given, control_shape=None)
    with pytest.raises(ValueError, match=r"rollout must map .* got \(2, 2, 4, 1\)"):
        solve(initial, given, gradient_rollout=lambda u0, f: linear_rollout(u0, f)[:, 1:])
