"""Multi-process data parallelism, really run: two CPU processes on localhost, joined by
``jax.distributed`` (``WDNO_DISTRIBUTED=1``), each feeding its half of every global batch, end
with the same parameters as one process fed the whole batches; process 0 alone writes the log,
both write the checkpoints, and a run resumed from them continues exactly."""

import os
import pathlib
import socket
import subprocess
import sys
import textwrap
import time

import numpy as np

REPOSITORY = pathlib.Path(__file__).resolve().parents[1]
NUM_STEPS = 6

# argv: workdir, output file, number of steps, number of training calls (2: stop after 3 steps,
# then resume).
WORKER = textwrap.dedent(
    """
    import dataclasses, sys
    from wdno.training import parallel

    distributed = parallel.initialize_distributed()  # WDNO_DISTRIBUTED and JAX_* from the env
    assert parallel.initialize_distributed() == distributed  # idempotent

    import jax, numpy as np
    from flax import nnx
    from wdno.training import TrainConfig, batches, train

    class Tiny(nnx.Module):
        def __init__(self, channels, *, rngs):
            self.linear = nnx.Linear(channels, channels, rngs=rngs)

        def __call__(self, x, t):
            return self.linear(x) * (1.0 + t[:, None, None, None] / 100.0)

    workdir, output, num_steps, num_calls = sys.argv[1], sys.argv[2], *map(int, sys.argv[3:])
    print("processes", jax.process_count(), "devices", jax.device_count(), flush=True)
    data = np.random.default_rng(0).uniform(-1, 1, size=(16, 4, 4, 2)).astype(np.float32)
    # channel_weights has leading size 2 = the per-process batch: a constant, replicated.
    stream = batches.minibatches(
        data, 4, seed=0, constants={"channel_weights": np.array([1.0, 3.0], np.float32)}
    )
    config = TrainConfig(num_steps=num_steps, learning_rate=1e-2, lr_schedule="constant",
                         ema_start_step=0, ema_every=1, log_every=1, diffusion_steps=100)
    mesh = parallel.data_mesh()
    if num_calls == 2:
        train(Tiny(2, rngs=nnx.Rngs(0)), stream, dataclasses.replace(config, num_steps=3),
              workdir=workdir, mesh=mesh, progress=False)
    # Resumed from step 3 when num_calls == 2 (the fresh initialisation is overwritten).
    result = train(Tiny(2, rngs=nnx.Rngs(0 if num_calls == 1 else 5)), stream, config,
                   workdir=workdir, mesh=mesh, progress=False)
    np.savez(output, *[np.asarray(p) for p in jax.tree.leaves(nnx.state(result.model, nnx.Param))])
"""
)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("localhost", 0))
        return sock.getsockname()[1]


def _start(logs: pathlib.Path, arguments, **environment) -> subprocess.Popen:
    """Start a worker writing its stdout and stderr to ``logs.out`` and ``logs.err``."""
    env = {**os.environ, "PYTHONPATH": str(REPOSITORY), "JAX_PLATFORMS": "cpu", **environment}
    env.pop("XLA_FLAGS", None)  # one CPU device per process
    with logs.with_suffix(".out").open("w") as out, logs.with_suffix(".err").open("w") as err:
        return subprocess.Popen(
            [sys.executable, "-c", WORKER, *map(str, arguments)],
            cwd=REPOSITORY,
            env=env,
            stdout=out,
            stderr=err,
        )


def _finish(processes: dict[pathlib.Path, subprocess.Popen], timeout: float = 120) -> dict:
    """Wait for every worker; if one fails or time runs out, kill the rest and report the
    stderr of all. Returns the stdout of each worker by log path."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        codes = [process.poll() for process in processes.values()]
        if None not in codes or any(code not in (None, 0) for code in codes):
            break
        time.sleep(0.1)
    for process in processes.values():
        if process.poll() is None:
            process.kill()
        process.wait()
    if any(process.returncode != 0 for process in processes.values()):
        report = "\n".join(
            f"--- {logs.name} (exit {process.returncode}) ---\n"
            + logs.with_suffix(".err").read_text()[-3000:]
            for logs, process in processes.items()
        )
        raise AssertionError(f"a training process failed or timed out:\n{report}")
    return {logs: logs.with_suffix(".out").read_text() for logs in processes}


def test_two_processes_train_like_one_process_with_the_global_batch(tmp_path):
    shared, alone = tmp_path / "shared", tmp_path / "alone"
    cluster = {
        "WDNO_DISTRIBUTED": "1",
        "JAX_COORDINATOR_ADDRESS": f"localhost:{_free_port()}",
        "JAX_NUM_PROCESSES": "2",
    }
    logs = [tmp_path / "process0", tmp_path / "process1", tmp_path / "one_process"]
    processes = {
        logs[index]: _start(
            logs[index],
            [shared, tmp_path / f"params{index}.npz", NUM_STEPS, 2],
            JAX_PROCESS_ID=str(index),
            **cluster,
        )
        for index in range(2)
    }
    processes[logs[2]] = _start(
        logs[2], [alone, tmp_path / "reference.npz", NUM_STEPS, 1], WDNO_DISTRIBUTED="0"
    )
    outputs = _finish(processes)
    assert "processes 2 devices 2" in outputs[logs[0]]
    assert "processes 1 devices 1" in outputs[logs[2]]

    reference = np.load(tmp_path / "reference.npz")
    for index in range(2):
        params = np.load(tmp_path / f"params{index}.npz")
        difference = max(float(np.abs(params[k] - reference[k]).max()) for k in reference)
        assert difference < 1e-5, (index, difference)

    # Process 0 alone logs (one header, one row per step, whichever call wrote it), with the
    # losses of the one-process run; both processes took part in the checkpoints at 3 and 6.
    log, log_alone = [
        np.genfromtxt(w / "log.csv", delimiter=",", names=True) for w in (shared, alone)
    ]
    np.testing.assert_array_equal(log["step"], np.arange(1, NUM_STEPS + 1))
    np.testing.assert_allclose(log["loss"], log_alone["loss"], rtol=1e-5)
    assert sorted(p.name for p in (shared / "checkpoints").iterdir()) == ["3", "6"]
    assert (shared / "config.json").exists()
