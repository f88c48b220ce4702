"""Long runs survive interruption; bad inputs get one line: a training process killed for real
(SIGTERM), NaN injected into the data, a second writer of a run, and a table of user errors
through the ``wdno`` command (docs/long_runs.md). The killed data generation is tested in
test_burgers_generate.py, where its compilation is shared."""

from __future__ import annotations

import dataclasses
import errno
import functools
import json
import os
import pathlib
import signal
import socket
import subprocess
import sys
import textwrap
import time

import jax
import numpy as np
import pytest
from flax import nnx

from experiments import cli
from wdno.io import checkpoint, data, lock, rundir
from wdno.training import NonFiniteLossError, TrainingInterrupted, train

REPOSITORY = pathlib.Path(__file__).resolve().parents[1]
# A one-convolution denoiser and a seeded data stream: resuming does not depend on the
# architecture, and a U-Net would only add compile time. Shared with the killed subprocess.
SETUP = textwrap.dedent("""
    import functools, os, sys, time

    import numpy as np
    from flax import nnx

    from wdno.training import TrainConfig

    class OneLayer(nnx.Module):
        def __init__(self, *, rngs):
            self.conv = nnx.Conv(2, 2, (3, 3), rngs=rngs)

        def __call__(self, x, t):
            return self.conv(x) * (1.0 + t[:, None, None, None] / 1000.0)

    def batches(start_step, nan_at=None):
        for step in range(start_step, 10**9):  # batch of optimiser step step + 1
            x0 = np.random.default_rng(step).uniform(-1, 1, (4, 8, 8, 2)).astype(np.float32)
            if step + 1 == nan_at:
                x0[0, 0, 0, 0] = np.nan
            yield {"x0": x0}

    CONFIG = TrainConfig(num_steps=24, learning_rate=1e-2, log_every=4, ema_every=2,
                         ema_start_step=4, checkpoint_minutes=0.0, max_checkpoints=None, seed=3)
""")
namespace: dict = {}
exec(SETUP, namespace)
OneLayer, batches, CONFIG = namespace["OneLayer"], namespace["batches"], namespace["CONFIG"]


def _environment():
    return {**os.environ, "PYTHONPATH": str(REPOSITORY), "JAX_PLATFORMS": "cpu"}


def _train_state(result):
    state = result.state
    return {
        "params": state.params,
        "ema_params": state.ema_params,
        "opt_state": state.opt_state,
        "meta": {"step": state.step, "key": state.key},
    }


# ---- training: SIGTERM, checkpoint, rerun ------------------------------------------------------
def test_sigterm_mid_training_then_rerun_equals_uninterrupted(tmp_path):
    workdir, go = tmp_path / "interrupted", tmp_path / "go"
    # The process to be killed checkpoints every 0.5 s of wall-clock time as well (so at step 4,
    # after a 0.6 s pause), and waits before step 7 for the signal.
    script = SETUP + textwrap.dedent(f"""
        import dataclasses
        from wdno.training import TrainingInterrupted, train

        def stream(start_step):
            for step, batch in enumerate(batches(start_step), start_step):
                if step == 3:
                    time.sleep(0.6)
                if step == 6:
                    print("waiting before step 7", flush=True)
                    while not os.path.exists({str(go)!r}):
                        time.sleep(0.01)
                yield batch

        config = dataclasses.replace(CONFIG, checkpoint_minutes=0.5 / 60)
        try:
            train(OneLayer(rngs=nnx.Rngs(0)), stream, config, workdir={str(workdir)!r},
                  progress=False)
        except TrainingInterrupted as error:
            print(error, file=sys.stderr)
            sys.exit(error.exit_status)
    """)
    process = subprocess.Popen(
        [sys.executable, "-c", script],
        cwd=REPOSITORY,
        env=_environment(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    # The uninterrupted reference, while the other process starts.
    whole = train(
        OneLayer(rngs=nnx.Rngs(0)), batches, CONFIG, workdir=tmp_path / "whole", progress=False
    )
    for line in process.stdout:
        if line.strip() == "waiting before step 7":
            process.send_signal(signal.SIGTERM)
            go.touch()
            break
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 143, stderr[-3000:]
    last = stderr.strip().splitlines()[-1]
    assert last == (
        f"training interrupted (SIGTERM) at step 7; checkpoint in {workdir}/checkpoints; rerun "
        "the same command to resume"
    )
    assert checkpoint.latest_step(workdir) == 7  # the step finished, then saved on the signal
    steps = sorted(int(p.name) for p in (workdir / "checkpoints").iterdir() if p.name.isdigit())
    assert 4 in steps and steps[-1] == 7, steps  # 4: due by the clock after the 0.6 s pause

    # Rerunning resumes (from a differently initialised model: the checkpoint wins) and ends
    # where an uninterrupted run ends: same data order and random stream.
    resumed = train(OneLayer(rngs=nnx.Rngs(7)), batches, CONFIG, workdir=workdir, progress=False)
    assert resumed.resumed_seconds > 0
    assert int(resumed.state.step) == int(whole.state.step) == CONFIG.num_steps
    jax.tree.map(
        lambda a, b: np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=0, atol=1e-6),
        _train_state(whole),
        _train_state(resumed),
    )


# ---- training: non-finite loss -----------------------------------------------------------------
@pytest.mark.parametrize("nan_at, kept", [(10, 5), (3, None)])
def test_nan_in_the_data_stops_training_and_keeps_the_last_good_checkpoint(tmp_path, nan_at, kept):
    config = dataclasses.replace(CONFIG, checkpoint_every=5)
    stream = functools.partial(batches, nan_at=nan_at)
    with pytest.raises(NonFiniteLossError, match=f"at step {nan_at};") as caught:
        train(OneLayer(rngs=nnx.Rngs(0)), stream, config, workdir=tmp_path, progress=False)
    assert caught.value.step == nan_at and caught.value.checkpoint_step == kept
    # Step 10 is a checkpoint step: the NaN state was not saved, step 5 stays the newest.
    assert checkpoint.latest_step(tmp_path) == kept
    message = str(caught.value)
    assert (f"step {kept} in" in message) if kept else ("no checkpoint was saved" in message)
    logged = [row.split(",")[0] for row in (tmp_path / "log.csv").read_text().splitlines()[1:]]
    assert all(int(s) < nan_at for s in logged), logged


# ---- one writer per run ------------------------------------------------------------------------
def test_a_run_has_one_writer_and_a_dead_writer_does_not_block(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    path = run / rundir.LOCK_FILE
    host = socket.gethostname()

    def owned_by(pid, where=host, age=0.0):
        path.write_text(json.dumps({"pid": pid, "host": where, "since": "2025-01-01T00:00"}))
        os.utime(path, (time.time() - age, time.time() - age))

    owned_by(1)  # a live process on this host
    with pytest.raises(lock.LockedError, match="is being written by process 1 on"):
        with rundir.lock(run):
            pass
    owned_by(2, "elsewhere", age=60)  # another host, recent heartbeat
    with pytest.raises(lock.LockedError, match="on elsewhere"):
        with rundir.lock(run):
            pass
    finished = subprocess.Popen([sys.executable, "-c", "pass"])
    finished.wait()
    owned_by(finished.pid)  # a dead process on this host: stale
    with rundir.lock(run):
        assert json.loads(path.read_text())["pid"] == os.getpid()
        with rundir.lock(run):  # the driver's verbs nest
            pass
        assert path.exists()
    assert not path.exists()
    owned_by(2, "elsewhere", age=lock.STALE_SECONDS + 60)  # another host, no heartbeat: stale
    with rundir.lock(run):
        pass
    assert not path.exists()


# ---- the command's errors ----------------------------------------------------------------------
def _data_file(path, *, state_shape=(81, 120), nan=False, num=4):
    num_t, num_x = state_shape
    fields = [
        data.Field("u", state_shape, ("t", "x")),
        data.Field("f", (num_t - 1, num_x), ("t_force", "x")),
    ]
    coordinates = [
        data.Coordinate("t", np.linspace(0, 1, num_t)),
        data.Coordinate("t_force", np.linspace(0, 1, num_t)[:-1]),
        data.Coordinate("x", np.linspace(0, 1, num_x)),
    ]
    u = np.zeros((num, *state_shape), np.float32)
    if nan:
        u[1, 3, 4] = np.nan
    with data.Writer(path, num, fields, coordinates, {"grid_factor": 1}) as writer:
        writer.append({"u": u, "f": np.zeros((num, num_t - 1, num_x), np.float32)})


def _fail_replace(code):
    def replace(source, target):
        raise OSError(code, os.strerror(code), str(target))

    return replace


# name, arguments ({tmp} is the test's directory), setup, what the line says
BAD_INPUTS = [
    ("missing run", "burgers simulate --run {tmp}/does/not/exist", None, "run.json not found"),
    ("missing predictions", "burgers evaluate --run {tmp}/run", None, "predictions.nc not found"),
    (
        "missing data",
        "burgers train --preset tiny --data {tmp}/none --run {tmp}/run",
        None,
        "train.h5 not found; generate it with",
    ),
    (
        "corrupt data",
        "burgers train --preset tiny --data {tmp}/data --run {tmp}/run",
        "corrupt",
        "cannot open as HDF5",
    ),
    (
        "wrong shape",
        "burgers train --preset tiny --data {tmp}/data --run {tmp}/run",
        "shape",
        "per-sample shape (10, 12), expected (81, 120)",
    ),
    (
        "NaN in data",
        "burgers train --preset tiny --data {tmp}/data --run {tmp}/run",
        "nan",
        "holds NaN/inf in samples [1]",
    ),
    (
        "too few trajectories",
        "burgers train --preset tiny --data {tmp}/data --run {tmp}/run --num-train 9",
        "valid",
        "holds 4 trajectories, 9 requested",
    ),
    (
        "batch larger than the data",
        "burgers train --preset tiny --data {tmp}/data --run {tmp}/run --num-train 2",
        "valid",
        "batch size 4 exceeds the 2 training trajectories",
    ),
    (
        "missing export source",
        "burgers export {tmp}/none.h5 {tmp}/out.nc",
        None,
        "none.h5 not found: expected an HDF5 data file",
    ),
    (
        "run locked",
        "burgers train --preset tiny --data {tmp}/data --run {tmp}/run",
        "locked",
        "is being written by process 1 on",
    ),
    (
        "negative --num",
        "burgers generate --split test --num -3 --out {tmp}/out",
        None,
        "argument --num: expected an integer >= 1, got '-3'",
    ),
    (
        "--steps 0",
        "burgers train --steps 0 --run {tmp}/run",
        None,
        "argument --steps: expected an integer >= 1, got '0'",
    ),
    (
        "negative learning rate",
        "burgers train --learning-rate -0.001 --run {tmp}/run",
        None,
        "argument --learning-rate: expected a number > 0",
    ),
    (
        "--num-test 0",
        "burgers simulate --num-test 0 --run {tmp}/run",
        None,
        "argument --num-test: expected an integer >= 1",
    ),
    (
        "unknown preset",
        "burgers train --preset huge --run {tmp}/run",
        None,
        "argument --preset: invalid choice: 'huge'",
    ),
    ("unknown system", "smoky train", None, "argument SYSTEM: invalid choice: 'smoky'"),
    (
        "output exists",
        "burgers generate --split test --num 2 --out {tmp}/data",
        "valid",
        "test.h5 already exists (pass overwrite=True / --overwrite",
    ),
    (
        "output under a file",
        "burgers export {tmp}/data/test.h5 {tmp}/data/test.h5/x.nc",
        "valid",
        "data/test.h5 is a file, not a directory",
    ),
    (
        "no space left",
        "burgers export {tmp}/data/test.h5 {tmp}/out.nc",
        "enospc",
        "out.nc: No space left on device; free some space or write elsewhere",
    ),
    (
        "read-only output",
        "burgers export {tmp}/data/test.h5 {tmp}/out.nc",
        "erofs",
        "out.nc: Read-only file system; choose a writable location",
    ),
]


@pytest.mark.parametrize(
    "arguments, setup, expected", [row[1:] for row in BAD_INPUTS], ids=[r[0] for r in BAD_INPUTS]
)
def test_a_bad_input_is_one_line_and_status_2_and_leaves_nothing(
    tmp_path, capsys, monkeypatch, arguments, setup, expected
):
    if setup:
        (tmp_path / "data").mkdir()
    if setup == "corrupt":
        (tmp_path / "data" / "train.h5").write_bytes(b"\x89HDF not really" * 100)
    elif setup in ("shape", "nan", "valid", "locked", "enospc", "erofs"):
        shape = (10, 12) if setup == "shape" else (81, 120)
        for split in ("train", "test"):
            _data_file(tmp_path / "data" / f"{split}.h5", state_shape=shape, nan=setup == "nan")
    if setup == "locked":
        (tmp_path / "run").mkdir()
        (tmp_path / "run" / ".lock").write_text(
            json.dumps({"pid": 1, "host": socket.gethostname(), "since": "2025-01-01T00:00"})
        )
    if setup in ("enospc", "erofs"):
        code = errno.ENOSPC if setup == "enospc" else errno.EROFS
        monkeypatch.setattr("wdno.io.atomic.os.replace", _fail_replace(code))
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    try:
        status = cli.main(arguments.format(tmp=tmp_path).split())
    except SystemExit as exit_info:  # argparse
        status = exit_info.code
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith("wdno")]  # not progress bars
    assert status == 2, err
    assert len(lines) == 1 and lines[0].startswith("wdno: error: "), err
    assert "Traceback" not in err
    assert expected in lines[0], lines[0]
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before


def test_non_finite_predictions_are_one_line_and_not_written(tmp_path, capsys, monkeypatch):
    from systems.burgers import presets
    from wdno import experiment

    _data_file(tmp_path / "data" / "test.h5")
    run = tmp_path / "run"
    rundir.write_run(
        run,
        system="burgers",
        preset=presets.RUN_PRESETS["tiny"],
        data_dir=tmp_path / "data",
        num_train=4,
    )
    (run / "wdno").mkdir()
    (run / "wdno" / "simulator.json").write_text("{}")

    class Diverged:  # a simulator whose sampling blew up in sample 2
        def predict(self, initial_state, control, **options):
            state = np.zeros((len(initial_state), 81, 120, 1), np.float32)
            state[2, 5] = np.nan
            return state

    monkeypatch.setattr(experiment.simulators, "load", lambda *a, **k: Diverged())
    assert cli.main(["burgers", "simulate", "--run", str(run)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("wdno: error: simulate: model 'wdno' of") and err.count("\n") == 1
    assert "produced NaN/inf in samples [2]; nothing written" in err
    assert sorted(p.name for p in run.iterdir()) == ["run.json", "wdno"]


def test_interruption_and_internal_errors_through_the_command(tmp_path, capsys, monkeypatch):
    from wdno import experiment

    def raising(error):
        def verb(*args, **kwargs):
            raise error

        return verb

    _data_file(tmp_path / "train.h5")
    argv = ["burgers", "train", "--preset", "tiny", "--data", str(tmp_path)]
    argv += ["--run", str(tmp_path / "run")]
    stopped = TrainingInterrupted(12, tmp_path / "run" / "wdno" / "checkpoints", signal.SIGTERM)
    monkeypatch.setattr(experiment, "train", raising(stopped))
    assert cli.main(argv) == 143
    assert capsys.readouterr().err.strip() == (
        f"wdno: training interrupted (SIGTERM) at step 12; checkpoint in {tmp_path}/run/wdno/"
        "checkpoints; rerun the same command to resume"
    )
    diverged = NonFiniteLossError(37, float("nan"), float("inf"), tmp_path, 30)
    monkeypatch.setattr(experiment, "train", raising(diverged))
    assert cli.main(argv) == 2
    assert capsys.readouterr().err.startswith("wdno: error: training stopped: loss nan, gradient")
    monkeypatch.setattr(experiment, "train", raising(KeyboardInterrupt()))
    assert cli.main(argv) == 130
    assert capsys.readouterr().err.startswith("wdno: interrupted (SIGINT)")
    monkeypatch.setattr(experiment, "train", raising(cli._Terminated()))  # SIGTERM before a job
    assert cli.main(argv) == 143
    assert capsys.readouterr().err.startswith("wdno: interrupted (SIGTERM)")
    # Internal errors keep their traceback: a bug's exception, a ValueError from inside numpy.
    monkeypatch.setattr(experiment, "train", raising(RuntimeError("a bug")))
    with pytest.raises(RuntimeError, match="a bug"):
        cli.main(argv)
    monkeypatch.setattr(experiment, "train", lambda *a, **k: np.zeros(3).reshape(2, 2))
    with pytest.raises(ValueError, match="cannot reshape"):
        cli.main(argv)
    # --debug (or WDNO_DEBUG=1) shows the traceback of a user error too.
    missing = ["burgers", "simulate", "--run", str(tmp_path / "nothing")]
    with pytest.raises(FileNotFoundError, match="train a run first"):
        cli.main(["--debug", *missing])
    monkeypatch.setenv("WDNO_DEBUG", "1")
    with pytest.raises(FileNotFoundError, match="train a run first"):
        cli.main(missing)
