"""1-D compressible Navier-Stokes, the physics of the paper's CNS experiment (spec Sec. 8.3).

Solves, on ONE sample (callers ``vmap``), for density ``rho``, velocity ``v`` and pressure ``p``
of an ideal gas (PDEBench's CFD equations)::

    rho_t + (rho v)_x                       = 0
    (rho v)_t + (rho v^2 + p - sigma)_x     = 0,      sigma = (zeta + 4/3 eta) v_x
    E_t + ((E + p) v - sigma v)_x           = 0,      E = p / (gamma - 1) + rho v^2 / 2

with ``gamma = 5/3`` and ``eta = zeta = 1e-8`` by default (the paper's shock-dominated case; no
heat conduction, as in PDEBench), on ``x in [x_min, x_max]`` with periodic or outgoing
(zero-gradient, transmissive) boundaries.

Space: conservative finite volumes on ``U = (rho, rho v, E)`` with two ghost cells per side.
MUSCL reconstruction of the primitive variables ``W = (rho, v, p)`` with a TVD slope limiter
(``"mc"``, monotonised central, or ``"minmod"``): face values stay between the neighbouring cell
values, so reconstructed ``rho`` and ``p`` stay positive. Inviscid fluxes by the HLLC Riemann
solver (Toro 2009, Sec. 10.4, Eqs. 10.37-10.39) with the Einfeldt/Batten wave-speed estimates
``S_L = min(v_L - c_L, v~ - c~)``, ``S_R = max(v_R + c_R, v~ + c~)`` (Roe averages ``~``),
which keep HLLC positive. Viscous flux ``sigma`` by central differences at the faces:
``sigma_{i+1/2} = mu (v_{i+1} - v_i) / dx`` with ``mu = zeta + 4/3 eta`` and the face velocity
``(v_i + v_{i+1}) / 2`` in the energy flux.

Time: third-order SSP Runge-Kutta (Shu & Osher 1988). The step is CFL-adaptive,
``dt = min(cfl dx / max|v| + c, cfl dx^2 min(rho) / (2 mu))`` (convective and viscous limits),
recomputed from the state at the start of every step. Design: an outer ``lax.scan`` over the
``num_outputs`` output intervals (fixed length, so the trajectory has a static shape) and, inside
each, a ``lax.while_loop`` that steps until the interval's end; the last step of an interval is
clipped so that the output time is hit exactly (the remaining time is carried, and set to exactly
zero on the clipped step). Under ``vmap`` the while loop runs until the slowest sample of the batch
is done, the others being frozen by select. A ``max_steps_per_output`` guard stops runaway loops
(non-finite states stop on their own: their ``dt`` is NaN). The while loop is not reverse-mode
differentiable; this solver generates data, it is not used inside gradients.
"""

from __future__ import annotations

import dataclasses
import functools

import jax
import jax.numpy as jnp
import numpy as np

__all__ = [
    "SolverConfig",
    "conserved_to_primitive",
    "hllc_flux",
    "primitive_to_conserved",
    "right_hand_side",
    "solve",
    "ssp_rk3_step",
    "stable_time_step",
]

NUM_GHOST = 2


@dataclasses.dataclass(frozen=True)
class SolverConfig:
    """Static settings of the compressible Navier-Stokes solver.

    Defaults follow PDEBench's 1-D CFD shock data (inferred; spec Sec. 8.3): 1,024 cells on
    ``[-1, 1]``, outgoing boundaries (``..._trans_...`` files), ``t in [0, 1]`` with 100 outputs.

    Attributes:
        gamma: ratio of specific heats (PDEBench: 5/3).
        shear_viscosity: ``eta``.
        bulk_viscosity: ``zeta``.
        num_cells: finite-volume cells; cell centres ``x_min + (i + 1/2) dx``.
        x_min, x_max: the domain.
        boundary: ``"periodic"`` or ``"outgoing"`` (zero-gradient ghost cells).
        end_time: ``T``.
        num_outputs: states returned after ``t = 0`` (at ``T k / num_outputs``, k = 1..).
        cfl: Courant number of the adaptive step (SSP-RK3 + MUSCL: <= 0.5 recommended).
        limiter: ``"mc"`` (monotonised central) or ``"minmod"``.
        max_steps_per_output: guard on the steps of one output interval.
    """

    gamma: float = 5.0 / 3.0
    shear_viscosity: float = 1e-8
    bulk_viscosity: float = 1e-8
    num_cells: int = 1024
    x_min: float = -1.0
    x_max: float = 1.0
    boundary: str = "outgoing"
    end_time: float = 1.0
    num_outputs: int = 100
    cfl: float = 0.4
    limiter: str = "mc"
    max_steps_per_output: int = 100_000

    def __post_init__(self):
        if self.boundary not in ("periodic", "outgoing"):
            raise ValueError(f"boundary must be 'periodic' or 'outgoing', got {self.boundary!r}")
        if self.limiter not in ("mc", "minmod"):
            raise ValueError(f"limiter must be 'mc' or 'minmod', got {self.limiter!r}")

    @property
    def dx(self) -> float:
        return (self.x_max - self.x_min) / self.num_cells

    @property
    def viscosity(self) -> float:
        """``mu = zeta + 4/3 eta``, the coefficient of ``v_x`` in the viscous stress."""
        return self.bulk_viscosity + 4.0 / 3.0 * self.shear_viscosity

    def cell_centers(self) -> np.ndarray:
        """``[num_cells]`` cell centres (float64 numpy: static grid data)."""
        return self.x_min + (np.arange(self.num_cells) + 0.5) * self.dx

    def output_times(self) -> np.ndarray:
        """``[num_outputs + 1]`` times of the returned states, ``0`` first."""
        return np.arange(self.num_outputs + 1) * (self.end_time / self.num_outputs)


def primitive_to_conserved(primitive: jax.Array, gamma: float) -> jax.Array:
    """``[..., 3] (rho, v, p) -> [..., 3] (rho, rho v, E)``, ``E = p / (gamma - 1) + rho v^2/2``."""
    rho, v, p = primitive[..., 0], primitive[..., 1], primitive[..., 2]
    return jnp.stack([rho, rho * v, p / (gamma - 1.0) + 0.5 * rho * v**2], axis=-1)


def conserved_to_primitive(conserved: jax.Array, gamma: float) -> jax.Array:
    """``[..., 3] (rho, rho v, E) -> [..., 3] (rho, v, p)``."""
    rho, momentum, energy = conserved[..., 0], conserved[..., 1], conserved[..., 2]
    v = momentum / rho
    return jnp.stack([rho, v, (gamma - 1.0) * (energy - 0.5 * momentum * v)], axis=-1)


def _pad(values: jax.Array, boundary: str) -> jax.Array:
    """Add ``NUM_GHOST`` ghost cells on each side of axis 0."""
    mode = "wrap" if boundary == "periodic" else "edge"
    return jnp.pad(values, ((NUM_GHOST, NUM_GHOST), (0, 0)), mode=mode)


def _limited_slopes(padded: jax.Array, limiter: str) -> jax.Array:
    """Limited undivided slopes of cells ``1 .. n_padded - 2`` (one ghost layer each side)."""
    backward = padded[1:-1] - padded[:-2]
    forward = padded[2:] - padded[1:-1]
    same_sign = backward * forward > 0
    sign = jnp.sign(backward)
    if limiter == "minmod":
        magnitude = jnp.minimum(jnp.abs(backward), jnp.abs(forward))
    else:  # monotonised central: minmod(2 backward, (backward + forward) / 2, 2 forward)
        magnitude = jnp.minimum(
            jnp.minimum(2.0 * jnp.abs(backward), 2.0 * jnp.abs(forward)),
            0.5 * jnp.abs(backward + forward),
        )
    return jnp.where(same_sign, sign * magnitude, 0.0)


def _euler_flux(primitive: jax.Array, conserved: jax.Array) -> jax.Array:
    rho, v, p = primitive[..., 0], primitive[..., 1], primitive[..., 2]
    return jnp.stack([rho * v, rho * v**2 + p, (conserved[..., 2] + p) * v], axis=-1)


def hllc_flux(left: jax.Array, right: jax.Array, gamma: float) -> jax.Array:
    """HLLC flux (Toro Sec. 10.4) between primitive states ``left`` and ``right`` (``[..., 3]``).

    ``S* = (p_R - p_L + rho_L v_L (S_L - v_L) - rho_R v_R (S_R - v_R))
    / (rho_L (S_L - v_L) - rho_R (S_R - v_R))`` (Eq. 10.37); the star states
    ``U*_K = rho_K (S_K - v_K) / (S_K - S*) (1, S*, E_K / rho_K + (S* - v_K)(S* + p_K / (rho_K
    (S_K - v_K))))`` (Eq. 10.39) and ``F*_K = F_K + S_K (U*_K - U_K)`` (Eq. 10.38).
    """
    rho_l, v_l, p_l = left[..., 0], left[..., 1], left[..., 2]
    rho_r, v_r, p_r = right[..., 0], right[..., 1], right[..., 2]
    c_l = jnp.sqrt(gamma * p_l / rho_l)
    c_r = jnp.sqrt(gamma * p_r / rho_r)
    conserved_l = primitive_to_conserved(left, gamma)
    conserved_r = primitive_to_conserved(right, gamma)
    # Roe averages for the Einfeldt / Batten wave-speed estimates.
    weight_l, weight_r = jnp.sqrt(rho_l), jnp.sqrt(rho_r)
    v_roe = (weight_l * v_l + weight_r * v_r) / (weight_l + weight_r)
    enthalpy_l = (conserved_l[..., 2] + p_l) / rho_l
    enthalpy_r = (conserved_r[..., 2] + p_r) / rho_r
    enthalpy_roe = (weight_l * enthalpy_l + weight_r * enthalpy_r) / (weight_l + weight_r)
    c_roe = jnp.sqrt(jnp.maximum((gamma - 1.0) * (enthalpy_roe - 0.5 * v_roe**2), 0.0))
    speed_l = jnp.minimum(v_l - c_l, v_roe - c_roe)
    speed_r = jnp.maximum(v_r + c_r, v_roe + c_roe)
    mass_l = rho_l * (speed_l - v_l)
    mass_r = rho_r * (speed_r - v_r)
    speed_star = (p_r - p_l + mass_l * v_l - mass_r * v_r) / (mass_l - mass_r)

    def star_flux(primitive, conserved, speed, mass):
        rho, v, p = primitive[..., 0], primitive[..., 1], primitive[..., 2]
        factor = mass / (speed - speed_star)
        energy = conserved[..., 2] / rho + (speed_star - v) * (speed_star + p / mass)
        star = factor[..., None] * jnp.stack([jnp.ones_like(rho), speed_star, energy], axis=-1)
        return _euler_flux(primitive, conserved) + speed[..., None] * (star - conserved)

    flux_l = _euler_flux(left, conserved_l)
    flux_r = _euler_flux(right, conserved_r)
    flux_star_l = star_flux(left, conserved_l, speed_l, mass_l)
    flux_star_r = star_flux(right, conserved_r, speed_r, mass_r)
    s_l, s_star, s_r = speed_l[..., None], speed_star[..., None], speed_r[..., None]
    return jnp.where(
        s_l >= 0.0,
        flux_l,
        jnp.where(s_star >= 0.0, flux_star_l, jnp.where(s_r > 0.0, flux_star_r, flux_r)),
    )


def right_hand_side(conserved: jax.Array, config: SolverConfig) -> jax.Array:
    """``dU/dt = -(F_{i+1/2} - F_{i-1/2}) / dx`` with ``F`` the HLLC flux minus the viscous flux.

    Args:
        conserved: ``[num_cells, 3]`` cell averages of ``(rho, rho v, E)``.
        config: solver settings.

    Returns:
        ``[num_cells, 3]``.
    """
    primitive = _pad(conserved_to_primitive(conserved, config.gamma), config.boundary)
    slopes = _limited_slopes(primitive, config.limiter)  # cells 1 .. n + 2 of the padded array
    centre = primitive[1:-1]
    # Faces between padded cells j and j + 1 for j = 1 .. n + 1: the n + 1 faces of the domain.
    left = (centre + 0.5 * slopes)[:-1]
    right = (centre - 0.5 * slopes)[1:]
    flux = hllc_flux(left, right, config.gamma)
    if config.viscosity > 0.0:
        v = primitive[NUM_GHOST - 1 : -NUM_GHOST + 1, 1]  # cells j = 1 .. n + 2
        gradient = (v[1:] - v[:-1]) / config.dx
        stress = config.viscosity * gradient
        face_v = 0.5 * (v[1:] + v[:-1])
        zero = jnp.zeros_like(stress)
        flux = flux - jnp.stack([zero, stress, stress * face_v], axis=-1)
    return -(flux[1:] - flux[:-1]) / config.dx


def stable_time_step(conserved: jax.Array, config: SolverConfig) -> jax.Array:
    """``min(cfl dx / max(|v| + c), cfl dx^2 min(rho) / (2 mu))``."""
    primitive = conserved_to_primitive(conserved, config.gamma)
    rho, v, p = primitive[:, 0], primitive[:, 1], primitive[:, 2]
    speed = jnp.max(jnp.abs(v) + jnp.sqrt(config.gamma * p / rho))
    dt = config.cfl * config.dx / speed
    if config.viscosity > 0.0:
        dt = jnp.minimum(dt, config.cfl * config.dx**2 * jnp.min(rho) / (2.0 * config.viscosity))
    return dt


def ssp_rk3_step(conserved: jax.Array, dt: jax.Array, config: SolverConfig) -> jax.Array:
    """One SSP-RK3 step (Shu & Osher): ``U1 = U + dt L(U)``,
    ``U2 = 3/4 U + 1/4 (U1 + dt L(U1))``, ``U' = 1/3 U + 2/3 (U2 + dt L(U2))``."""
    first = conserved + dt * right_hand_side(conserved, config)
    second = 0.75 * conserved + 0.25 * (first + dt * right_hand_side(first, config))
    return conserved / 3.0 + 2.0 / 3.0 * (second + dt * right_hand_side(second, config))


def _advance(conserved: jax.Array, duration, config: SolverConfig):
    """Integrate over ``duration`` with adaptive steps; returns ``(state, number_of_steps)``."""

    def keep_going(carry):
        _, remaining, steps = carry
        return (remaining > 0.0) & (steps < config.max_steps_per_output)

    def step(carry):
        state, remaining, steps = carry
        dt = stable_time_step(state, config)
        last = dt >= remaining
        dt = jnp.where(last, remaining, dt)
        remaining = jnp.where(last, jnp.zeros_like(remaining), remaining - dt)
        return ssp_rk3_step(state, dt, config), remaining, steps + 1

    remaining = jnp.asarray(duration, conserved.dtype)
    state, _, steps = jax.lax.while_loop(
        keep_going, step, (conserved, remaining, jnp.zeros((), jnp.int32))
    )
    return state, steps


@functools.partial(jax.jit, static_argnames=("config", "return_steps"))
def solve(
    initial_state: jax.Array, config: SolverConfig = SolverConfig(), return_steps: bool = False
):
    """Solve one trajectory.

    Args:
        initial_state: primitive state ``(rho, v, p)`` at the cell centres, ``[num_cells, 3]``.
        config: solver settings (static).
        return_steps: also return the number of time steps of each output interval.

    Returns:
        ``[num_outputs + 1, num_cells, 3]`` primitive states at ``config.output_times()``
        (``initial_state`` first), and with ``return_steps`` the ``[num_outputs]`` step counts.
    """
    if initial_state.shape != (config.num_cells, 3):
        raise ValueError(
            f"compressible NS solve acts on one sample: expected initial_state of shape "
            f"({config.num_cells}, 3) = (cells, (rho, v, p)), got {initial_state.shape}; "
            "use jax.vmap for a batch"
        )
    interval = config.end_time / config.num_outputs

    def output(conserved, _):
        conserved, steps = _advance(conserved, interval, config)
        return conserved, (conserved, steps)

    conserved = primitive_to_conserved(initial_state, config.gamma)
    _, (states, steps) = jax.lax.scan(output, conserved, None, length=config.num_outputs)
    trajectory = jnp.concatenate(
        [initial_state[None], conserved_to_primitive(states, config.gamma)], axis=0
    )
    return (trajectory, steps) if return_steps else trajectory
