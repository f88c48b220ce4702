"""The simulator protocol: every learned simulator is fitted, saved, loaded and asked to predict
the same way, and the driver never asks which kind it holds.

A simulator maps a trajectory's initial state and control to the whole state trajectory (paper
Sec. 4, simulation task). Its directory holds ``simulator.json`` (which implementation, its
encoding and grid), its normalisation (``normalizer.json``) and its training run (``config.json``,
``log.csv``, ``checkpoints/``); :func:`load` needs nothing but that directory.
"""

from __future__ import annotations

import csv
import json
import pathlib
import time
from typing import Any, ClassVar, Protocol

import jax
import numpy as np
from flax import nnx

from wdno.io import atomic, checkpoint
from wdno.training import loop, parallel

__all__ = [
    "DESCRIPTION_FILE",
    "NORMALIZER_FILE",
    "Simulator",
    "check_conditions",
    "num_parameters",
    "read_description",
    "restore_model",
    "train_and_record",
    "write_description",
]

DESCRIPTION_FILE = "simulator.json"
NORMALIZER_FILE = "normalizer.json"


class Simulator(Protocol):
    """What the driver needs of a learned simulator."""

    implementation: ClassVar[str]  # the name stored in simulator.json
    step: int  # training step of the loaded weights

    @classmethod
    def fit(
        cls, workdir, state, control, *, preset, monitor=None, progress: bool = True, **options
    ) -> dict:
        """Train on ``state (N, T, *spatial, Fs)`` and ``control (N, T-1, *spatial, Fc)`` into
        ``workdir`` (resuming a checkpoint there); returns the training record. ``monitor``:
        see :func:`train_and_record`."""

    @classmethod
    def load(cls, workdir, *, use_ema: bool | None = None) -> Simulator:
        """The trained simulator saved in ``workdir``."""

    def predict(
        self, initial_state, control=None, *, key=0, sampler=None, batch_size=64, progress=True
    ) -> np.ndarray:
        """``(N, T, *spatial, Fs)`` from ``initial_state (N, *spatial, Fs)`` and the control;
        ``state[:, 0]`` is the given initial state."""


def write_description(workdir: pathlib.Path, description: dict[str, Any], normalizer) -> None:
    """Write ``simulator.json`` and ``normalizer.json`` (process 0 only)."""
    if parallel.is_main_process():
        atomic.write_json(pathlib.Path(workdir) / DESCRIPTION_FILE, description)
        normalizer.save(pathlib.Path(workdir) / NORMALIZER_FILE)


def read_description(workdir) -> dict[str, Any]:
    path = pathlib.Path(workdir) / DESCRIPTION_FILE
    if not path.exists():
        raise FileNotFoundError(f"{path} not found: is {workdir} a trained simulator's directory?")
    return json.loads(path.read_text())


def check_conditions(layout, initial_state, control, where: str):
    """The initial states and controls as float32 arrays, checked against the layout."""
    initial_state = np.asarray(initial_state, np.float32)
    expected = (*layout.spatial_shape, layout.num_state_fields)
    past = getattr(layout, "past_frames", 1)
    if past > 1:  # a forecast: the first `past` frames are given
        expected = (past, *expected)
    if initial_state.ndim != len(expected) + 1 or initial_state.shape[1:] != expected:
        what = "initial_state" if past == 1 else f"the {past} known frames (initial_state)"
        raise ValueError(f"{where}: {what} must be (N, *{expected}), got {initial_state.shape}")
    if not layout.num_control_fields:
        if control is not None:
            raise ValueError(f"{where}: this simulator has no control; got control=")
        return initial_state, None
    if control is None:
        raise ValueError(f"{where}: this simulator is conditioned on a control; pass control=")
    control = np.asarray(control, np.float32)
    expected_control = (
        len(initial_state),
        layout.num_times - 1,
        *layout.spatial_shape,
        layout.num_control_fields,
    )
    if control.shape != expected_control:
        raise ValueError(f"{where}: control must be {expected_control}, got {control.shape}")
    return initial_state, control


def train_and_record(
    model, stream, config, workdir, start: float, *, monitor=None, as_simulator=None, **options
) -> dict:
    """Run :func:`wdno.training.train` and return a simulator's training record.

    ``monitor(simulator, step) -> dict`` is called every ``config.eval_every`` steps with the
    simulator of the current weights (``as_simulator(model, step)``); its results are the
    record's ``"evaluations"``. ``train_seconds`` adds the training time of the interrupted runs
    this one resumed (recorded in the checkpoint).
    """
    if monitor is not None:
        options["eval_fn"] = lambda current, step: monitor(as_simulator(current, step), step)
    result = loop.train(model, stream, config, workdir=workdir, **options)
    losses = [row["loss"] for row in result.history] or _logged_losses(workdir)
    return {
        "steps": int(result.state.step),
        "train_seconds": time.perf_counter() - start + result.resumed_seconds,
        "final_loss": float(losses[-1]) if losses else float("nan"),
        "num_parameters": num_parameters(model),
        **({"evaluations": result.evaluations} if monitor is not None else {}),
    }


def _logged_losses(workdir) -> list[float]:
    """The losses of ``workdir/log.csv`` (a run resumed at its last step logs nothing new)."""
    path = pathlib.Path(workdir) / "log.csv"
    if not path.exists():
        return []
    with path.open() as file:
        return [float(row["loss"]) for row in csv.DictReader(file)]


def restore_model(workdir, use_ema: bool | None):
    """``(model, restored)`` from the newest checkpoint: the EMA or raw weights (``use_ema``;
    None: what the training config says)."""
    restored = checkpoint.restore(workdir)
    if use_ema is None:
        return restored.sampling_model, restored
    return (restored.ema_model if use_ema else restored.model), restored


def num_parameters(model: nnx.Module) -> int:
    return int(sum(x.size for x in jax.tree.leaves(nnx.state(model, nnx.Param))))
