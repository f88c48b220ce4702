"""1-D compressible Navier-Stokes as the method sees it: its :class:`wdno.task.Task` (spec §8.3).

State ``(rho, v, p)(t, x)`` (three channels: density, velocity, pressure) on PDEBench's grid (cell
centres of ``[-1, 1]``, outgoing boundaries unless a data set was generated with
``--boundary periodic``), no control: simulation generates the trajectory from the initial state.
The transform is one level of bior2.4 over (t, x) with the ``symmetric`` mode (the fields are not
periodic; :mod:`systems.compressible_ns.presets` explains the choice). Data are PDEBench HDF5
files, ours (``<data>/<split>.hdf5``, :mod:`systems.compressible_ns.generate`) or PDEBench's own:
pass a ``1D_CFD_Shock_*.hdf5`` file as the data directory and its first 90% are the train split,
the last 10% the test split (PDEBench's ``test_ratio = 0.1``).

Its control task is the inverse problem (:mod:`systems.compressible_ns.control`): only the final
state known, the initial state (and the trajectory) generated; ``J`` is the misfit of the state
our solver reaches from the generated initial state.
"""

from __future__ import annotations

import dataclasses
import pathlib

import numpy as np

from systems.compressible_ns import control, generate, presets
from wdno.io import pdebench
from wdno.io.pdebench import open_pdebench
from wdno.task import MODES, FieldSpec, Task, Trajectories

__all__ = ["TASK", "TEST_FRACTION", "data_file", "generate_split", "read_pdebench", "read_split"]

TEST_FRACTION = pdebench.TEST_FRACTION
FIELDS = ("density", "velocity", "pressure")  # channel order; open_pdebench reads Vx as velocity


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
    boundary: str | None = None,
    overwrite: bool = False,
    progress: bool = True,
) -> pathlib.Path:
    """Generate a split of the data preset into ``<data_dir>/<split>.hdf5`` (``boundary``: the
    preset's, ``"outgoing"``, unless given)."""
    if _is_file(data_dir):
        raise ValueError(f"{data_dir} is a file; generate writes into a data directory")
    preset = presets.PRESETS[data_preset]
    config = preset.solver
    if boundary is not None:
        config = dataclasses.replace(config, boundary=boundary)
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
    """Trajectories ``[start, stop)`` of a PDEBench 1-D CFD file (ours or PDEBench's), every
    ``stride_t``-th level and ``stride_x``-th cell (PDEBench's ``reduced_resolution``):
    ``(density, velocity, pressure)`` as ``(N, T, X, 3)``."""
    with open_pdebench(path) as reader:
        if not set(FIELDS) <= set(reader.fields):
            raise ValueError(
                f"{path}: not a compressible NS file (keys density, Vx, pressure); it holds "
                f"{sorted(reader.fields)}"
            )
        stop = len(reader) if stop is None else stop
        if not 0 <= start < stop <= len(reader):
            raise ValueError(f"{path} holds {len(reader)} trajectories; [{start}, {stop}) asked")
        arrays = reader.read(start, stop, list(FIELDS))
        state = np.stack([arrays[name][:, ::stride_t, ::stride_x] for name in FIELDS], -1)
        coords = {"t": reader.coords["t"][::stride_t], "x": reader.coords["x"][::stride_x]}
    return Trajectories(
        state=np.asarray(state, np.float32),
        control=None,
        coords={k: np.asarray(v, np.float32) for k, v in coords.items()},
    )


def read_split(data_dir, split: str, limit: int | None = None) -> Trajectories:
    """The first ``limit`` trajectories of a split: ``(rho, v, p)`` as ``(N, T, X, 3)``, no
    control."""
    hint = f"generate it with `wdno compressible-ns generate --split {split} --out {data_dir}`"
    path, start, stop = pdebench.split_range(data_dir, split, limit, hint)
    return read_pdebench(path, start, stop)


TASK = Task(
    name="compressible-ns",
    title="Compressible Navier-Stokes",
    state_fields=(
        FieldSpec("density", "1", "density rho"),
        FieldSpec("velocity", "1", "velocity v"),
        FieldSpec("pressure", "1", "pressure p"),
    ),
    control_fields=(),
    dims=("t", "x"),
    data_file=data_file,
    generate=generate_split,
    read_split=read_split,
    data_presets=presets.PRESETS,
    presets=presets.RUN_PRESETS,
    default_preset="cpu",
    known={"simulation": MODES["simulation"], "control": ("target",)},
    transform=presets.ENCODING,
    spectral_axis=2,  # x; not periodic (outgoing), the bands then include the end-to-end jump
    reference={"wdno": 0.2195, "ddpm": 5.5228, "fno": 0.2575},
    reference_note=(
        "paper Table 1, MSE on PDEBench's 1-D CFD shock data (eta = zeta = 1e-8; grid, window and "
        "normalisation not stated, so not comparable with these runs)"
    ),
    rollout=control.rollout,
    gradient_rollout=control.gradient_rollout,
    control_objective=control.objective,
    guidance=control.GUIDANCE,
    decision_parametrization=control.PARAMETRIZATION,
)
