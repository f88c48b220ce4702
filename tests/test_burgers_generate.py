"""Burgers data generation: determinism, disjoint splits, stored f drives stored u, nesting,
resuming an interrupted (or killed) generation, CLI."""

from __future__ import annotations

import json
import os
import pathlib
import signal
import subprocess
import sys
import textwrap
import time

import jax
import numpy as np
import pytest

from experiments import cli
from systems.burgers import generate, grid, solver
from wdno import interrupts
from wdno.io import data

REPOSITORY = pathlib.Path(__file__).resolve().parents[1]

FAST = solver.SolverConfig(end_time=0.8, steps_per_interval=8)


def test_samples_do_not_depend_on_batch_size():
    sampling = generate.SamplingConfig()
    whole = generate.generate_batch(generate.sample_keys(5, "train", np.arange(4)), sampling, FAST)
    parts = [
        generate.generate_batch(
            generate.sample_keys(5, "train", np.arange(i, i + 2)), sampling, FAST
        )
        for i in (0, 2)
    ]
    for name, values in whole.items():
        joined = np.concatenate([np.asarray(part[name]) for part in parts])
        if name == "u":
            np.testing.assert_allclose(joined, values, atol=1e-5)
        else:
            np.testing.assert_array_equal(joined, values)


def test_train_and_test_streams_are_disjoint():
    sampling = generate.SamplingConfig()
    draw = jax.jit(jax.vmap(lambda key: generate.sample_parameters(key, sampling)))
    rows = {}
    for split in generate.SPLITS:
        parameters = draw(generate.sample_keys(0, split, np.arange(2000)))
        rows[split] = {
            np.concatenate([np.ravel(v[i]) for v in parameters.values()]).tobytes()
            for i in range(2000)
        }
        assert len(rows[split]) == 2000  # no repeats inside a split either
    assert not rows["train"] & rows["test"]


def test_sampled_ranges_match_the_paper():
    parameters = jax.vmap(generate.sample_parameters)(
        generate.sample_keys(1, "train", np.arange(4000))
    )
    a = np.asarray(parameters["initial_amplitude"])
    assert a[:, 0].min() >= 0 and a[:, 0].max() <= 2 and a[:, 1].min() >= -2 and a[:, 1].max() <= 0
    b = np.asarray(parameters["initial_center"])
    assert (
        0.2 <= b[:, 0].min()
        and b[:, 0].max() <= 0.4
        and 0.6 <= b[:, 1].min()
        and b[:, 1].max() <= 0.8
    )
    on = np.asarray(parameters["force_amplitude"]) != 0
    assert on[:, 0].all() and abs(on[:, 1:].mean() - 0.5) < 0.02
    assert np.asarray(parameters["force_width_t"]).min() >= 0.1


def test_generated_file_is_consistent(tmp_path):
    path = generate.output_path(tmp_path, "test")
    generate.generate(path, "test", 3, seed=2, batch_size=2, solver_config=FAST, progress=False)
    with pytest.raises(FileExistsError):
        generate.generate(path, "test", 3, seed=2, solver_config=FAST, progress=False)
    with generate.open_dataset(path) as reader:
        batch = reader.read(0, 3, list(reader.fields) + list(reader.parameters))
        x, times = reader.coords["x"], reader.coords["t"]
        assert batch["u"].shape == (3, 81, 120) and batch["f"].shape == (3, 80, 120)
        assert reader.attrs["split"] == "test" and reader.attrs["seed"] == 2
    # independent NumPy evaluation of the documented formulas from the stored parameters
    p = {k.split("/")[-1]: v for k, v in batch.items()}
    gauss = lambda z, c, s: np.exp(-((z - c) ** 2) / (2 * s**2))
    u0 = sum(
        p["initial_amplitude"][:, [i]]
        * gauss(x, p["initial_center"][:, [i]], p["initial_width"][:, [i]])
        for i in range(2)
    )
    np.testing.assert_allclose(batch["u"][:, 0], u0, atol=1e-5)
    tau = times[:-1] / times[-1]
    force = np.zeros((3, 80, 120))
    for i in range(8):
        space = gauss(x[None, :], p["force_center_x"][:, [i]], p["force_width_x"][:, [i]])[
            :, None, :
        ]
        time = (
            2
            * gauss(tau[None, :], p["force_center_t"][:, [i]], p["force_width_t"][:, [i]])[
                :, :, None
            ]
        )
        force += p["force_amplitude"][:, i, None, None] * space * time
    np.testing.assert_allclose(batch["f"], force, atol=1e-5)
    # the stored (coarse) u0 and f drive the solver to the stored u (spec pitfall 1 avoided);
    # the coarse inputs are re-interpolated, so agreement is to interpolation accuracy
    again = jax.vmap(lambda a, b: solver.solve(a, b, FAST))(batch["u"][:, 0], batch["f"])
    error = np.linalg.norm(np.asarray(again) - batch["u"]) / np.linalg.norm(batch["u"])
    assert error < 1e-3


def test_resolutions_hold_the_same_trajectories(tmp_path):
    for factor in (1, 2):
        generate.generate(
            generate.output_path(tmp_path, "train", factor),
            "train",
            2,
            factor=factor,
            solver_config=FAST,
            progress=False,
        )
    with (
        generate.open_dataset(tmp_path / "train.h5") as base,
        generate.open_dataset(tmp_path / "train_r2.h5") as fine,
    ):
        coarse, dense = base[:], fine[:]
        assert dense["u"].shape == (2, 161, 240)
        np.testing.assert_allclose(dense["u"][:, ::2, ::2], coarse["u"], atol=1e-5)
        np.testing.assert_array_equal(dense["f"][:, ::2, ::2], coarse["f"])
        np.testing.assert_array_equal(dense["f"][:, 1::2, ::2], coarse["f"])  # repeated in time
        np.testing.assert_array_equal(fine.coords["x"][::2], grid.stored_x(1))


def test_interrupted_generation_keeps_its_batches_and_refuses_other_settings(tmp_path):
    # SIGINT during the second batch: that batch is finished and kept, then generation stops.
    real, calls = generate.generate_batch, []

    def interrupting(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            os.kill(os.getpid(), signal.SIGINT)
        return real(*args, **kwargs)

    target = tmp_path / "train.h5"
    partial, record, _ = data.partial_paths(target)
    options = dict(batch_size=2, solver_config=FAST, progress=False)
    generate.generate_batch = interrupting
    try:
        with pytest.raises(interrupts.Interrupted, match="after 4 of 6 trajectories") as caught:
            generate.generate(target, "train", 6, **options)
    finally:
        generate.generate_batch = real
    assert caught.value.exit_status == 130
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "train.h5.partial",
        "train.h5.partial.json",
    ]
    assert json.loads(record.read_text())["written"] == 4
    # Other settings do not continue it, and say which differ.
    with pytest.raises(FileExistsError, match="other settings .*seed 0 then, 1 now"):
        generate.generate(target, "train", 6, seed=1, **options)
    generate.generate(target, "train", 6, **options)  # the same settings: continues
    with generate.open_dataset(target) as reader:
        assert len(reader) == 6 and reader.attrs["batch_size"] == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["train.h5"]


def test_killed_generation_then_rerun_gives_the_same_file(tmp_path):
    # A generation process killed outright (SIGKILL: no handler runs) after its first batch;
    # rerunning the same call continues it, and the file equals an uninterrupted one, byte for
    # byte. The in-process calls share the compilation of the tests above.
    target = tmp_path / "killed" / "train.h5"
    partial, record, lock_path = data.partial_paths(target)
    script = textwrap.dedent(f"""
        import time
        from systems.burgers import generate, solver
        real = generate.generate_batch
        def slow(*args, **kwargs):
            result = real(*args, **kwargs)
            time.sleep(0.3)
            return result
        generate.generate_batch = slow
        generate.generate({str(target)!r}, "train", 6, batch_size=2, progress=False,
                          solver_config=solver.SolverConfig(end_time=0.8, steps_per_interval=8))
    """)
    environment = {**os.environ, "PYTHONPATH": str(REPOSITORY), "JAX_PLATFORMS": "cpu"}
    process = subprocess.Popen([sys.executable, "-c", script], cwd=REPOSITORY, env=environment)
    deadline, written = time.monotonic() + 120, 0
    while written < 2 and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
        if record.exists():
            written = json.loads(record.read_text())["written"]
    process.kill()
    process.wait()
    assert 2 <= written < 6 and not target.exists() and partial.exists() and lock_path.exists()

    real, calls = generate.generate_batch, []

    def counted(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    generate.generate_batch = counted
    try:  # the dead process's lock is stale; the kept batches are not generated again
        generate.generate(target, "train", 6, batch_size=2, solver_config=FAST, progress=False)
    finally:
        generate.generate_batch = real
    assert len(calls) <= 2, calls
    assert sorted(p.name for p in target.parent.iterdir()) == ["train.h5"]
    whole = tmp_path / "whole" / "train.h5"
    generate.generate(whole, "train", 6, batch_size=2, solver_config=FAST, progress=False)
    assert target.read_bytes() == whole.read_bytes()


def test_cli_generate_and_export(tmp_path, capsys):
    import xarray as xr

    out = tmp_path / "burgers"
    args = [
        "burgers",
        "generate",
        "--split",
        "test",
        "--num",
        "2",
        "--out",
        str(out),
        "--preset",
        "tiny",
    ]
    assert cli.main(args) == 0
    capsys.readouterr()
    assert cli.main(args) == 2  # refuses to overwrite, in one line
    assert capsys.readouterr().err.startswith(f"wdno: error: {out / 'test.h5'} already exists")
    assert cli.main(["burgers", "export", str(out / "test.h5"), str(tmp_path / "test.nc")]) == 0
    with xr.open_dataset(tmp_path / "test.nc") as dataset:
        assert dataset["u"].dims == ("sample", "t", "x") and dataset["f"].dims == (
            "sample",
            "t_force",
            "x",
        )
        assert dataset["u"].shape == (2, 81, 120) and dataset["t"].attrs["units"] == "1"
    assert cli.main(["burgers"]) == 2
    assert "generate" in capsys.readouterr().out


def test_parameters_do_not_depend_on_x64_mode():
    keys = generate.sample_keys(0, "test", np.arange(8))
    draw = jax.vmap(generate.sample_parameters)
    default = draw(keys)
    with jax.enable_x64():
        wide = draw(keys)
    for name, values in default.items():
        np.testing.assert_array_equal(np.asarray(wide[name]), np.asarray(values), err_msg=name)
