"""1-D advection as the method sees it: its :class:`wdno.task.Task` (spec §8.4).

State ``u(t, x)`` on PDEBench's grid (cell centres of the periodic unit interval), no control:
simulation generates the trajectory from ``u0``. The transform is one level of bior2.4 over
(t, x) with periodization (space is periodic). Data are PDEBench HDF5 files, ours
(``<data>/<split>.hdf5``, :mod:`systems.advection.generate`) or PDEBench's own: pass a
``1D_Advection_Sols_beta*.hdf5`` file as the data directory and its first 90% are the train
split, the last 10% the test split (PDEBench's ``test_ratio = 0.1``).
"""

from __future__ import annotations

import dataclasses
import pathlib

import numpy as np

from systems.advection import generate, presets
from wdno.io import pdebench
from wdno.io.pdebench import open_pdebench
from wdno.task import FieldSpec, Task, Trajectories

__all__ = ["TASK", "TEST_FRACTION", "data_file", "generate_split", "read_pdebench", "read_split"]

TEST_FRACTION = pdebench.TEST_FRACTION


def _is_file(data_dir) -> bool:
    return pathlib.Path(data_dir).is_file()


def data_file(data_dir, split: str) -> pathlib.Path:
    """``<data_dir>/<split>.hdf5``, or ``data_dir`` itself when it is a (PDEBench) file."""
    return pdebench.split_file(data_dir, split)


def generate_split(
    data_dir,
    split: str,
    data_preset: str,
    *,
    num: int | None = None,
    seed: int = 0,
    batch_size: int | None = None,
    beta: float | None = None,
    overwrite: bool = False,
    progress: bool = True,
) -> pathlib.Path:
    """Generate a split of the data preset into ``<data_dir>/<split>.hdf5`` (``beta``: the
    preset's unless given)."""
    if _is_file(data_dir):
        raise ValueError(f"{data_dir} is a file; generate writes into a data directory")
    preset = presets.PRESETS[data_preset]
    config = preset.solver if beta is None else dataclasses.replace(preset.solver, beta=beta)
    return generate.generate(
        data_file(data_dir, split),
        split,
        preset.num_samples(split) if num is None else num,
        seed=seed,
        batch_size=preset.batch_size if batch_size is None else batch_size,
        solver_config=config,
        overwrite=overwrite,
        progress=progress,
    )


def read_pdebench(
    path, start: int = 0, stop: int | None = None, *, stride_x: int = 1, stride_t: int = 1
) -> Trajectories:
    """Trajectories ``[start, stop)`` of a PDEBench 1-D advection file (ours or PDEBench's),
    every ``stride_t``-th level and ``stride_x``-th point (PDEBench's ``reduced_resolution``)."""
    with open_pdebench(path) as reader:
        stop = len(reader) if stop is None else stop
        if not 0 <= start < stop <= len(reader):
            raise ValueError(f"{path} holds {len(reader)} trajectories; [{start}, {stop}) asked")
        u = reader.read(start, stop, ["u"])["u"][:, ::stride_t, ::stride_x]
        coords = {"t": reader.coords["t"][::stride_t], "x": reader.coords["x"][::stride_x]}
    return Trajectories(
        state=np.asarray(u, np.float32)[..., None],
        control=None,
        coords={k: np.asarray(v, np.float32) for k, v in coords.items()},
    )


def read_split(data_dir, split: str, limit: int | None = None) -> Trajectories:
    """The first ``limit`` trajectories of a split: ``u (N, T, X, 1)``, no control."""
    hint = f"generate it with `wdno advection generate --split {split} --out {data_dir}`"
    path, start, stop = pdebench.split_range(data_dir, split, limit, hint)
    return read_pdebench(path, start, stop)


TASK = Task(
    name="advection",
    title="Advection",
    state_fields=(FieldSpec("u", "1", "advected quantity"),),
    control_fields=(),
    dims=("t", "x"),
    data_file=data_file,
    generate=generate_split,
    read_split=read_split,
    data_presets=presets.PRESETS,
    presets=presets.RUN_PRESETS,
    default_preset="cpu",
    transform=presets.ENCODING,
    spectral_axis=2,
    reference_note="paper Table 1: WDNO 'near-identical to DDPM' on advection; no numbers",
)
