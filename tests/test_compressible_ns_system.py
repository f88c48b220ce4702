"""The compressible Navier-Stokes system (systems/compressible_ns): seeded PDEBench-layout data,
PDEBench's own files, the Task and the CLI demo (the solver: test_compressible_ns_solver.py)."""

from __future__ import annotations

import json

import h5py
import jax
import numpy as np
import pytest
import xarray as xr

from experiments import cli
from systems.advection import metrics
from systems.compressible_ns import generate, initial_states, presets, solver
from systems.compressible_ns.task import TASK, read_split

TINY = presets.PRESETS["tiny"]
CONFIG = TINY.solver
FIELDS = ("density", "velocity", "pressure")


# ---- generation ---------------------------------------------------------------------------------
def test_generation_is_reproducible_and_batch_independent():
    # Batches of the tiny preset's size (8) and of one sample: the shapes the other tests (and
    # the demo's generation) use, so that the solver compiles twice in this file.
    keys = generate.sample_keys(2, "train", np.arange(TINY.batch_size))
    first = jax.device_get(generate.generate_batch(keys, CONFIG))
    again = jax.device_get(generate.generate_batch(keys, CONFIG))
    for key in generate.FIELD_KEYS:
        assert first[key].shape == (TINY.batch_size, CONFIG.num_outputs + 1, CONFIG.num_cells)
        np.testing.assert_array_equal(first[key], again[key])
        assert np.all(np.isfinite(first[key]))
    assert np.all(first["density"] > 0) and np.all(first["pressure"] > 0)
    assert np.all(first["num_steps"] >= CONFIG.num_outputs)
    # Sample 4 alone, or at another position of a batch, is the same trajectory.
    order = np.roll(np.arange(TINY.batch_size), 3)  # sample 4 at position 7
    shuffled = jax.device_get(generate.generate_batch(keys[order], CONFIG))
    alone = jax.device_get(generate.generate_batch(keys[4:5], CONFIG))
    for key in generate.FIELD_KEYS:
        np.testing.assert_allclose(shuffled[key][7], first[key][4], rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(alone[key][0], first[key][4], rtol=1e-5, atol=1e-6)
    assert alone["num_steps"][0] == shuffled["num_steps"][7] == first["num_steps"][4]
    # Splits are disjoint streams.
    other = jax.device_get(generate.generate_batch(generate.sample_keys(2, "test", [0]), CONFIG))
    assert not np.allclose(other["density"][0, 0], first["density"][0, 0])
    with pytest.raises(ValueError, match="split"):
        generate.sample_keys(0, "valid", [0])


def test_generated_file_is_pdebench_layout_and_matches_solve(tmp_path):
    # 9 samples in batches of 8 (the last padded), then again one by one.
    path = TASK.generate(tmp_path, "train", "tiny", num=9, seed=1, progress=False)
    assert path == tmp_path / "train.hdf5"
    levels, cells = CONFIG.num_outputs + 1, CONFIG.num_cells
    with h5py.File(path, "r") as file:
        for key in ("density", "Vx", "pressure"):
            assert file[key].shape == (9, levels, cells)
        np.testing.assert_allclose(file["x-coordinate"][...], CONFIG.cell_centers(), rtol=1e-6)
        times = file["t-coordinate"][...]
        assert times.shape == (levels + 1,)  # PDEBench: one more than the levels
        np.testing.assert_allclose(times[:levels], CONFIG.output_times(), atol=1e-6)
        attrs = dict(file.attrs)
        density = file["density"][...]
    assert attrs["gamma"] == pytest.approx(5 / 3) and attrs["seed"] == 1
    assert attrs["eta"] == attrs["zeta"] == 1e-8 and attrs["boundary"] == "outgoing"
    assert solver.SolverConfig(**json.loads(attrs["solver"])) == CONFIG
    # Through read_split: (N, T, X, 3), equal to a direct single-sample solve.
    data = read_split(tmp_path, "train", 3)
    assert data.control is None and data.state.shape == (3, levels, cells, 3)
    np.testing.assert_array_equal(data.state[..., 0], density[:3])
    np.testing.assert_allclose(data.coords["t"], CONFIG.output_times(), atol=1e-6)
    key = generate.sample_keys(1, "train", [2])[0]
    direct = solver.solve(initial_states.random_initial_state(key, CONFIG), CONFIG)
    np.testing.assert_allclose(data.state[2], np.asarray(direct), rtol=1e-5, atol=1e-6)
    # The batch size does not change the file.
    TASK.generate(tmp_path / "b", "train", "tiny", num=9, seed=1, batch_size=1, progress=False)
    one_by_one = read_split(tmp_path / "b", "train").state
    np.testing.assert_allclose(
        one_by_one, read_split(tmp_path, "train").state, rtol=1e-5, atol=1e-6
    )
    with pytest.raises(FileNotFoundError, match="generate"):
        read_split(tmp_path, "test")
    with pytest.raises(ValueError, match="requested"):
        read_split(tmp_path, "train", 10)


def test_periodic_boundary_option(tmp_path):
    path = TASK.generate(tmp_path, "test", "tiny", num=2, boundary="periodic", progress=False)
    with h5py.File(path, "r") as file:
        assert file.attrs["boundary"] == "periodic"
        mass = file["density"][...].sum(-1)
    np.testing.assert_allclose(mass, mass[:, :1].repeat(mass.shape[1], 1), rtol=1e-4)


def test_pdebench_own_layout_is_read(tmp_path):
    # A file written the way PDEBench publishes 1D_CFD_Shock_*_trans_Train.hdf5: density, Vx,
    # pressure (N, T, X), x-coordinate (X,), t-coordinate (T + 1,), no attributes; 10 samples ->
    # 9 train, 1 test.
    rng = np.random.default_rng(0)
    arrays = {key: rng.random((10, 6, 16)).astype(np.float32) for key in ("density", "Vx",
                                                                          "pressure")}  # fmt: skip
    x = -1 + (np.arange(16) + 0.5) * 2 / 16
    t = np.arange(7) * 0.01
    path = tmp_path / "1D_CFD_Shock_Eta1.e-8_Zeta1.e-8_trans_Train.hdf5"
    with h5py.File(path, "w") as file:
        for key, value in arrays.items():
            file[key] = value
        file["x-coordinate"], file["t-coordinate"] = x, t
    train, test = read_split(path, "train"), read_split(path, "test")
    assert train.control is None and train.state.shape == (9, 6, 16, 3)
    for channel, key in enumerate(("density", "Vx", "pressure")):
        np.testing.assert_array_equal(train.state[..., channel], arrays[key][:9])
        np.testing.assert_array_equal(test.state[..., channel], arrays[key][9:])
    np.testing.assert_allclose(test.coords["t"], t[:6])
    np.testing.assert_allclose(test.coords["x"], x)
    assert read_split(path, "train", limit=4).state.shape[0] == 4
    with pytest.raises(ValueError, match="requested"):
        read_split(path, "test", limit=2)
    assert TASK.data_file(path, "test") == path
    with pytest.raises(ValueError, match="file"):
        TASK.generate(path, "train", "tiny", progress=False)


def test_task_and_presets():
    assert TASK.name == "compressible-ns" and "compressible-ns" in cli.build_parser().format_help()
    assert [f.name for f in TASK.state_fields] == list(FIELDS) and not TASK.control_fields
    assert TASK.transform.mode == "symmetric" and TASK.past_frames == 1
    for name, preset in presets.RUN_PRESETS.items():
        assert preset.data in presets.PRESETS and preset.encoding == TASK.transform, name
    assert presets.PRESETS["paper"].solver == solver.SolverConfig()  # PDEBench's grid


# ---- the CLI demo -------------------------------------------------------------------------------
# The default suite runs the demo with the FNO alone (every verb, no control, the data files);
# the marked test runs all three models (the U-Nets compile for about a minute on 2 CPUs).
def _demo(root, models):
    run, data = root / "run", root / "data"
    arguments = ["--preset", "tiny", "--run", str(run), "--data", str(data), "--models", models]
    assert cli.main(["compressible-ns", "demo", *arguments]) == 0
    return run, data


def _check_run(run, data, models):
    assert (data / "train.hdf5").is_file() and (data / "test.hdf5").is_file()
    record = json.loads((run / "run.json").read_text())
    assert record["system"] == "compressible-ns" and record["preset"]["name"] == "tiny"
    # With WDNO the demo also trains its control model and solves the inverse problem.
    control = {"wdno_control"} if "wdno" in models else set()
    assert set(json.loads((run / "train.json").read_text())) == set(models) | control
    assert (run / "control.md").is_file() == bool(control)
    names = [f"fields_{field}" for field in FIELDS] + ["per_time_mae", "training_loss"]
    for name in names:
        assert (run / "figures" / f"{name}.png").stat().st_size > 1000
    result = json.loads((run / "metrics.json").read_text())
    assert set(result["metrics"]) == set(models)
    for row in result["metrics"].values():
        assert {"mse", "mae", "max_error"} <= set(row)
    assert "Paper (" in (run / "results.md").read_text()
    with xr.open_dataset(run / "predictions.nc") as dataset:
        names = {f"{field}_{suffix}" for field in FIELDS for suffix in ("true", *models)}
        assert set(dataset.data_vars) == names
        truth = np.stack([dataset[f"{field}_true"].values for field in FIELDS], -1)
        assert truth.shape == (4, CONFIG.num_outputs + 1, CONFIG.num_cells, 3)
        for model in models:
            prediction = dataset[f"density_{model}"].values
            np.testing.assert_array_equal(prediction[:, 0], truth[:, 0, :, 0])
            assert np.all(np.isfinite(prediction))
    np.testing.assert_array_equal(truth, read_split(data, "test", 4).state)
    scores = metrics.run_nrmse(TASK, run)
    assert set(scores) == set(models) and all(np.isfinite(list(scores.values())))


def test_demo_writes_the_whole_run(tmp_path):
    _check_run(*_demo(tmp_path, "fno"), ["fno"])


@pytest.mark.slow
def test_demo_of_every_model(tmp_path):
    _check_run(*_demo(tmp_path, "wdno,ddpm,fno"), ["wdno", "ddpm", "fno"])
