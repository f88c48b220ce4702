"""The inverse problem (initial state generated from the target): layout, controller, solver
gradient on the initial state, and the compressible-NS pieces it uses.

References: the adaptive compressible-NS solver (itself tested against the exact Riemann
solution) for the differentiable scan form, central finite differences for its gradient, and the
closed-form least-squares initial state of a linear system for Adam on the initial state.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from _untrained import untrained_simulator

from systems.compressible_ns import control as cns_control
from systems.compressible_ns import solver as cns_solver
from systems.compressible_ns.task import TASK as CNS
from wdno.control import Controller, GuidanceSettings, baselines
from wdno.simulators.sampling import SamplerConfig
from wdno.transforms import encoding

T, X, F = 9, 16, 3


# ---- layout ----------------------------------------------------------------------------------
@pytest.mark.parametrize("transform", ["wavelet", "identity"])
def test_inverse_layout_generates_the_initial_state_and_knows_the_target(transform):
    config = encoding.EncodingConfig(transform=transform, wavelet="bior2.4", level=1)
    given = encoding.make_layout(config, (T, X, F), None, target=True)
    inverse = encoding.make_layout(config, (T, X, F), None, target=True, initial_given=False)
    assert inverse.num_channels == given.num_channels  # same channels, other known entries
    known_given, known_inverse = given.task_known_mask(), inverse.task_known_mask()
    # the inverse problem knows a strict subset: exactly the initial-state entries are freed
    assert not np.any(known_inverse & ~known_given)
    expected = given.known_mask(initial_state=True, control=False, target=True) & ~given.known_mask(
        initial_state=False, control=False, target=True
    )
    np.testing.assert_array_equal(known_given & ~known_inverse, expected)
    assert expected.any()
    if transform == "identity":  # physical space: row 0 free, row T-1 known
        assert not known_inverse[0, :X].any() and known_inverse[T - 1, :X].all()


def test_inverse_layout_needs_the_target():
    config = encoding.EncodingConfig(wavelet="bior2.4", level=1)
    with pytest.raises(ValueError, match="inverse problem"):
        encoding.make_layout(config, (T, X, F), None, target=False, initial_given=False)


# ---- the differentiable compressible-NS solver --------------------------------------------------
def _smooth_state(cells):
    x = (np.arange(cells) + 0.5) / cells * 2 - 1
    rho = 0.6 + 0.2 * np.sin(np.pi * x)
    v = 0.3 * np.cos(np.pi * x)
    p = 0.5 + 0.1 * np.sin(2 * np.pi * x)
    return np.stack([rho, v, p], -1)


def test_scan_solver_takes_the_adaptive_solvers_steps():
    with jax.enable_x64(True):
        config = cns_solver.SolverConfig(num_cells=48, num_outputs=6)
        sod = np.where(np.arange(48)[:, None] < 24, [1.0, 0.0, 1.0], [0.125, 0.0, 0.1])
        for state in (sod, _smooth_state(48)):
            state = jnp.asarray(state, jnp.float64)
            adaptive = cns_solver.solve(state, config)
            scanned, left = cns_control.solve_scan(state, config, 40)
            np.testing.assert_allclose(scanned, adaptive, atol=1e-12)
            assert float(jnp.max(left)) == 0.0
            _, short = cns_control.solve_scan(state, config, 2)  # too few steps: reported
            assert float(jnp.min(short)) > 0.0


def test_scan_solver_gradient_matches_finite_differences():
    with jax.enable_x64(True):
        config = cns_solver.SolverConfig(num_cells=32, num_outputs=4)
        state = jnp.asarray(_smooth_state(32), jnp.float64)
        target = jnp.asarray(_smooth_state(32)[::-1].copy(), jnp.float64)

        def misfit(u0):
            trajectory, _ = cns_control.solve_scan(u0, config, 20)
            return jnp.mean((trajectory[-1] - target) ** 2)

        assert float(jnp.max(cns_control.solve_scan(state, config, 20)[1])) == 0.0  # enough steps
        gradient = jax.grad(misfit)(state)
        direction = jax.random.normal(jax.random.key(0), state.shape, jnp.float64)
        eps = 1e-6
        finite = (misfit(state + eps * direction) - misfit(state - eps * direction)) / (2 * eps)
        # The scheme is only piecewise smooth (slope limiter, min/max wave speeds): the converged
        # central difference (eps 1e-6 and 1e-7 agree to 1e-9) and reverse mode agree to 0.7 %.
        np.testing.assert_allclose(jnp.vdot(gradient, direction), finite, rtol=2e-2)
        assert abs(float(finite)) > 1e-3


def test_parametrization_round_trips_and_floor_keeps_solves_finite():
    encode, decode = cns_control.PARAMETRIZATION
    state = jnp.asarray(_smooth_state(16)[None], jnp.float32)
    np.testing.assert_allclose(decode(encode(state)), state, rtol=1e-6)
    bad = state.at[:, 3, 0].set(-0.2).at[:, 5, 2].set(-1.0)  # negative density and pressure
    empty = jnp.zeros((1, 4, 16, 0))
    config = dataclasses.replace(cns_solver.SolverConfig(), num_cells=16, num_outputs=4)
    trajectory = cns_control.rollout(bad, empty)
    assert trajectory.shape == (1, 5, 16, 3) and bool(jnp.all(jnp.isfinite(trajectory)))
    assert float(trajectory[0, 0, 3, 0]) == pytest.approx(cns_control.FLOOR)
    np.testing.assert_allclose(
        cns_control.gradient_rollout(state, empty)[0],
        cns_solver.solve(state[0], config),
        atol=2e-5,
    )


# ---- Adam on the initial state ------------------------------------------------------------------
MATRIX = (0.8 * np.eye(4) + 0.1 * np.random.default_rng(0).normal(size=(4, 4))).astype(np.float32)


def _linear_rollout(initial_state, control):
    """``u_{t+1} = M u_t`` for ``T - 1`` steps (``control`` (N, T - 1, 4, 0) only fixes T)."""

    def step(u, _):
        u = u @ MATRIX.T
        return u, u

    steps = control.shape[1]
    _, states = jax.lax.scan(step, initial_state[..., 0], None, length=steps)
    return jnp.concatenate([initial_state[:, None], jnp.swapaxes(states, 0, 1)[..., None]], 1)


def _misfit(state, control, given):
    return jnp.mean((state[-1] - given["target"]) ** 2)


def test_initial_state_gradient_reaches_the_least_squares_initial_state():
    rng = np.random.default_rng(1)
    target = rng.normal(size=(3, 4, 1)).astype(np.float32)
    empty = np.zeros((3, 2, 4, 0), np.float32)
    # J = mean (M^2 u0 - y)^2 is zero at u0 = (M^2)^-1 y (numpy, float64)
    power = np.linalg.matrix_power(MATRIX.astype(np.float64), 2)
    exact = np.linalg.solve(power, target[..., 0].T).T[..., None]
    result = baselines.initial_state_gradient(
        _linear_rollout,
        _misfit,
        {"target": target},
        init=np.zeros((3, 4, 1), np.float32),
        control=empty,
        learning_rate=0.05,
        max_steps=600,
        progress=False,
    )
    np.testing.assert_allclose(result.initial_state, exact, atol=2e-3)
    assert np.all(result.objective < 1e-6)
    # Solving problems together equals solving one alone (Adam is elementwise).
    alone = baselines.initial_state_gradient(
        _linear_rollout,
        _misfit,
        {"target": target[1:2]},
        init=np.zeros((1, 4, 1), np.float32),
        control=empty[1:2],
        learning_rate=0.05,
        max_steps=600,
        progress=False,
    )
    np.testing.assert_allclose(alone.initial_state[0], result.initial_state[1], atol=1e-5)


def test_initial_state_gradient_rejects_a_given_initial_state():
    with pytest.raises(ValueError, match="initial_state"):
        baselines.initial_state_gradient(
            _linear_rollout,
            _misfit,
            {"target": np.zeros((1, 4, 1)), "initial_state": np.zeros((1, 4, 1))},
            init=np.zeros((1, 4, 1)),
            control=np.zeros((1, 2, 4, 0)),
            progress=False,
        )


def test_diverged_problems_are_frozen_not_fatal():
    def exploding(initial_state, control):  # problem 0 is non-finite whatever its iterate
        trajectory = _linear_rollout(initial_state, control)
        return trajectory.at[0].multiply(jnp.inf)

    target = np.ones((2, 4, 1), np.float32)
    with pytest.warns(UserWarning, match="non-finite"):
        result = baselines.initial_state_gradient(
            exploding,
            _misfit,
            {"target": target},
            init=np.zeros((2, 4, 1), np.float32),
            control=np.zeros((2, 2, 4, 0), np.float32),
            max_steps=5,
            progress=False,
        )
    np.testing.assert_array_equal(result.initial_state[0], 0.0)  # frozen at its start
    assert np.all(result.initial_state[1] != 0.0)  # the other one moved
    assert np.isfinite(result.history["mean_objective"]).all()


# ---- the controller on the inverse problem ----------------------------------------------------
def _inverse_model():
    config = encoding.EncodingConfig(wavelet="bior2.4", level=1)
    layout = encoding.make_layout(config, (T, X, F), None, target=True, initial_given=False)
    return untrained_simulator(layout, 0.3)


def test_controller_scores_the_generated_initial_state_with_the_solver():
    model = _inverse_model()
    target = np.abs(np.random.default_rng(2).normal(size=(2, X, F))).astype(np.float32) + 0.2
    controller = Controller(
        model, CNS, guidance=GuidanceSettings(scale=1.0), sampler=SamplerConfig(num_steps=3)
    )
    with pytest.raises(ValueError, match="initial_state=None"):
        controller.optimize(target, target, progress=False)
    result = controller.optimize(None, target, key=3, batch_size=2, progress=False)
    assert result.control.shape == (2, T - 1, X, 0)
    assert result.objective_generated_start is None
    # the solver's start is the model's generated u(0), floored; J recomputed by hand
    floor = np.array([cns_control.FLOOR, -np.inf, cns_control.FLOOR], np.float32)
    np.testing.assert_allclose(
        result.initial_state, result.predicted_state[:, 0], rtol=1e-6, atol=1e-6
    )
    config = dataclasses.replace(cns_solver.SolverConfig(), num_cells=X, num_outputs=T - 1)
    for i in range(2):
        reached = np.asarray(cns_solver.solve(jnp.maximum(result.initial_state[i], floor), config))
        expected = np.mean((reached[-1] - target[i]) ** 2)
        if np.isfinite(expected):
            np.testing.assert_allclose(result.objective[i], expected, rtol=1e-5)
            np.testing.assert_allclose(result.state[i], reached, atol=1e-5)
