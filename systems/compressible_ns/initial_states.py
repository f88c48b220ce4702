"""Random piecewise-constant (Riemann-type) initial states, as in PDEBench's 1-D CFD shock data.

Each sample has between ``min_discontinuities`` and ``max_discontinuities`` jumps at uniformly
random positions in the domain; on each of the pieces between them ``rho``, ``v`` and ``p`` are
drawn independently, ``rho`` and ``p`` log-uniformly (so density and pressure ratios across a jump
span orders of magnitude, as in shock-tube problems) and ``v`` uniformly. Ranges are PDEBench-like
guesses (the exact generator settings of the paper's data set are unknown; spec Sec. 8.3).
Shapes are static: unused jumps are moved outside the domain. Seeded by explicit PRNG keys; a
batch uses per-sample ``fold_in`` keys, so sample ``i`` does not depend on the batch size.
"""

from __future__ import annotations

import dataclasses
import functools

import jax
import jax.numpy as jnp

from systems.compressible_ns.solver import SolverConfig

__all__ = ["InitialStateConfig", "random_initial_state", "random_initial_states"]

DEFAULT_SOLVER_CONFIG = SolverConfig()


@dataclasses.dataclass(frozen=True)
class InitialStateConfig:
    """Ranges of the random piecewise-constant states.

    Attributes:
        min_discontinuities, max_discontinuities: number of jumps, drawn uniformly in this range.
        density_range: ``(low, high)`` of the log-uniform density levels.
        pressure_range: ``(low, high)`` of the log-uniform pressure levels.
        velocity_range: ``(low, high)`` of the uniform velocity levels.
        margin: jumps are placed at least this fraction of the domain away from its ends.
    """

    min_discontinuities: int = 1
    max_discontinuities: int = 4
    density_range: tuple[float, float] = (0.1, 1.0)
    pressure_range: tuple[float, float] = (0.1, 1.0)
    velocity_range: tuple[float, float] = (-1.0, 1.0)
    margin: float = 0.05


def _log_uniform(key, shape, low_high, dtype):
    low, high = jnp.log(low_high[0]), jnp.log(low_high[1])
    return jnp.exp(jax.random.uniform(key, shape, dtype, low, high))


@functools.partial(jax.jit, static_argnames=("solver_config", "config", "dtype"))
def random_initial_state(
    key: jax.Array,
    solver_config: SolverConfig = DEFAULT_SOLVER_CONFIG,
    config: InitialStateConfig = InitialStateConfig(),
    dtype=jnp.float32,
) -> jax.Array:
    """One random piecewise-constant primitive state ``[num_cells, 3]`` = ``(rho, v, p)``."""
    count_key, position_key, rho_key, v_key, p_key = jax.random.split(key, 5)
    most = config.max_discontinuities
    count = jax.random.randint(count_key, (), config.min_discontinuities, most + 1)
    length = solver_config.x_max - solver_config.x_min
    low = solver_config.x_min + config.margin * length
    high = solver_config.x_max - config.margin * length
    positions = jnp.sort(jax.random.uniform(position_key, (most,), dtype, low, high))
    # Keep `count` of them, chosen by a random rank so that any subset is equally likely.
    rank = jnp.argsort(jax.random.uniform(jax.random.fold_in(position_key, 1), (most,)))
    positions = jnp.where(rank < count, positions, solver_config.x_max + length)
    x = jnp.asarray(solver_config.cell_centers(), dtype)
    piece = jnp.sum(x[:, None] > positions[None, :], axis=1)  # 0 .. most
    rho = _log_uniform(rho_key, (most + 1,), config.density_range, dtype)
    v = jax.random.uniform(v_key, (most + 1,), dtype, *config.velocity_range)
    p = _log_uniform(p_key, (most + 1,), config.pressure_range, dtype)
    return jnp.stack([rho[piece], v[piece], p[piece]], axis=-1)


def random_initial_states(
    key: jax.Array,
    batch_size: int,
    solver_config: SolverConfig = DEFAULT_SOLVER_CONFIG,
    config: InitialStateConfig = InitialStateConfig(),
    dtype=jnp.float32,
) -> jax.Array:
    """A batch ``[batch_size, num_cells, 3]``; sample ``i`` uses ``fold_in(key, i)``."""
    keys = jax.vmap(lambda i: jax.random.fold_in(key, i))(jnp.arange(batch_size))
    return jax.vmap(lambda k: random_initial_state(k, solver_config, config, dtype))(keys)
