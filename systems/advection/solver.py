"""The exact solver of 1-D periodic advection, ``u_t + beta u_x = 0`` on ``[0, L)`` (spec §8.4).

The solution is the initial state carried along at speed ``beta``: ``u(t, x) = u0(x - beta t)``.
On a periodic grid of ``X`` points this is a phase shift of every Fourier mode,

    u_hat_k(t) = exp(-i q_k beta t) u_hat_k(0),    q_k = 2 pi k / L,

applied with the real FFT. It is exact for every trigonometric polynomial the grid resolves
(``|k| < X / 2``), keeps the mean (``k = 0``) and so the mass exactly, and a shift by a whole
number ``m`` of cells (``beta t = m L / X``) is ``np.roll(u0, m)`` up to round-off. The Nyquist
mode of an even grid keeps its real part (the usual trigonometric interpolant).

:func:`solve` acts on one sample, jitted with the static :class:`SolverConfig`; callers ``vmap``
(:func:`rollout` is the batched, channels-last form).
"""

from __future__ import annotations

import dataclasses
import functools

import jax
import jax.numpy as jnp
import numpy as np

__all__ = ["SolverConfig", "grid_times", "grid_x", "rollout", "shift", "solve"]


@dataclasses.dataclass(frozen=True)
class SolverConfig:
    """The grid and the speed (PDEBench: 1024 points, 201 levels to ``t = 2``, beta 0.1/0.4/1).

    Attributes:
        beta: the advection speed.
        num_points: grid points ``X`` on ``[0, length)``, at the cell centres ``(i + 1/2) L / X``
            (PDEBench's ``x-coordinate``).
        num_times: stored time levels ``T``, ``t_n = n end_time / (T - 1)``, ``t_0 = 0``.
        end_time: the last stored time.
        length: the period ``L``.
    """

    beta: float = 0.1
    num_points: int = 1024
    num_times: int = 201
    end_time: float = 2.0
    length: float = 1.0

    def __post_init__(self):
        if self.num_points < 2 or self.num_times < 2:
            raise ValueError(
                f"SolverConfig: need num_points, num_times >= 2, got {self.num_points}, "
                f"{self.num_times}"
            )
        if not (self.end_time > 0 and self.length > 0):
            raise ValueError(
                f"SolverConfig: need end_time, length > 0, got {self.end_time}, {self.length}"
            )

    @property
    def dt(self) -> float:
        return self.end_time / (self.num_times - 1)

    @property
    def dx(self) -> float:
        return self.length / self.num_points


def grid_x(config: SolverConfig) -> np.ndarray:
    """Cell centres ``(i + 1/2) dx``, ``i < X`` (float32)."""
    return ((np.arange(config.num_points) + 0.5) * config.dx).astype(np.float32)


def grid_times(config: SolverConfig) -> np.ndarray:
    """Stored times ``n dt``, ``n < T`` (float32)."""
    return (np.arange(config.num_times) * config.dt).astype(np.float32)


def shift(u0: jax.Array, distances: jax.Array, length: float = 1.0) -> jax.Array:
    """``u0 (X,)`` carried by each of ``distances (T,)``: ``u (T, X)``, ``u[n](x) =
    u0(x - distances[n])`` (spectrally exact; one sample)."""
    if u0.ndim != 1:
        raise ValueError(f"shift acts on one sample (X,), got {u0.shape}; use jax.vmap")
    num = u0.shape[0]
    wavenumbers = 2 * jnp.pi * jnp.fft.rfftfreq(num, d=length / num)  # q_k
    phase = jnp.exp(-1j * wavenumbers[None, :] * jnp.asarray(distances)[:, None])
    return jnp.fft.irfft(jnp.fft.rfft(u0)[None, :] * phase, n=num, axis=-1).astype(u0.dtype)


@functools.partial(jax.jit, static_argnames="config")
def solve(u0: jax.Array, config: SolverConfig) -> jax.Array:
    """The trajectory ``u (T, X)`` from ``u0 (X,)`` at the config's times (one sample).

    Raises:
        ValueError: ``u0`` is not ``(config.num_points,)`` (a batch: ``jax.vmap``).
    """
    if u0.shape != (config.num_points,):
        raise ValueError(
            f"solve acts on one sample ({config.num_points},), got {u0.shape}; use jax.vmap "
            "for a batch"
        )
    times = jnp.arange(config.num_times) * config.dt
    return shift(u0, config.beta * times, config.length)


def rollout(initial_state: jax.Array, config: SolverConfig) -> jax.Array:
    """Batched and channels-last: ``(N, X, 1)`` -> ``(N, T, X, 1)``."""
    return jax.vmap(lambda u0: solve(u0, config))(initial_state[..., 0])[..., None]
