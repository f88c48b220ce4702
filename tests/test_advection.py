"""The advection system (systems/advection): exact solver, PDEBench data files, the CLI demo."""

from __future__ import annotations

import json

import h5py
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import xarray as xr

from experiments import cli
from systems.advection import generate, metrics, presets, solver
from systems.advection.task import TASK, read_split

jax.config.update("jax_enable_x64", False)
TINY = presets.PRESETS["tiny"]


# ---- solver -------------------------------------------------------------------------------------
def test_single_sine_matches_the_closed_form():
    # u0 = sin(2 pi 3 x + 0.4) moves to sin(2 pi 3 (x - beta t) + 0.4), evaluated directly.
    config = solver.SolverConfig(beta=0.4, num_points=64, num_times=11, end_time=2.0)
    x, t = solver.grid_x(config), solver.grid_times(config)
    u = solver.solve(jnp.sin(2 * np.pi * 3 * x + 0.4), config)
    exact = np.sin(2 * np.pi * 3 * (x[None] - 0.4 * t[:, None].astype(np.float64)) + 0.4)
    np.testing.assert_allclose(np.asarray(u), exact, atol=2e-5)


def test_shift_by_one_cell_is_a_roll_and_a_period_is_the_identity():
    config = solver.SolverConfig(num_points=32, num_times=3)
    keys = generate.sample_keys(3, "train", np.arange(4))
    u0 = generate.generate_batch(keys, generate.SamplingConfig(), config)["tensor"][:, 0]
    dx = config.dx
    for sample in np.asarray(u0):
        moved = solver.shift(jnp.asarray(sample), jnp.array([dx, 5 * dx, 1.0]))
        np.testing.assert_allclose(moved[0], np.roll(sample, 1), atol=1e-5)
        np.testing.assert_allclose(moved[1], np.roll(sample, 5), atol=1e-5)
        np.testing.assert_allclose(moved[2], sample, atol=1e-5)  # beta t = L: periodic
    # Through solve: beta dt = dx moves one cell per level.
    one_cell = solver.SolverConfig(beta=dx / 0.25, num_points=32, num_times=3, end_time=0.5)
    u = solver.solve(u0[0], one_cell)
    np.testing.assert_allclose(u[2], np.roll(np.asarray(u0[0]), 2), atol=1e-5)


def test_mass_and_energy_are_conserved_and_batches_are_refused():
    config = TINY.solver
    keys = generate.sample_keys(0, "test", np.arange(8))
    u = np.asarray(generate.generate_batch(keys, generate.SamplingConfig(), config)["tensor"])
    mass = u.sum(-1)
    np.testing.assert_allclose(mass, mass[:, :1].repeat(u.shape[1], 1), atol=1e-4)
    # Below the Nyquist mode the shift is unitary, so a trigonometric state keeps its L2 norm
    # (a windowed or |.| state has Nyquist content, whose real part alone is kept).
    smooth = generate.SamplingConfig(absolute_probability=0.0, window_probability=0.0)
    u = np.asarray(generate.generate_batch(keys, smooth, config)["tensor"])
    energy = (u**2).sum(-1)
    np.testing.assert_allclose(energy, energy[:, :1].repeat(u.shape[1], 1), rtol=1e-4)
    with pytest.raises(ValueError, match="vmap"):
        solver.solve(jnp.zeros((2, config.num_points)), config)


def test_initial_states_follow_pdebench_and_are_reproducible():
    config = solver.SolverConfig(num_points=256, num_times=2)
    sampling = generate.SamplingConfig(window_probability=1.0, absolute_probability=1.0)
    keys = generate.sample_keys(0, "train", np.arange(16))
    first = generate.generate_batch(keys, sampling, config)
    again = generate.generate_batch(keys, sampling, config)
    np.testing.assert_array_equal(first["tensor"], again["tensor"])
    u0, x = np.asarray(first["tensor"][:, 0]), solver.grid_x(config)
    assert np.all(first["mode_count"].sum(-1) == sampling.num_choices)
    # |.| then a sign: each state has one sign; the window vanishes outside [xl, xr].
    assert np.all((u0 * first["sign"][:, None]) >= -1e-6)
    for sample, right in zip(u0, np.asarray(first["window_right"]), strict=True):
        assert np.all(np.abs(sample[x > right + 0.1]) < 1e-4)
    other = generate.generate_batch(
        generate.sample_keys(0, "test", np.arange(16)), sampling, config
    )
    assert not np.allclose(first["tensor"], other["tensor"])  # disjoint split streams
    # One sample does not depend on its batch.
    alone = generate.generate_batch(keys[3:4], sampling, config)
    np.testing.assert_allclose(alone["tensor"][0], first["tensor"][3], atol=1e-6)


def test_nrmse_matches_a_hand_computation():
    # true = 1 everywhere, pred = 1 + 0.5 on sample 0 and 1 - 0.1 on sample 1, t > 0:
    # per-(sample, t) spatial norms ratio 0.5 and 0.1 -> mean 0.3.
    true = np.ones((2, 3, 8, 1), np.float32)
    pred = true.copy()
    pred[0] += 0.5
    pred[1] -= 0.1
    pred[:, 0] = 99.0  # the given initial state is skipped
    np.testing.assert_allclose(metrics.nrmse(pred, true), 0.3, rtol=1e-6)


# ---- data ---------------------------------------------------------------------------------------
def test_pdebench_own_layout_is_read(tmp_path):
    # A file written the way PDEBench publishes 1D_Advection_Sols_beta0.1.hdf5: tensor (N, T, X),
    # x-coordinate (X,), t-coordinate (T + 1,), no attributes; 10 samples -> 9 train, 1 test.
    rng = np.random.default_rng(0)
    tensor = rng.standard_normal((10, 6, 16)).astype(np.float32)
    x = (np.arange(16) + 0.5) / 16
    t = np.arange(7) * 0.01
    path = tmp_path / "1D_Advection_Sols_beta0.1.hdf5"
    with h5py.File(path, "w") as file:
        file["tensor"], file["x-coordinate"], file["t-coordinate"] = tensor, x, t
    train, test = read_split(path, "train"), read_split(path, "test")
    assert train.control is None and train.state.shape == (9, 6, 16, 1)
    np.testing.assert_array_equal(train.state[..., 0], tensor[:9])
    np.testing.assert_array_equal(test.state[..., 0], tensor[9:])
    np.testing.assert_allclose(test.coords["t"], t[:6])
    np.testing.assert_allclose(test.coords["x"], x)
    assert read_split(path, "train", limit=4).state.shape[0] == 4
    with pytest.raises(ValueError, match="requested"):
        read_split(path, "test", limit=2)
    assert TASK.data_file(path, "test") == path


def test_generated_file_has_pdebench_keys(tmp_path):
    path = TASK.generate(tmp_path, "train", "tiny", num=5, seed=1, beta=0.4, progress=False)
    assert path == tmp_path / "train.hdf5"
    with h5py.File(path, "r") as file:
        assert file["tensor"].shape == (5, TINY.solver.num_times, TINY.solver.num_points)
        assert file["t-coordinate"].shape == (TINY.solver.num_times + 1,)
        np.testing.assert_allclose(file["x-coordinate"][...], solver.grid_x(TINY.solver))
        assert file.attrs["beta"] == 0.4
        tensor = file["tensor"][...]
    config = solver.SolverConfig(**{**json.loads(h5py.File(path)["/"].attrs["solver"])})
    keys = generate.sample_keys(1, "train", np.arange(5))
    expected = generate.generate_batch(keys, generate.SamplingConfig(), config)["tensor"]
    np.testing.assert_allclose(tensor, expected, atol=1e-6)
    data = read_split(tmp_path, "train", 3)
    np.testing.assert_array_equal(data.state[..., 0], tensor[:3])
    with pytest.raises(FileNotFoundError, match="generate"):
        read_split(tmp_path, "test")


# ---- the CLI demo -------------------------------------------------------------------------------
# The default suite runs the demo with the FNO alone (seconds: every verb, no control, the data
# files); the marked test runs all three models (the U-Nets compile for about a minute on 2 CPUs).
def _demo(root, models):
    run, data = root / "run", root / "data"
    arguments = ["--preset", "tiny", "--run", str(run), "--data", str(data), "--models", models]
    assert cli.main(["advection", "demo", *arguments]) == 0
    return run, data


def _check_run(run, data, models):
    assert (data / "train.hdf5").is_file() and (data / "test.hdf5").is_file()
    record = json.loads((run / "run.json").read_text())
    assert record["system"] == "advection" and record["preset"]["name"] == "tiny"
    assert set(json.loads((run / "train.json").read_text())) == set(models)
    assert not (run / "control.md").exists()  # no control task
    for name in ("fields", "per_time_mae", "training_loss"):
        assert (run / "figures" / f"{name}.png").stat().st_size > 1000
    result = json.loads((run / "metrics.json").read_text())
    assert set(result["metrics"]) == set(models)
    with xr.open_dataset(run / "predictions.nc") as dataset:
        assert set(dataset.data_vars) == {"u_true", *(f"u_{m}" for m in models)}
        truth = dataset["u_true"].values
        assert truth.shape == (4, TINY.solver.num_times, TINY.solver.num_points)
        for model in models:
            prediction = dataset[f"u_{model}"].values
            np.testing.assert_array_equal(prediction[:, 0], truth[:, 0])
            assert np.all(np.isfinite(prediction))
    np.testing.assert_array_equal(truth, read_split(data, "test", 4).state[..., 0])
    scores = metrics.run_nrmse(TASK, run)
    assert set(scores) == set(models) and all(np.isfinite(list(scores.values())))


def test_demo_writes_the_whole_run(tmp_path):
    _check_run(*_demo(tmp_path, "fno"), ["fno"])


@pytest.mark.slow
def test_demo_of_every_model(tmp_path):
    _check_run(*_demo(tmp_path, "wdno,ddpm,fno"), ["wdno", "ddpm", "fno"])
