"""Burgers data sets: random initial states and control forces, solved and written (spec Sec. 8.1).

Each sample is drawn from its own key ``fold_in(fold_in(key(seed), split_id), index)`` with
``split_id`` 0 for ``train`` and 1 for ``test``: a sample never depends on the batch size or on
the machine, and train and test use disjoint key streams for the same seed (spec pitfall 10).

Initial state: ``u0 = a1 exp(-(x-b1)^2/(2 s1^2)) + a2 exp(-(x-b2)^2/(2 s2^2))`` with
``a1 ~ U(0, 2)``, ``b1 ~ U(0.2, 0.4)``, ``a2 ~ U(-2, 0)``, ``b2 ~ U(0.6, 0.8)``,
``s1, s2 ~ U(0.05, 0.15)``. Force: ``f = sum_{i<8} a_i exp(-(x-bx_i)^2/(2 sx_i^2))
c exp(-(tau-bt_i)^2/(2 st_i^2))`` with ``tau = t/T`` at the start of each control interval
(the force is constant on it), ``bx, bt ~ U(0, 1)``, ``sx, st ~ U(0.1, 0.4)``,
``a_1 ~ U(-1.5, 1.5)``, ``a_2..a_8`` each on with probability 1/2 and ``U(-1.5, 1.5)``; ``c`` is
:attr:`SamplingConfig.force_time_factor`, 2 as in the released generator (spec Sec. 8.1).

Both are evaluated on the finest stored x grid (960 points) and driven through the public
:func:`systems.burgers.solver.solve`, so the stored ``f`` is exactly the force behind the stored
``u`` (unlike the original, spec pitfall 1), and a file at any resolution factor holds the same
trajectories. Output path rule: ``<out>/<split>.h5`` at resolution 1 and
``<out>/<split>_r<k>.h5`` at resolution ``k`` > 1 (see :func:`output_path`).

Generation is resumable (:class:`wdno.io.resumable.ResumableWriter`): an interrupted run keeps its
completed batches in ``<file>.partial``; running the same command again continues there and ends
with the same file, byte for byte, as an uninterrupted run. SIGINT/SIGTERM stop after the current
batch (:mod:`wdno.interrupts`).
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

from systems.burgers import grid, solver
from wdno import interrupts
from wdno.io import data

__all__ = [
    "GENERATOR_VERSION",
    "SPLITS",
    "SamplingConfig",
    "control_force",
    "data_layout",
    "generate",
    "generate_batch",
    "initial_state",
    "open_dataset",
    "output_path",
    "sample_keys",
    "sample_parameters",
]

GENERATOR_VERSION = "burgers-1"
SPLITS = {"train": 0, "test": 1}


@dataclasses.dataclass(frozen=True)
class SamplingConfig:
    """Distributions of the initial state and of the control force (ranges are uniform)."""

    amplitude_ranges: tuple = ((0.0, 2.0), (-2.0, 0.0))  # a1, a2
    center_ranges: tuple = ((0.2, 0.4), (0.6, 0.8))  # b1, b2
    width_range: tuple = (0.05, 0.15)  # s1, s2
    num_bumps: int = 8
    force_amplitude_range: tuple = (-1.5, 1.5)
    force_switch_probability: float = 0.5  # for bumps 2..8; bump 1 is always on
    force_center_range: tuple = (0.0, 1.0)  # bx, bt (bt in units of T)
    force_width_range: tuple = (0.1, 0.4)  # sx, st (st in units of T)
    force_time_factor: float = 2.0  # the released code's factor on the time Gaussian


def sample_keys(seed: int, split: str, indices) -> jax.Array:
    """The per-sample keys ``fold_in(fold_in(key(seed), SPLITS[split]), index)``."""
    if split not in SPLITS:
        raise ValueError(f"Burgers data: split must be one of {sorted(SPLITS)}, got {split!r}")
    base = jax.random.fold_in(jax.random.key(seed), SPLITS[split])
    return jax.vmap(lambda index: jax.random.fold_in(base, index))(jnp.asarray(indices))


def sample_parameters(key: jax.Array, config: SamplingConfig = SamplingConfig()) -> dict:
    """Physical parameters of one sample (float32 arrays; see the module docstring)."""
    keys = jax.random.split(key, 9)

    def uniform(k, bounds, shape=()):
        low = jnp.asarray([b[0] for b in bounds], jnp.float32)
        high = jnp.asarray([b[1] for b in bounds], jnp.float32)
        # float32 always, so that enabling x64 does not change the data drawn from a key
        return jax.random.uniform(k, shape or low.shape, jnp.float32, low, high)

    bumps = (config.num_bumps,)
    switched_on = jax.random.uniform(keys[4], bumps, jnp.float32) < config.force_switch_probability
    switched_on = switched_on.at[0].set(True)
    return {
        "initial_amplitude": uniform(keys[0], config.amplitude_ranges),
        "initial_center": uniform(keys[1], config.center_ranges),
        "initial_width": uniform(keys[2], (config.width_range,) * 2),
        "force_amplitude": uniform(keys[3], (config.force_amplitude_range,), bumps) * switched_on,
        "force_center_x": uniform(keys[5], (config.force_center_range,), bumps),
        "force_center_t": uniform(keys[6], (config.force_center_range,), bumps),
        "force_width_x": uniform(keys[7], (config.force_width_range,), bumps),
        "force_width_t": uniform(keys[8], (config.force_width_range,), bumps),
    }


def _gaussian(x, center, width):
    return jnp.exp(-((x - center) ** 2) / (2.0 * width**2))


def initial_state(parameters: dict, x: jax.Array) -> jax.Array:
    """``u0`` at the points ``x``: sum of the two Gaussians. Shape ``[X]``."""
    p = parameters
    bumps = _gaussian(x[:, None], p["initial_center"], p["initial_width"])
    return bumps @ p["initial_amplitude"]


def control_force(
    parameters: dict, tau: jax.Array, x: jax.Array, config: SamplingConfig
) -> jax.Array:
    """The force at normalised times ``tau = t/T`` and points ``x``. Shape ``[len(tau), X]``."""
    p = parameters
    in_space = _gaussian(x[:, None], p["force_center_x"], p["force_width_x"])  # [X, bumps]
    in_time = config.force_time_factor * _gaussian(
        tau[:, None], p["force_center_t"], p["force_width_t"]
    )
    return (in_time * p["force_amplitude"]) @ in_space.T


@functools.partial(jax.jit, static_argnames=("sampling", "solver_config", "factor"))
def generate_batch(
    keys: jax.Array, sampling: SamplingConfig, solver_config: solver.SolverConfig, factor: int = 1
) -> dict:
    """Sample and solve a batch: ``u [B, 80k+1, 120k]``, ``f [B, 80k, 120k]`` and parameters."""
    x = jnp.asarray(grid.stored_x(grid.FINEST_FACTOR))
    tau = jnp.arange(solver_config.num_intervals) / solver_config.num_intervals
    stride = grid.FINEST_FACTOR // factor

    def one(key):
        parameters = sample_parameters(key, sampling)
        u0 = initial_state(parameters, x)
        force = control_force(parameters, tau, x, sampling)
        u = solver.solve(u0, force, solver_config, factor)
        stored_force = jnp.repeat(force[:, ::stride], factor, axis=0)
        return {"u": u, "f": stored_force, **parameters}

    return jax.vmap(one)(keys)


def data_layout(factor: int, sampling: SamplingConfig, solver_config: solver.SolverConfig):
    """The fields and coordinates of a Burgers file at resolution ``factor``."""
    num_t, num_x = grid.NUM_CONTROL_INTERVALS * factor, grid.BASE_POINTS * factor
    bumps, gaussians = (sampling.num_bumps,), (2,)
    parameter_info = {
        "initial_amplitude": (gaussians, "amplitudes a1, a2 of the initial Gaussians"),
        "initial_center": (gaussians, "centres b1, b2 of the initial Gaussians"),
        "initial_width": (gaussians, "widths s1, s2 of the initial Gaussians"),
        "force_amplitude": (bumps, "amplitudes a_i of the force bumps (0 = off)"),
        "force_center_x": (bumps, "x centres bx_i of the force bumps"),
        "force_center_t": (bumps, "time centres bt_i of the force bumps, in units of T"),
        "force_width_x": (bumps, "x widths sx_i of the force bumps"),
        "force_width_t": (bumps, "time widths st_i of the force bumps, in units of T"),
    }
    fields = [
        data.Field("u", (num_t + 1, num_x), ("t", "x"), "1", "velocity u(t, x), u0 included"),
        data.Field(
            "f",
            (num_t, num_x),
            ("t_force", "x"),
            "1",
            "control force f(t, x), constant on [t_force, t_force + T/(80 k))",
        ),
    ]
    for name, (shape, text) in parameter_info.items():
        dim = "bump" if shape == bumps else "gaussian"
        fields.append(data.Field(f"parameters/{name}", shape, (dim,), "1", text))
    end_time = solver_config.end_time
    coordinates = [
        data.Coordinate("t", grid.stored_times(factor, end_time), "1", "time (nondimensional)"),
        data.Coordinate(
            "t_force",
            grid.force_times(factor, end_time),
            "1",
            "start time of the force frame (nondimensional)",
        ),
        data.Coordinate("x", grid.stored_x(factor), "1", "position in [0, 1], u = 0 at the walls"),
    ]
    return fields, coordinates


def output_path(out: str | pathlib.Path, split: str, factor: int = 1) -> pathlib.Path:
    """``<out>/<split>.h5`` at resolution 1, ``<out>/<split>_r<k>.h5`` at resolution ``k``."""
    suffix = "" if grid.check_factor(factor) == 1 else f"_r{factor}"
    return pathlib.Path(out) / f"{split}{suffix}.h5"


def generate(
    path: str | pathlib.Path,
    split: str,
    num_samples: int,
    seed: int = 0,
    batch_size: int = 256,
    factor: int = 1,
    sampling: SamplingConfig = SamplingConfig(),
    solver_config: solver.SolverConfig | None = None,
    overwrite: bool = False,
    progress: bool = True,
) -> pathlib.Path:
    """Generate ``num_samples`` trajectories of ``split`` into the HDF5 file ``path``.

    Memory stays flat: batches of ``batch_size`` are solved (the last one padded, so nothing
    recompiles) and appended to the file in turn. ``solver_config`` defaults to ``SolverConfig()``.
    The file appears only when complete; an interrupted run is continued by the same call
    (module docstring).

    Raises:
        wdno.interrupts.Interrupted: on SIGINT/SIGTERM, after saving the batches done so far.
        FileExistsError: ``path`` exists, or an interrupted run of other settings is in the
            way (without ``overwrite``).
    """
    solver_config = solver_config or solver.SolverConfig()
    if split not in SPLITS:
        raise ValueError(f"Burgers data: split must be one of {sorted(SPLITS)}, got {split!r}")
    if num_samples < 1 or batch_size < 1:
        raise ValueError(
            f"Burgers data: need num_samples, batch_size >= 1, got {num_samples}, {batch_size}"
        )
    grid.check_factor(factor)
    fields, coordinates = data_layout(factor, sampling, solver_config)
    attrs = {
        "system": "burgers",
        "split": split,
        "seed": seed,
        "grid_factor": factor,
        "generator_version": GENERATOR_VERSION,
        "viscosity": solver_config.viscosity,
        "end_time": solver_config.end_time,
        "solver": json.dumps(dataclasses.asdict(solver_config)),
        "sampling": json.dumps(dataclasses.asdict(sampling)),
        "key_rule": "fold_in(fold_in(jax.random.key(seed), split_id), sample_index)",
        "split_id": SPLITS[split],
        "batch_size": min(batch_size, num_samples),  # samples agree across batch sizes to 1e-5
    }
    batch_size = min(batch_size, num_samples)
    with (
        interrupts.deferred_signals() as signals,
        data.ResumableWriter(
            path, num_samples, fields, coordinates, attrs, overwrite, batch_size=batch_size
        ) as writer,
    ):
        if progress and writer.note:
            print(f"[generate] {writer.note}; starting again")
        if progress and writer.written:
            print(
                f"[generate] continuing {path}: {writer.written} of {num_samples} trajectories "
                "kept from an interrupted run"
            )
        bar = tqdm.tqdm(
            total=num_samples,
            initial=writer.written,
            desc=f"burgers {split}",
            unit="traj",
            disable=not progress,
        )
        for start in range(writer.written, num_samples, batch_size):
            indices = np.arange(start, start + batch_size)
            count = min(batch_size, num_samples - start)
            keys = sample_keys(seed, split, np.minimum(indices, num_samples - 1))
            batch = jax.device_get(generate_batch(keys, sampling, solver_config, factor))
            batch = {k: v[:count] for k, v in batch.items()}
            if not np.all(np.isfinite(batch["u"])):
                bad = start + np.flatnonzero(
                    ~np.isfinite(batch["u"]).reshape(count, -1).all(axis=1)
                )
                raise FloatingPointError(
                    f"Burgers solver returned NaN/inf for samples {bad[:10].tolist()}"
                )
            writer.append({f.name: batch[f.name.split("/")[-1]] for f in fields})
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


def open_dataset(path: str | pathlib.Path, factor: int | None = None) -> data.Reader:
    """A :class:`wdno.data.Reader` over a Burgers file, checking ``u`` and ``f`` shapes."""
    with data.Reader(path) as probe:
        stored = int(probe.attrs.get("grid_factor", 1)) if factor is None else factor
    num_t, num_x = grid.NUM_CONTROL_INTERVALS * stored, grid.BASE_POINTS * stored
    return data.Reader(path, expect={"u": (num_t + 1, num_x), "f": (num_t, num_x)})
