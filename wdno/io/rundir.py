"""Run directories: the record of what a run is (``run.json``) and where its files go.

One *run directory* holds everything a run produces::

    run.json            system, run preset (with overrides), data location, command, hardware
    <model>/            one trained simulator per model (wdno.simulators): simulator.json,
                        normalizer.json, config.json, log.csv, checkpoints/
    train.json          training time, steps and final loss per model
    predictions.nc      test trajectories, their conditions and every model's prediction
    metrics.json        scalar metrics and per-time MAE per model (and per task baseline, with
                        the task's metrics per lead time: wdno.task.Scoring)
    results.md          the results table (and one table per lead metric)
    figures/            PNG figures
    .lock               while a verb writes the run: its process, host and start time
                        (:func:`lock`; one writer at a time)
"""

from __future__ import annotations

import contextlib
import json
import os
import pathlib
import platform
import sys

from wdno.io import atomic, configs
from wdno.io import lock as locks
from wdno.preset import RunPreset

__all__ = ["LOCK_FILE", "RunRecord", "hardware", "lock", "read_run", "write_run"]

RUN_FILE = "run.json"
LOCK_FILE = ".lock"


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


@contextlib.contextmanager
def lock(run_dir, *, enabled: bool = True):
    """Hold ``<run_dir>/.lock`` for a block (:func:`wdno.io.lock.hold`).

    Creates ``run_dir``, and removes it again if the block leaves it empty (a failed first
    verb leaves nothing behind). A second process writing the same run is refused with
    :class:`wdno.io.lock.LockedError`. ``enabled=False`` (the other processes of a
    multi-process job) holds nothing.
    """
    if not enabled:
        yield
        return
    run_dir = pathlib.Path(run_dir)
    created = not run_dir.exists()
    run_dir.mkdir(parents=True, exist_ok=True)
    try:
        with locks.hold(run_dir / LOCK_FILE, what=f"run directory {run_dir}"):
            yield
    finally:
        if created:
            with contextlib.suppress(OSError):
                run_dir.rmdir()  # only if empty
