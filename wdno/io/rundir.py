"""Run directories: the record of what a run is (``run.json``) and where its files go.

One *run directory* holds everything a run produces::

    run.json            system, run preset (with overrides), data location, command, hardware
    <model>/            one trained simulator per model (wdno.simulators): simulator.json,
                        normalizer.json, config.json, log.csv, checkpoints/
    train.json          training time, steps and final loss per model
    predictions.nc      test trajectories, their conditions and every model's prediction
    metrics.json        scalar metrics and per-time MAE per model
    results.md          the results table
    figures/            PNG figures
"""

from __future__ import annotations

import json
import os
import pathlib
import platform
import sys

from wdno.io import atomic, configs
from wdno.preset import RunPreset

__all__ = ["RunRecord", "hardware", "read_run", "write_run"]

RUN_FILE = "run.json"


def hardware() -> dict:
    """What the run ran on (for the results table)."""
    import jax

    return {
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "jax_backend": jax.default_backend(),
        "devices": [str(d) for d in jax.devices()],
        "jax_version": jax.__version__,
    }


class RunRecord(dict):
    """``run.json``'s content; :attr:`preset` and :attr:`data_dir` as objects."""

    @property
    def preset(self) -> RunPreset:
        return configs.from_json(RunPreset, self["preset"])

    @property
    def data_dir(self) -> pathlib.Path:
        return pathlib.Path(self["data_dir"])


def write_run(run_dir, *, system: str, preset: RunPreset, data_dir, num_train: int) -> RunRecord:
    """Write ``<run_dir>/run.json`` (atomically) and return it."""
    record = RunRecord(
        system=system,
        preset=configs.to_json(preset),
        data_dir=str(pathlib.Path(data_dir).absolute()),
        num_train=num_train,
        command=" ".join(sys.argv),
        hardware=hardware(),
    )
    atomic.write_json(pathlib.Path(run_dir) / RUN_FILE, dict(record))
    return record


def read_run(run_dir, *, system: str | None = None) -> RunRecord:
    """``<run_dir>/run.json``, checked to belong to ``system`` when given."""
    path = pathlib.Path(run_dir) / RUN_FILE
    if not path.exists():
        hint = f"`wdno {system} train`" if system else "`wdno <system> train`"
        raise FileNotFoundError(f"{path} not found: train a run first ({hint})")
    record = RunRecord(json.loads(path.read_text()))
    if system is not None and record.get("system", system) != system:
        raise ValueError(f"{path} is a {record['system']} run, not a {system} run")
    return record
