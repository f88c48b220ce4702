"""Compressible Navier-Stokes data sets: random Riemann-type initial states solved by
:func:`systems.compressible_ns.solver.solve`, written in PDEBench's 1-D CFD HDF5 layout
(spec §8.3; PDEBench ``1D_CFD_Shock_Eta1.e-8_Zeta1.e-8_trans_Train.hdf5``).

Initial states are :func:`systems.compressible_ns.initial_states.random_initial_state`
(1-4 jumps, log-uniform density and pressure, uniform velocity). Each sample has its own key
``fold_in(fold_in(key(seed), split_id), index)`` (train 0, test 1), so a sample does not depend on
the batch size (under ``vmap`` the adaptive time loop runs until the slowest sample of the batch
is done while the others are frozen, so a sample's steps are its own).

Files (``<split>.hdf5``) hold PDEBench's keys, ``density``, ``Vx``, ``pressure`` ``[N, T, X]``,
``x-coordinate`` ``[X]`` (cell centres) and ``t-coordinate`` ``[T + 1]`` (``n dt`` for
``n <= T``, one more than the levels, as PDEBench publishes it), wdno's root attributes (gamma,
eta, zeta, seed, the solver and initial-state configs as JSON) and, per sample,
``parameters/num_steps``, the solver's time steps over the whole trajectory. They are written
through :class:`wdno.io.data.ResumableWriter` (an interrupted run continues).
"""

from __future__ import annotations

import dataclasses
import functools
import json
import pathlib

import jax
import jax.numpy as jnp
import numpy as np
import tqdm

from systems.compressible_ns import initial_states, solver
from wdno import interrupts
from wdno.io import data

__all__ = [
    "FIELD_KEYS",
    "GENERATOR_VERSION",
    "SPLITS",
    "data_layout",
    "generate",
    "generate_batch",
    "sample_keys",
]

GENERATOR_VERSION = "compressible-ns-1"
SPLITS = {"train": 0, "test": 1}
DEFAULT_SAMPLING = initial_states.InitialStateConfig()
# PDEBench's key of each primitive variable, in the solver's channel order (rho, v, p).
FIELD_KEYS = ("density", "Vx", "pressure")
FIELD_TEXT = {
    "density": "density rho(t, x), rho0 included",
    "Vx": "velocity v(t, x), v0 included",
    "pressure": "pressure p(t, x), p0 included",
}


def _check_split(split: str) -> None:
    if split not in SPLITS:
        raise ValueError(
            f"compressible NS data: split must be one of {sorted(SPLITS)}, got {split!r}"
        )


def sample_keys(seed: int, split: str, indices) -> jax.Array:
    """The per-sample keys ``fold_in(fold_in(key(seed), SPLITS[split]), index)``."""
    _check_split(split)
    base = jax.random.fold_in(jax.random.key(seed), SPLITS[split])
    return jax.vmap(lambda index: jax.random.fold_in(base, index))(jnp.asarray(indices))


@functools.partial(jax.jit, static_argnames=("solver_config", "sampling"))
def generate_batch(
    keys: jax.Array,
    solver_config: solver.SolverConfig,
    sampling: initial_states.InitialStateConfig = DEFAULT_SAMPLING,
) -> dict:
    """Sample and solve a batch: ``density``, ``Vx``, ``pressure`` ``[B, T, X]`` and
    ``num_steps`` ``[B]``."""

    def one(key):
        state0 = initial_states.random_initial_state(key, solver_config, sampling)
        trajectory, steps = solver.solve(state0, solver_config, return_steps=True)
        return trajectory, steps.sum()

    trajectory, steps = jax.vmap(one)(keys)
    fields = {key: trajectory[..., i] for i, key in enumerate(FIELD_KEYS)}
    return {**fields, "num_steps": steps.astype(jnp.int32)}


def data_layout(config: solver.SolverConfig):
    """PDEBench's keys (fields and coordinates) and the per-sample step count."""
    shape = (config.num_outputs + 1, config.num_cells)
    fields = [data.Field(key, shape, ("t", "x"), "1", FIELD_TEXT[key]) for key in FIELD_KEYS]
    text = "solver time steps over the whole trajectory"
    fields.append(data.Field("parameters/num_steps", (), (), "1", text, dtype="int32"))
    dt = config.end_time / config.num_outputs
    times = (np.arange(config.num_outputs + 2) * dt).astype(np.float32)
    coordinates = [
        data.Coordinate("x-coordinate", config.cell_centers().astype(np.float32), "1",
                        "cell centres in [x_min, x_max]"),
        data.Coordinate("t-coordinate", times, "1", "time; one entry more than the levels"),
    ]  # fmt: skip
    return fields, coordinates


def generate(
    path,
    split: str,
    num_samples: int,
    *,
    seed: int = 0,
    batch_size: int = 100,
    solver_config: solver.SolverConfig | None = None,
    sampling: initial_states.InitialStateConfig = DEFAULT_SAMPLING,
    overwrite: bool = False,
    progress: bool = True,
) -> pathlib.Path:
    """Generate ``num_samples`` trajectories of ``split`` into the HDF5 file ``path``, batch by
    batch (the last padded, so nothing recompiles; ``solver_config`` defaults to
    ``SolverConfig()``, PDEBench's grid); resumable, SIGINT/SIGTERM stop after a batch.
    """
    solver_config = solver_config or solver.SolverConfig()
    _check_split(split)
    if num_samples < 1 or batch_size < 1:
        raise ValueError(f"compressible NS data: need num_samples, batch_size >= 1, got "
                         f"{num_samples}, {batch_size}")  # fmt: skip
    fields, coordinates = data_layout(solver_config)
    batch_size = min(batch_size, num_samples)
    attrs = {
        "system": "compressible-ns",
        "split": split,
        "seed": seed,
        "generator_version": GENERATOR_VERSION,
        "gamma": solver_config.gamma,
        "eta": solver_config.shear_viscosity,
        "zeta": solver_config.bulk_viscosity,
        "boundary": solver_config.boundary,
        "solver": json.dumps(dataclasses.asdict(solver_config)),
        "sampling": json.dumps(dataclasses.asdict(sampling)),
        "key_rule": "fold_in(fold_in(jax.random.key(seed), split_id), sample_index)",
        "split_id": SPLITS[split],
    }
    with (
        interrupts.deferred_signals() as signals,
        data.ResumableWriter(
            path, num_samples, fields, coordinates, attrs, overwrite, batch_size=batch_size
        ) as writer,
    ):
        bar = tqdm.tqdm(total=num_samples, initial=writer.written,
                        desc=f"compressible-ns {split}", unit="traj",
                        disable=not progress)  # fmt: skip
        for start in range(writer.written, num_samples, batch_size):
            indices = np.arange(start, start + batch_size)
            count = min(batch_size, num_samples - start)
            keys = sample_keys(seed, split, np.minimum(indices, num_samples - 1))
            batch = jax.device_get(generate_batch(keys, solver_config, sampling))
            if not all(np.all(np.isfinite(batch[key][:count])) for key in FIELD_KEYS):
                raise FloatingPointError(
                    f"compressible NS data: non-finite states in samples [{start}, "
                    f"{start + count}) of {split} (seed {seed}); lower the solver's cfl"
                )
            writer.append({f.name: batch[f.name.split("/")[-1]][:count] for f in fields})
            bar.update(count)
            if signals.received and writer.written < num_samples:
                bar.close()
                raise interrupts.Interrupted(
                    f"generation interrupted ({signals.name}) after {writer.written} of "
                    f"{num_samples} trajectories, kept in {writer.partial}; rerun the same "
                    "command to continue",
                    signals.received,
                )
        bar.close()
    return pathlib.Path(path)
