"""Exact solution of the Riemann problem of the 1-D Euler equations (ideal gas), in numpy.

An independent reference for the finite-volume solver of :mod:`systems.compressible_ns.solver`
(tests and ``benchmarks/compressible_ns_solver.py``), written from Toro, *Riemann Solvers and
Numerical Methods for Fluid Dynamics* (3rd ed., 2009), Chapter 4:

* the pressure ``p*`` in the star region is the root of ``f(p) = f_L(p) + f_R(p) + (u_R - u_L)``
  (Toro Eq. 4.5), where for ``K = L, R``

  - shock (``p > p_K``):       ``f_K = (p - p_K) sqrt(A_K / (p + B_K))``,
    ``A_K = 2 / ((gamma + 1) rho_K)``, ``B_K = (gamma - 1) / (gamma + 1) p_K``  (Eq. 4.6),
  - rarefaction (``p <= p_K``):
    ``f_K = 2 c_K / (gamma - 1) ((p / p_K)^((gamma - 1) / (2 gamma)) - 1)`` (Eq. 4.7),

  found by Newton iteration from the two-rarefaction / PVRS guess (Sec. 4.3.2);
* ``u* = (u_L + u_R) / 2 + (f_R(p*) - f_L(p*)) / 2`` (Eq. 4.9);
* the self-similar solution ``W(x / t)`` is sampled as in Sec. 4.5 (shock speeds Eqs. 4.52 and
  4.59, rarefaction fans Eqs. 4.56 and 4.63).

Vacuum generation (``2 (c_L + c_R) / (gamma - 1) <= u_R - u_L``, Eq. 4.40) is not handled.
"""

from __future__ import annotations

import numpy as np

__all__ = ["sample", "star_state"]


def _pressure_function(p, rho, pressure, sound_speed, gamma):
    """``(f_K(p), f_K'(p))`` of Toro Eqs. 4.6-4.7 and 4.37."""
    if p > pressure:  # shock
        a = 2.0 / ((gamma + 1.0) * rho)
        b = (gamma - 1.0) / (gamma + 1.0) * pressure
        root = np.sqrt(a / (p + b))
        return (p - pressure) * root, root * (1.0 - 0.5 * (p - pressure) / (b + p))
    ratio = p / pressure  # rarefaction
    value = 2.0 * sound_speed / (gamma - 1.0) * (ratio ** ((gamma - 1.0) / (2.0 * gamma)) - 1.0)
    slope = ratio ** (-(gamma + 1.0) / (2.0 * gamma)) / (rho * sound_speed)
    return value, slope


def star_state(left, right, gamma, tolerance=1e-12, max_iterations=100):
    """Pressure and velocity ``(p*, u*)`` in the star region.

    Args:
        left, right: primitive states ``(rho, u, p)`` on either side of the discontinuity.
        gamma: ratio of specific heats.
        tolerance: relative change of ``p`` at which Newton's iteration stops (Toro Eq. 4.44).
        max_iterations: raise if not converged by then.

    Returns:
        ``(p_star, u_star)`` as floats.
    """
    rho_l, u_l, p_l = map(float, left)
    rho_r, u_r, p_r = map(float, right)
    c_l, c_r = np.sqrt(gamma * p_l / rho_l), np.sqrt(gamma * p_r / rho_r)
    if 2.0 * (c_l + c_r) / (gamma - 1.0) <= u_r - u_l:
        raise ValueError("the initial data generate vacuum (Toro Eq. 4.40), not handled")
    # Initial guess: PVRS (Toro Eq. 4.47), or the two-rarefaction value when it is far off.
    pvrs = 0.5 * (p_l + p_r) - 0.125 * (u_r - u_l) * (rho_l + rho_r) * (c_l + c_r)
    exponent = (gamma - 1.0) / (2.0 * gamma)
    two_rarefaction = (
        (c_l + c_r - 0.5 * (gamma - 1.0) * (u_r - u_l))
        / (c_l / p_l**exponent + c_r / p_r**exponent)
    ) ** (1.0 / exponent)
    p = max(pvrs, tolerance)
    if not min(p_l, p_r) <= p <= max(p_l, p_r):
        p = two_rarefaction
    for _ in range(max_iterations):
        f_l, df_l = _pressure_function(p, rho_l, p_l, c_l, gamma)
        f_r, df_r = _pressure_function(p, rho_r, p_r, c_r, gamma)
        new = max(p - (f_l + f_r + u_r - u_l) / (df_l + df_r), tolerance * p)
        change = 2.0 * abs(new - p) / (new + p)
        p = new
        if change < tolerance:
            break
    else:
        raise RuntimeError("Newton iteration for p* did not converge")
    f_l, _ = _pressure_function(p, rho_l, p_l, c_l, gamma)
    f_r, _ = _pressure_function(p, rho_r, p_r, c_r, gamma)
    return p, 0.5 * (u_l + u_r) + 0.5 * (f_r - f_l)


def _sample_side(speed, state, p_star, u_star, gamma, sign):
    """Solution on one side of the contact at ``x / t = speed``; ``sign = +1`` left, ``-1`` right.

    The right side is the mirror image of the left one (``u -> -u``, ``S -> -S``), so one routine
    handles both (Toro Sec. 4.5, Fig. 4.14).
    """
    rho, u, p = state
    u, u_star, speed = sign * u, sign * u_star, sign * speed
    c = np.sqrt(gamma * p / rho)
    g = (gamma - 1.0) / (gamma + 1.0)
    if p_star > p:  # shock, speed Eq. 4.52
        shock = u - c * np.sqrt(
            (gamma + 1.0) / (2.0 * gamma) * p_star / p + (gamma - 1.0) / (2.0 * gamma)
        )
        rho_star = rho * (p_star / p + g) / (g * p_star / p + 1.0)  # Eq. 4.50
        outside = speed <= shock
        out_rho = np.where(outside, rho, rho_star)
        out_u = np.where(outside, u, u_star)
        out_p = np.where(outside, p, p_star)
    else:  # rarefaction fan, Eqs. 4.53-4.56
        rho_star = rho * (p_star / p) ** (1.0 / gamma)
        c_star = c * (p_star / p) ** ((gamma - 1.0) / (2.0 * gamma))
        head, tail = u - c, u_star - c_star
        fan = 2.0 / (gamma + 1.0) + (gamma - 1.0) / ((gamma + 1.0) * c) * (u - speed)
        fan = np.maximum(fan, 0.0)  # only used inside the fan, where it is positive
        fan_rho = rho * fan ** (2.0 / (gamma - 1.0))
        fan_u = 2.0 / (gamma + 1.0) * (c + 0.5 * (gamma - 1.0) * u + speed)
        fan_p = p * fan ** (2.0 * gamma / (gamma - 1.0))
        out_rho = np.where(speed <= head, rho, np.where(speed >= tail, rho_star, fan_rho))
        out_u = np.where(speed <= head, u, np.where(speed >= tail, u_star, fan_u))
        out_p = np.where(speed <= head, p, np.where(speed >= tail, p_star, fan_p))
    return out_rho, sign * out_u, out_p


def sample(x, time, left, right, gamma, position=0.0):
    """The exact solution at points ``x`` and time ``time > 0``.

    Args:
        x: points, any shape.
        time: ``t > 0``.
        left, right: primitive states ``(rho, u, p)`` left and right of the initial jump.
        gamma: ratio of specific heats.
        position: where the jump is at ``t = 0``.

    Returns:
        ``(rho, u, p)``, arrays shaped like ``x`` (float64).
    """
    x = np.asarray(x, np.float64)
    p_star, u_star = star_state(left, right, gamma)
    speed = (x - position) / time
    on_left = _sample_side(speed, tuple(map(float, left)), p_star, u_star, gamma, 1.0)
    on_right = _sample_side(speed, tuple(map(float, right)), p_star, u_star, gamma, -1.0)
    is_left = speed <= u_star
    return tuple(np.where(is_left, a, b) for a, b in zip(on_left, on_right, strict=True))
