"""Burgers solver against independent references: Cole-Hopf, convergence order, energy balance,
finite-difference gradients, a pivoting LAPACK tridiagonal solve and autodiff Jacobians."""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import enable_x64

from systems.burgers import grid, solver


def cole_hopf(x, times, viscosity, amplitude, num_modes=4096):
    """Exact u(t, x) for u0 = amplitude sin(2 pi x), u = 0 at the walls, no force.

    u = -2 nu phi_x / phi with phi_t = nu phi_xx, phi_x = 0 at the walls and
    phi0 = exp(-(1/(2 nu)) int_0^x u0) = exp(-amplitude (1 - cos 2 pi x) / (4 pi nu)).
    phi0 is expanded in cos(n pi x) by the trapezoid rule on a fine grid (a DCT-I).
    """
    nodes = np.linspace(0.0, 1.0, num_modes + 1)
    phi0 = np.exp(-amplitude * (1.0 - np.cos(2 * np.pi * nodes)) / (4 * np.pi * viscosity))
    n = np.arange(num_modes + 1)
    weights = np.full(num_modes + 1, 1.0 / num_modes)
    weights[[0, -1]] /= 2
    coefficients = 2 * (np.cos(np.pi * np.outer(n, nodes)) * phi0) @ weights
    coefficients[0] /= 2
    result = []
    for t in times:
        decayed = coefficients * np.exp(-viscosity * (np.pi * n) ** 2 * t)
        phi = np.cos(np.pi * np.outer(x, n)) @ decayed
        phi_x = -(np.pi * n * np.sin(np.pi * np.outer(x, n))) @ decayed
        result.append(-2 * viscosity * phi_x / phi)
    return np.stack(result)


def relative_l2(a, b):
    return float(np.linalg.norm(np.ravel(a - b)) / np.linalg.norm(np.ravel(b)))


def test_cole_hopf_unforced():
    config = solver.SolverConfig(end_time=1.0)
    x = grid.stored_x(1)
    with enable_x64():
        u0 = jnp.asarray(np.sin(2 * np.pi * x))
        u = np.asarray(solver.solve(u0, jnp.zeros((80, 120)), config))
    times = grid.stored_times(1, 1.0)
    check = [10, 20, 40, 80]  # t = 0.125 (shock forming), 0.25, 0.5, 1.0
    exact = cole_hopf(x, times[check], config.viscosity, 1.0)
    for level, reference in zip(check, exact, strict=True):
        assert relative_l2(u[level], reference) < 2e-4, level  # measured 1e-5 to 4e-5
    assert np.abs(u[80]).max() > 0.3  # a real shock, not a decayed field


def _smooth_problem(num_points):
    x = grid.solver_x(num_points)
    u0 = 0.8 * np.sin(np.pi * x) - 0.5 * np.sin(3 * np.pi * x)
    tau = (np.arange(80) / 80)[:, None]
    force = np.exp(-((x - 0.4) ** 2) / 0.02) * np.cos(3 * tau) - 0.5 * np.exp(
        -((x - 0.7) ** 2) / 0.05
    )
    return jnp.asarray(u0), jnp.asarray(force)


def _final_state(num_points, steps, end_time=0.5):
    config = solver.SolverConfig(num_points=num_points, steps_per_interval=steps, end_time=end_time)
    u0, force = _smooth_problem(num_points)
    return np.asarray(jax.jit(solver.solver_trajectory, static_argnums=2)(u0, force, config)[-1])


def test_time_convergence_third_order():
    with enable_x64():
        reference = _final_state(119, 16)
        errors = [np.abs(_final_state(119, s) - reference).max() for s in (1, 2, 4)]
    orders = np.log2(np.array(errors[:-1]) / np.array(errors[1:]))
    assert np.all((orders > 2.6) & (orders < 3.6)), (errors, orders)


def test_space_convergence_second_order():
    with enable_x64():
        reference = _final_state(959, 2)  # dx = 1/960; the coarse grids are subsets of it
        errors = []
        for cells in (60, 120, 240):
            stride = 960 // cells
            errors.append(
                np.abs(_final_state(cells - 1, 2) - reference[stride - 1 :: stride]).max()
            )
    orders = np.log2(np.array(errors[:-1]) / np.array(errors[1:]))
    assert np.all((orders > 1.8) & (orders < 2.3)), (errors, orders)


def test_energy_balance_with_force():
    """E(T) - E(0) = int_0^T (-nu int u_x^2 dx + int u f dx) dt, to quadrature accuracy."""
    config = solver.SolverConfig(num_points=479, end_time=1.0, steps_per_interval=8)
    with enable_x64():
        u0, force = _smooth_problem(config.num_points)
        states = np.asarray(solver.solver_trajectory(u0, force, config, samples_per_interval=8))
    dx = config.dx
    walls = np.pad(states, ((0, 0), (1, 1)))
    energy = 0.5 * dx * (states**2).sum(axis=1)
    dissipation = config.viscosity * dx * (np.diff(walls, axis=1) / dx) ** 2
    dissipation = dissipation.sum(axis=1)
    frames = np.repeat(np.asarray(force), 8, axis=0)  # the force on each recorded sub-interval
    power = dx * (0.5 * (states[:-1] + states[1:]) * frames).sum(axis=1)
    dt = config.end_time / (80 * 8)
    rate = power - 0.5 * (dissipation[:-1] + dissipation[1:])
    balance = energy[-1] - energy[0] - dt * rate.sum()
    scale = dt * (np.abs(power).sum() + dissipation.sum())
    assert abs(balance) < 2e-4 * scale, (balance, scale)
    assert abs(energy[-1] - energy[0]) > 0.05 * scale  # the test has something to balance


def test_gradient_matches_finite_differences():
    config = solver.SolverConfig(num_points=239, end_time=0.5, steps_per_interval=2)
    x = grid.stored_x(1)
    with enable_x64():
        u0 = jnp.asarray(np.exp(-((x - 0.3) ** 2) / 0.01))
        target = jnp.asarray(0.3 * np.sin(np.pi * x))
        force = jnp.asarray(np.random.default_rng(0).normal(size=(80, 120)))
        direction = jnp.asarray(np.random.default_rng(1).normal(size=(80, 120)))

        def loss(f):
            return jnp.mean((solver.solve(u0, f, config)[-1] - target) ** 2)

        gradient = jax.grad(loss)(force)
        epsilon = 1e-5
        finite = (loss(force + epsilon * direction) - loss(force - epsilon * direction)) / (
            2 * epsilon
        )
        assert float(jnp.vdot(gradient, direction)) == pytest.approx(float(finite), rel=1e-6)


def test_jacobian_bands_match_autodiff_and_thomas_matches_lapack():
    with enable_x64():
        rng = np.random.default_rng(0)
        u = jnp.asarray(rng.normal(size=50))
        dx, viscosity = 1 / 51, 0.01
        dense = jax.jacfwd(solver.right_hand_side)(u, 0.0, dx, viscosity)
        lower, diagonal, upper = solver.jacobian_bands(u, dx, viscosity)
        np.testing.assert_allclose(np.diag(dense), diagonal, atol=1e-9)
        np.testing.assert_allclose(np.diag(dense, -1), lower[1:], atol=1e-9)
        np.testing.assert_allclose(np.diag(dense, 1), upper[:-1], atol=1e-9)
        scale = -solver.GAMMA * 0.05
        bands = (scale * lower, 1 + scale * diagonal, scale * upper)
        rhs = jnp.asarray(rng.normal(size=50))
        ours = solver.solve_factored(bands[0], *solver.factor_tridiagonal(*bands), rhs)
        lapack = jax.lax.linalg.tridiagonal_solve(*bands, rhs[:, None])[:, 0]
        np.testing.assert_allclose(ours, lapack, rtol=1e-10, atol=1e-12)


def test_outputs_are_nested_and_batches_rejected():
    x = grid.stored_x(1)
    u0 = jnp.asarray(np.sin(2 * np.pi * x), jnp.float32)
    force = jnp.asarray(np.cos(np.arange(80) / 10)[:, None] * np.sin(np.pi * x), jnp.float32)
    config = solver.SolverConfig(end_time=1.0)
    base = solver.solve(u0, force, config, 1)
    fine = solver.solve(u0, force, config, 2)
    assert base.shape == (81, 120) and fine.shape == (161, 240)
    np.testing.assert_allclose(fine[::2, ::2], base, atol=1e-6)
    with pytest.raises(ValueError, match="one sample"):
        solver.solve(u0[None], force, config)
    with pytest.raises(ValueError, match="expected one of"):
        solver.solve(u0[:100], force, config)


def test_interpolation_is_fourth_order_on_smooth_fields():
    errors = []
    for points in (120, 240):
        source = grid.stored_x(points // 120)
        target = grid.solver_x(479)
        matrix = grid.interpolation_matrix(source, target)
        errors.append(np.abs(matrix @ np.sin(np.pi * source) - np.sin(np.pi * target)).max())
    assert errors[0] < 1e-6 and 12 < errors[0] / errors[1] < 20, errors


def test_config_is_hashable_and_static():
    config = solver.SolverConfig()
    assert hash(config) == hash(dataclasses.replace(config))
    assert config.dt == pytest.approx(8.0 / 640)


def test_linear_solvers_agree():
    with enable_x64():
        u0, force = _smooth_problem(119)
        runs = [
            solver.solver_trajectory(
                u0, force, solver.SolverConfig(num_points=119, end_time=0.5, linear_solver=kind)
            )
            for kind in ("thomas", "library")
        ]
    np.testing.assert_allclose(runs[0], runs[1], atol=1e-11)
    with pytest.raises(ValueError, match="linear_solver"):
        solver.SolverConfig(linear_solver="dense")


@pytest.mark.slow
def test_default_solver_matches_converged_reference_on_generator_samples():
    """Acceptance: relative L2 < 1e-3 on the stored grid (float32 default vs float64 fine run)."""
    from systems.burgers import generate

    keys = generate.sample_keys(0, "train", np.arange(16))
    default = np.asarray(
        generate.generate_batch(keys, generate.SamplingConfig(), solver.SolverConfig())["u"]
    )
    with enable_x64():
        fine = solver.SolverConfig(num_points=961 * 4 - 1, steps_per_interval=32)
        reference = np.asarray(generate.generate_batch(keys, generate.SamplingConfig(), fine)["u"])
    errors = [relative_l2(a[1:], b[1:]) for a, b in zip(default, reference, strict=True)]
    assert max(errors) < 1e-3, errors
