"""The Burgers system as the method sees it: its :class:`wdno.task.Task` (spec §8.1).

State ``u(t, x)`` at 81 time levels on 120 interior points, control force ``f(t, x)`` on the 80
intervals between them; simulation generates ``u`` from ``u0`` and ``f``. The transform is one
level of bior2.4 over (t, x) with periodization (spec §3.1).
"""

from __future__ import annotations

import pathlib

import numpy as np

from systems.burgers import control, generate, presets
from wdno.task import MODES, FieldSpec, Task, Trajectories
from wdno.transforms.encoding import EncodingConfig

__all__ = ["TASK", "data_file", "generate_split", "read_split"]


def data_file(data_dir, split: str) -> pathlib.Path:
    """``<data_dir>/<split>.h5`` (the base resolution)."""
    return generate.output_path(data_dir, split, 1)


def generate_split(
    data_dir,
    split: str,
    data_preset: str,
    *,
    num: int | None = None,
    seed: int = 0,
    batch_size: int | None = None,
    resolution: int = 1,
    overwrite: bool = False,
    progress: bool = True,
) -> pathlib.Path:
    """Generate a split of the data preset into ``<data_dir>/<split>[_r<k>].h5``."""
    preset = presets.PRESETS[data_preset]
    return generate.generate(
        generate.output_path(data_dir, split, resolution),
        split,
        preset.num_samples(split) if num is None else num,
        seed=seed,
        batch_size=preset.batch_size if batch_size is None else batch_size,
        factor=resolution,
        solver_config=preset.solver,
        overwrite=overwrite,
        progress=progress,
    )


def read_split(data_dir, split: str, limit: int | None = None) -> Trajectories:
    """The first ``limit`` trajectories of ``<data_dir>/<split>.h5``: ``u (N, 81, 120, 1)``,
    ``f (N, 80, 120, 1)``, coordinates ``t`` and ``x``."""
    path = data_file(data_dir, split)
    if not path.exists():
        raise FileNotFoundError(
            f"{path} not found; generate it with `wdno burgers generate --split {split} "
            f"--out {data_dir}` (or run `wdno burgers demo`)"
        )
    with generate.open_dataset(path) as reader:
        if limit is not None and limit > len(reader):
            raise ValueError(f"{path} holds {len(reader)} trajectories, {limit} requested")
        num = len(reader) if limit is None else limit
        fields = reader.read(0, num, ["u", "f"])
        coords = reader.coords
    return Trajectories(
        state=np.asarray(fields["u"], np.float32)[..., None],
        control=np.asarray(fields["f"], np.float32)[..., None],
        coords={"t": np.asarray(coords["t"]), "x": np.asarray(coords["x"])},
    )


TASK = Task(
    name="burgers",
    title="Burgers",
    state_fields=(FieldSpec("u", "1", "velocity"),),
    control_fields=(FieldSpec("f", "1", "control force"),),
    dims=("t", "x"),
    data_file=data_file,
    generate=generate_split,
    read_split=read_split,
    data_presets=presets.PRESETS,
    presets=presets.RUN_PRESETS,
    default_preset="cpu",
    control_time_dim="t_force",
    transform=EncodingConfig(wavelet="bior2.4", mode="periodization", level=1),
    spectral_axis=2,
    reference={"wdno": 1.4e-4, "ddpm": 1.3e-4},
    reference_note="Table 1, 40,000 training trajectories, GPU",
    known={"simulation": MODES["simulation"], "control": MODES["control"]},
    rollout=control.rollout,
    gradient_rollout=control.gradient_rollout,
    control_objective=control.objective,
    guidance_objective=control.guidance_objective,
    guidance=control.GUIDANCE,
    control_reference={"WDNO": 0.0205},
    control_reference_note="Table 2a, 40,000 training trajectories, GPU; its alpha is not stated",
)
