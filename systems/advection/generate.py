"""Advection data sets: PDEBench's random initial states, carried exactly, written in PDEBench's
HDF5 layout (spec §8.4; PDEBench ``data_gen_NLE/utils.py:init_multi`` with ``k_tot = 4``).

Initial state (PDEBench's rule, sampled per trajectory)::

    u0(x) = s w(x) A( sum_{n=1}^{k_max} a_n sin(2 pi n c_n x / L + phi_n) )

with ``c_n`` how often ``n`` was among ``num_choices`` picks uniform in ``{1, .., k_max}`` (so a
pick drawn twice doubles its wavenumber, and a wavenumber never picked adds the constant
``a_n sin(phi_n)``), ``a_n ~ U(0, 1)``, ``phi_n ~ U(0, 2 pi)``; ``A`` is ``|.|`` with probability
``absolute_probability`` (else the identity), ``s = +-1`` with equal odds, and ``w`` the smooth box
``(tanh((x - xl)/d) - tanh((x - xr)/d)) / 2`` with ``xl ~ U(0.1, 0.45)``, ``xr ~ U(0.55, 0.9)``,
``d = 0.01`` with probability ``window_probability`` (else ``w = 1``). PDEBench divides by
``xc[-1] - xc[0] = L - dx`` where we divide by the period ``L``, so our ``u0`` is periodic.

The trajectory is :func:`systems.advection.solver.solve`: exact for the trigonometric part; a
windowed state's edges (width 0.01) are resolved at PDEBench's 1024 points but only about one cell
wide at 128, where the spectral shift rings near them (the data stay periodic and mass-exact).

Each sample has its own key ``fold_in(fold_in(key(seed), split_id), index)`` (train 0, test 1),
so a sample does not depend on the batch size. Files (``<split>.hdf5``) hold PDEBench's keys,
``tensor`` ``[N, T, X]``, ``x-coordinate`` ``[X]`` (cell centres) and ``t-coordinate``
``[T + 1]`` (``n dt`` for ``n <= T``, one more than the levels, as PDEBench publishes it), plus
wdno's root attributes (beta, seed, sampling) and the per-sample parameters; they are written
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

from systems.advection import solver
from wdno import interrupts
from wdno.io import data

__all__ = [
    "GENERATOR_VERSION",
    "SPLITS",
    "SamplingConfig",
    "generate",
    "generate_batch",
    "initial_state",
    "sample_keys",
    "sample_parameters",
]

GENERATOR_VERSION = "advection-1"
SPLITS = {"train": 0, "test": 1}


@dataclasses.dataclass(frozen=True)
class SamplingConfig:
    """PDEBench's initial-state distribution (module docstring)."""

    k_max: int = 4
    num_choices: int = 2
    absolute_probability: float = 0.1
    window_probability: float = 0.1
    window_left: tuple = (0.1, 0.45)
    window_right: tuple = (0.55, 0.9)
    window_width: float = 0.01


def sample_keys(seed: int, split: str, indices) -> jax.Array:
    """The per-sample keys ``fold_in(fold_in(key(seed), SPLITS[split]), index)``."""
    if split not in SPLITS:
        raise ValueError(f"advection data: split must be one of {sorted(SPLITS)}, got {split!r}")
    base = jax.random.fold_in(jax.random.key(seed), SPLITS[split])
    return jax.vmap(lambda index: jax.random.fold_in(base, index))(jnp.asarray(indices))


def sample_parameters(key: jax.Array, config: SamplingConfig = SamplingConfig()) -> dict:
    """One sample's parameters (float32 arrays; the module docstring names them)."""
    keys = jax.random.split(key, 8)
    picks = jax.random.randint(keys[0], (config.num_choices,), 0, config.k_max)
    uniform = functools.partial(jax.random.uniform, dtype=jnp.float32)
    return {
        "mode_count": jax.nn.one_hot(picks, config.k_max, dtype=jnp.float32).sum(0),  # c_n
        "amplitude": uniform(keys[1], (config.k_max,)),
        "phase": 2 * jnp.pi * uniform(keys[2], (config.k_max,)),
        "absolute": (uniform(keys[3]) < config.absolute_probability).astype(jnp.float32),
        "sign": jnp.where(uniform(keys[4]) < 0.5, 1.0, -1.0).astype(jnp.float32),
        "windowed": (uniform(keys[5]) < config.window_probability).astype(jnp.float32),
        "window_left": uniform(keys[6], (), minval=config.window_left[0],
                               maxval=config.window_left[1]),
        "window_right": uniform(keys[7], (), minval=config.window_right[0],
                                maxval=config.window_right[1]),
    }  # fmt: skip


def initial_state(parameters: dict, x: jax.Array, config: SamplingConfig, length=1.0):
    """``u0`` at the points ``x`` (shape ``[X]``)."""
    p = parameters
    n = jnp.arange(1, config.k_max + 1)
    wavenumber = 2 * jnp.pi * n * p["mode_count"] / length
    u = jnp.sin(wavenumber[:, None] * x[None, :] + p["phase"][:, None])
    u = p["amplitude"] @ u
    u = jnp.where(p["absolute"] > 0, jnp.abs(u), u) * p["sign"]
    width = config.window_width
    window = 0.5 * (
        jnp.tanh((x - p["window_left"]) / width) - jnp.tanh((x - p["window_right"]) / width)
    )
    return jnp.where(p["windowed"] > 0, u * window, u)


@functools.partial(jax.jit, static_argnames=("sampling", "solver_config"))
def generate_batch(
    keys: jax.Array, sampling: SamplingConfig, solver_config: solver.SolverConfig
) -> dict:
    """Sample and solve a batch: ``tensor [B, T, X]`` and the parameters."""
    x = jnp.asarray(solver.grid_x(solver_config))

    def one(key):
        parameters = sample_parameters(key, sampling)
        u0 = initial_state(parameters, x, sampling, solver_config.length)
        return {"tensor": solver.solve(u0, solver_config), **parameters}

    return jax.vmap(one)(keys)


PARAMETER_TEXT = {
    "mode_count": ((4,), "c_n: how often wavenumber n was picked"),
    "amplitude": ((4,), "a_n ~ U(0, 1)"),
    "phase": ((4,), "phi_n ~ U(0, 2 pi)"),
    "absolute": ((), "1: u0 is the absolute value of the sum"),
    "sign": ((), "the sign s"),
    "windowed": ((), "1: u0 is multiplied by the smooth box window"),
    "window_left": ((), "left edge xl of the window"),
    "window_right": ((), "right edge xr of the window"),
}


def data_layout(sampling: SamplingConfig, config: solver.SolverConfig):
    """PDEBench's keys (``tensor``, ``x-coordinate``, ``t-coordinate``) and the parameters."""
    fields = [
        data.Field("tensor", (config.num_times, config.num_points), ("t", "x"), "1",
                   "advected quantity u(t, x), u0 included"),
    ]  # fmt: skip
    for name, (shape, text) in PARAMETER_TEXT.items():
        shape = (sampling.k_max,) if shape else ()
        fields.append(data.Field(f"parameters/{name}", shape, ("mode",) * len(shape), "1", text))
    times = (np.arange(config.num_times + 1) * config.dt).astype(np.float32)
    coordinates = [
        data.Coordinate("x-coordinate", solver.grid_x(config), "1", "cell centres in [0, L)"),
        data.Coordinate("t-coordinate", times, "1", "time; one entry more than the levels"),
    ]
    return fields, coordinates


def generate(
    path,
    split: str,
    num_samples: int,
    *,
    seed: int = 0,
    batch_size: int = 256,
    solver_config: solver.SolverConfig | None = None,
    sampling: SamplingConfig = SamplingConfig(),
    overwrite: bool = False,
    progress: bool = True,
) -> pathlib.Path:
    """Generate ``num_samples`` trajectories of ``split`` into the HDF5 file ``path``, batch by
    batch (the last padded, so nothing recompiles; ``solver_config`` defaults to
    ``SolverConfig()``, PDEBench's grid); resumable, SIGINT/SIGTERM stop after a batch.
    """
    solver_config = solver_config or solver.SolverConfig()
    if split not in SPLITS:
        raise ValueError(f"advection data: split must be one of {sorted(SPLITS)}, got {split!r}")
    if num_samples < 1 or batch_size < 1:
        raise ValueError(f"advection data: need num_samples, batch_size >= 1, got "
                         f"{num_samples}, {batch_size}")  # fmt: skip
    fields, coordinates = data_layout(sampling, solver_config)
    batch_size = min(batch_size, num_samples)
    attrs = {
        "system": "advection",
        "split": split,
        "seed": seed,
        "generator_version": GENERATOR_VERSION,
        "beta": solver_config.beta,
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
        bar = tqdm.tqdm(total=num_samples, initial=writer.written, desc=f"advection {split}",
                        unit="traj", disable=not progress)  # fmt: skip
        for start in range(writer.written, num_samples, batch_size):
            indices = np.arange(start, start + batch_size)
            count = min(batch_size, num_samples - start)
            keys = sample_keys(seed, split, np.minimum(indices, num_samples - 1))
            batch = jax.device_get(generate_batch(keys, sampling, solver_config))
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
