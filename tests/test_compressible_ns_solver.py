"""Tests of the 1-D compressible Navier-Stokes solver against independent references.

References: Toro's exact Riemann solver (our numpy implementation, itself checked against the
star-region values tabulated by Toro), exact conservation, and the linear theory of viscously
damped sound waves.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import enable_x64

from systems.compressible_ns import exact_riemann, initial_states, solver

SOD = ((1.0, 0.0, 1.0), (0.125, 0.0, 0.1))


def _riemann_run(left, right, gamma, num_cells, end_time, position=0.5, **overrides):
    """Run a Riemann problem on [0, 1] in float64; returns (x, final primitive state)."""
    config = solver.SolverConfig(
        gamma=gamma,
        shear_viscosity=0.0,
        bulk_viscosity=0.0,
        num_cells=num_cells,
        x_min=0.0,
        x_max=1.0,
        end_time=end_time,
        num_outputs=1,
        **overrides,
    )
    x = np.asarray(config.cell_centers(), np.float64)
    with enable_x64():
        state = jnp.asarray(np.where(x[:, None] < position, left, right), jnp.float64)
        final = np.asarray(solver.solve(state, config)[-1])
    return x, final


def _density_l1(left, right, gamma, num_cells, end_time, position=0.5, **overrides):
    x, final = _riemann_run(left, right, gamma, num_cells, end_time, position, **overrides)
    rho, _, _ = exact_riemann.sample(x, end_time, left, right, gamma, position)
    return float(np.mean(np.abs(final[:, 0] - rho)))  # L1 over a domain of length 1


@pytest.mark.parametrize(
    ("left", "right", "p_star", "u_star"),
    [
        # Toro (2009) Table 4.3, tests 1-3 (gamma = 1.4).
        ((1.0, 0.0, 1.0), (0.125, 0.0, 0.1), 0.30313, 0.92745),
        ((1.0, -2.0, 0.4), (1.0, 2.0, 0.4), 0.00189, 0.0),
        ((1.0, 0.0, 1000.0), (1.0, 0.0, 0.01), 460.894, 19.5975),
    ],
)
def test_exact_riemann_star_state_matches_toro_tables(left, right, p_star, u_star):
    p, u = exact_riemann.star_state(left, right, 1.4)
    assert p == pytest.approx(p_star, rel=1e-4, abs=1e-5)
    assert u == pytest.approx(u_star, rel=1e-4, abs=1e-5)


def test_exact_riemann_sample_is_consistent():
    """Far from the waves the sample is the initial data; at x = x0 + u* t it is the star state."""
    x = np.array([-10.0, 10.0])
    rho, u, p = exact_riemann.sample(x, 0.1, *SOD, 1.4)
    np.testing.assert_allclose(rho, [1.0, 0.125])
    np.testing.assert_allclose(p, [1.0, 0.1])
    p_star, u_star = exact_riemann.star_state(*SOD, 1.4)
    _, u_mid, p_mid = exact_riemann.sample(np.array([u_star * 0.1]), 0.1, *SOD, 1.4)
    np.testing.assert_allclose([u_mid[0], p_mid[0]], [u_star, p_star])


@pytest.mark.parametrize("gamma", [1.4, 5.0 / 3.0])
def test_sod_matches_exact_solution_and_converges(gamma):
    """Measured density L1 at t = 0.2 (MC limiter, CFL 0.4): gamma 1.4: 4.8e-3, 2.5e-3, 1.4e-3;
    gamma 5/3: 5.3e-3, 2.9e-3, 1.7e-3 on 100, 200, 400 cells (order ~0.85-0.9)."""
    errors = [_density_l1(*SOD, gamma, n, 0.2) for n in (100, 200, 400)]
    assert errors[1] < 0.02 / 4  # well under the classical 0.02 at 200 cells
    assert errors[0] > errors[1] > errors[2]
    orders = np.log2(np.array(errors[:-1]) / np.array(errors[1:]))
    assert np.all(orders > 0.6), orders


def test_minmod_limiter_also_converges():
    errors = [_density_l1(*SOD, 1.4, n, 0.2, limiter="minmod") for n in (100, 200)]
    assert errors[1] < errors[0] < 0.02


@pytest.mark.parametrize(
    ("name", "left", "right", "end_time", "position", "tolerance"),
    [
        ("lax", (0.445, 0.698, 3.528), (0.5, 0.0, 0.571), 0.14, 0.5, 0.03),
        ("toro-2 (123)", (1.0, -2.0, 0.4), (1.0, 2.0, 0.4), 0.15, 0.5, 0.01),
        ("toro-3 (blast)", (1.0, 0.0, 1000.0), (1.0, 0.0, 0.01), 0.012, 0.5, 0.15),
    ],
)
def test_strong_shocks_stay_positive(name, left, right, end_time, position, tolerance):
    """200 cells, gamma 1.4. Measured density L1: lax 0.011, 123 0.0025 (min rho 0.026,
    min p 0.0037), blast 0.078 (its density spike between contact and shock spans only ~6 cells)."""
    x, final = _riemann_run(left, right, 1.4, 200, end_time, position)
    assert np.all(np.isfinite(final)), name
    assert np.all(final[:, 0] > 0.0) and np.all(final[:, 2] > 0.0), name
    rho, _, _ = exact_riemann.sample(x, end_time, left, right, 1.4, position)
    assert np.mean(np.abs(final[:, 0] - rho)) < tolerance, name


def test_periodic_run_conserves_mass_momentum_energy(viscosity=1e-3):
    """Both the HLLC and the viscous fluxes telescope (viscosity 1e-3 exercises both)."""
    config = solver.SolverConfig(
        num_cells=128,
        boundary="periodic",
        end_time=1.0,
        num_outputs=5,
        shear_viscosity=viscosity,
        bulk_viscosity=viscosity,
    )
    with enable_x64():
        state = initial_states.random_initial_state(jax.random.key(3), config, dtype=jnp.float64)
        trajectory, steps = solver.solve(state, config, return_steps=True)
        conserved = np.asarray(solver.primitive_to_conserved(trajectory, config.gamma))
    totals = conserved.sum(axis=1) * config.dx  # [time, (mass, momentum, energy)]
    assert int(np.sum(steps)) > 500  # measured drift ~1e-14 after ~600 steps
    assert np.all(np.isfinite(trajectory))
    scale = np.abs(totals[0]) + np.abs(conserved[0]).sum(axis=0) * config.dx  # momentum ~ 0
    np.testing.assert_array_less(np.abs(totals - totals[0]) / scale, 1e-6)
    # The states do change (the test is not vacuous).
    assert np.max(np.abs(trajectory[-1] - trajectory[0])) > 0.1


def test_viscous_sound_wave_decays_at_linear_theory_rate():
    """Linear theory (no heat conduction): ``v = A sin(kx) e^{st}`` with
    ``s^2 + (mu k^2 / rho0) s + c^2 k^2 = 0``, so with p, rho uniform at t = 0 (then
    ``v_t(0) = -2 alpha v(0)``), ``v(t) = A e^{-alpha t} (cos wt - alpha / w sin wt) sin(kx)``
    with ``alpha = mu k^2 / (2 rho0)``, ``w = sqrt(c^2 k^2 - alpha^2)``, exactly for the linear
    equations. At ``t_n = n pi / w`` the mode is ``A (-1)^n e^{-alpha t_n}``."""
    rho0, p0, gamma, eta, amplitude = 1.0, 1.0, 5.0 / 3.0, 0.1, 1e-4
    mu = 4.0 / 3.0 * eta
    k = 2.0 * np.pi
    alpha = mu * k**2 / (2.0 * rho0)
    omega = np.sqrt(gamma * p0 / rho0 * k**2 - alpha**2)
    num_half_periods = 3
    config = solver.SolverConfig(
        gamma=gamma,
        shear_viscosity=eta,
        bulk_viscosity=0.0,
        num_cells=64,
        x_min=0.0,
        x_max=1.0,
        boundary="periodic",
        end_time=num_half_periods * np.pi / omega,
        num_outputs=num_half_periods,
    )
    x = np.asarray(config.cell_centers(), np.float64)
    state = np.stack([np.full_like(x, rho0), amplitude * np.sin(k * x), np.full_like(x, p0)], -1)
    with enable_x64():  # float32 cannot carry a 1e-4 acoustic wave through ~3,000 steps
        trajectory = np.asarray(solver.solve(jnp.asarray(state, jnp.float64), config))
    mode = 2.0 * np.mean(trajectory[:, :, 1] * np.sin(k * x), axis=1)  # [outputs + 1]
    times = np.arange(num_half_periods + 1) * np.pi / omega
    signs = (-1.0) ** np.arange(num_half_periods + 1)
    measured = -np.polyfit(times, np.log(signs * mode / amplitude), 1)[0]
    # Measured: 2.6335 against alpha = 2.6319 (64 cells, MC limiter): 0.06 % apart.
    assert measured == pytest.approx(alpha, rel=0.03), (measured, alpha)


def test_solve_rejects_a_batch_and_vmap_matches_single_runs():
    config = solver.SolverConfig(num_cells=64, end_time=0.05, num_outputs=2)
    batch = initial_states.random_initial_states(jax.random.key(0), 3, config)
    with pytest.raises(ValueError, match="vmap"):
        solver.solve(batch, config)
    batched = jax.jit(jax.vmap(lambda s: solver.solve(s, config)))(batch)
    assert batched.shape == (3, 3, 64, 3)
    single = solver.solve(batch[1], config)
    np.testing.assert_allclose(batched[1], single, rtol=1e-5, atol=1e-6)


def test_initial_states_are_seeded_piecewise_constant_and_in_range():
    config = solver.SolverConfig(num_cells=256)
    ranges = initial_states.InitialStateConfig()
    key = jax.random.key(7)
    batch = np.asarray(initial_states.random_initial_states(key, 6, config, ranges))
    again = np.asarray(initial_states.random_initial_states(key, 4, config, ranges))
    np.testing.assert_array_equal(batch[:4], again)  # same key, same samples, any batch size
    assert not np.array_equal(batch[0], batch[1])
    rho, v, p = batch[..., 0], batch[..., 1], batch[..., 2]
    assert rho.min() >= ranges.density_range[0] * 0.999 and rho.max() <= ranges.density_range[1]
    assert p.min() >= ranges.pressure_range[0] * 0.999 and p.max() <= ranges.pressure_range[1]
    assert v.min() >= ranges.velocity_range[0] and v.max() <= ranges.velocity_range[1]
    jumps = np.sum(np.any(np.diff(batch, axis=1) != 0, axis=-1), axis=1)
    assert np.all(jumps >= ranges.min_discontinuities)
    assert np.all(jumps <= ranges.max_discontinuities)


@pytest.mark.slow
def test_sod_converges_on_fine_grids():
    errors = [_density_l1(*SOD, 5.0 / 3.0, n, 0.2) for n in (400, 800, 1600, 3200)]
    orders = np.log2(np.array(errors[:-1]) / np.array(errors[1:]))
    assert np.all(orders > 0.6), orders
