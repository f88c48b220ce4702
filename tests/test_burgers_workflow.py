"""The Burgers simulation experiment end to end through the ``wdno burgers`` CLI (tiny preset).

One module-scoped ``demo`` run (generate -> train -> simulate -> evaluate -> plot, about two
minutes on two loaded CPU cores) is shared by the tests; the verbs that modify a run act on a copy.
The models are barely trained: the checks are about the pipeline (files, shapes, conditions,
determinism), not accuracy.
"""

from __future__ import annotations

import dataclasses
import json
import math
import shutil

import numpy as np
import pytest
import xarray as xr

from experiments import cli
from systems.burgers import presets
from systems.burgers.task import TASK
from wdno import experiment
from wdno.io import rundir

MODELS = ("wdno", "ddpm", "fno")
NUM_TEST, NUM_TIMES, NUM_X = 4, 81, 120


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("burgers")
    run, data = root / "run", root / "data"
    code = cli.main(["burgers", "demo", "--preset", "tiny", "--run", str(run), "--data", str(data)])
    return code, run, data


def _predictions(run):
    with xr.open_dataset(run / "predictions.nc") as dataset:
        return dataset.load()


def test_demo_writes_the_whole_run(demo_run):
    code, run, _ = demo_run
    assert code == 0
    record = json.loads((run / "run.json").read_text())
    assert record["preset"]["name"] == "tiny" and record["system"] == "burgers"
    assert record["num_train"] == presets.PRESETS["tiny"].num_train
    trained = json.loads((run / "train.json").read_text())
    assert set(trained) == set(MODELS) | {"wdno_control"}
    steps = presets.RUN_PRESETS["tiny"].steps
    for kind in (*MODELS, "wdno_control"):
        assert trained[kind]["steps"] == steps
        assert math.isfinite(trained[kind]["final_loss"])
        for name in ("simulator.json", "normalizer.json", "config.json", "log.csv"):
            assert (run / kind / name).is_file(), (kind, name)
        assert any((run / kind / "checkpoints").iterdir()), kind

    names = ("fields", "per_time_mae", "training_loss", "control_final_states", "control_forces")
    figures = [run / "figures" / f"{n}.png" for n in (*names, "control_J", "control_J_vs_time")]
    for path in figures:
        assert path.is_file() and path.stat().st_size > 1000, path
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_predictions_file(demo_run):
    _, run, _ = demo_run
    dataset = _predictions(run)
    assert dataset["f"].dims == ("sample", "t_force", "x")
    assert dataset["f"].shape == (NUM_TEST, NUM_TIMES - 1, NUM_X)
    truth = dataset["u_true"].values
    for name in ("u_true", *(f"u_{kind}" for kind in MODELS)):
        assert dataset[name].dims == ("sample", "t", "x"), name
        assert dataset[name].shape == (NUM_TEST, NUM_TIMES, NUM_X), name
        assert np.all(np.isfinite(dataset[name].values)), name
    for kind in MODELS:
        # Every simulator returns the given initial state at t = 0, bit for bit.
        np.testing.assert_array_equal(dataset[f"u_{kind}"].values[:, 0], truth[:, 0])
    # The test set itself: the first trajectories of <data>/test.h5.
    test = TASK.read_split(demo_run[2], "test", NUM_TEST)
    np.testing.assert_array_equal(truth, test.state[..., 0])
    np.testing.assert_array_equal(dataset["f"].values, test.control[..., 0])
    np.testing.assert_array_equal(dataset["t"].values, test.coords["t"])
    np.testing.assert_array_equal(dataset["x"].values, test.coords["x"])
    np.testing.assert_array_equal(dataset["t_force"].values, test.coords["t"][:-1])


def test_control_files_and_solver_objective(demo_run):
    # The control part of the demo: every method's J is the Burgers objective of the solver's
    # rollout from the true u0, recomputed here with the solver and numpy.
    from systems.burgers import solver

    _, run, data = demo_run
    summary = json.loads((run / "control.json").read_text())
    tiny = presets.RUN_PRESETS["tiny"]
    assert summary["num_problems"] == tiny.num_control
    # The demo leaves out the solver gradient run to convergence (its slowest part).
    methods = ("wdno", "gradient_equal_time", "hybrid", "no_control", "nearest_training")
    assert set(summary["methods"]) == set(methods)
    assert summary["methods"]["hybrid"]["steps"] == tiny.hybrid_steps
    test = TASK.read_split(data, "test", tiny.num_control)
    train = TASK.read_split(data, "train")
    with xr.open_dataset(run / "control.nc") as dataset:
        dataset = dataset.load()
    np.testing.assert_array_equal(dataset["u_initial"].values, test.state[:, 0, :, 0])
    np.testing.assert_array_equal(dataset["u_target"].values, test.state[:, -1, :, 0])
    assert not dataset["f_no_control"].values.any()
    chosen = summary["methods"]["nearest_training"]["indices"]
    distances = ((train.state[:, 0, :, 0][None] - test.state[:, 0, :, 0][:, None]) ** 2).sum(-1)
    assert chosen == distances.argmin(axis=1).tolist()
    for name in methods:
        force = dataset[f"f_{name}"].values.astype(np.float64)
        assert force.shape == (tiny.num_control, NUM_TIMES - 1, NUM_X)
        for i in range(tiny.num_control):
            u = np.asarray(solver.solve(test.state[i, 0, :, 0], force[i].astype(np.float32)))
            misfit = np.mean((u[-1] - test.state[i, -1, :, 0]) ** 2)
            expected = misfit + 2e-5 * np.sum(force[i] ** 2)
            assert float(dataset[f"misfit_{name}"].values[i]) == pytest.approx(misfit, rel=1e-4)
            energy = float(dataset[f"energy_{name}"].values[i])
            assert energy == pytest.approx(np.sum(force[i] ** 2), rel=1e-4)
            assert float(dataset[f"J_{name}"].values[i]) == pytest.approx(expected, rel=1e-4)
            np.testing.assert_allclose(dataset[f"u_{name}"].values[i], u, rtol=1e-4, atol=1e-4)
    table = (run / "control.md").read_text()
    assert "| WDNO |" in table and "| no control |" in table and "J = 0.0205" in table


def test_control_run_to_convergence(demo_run, tmp_path):
    # `wdno burgers control` adds the converged solver gradient the demo leaves out: exactly
    # gradient_steps Adam steps, and J (solver rollout, recomputed here) below the floor's.
    from systems.burgers import solver
    from wdno.control import experiment as control_experiment

    _, run, data = demo_run
    copy = tmp_path / "run"
    shutil.copytree(run, copy)
    summary = control_experiment.run(TASK, copy, models=(), num=1, progress=False)
    tiny = presets.RUN_PRESETS["tiny"]
    assert set(summary["methods"]) == {"gradient_converged", "no_control", "nearest_training"}
    assert summary["methods"]["gradient_converged"]["steps"] == tiny.gradient_steps
    test = TASK.read_split(data, "test", 1)
    with xr.open_dataset(copy / "control.nc") as dataset:
        force = dataset["f_gradient_converged"].values[0]
        objective = {m: float(dataset[f"J_{m}"].values[0]) for m in summary["methods"]}
    u = np.asarray(solver.solve(test.state[0, 0, :, 0], force))
    expected = np.mean((u[-1] - test.state[0, -1, :, 0]) ** 2) + 2e-5 * np.sum(force**2.0)
    assert objective["gradient_converged"] == pytest.approx(expected, rel=1e-4)
    assert objective["gradient_converged"] < objective["no_control"]


def test_metrics_and_results_table(demo_run):
    _, run, _ = demo_run
    result = json.loads((run / "metrics.json").read_text())
    assert result["num_test"] == NUM_TEST
    assert set(result["metrics"]) == set(MODELS)
    for kind in MODELS:
        assert math.isfinite(result["metrics"][kind]["mse"]), kind
        assert result["metrics"][kind]["mse"] > 0.0
        assert len(result["per_time_mae"][kind]) == NUM_TIMES
    lines = (run / "results.md").read_text().splitlines()
    for kind in MODELS:
        rows = [line for line in lines if line.startswith(f"| {kind} |")]
        assert len(rows) == 1, (kind, lines)


def test_metrics_recomputed_independently_from_the_predictions(demo_run):
    # The paper's metric by hand: mean squared error over t > 0, per model; relative L2 is the
    # mean over samples of ||pred - true|| / ||true|| over t > 0 (numpy only, no wdno code).
    _, run, _ = demo_run
    dataset = _predictions(run)
    result = json.loads((run / "metrics.json").read_text())
    truth = dataset["u_true"].values[:, 1:].astype(np.float64)
    for kind in MODELS:
        pred = dataset[f"u_{kind}"].values[:, 1:].astype(np.float64)
        row = result["metrics"][kind]
        assert row["mse"] == pytest.approx(np.mean((pred - truth) ** 2), rel=1e-5)
        assert row["mae"] == pytest.approx(np.mean(np.abs(pred - truth)), rel=1e-5)
        assert row["max_error"] == pytest.approx(np.max(np.abs(pred - truth)), rel=1e-5)
        norms = np.linalg.norm((pred - truth).reshape(len(pred), -1), axis=1)
        relative = np.mean(norms / np.linalg.norm(truth.reshape(len(truth), -1), axis=1))
        assert row["relative_l2"] == pytest.approx(relative, rel=1e-5)
        # PDEBench's nRMSE: spatial RMS error over the truth's, per sample and time, averaged.
        ratio = np.sqrt(np.mean((pred - truth) ** 2, axis=2) / np.mean(truth**2, axis=2))
        assert row["nrmse"] == pytest.approx(np.mean(ratio), rel=1e-4)
        per_time = np.mean(np.abs(dataset[f"u_{kind}"].values - dataset["u_true"].values), (0, 2))
        np.testing.assert_allclose(result["per_time_mae"][kind], per_time, rtol=1e-5, atol=1e-7)


def test_simulate_evaluate_plot_verbs_on_an_existing_run(demo_run, tmp_path):
    _, run, _ = demo_run
    copy = tmp_path / "run"
    shutil.copytree(run, copy)
    before = _predictions(run)
    for name in ("predictions.nc", "metrics.json", "results.md"):
        (copy / name).unlink()
    shutil.rmtree(copy / "figures")

    assert cli.main(["burgers", "simulate", "--run", str(copy)]) == 0
    after = _predictions(copy)
    # Sampling is seeded by the preset: the rewritten predictions equal the demo's.
    for kind in MODELS:
        np.testing.assert_allclose(after[f"u_{kind}"], before[f"u_{kind}"], rtol=0, atol=1e-5)

    assert cli.main(["burgers", "evaluate", "--run", str(copy)]) == 0
    assert cli.main(["burgers", "plot", "--run", str(copy)]) == 0
    assert set(json.loads((copy / "metrics.json").read_text())["metrics"]) == set(MODELS)
    assert (copy / "results.md").is_file()
    assert len(list((copy / "figures").glob("*.png"))) == 3


def test_train_verb_with_overrides(demo_run, tmp_path):
    # One model, two steps, recorded in run.json; the data come from the demo.
    _, _, data = demo_run
    run = tmp_path / "run"
    args = ["burgers", "train", "--preset", "tiny", "--models", "fno", "--steps", "2"]
    assert cli.main([*args, "--run", str(run), "--data", str(data)]) == 0
    record = rundir.read_run(run)
    assert record.preset.steps == 2 and record.preset.name == "tiny"
    assert record.data_dir == data.absolute()
    trained = json.loads((run / "train.json").read_text())
    assert list(trained) == ["fno"] and trained["fno"]["steps"] == 2
    assert math.isfinite(trained["fno"]["final_loss"])
    assert not (run / "wdno").exists()
    # Training a finished model again changes nothing (its record keeps the real loss and time).
    assert cli.main([*args, "--run", str(run), "--data", str(data)]) == 0
    assert json.loads((run / "train.json").read_text()) == trained
    # More steps resume from the checkpoint; the time reported is the total.
    args[-1] = "3"
    assert cli.main([*args, "--run", str(run), "--data", str(data)]) == 0
    resumed = json.loads((run / "train.json").read_text())["fno"]
    assert resumed["steps"] == 3 and math.isfinite(resumed["final_loss"])
    assert resumed["train_seconds"] > trained["fno"]["train_seconds"]
    with (run / "fno" / "log.csv").open() as log:
        assert [row.split(",")[0] for row in log.read().splitlines()[1:]] == ["1", "2", "3"]


def test_verbs_on_a_missing_run_fail_clearly(tmp_path, capsys):
    # One line and status 2 (tests/test_reliability.py has the whole table of bad inputs).
    missing = str(tmp_path / "nothing")
    assert cli.main(["burgers", "simulate", "--run", missing]) == 2
    expected = f"{missing}/run.json not found: train a run first (`wdno burgers train`)"
    assert capsys.readouterr().err == f"wdno: error: {expected}\n"
    assert cli.main(["burgers", "evaluate", "--run", missing]) == 2
    assert "predictions.nc not found" in capsys.readouterr().err
    with pytest.raises(FileNotFoundError, match="train a run first"):  # --debug: the traceback
        cli.main(["--debug", "burgers", "simulate", "--run", missing])
    assert not (tmp_path / "nothing").exists()


def test_cli_rejects_unknown_models(capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["burgers", "train", "--preset", "tiny", "--models", "foo"])
    assert exit_info.value.code == 2
    assert "expected a comma list" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli.main(["burgers", "demo", "--preset", "tiny", "--models", "wdno,foo"])


def test_run_preset_validates():
    tiny = presets.RUN_PRESETS["tiny"]
    with pytest.raises(ValueError, match="RunPreset.steps"):
        dataclasses.replace(tiny, steps=0)
    with pytest.raises(ValueError, match="data preset 'huge'"):
        bad = dataclasses.replace(tiny, data="huge")
        dataclasses.replace(TASK, presets={**TASK.presets, "tiny": bad})
    with pytest.raises(ValueError, match="unknown preset 'huge'"):
        TASK.preset("huge")
    with pytest.raises(ValueError, match="models"):
        experiment.train(TASK, "unused", tiny, "unused", models=("foo",))


def test_paper_preset_matches_the_paper():
    # Spec §6 / §8.1: 40,000 training trajectories, batch 16, the paper's U-Net (dim 128, mults
    # (1, 2, 4, 8), GroupNorm(1)), the bior2.4 one-level periodic transform and 50 DDIM steps.
    paper = presets.RUN_PRESETS["paper"]
    assert presets.PRESETS[paper.data].num_train == 40_000
    assert presets.PRESETS[paper.data].num_test == 8_000
    assert paper.num_train is None  # all of them
    assert paper.batch_size == 16 and paper.learning_rate == 1e-4
    assert (paper.unet.dim, paper.unet.dim_mults, paper.unet.num_groups) == (128, (1, 2, 4, 8), 1)
    enc = paper.encoding
    assert (enc.wavelet, enc.mode, enc.level) == ("bior2.4", "periodization", 1)
    assert paper.sampling_steps == 50
    assert paper.scale_round_up  # the original's int(max) + 1 channel scales
    assert set(presets.RUN_PRESETS) == {"tiny", "cpu", "cpu-hour", "paper"}


def test_paper_preset_ends_at_zero_learning_rate():
    # The released periodic cosine lr (1 + cos(pi step / 10k)) / 2 is back at its peak at 100k
    # steps; the original sampled its step-90k checkpoint, where the rate is 0. Our paper run
    # ends there, so the weights it samples were trained to a zero learning rate.
    from wdno.training import learning_rate_schedule

    config = presets.RUN_PRESETS["paper"].train_config
    schedule = learning_rate_schedule(config)
    assert config.num_steps == 90_000
    assert float(schedule(0)) == pytest.approx(1e-4)
    assert float(schedule(config.num_steps - 1)) < 1e-4 * 1e-7
    assert float(schedule(100_000)) == pytest.approx(1e-4)  # where 100k steps would have ended


@pytest.mark.slow  # make test under 10 minutes; the control notebook runs by default
def test_burgers_simulation_notebook(demo_run, tmp_path, monkeypatch, run_notebook):
    # The notebook runs on a copy of the demo's run and data: its train step finds the models
    # trained (nothing to do), then simulates, evaluates and plots with the library calls.
    _, run, data = demo_run
    monkeypatch.setenv("MPLBACKEND", "Agg")
    shutil.copytree(run, tmp_path / "run")
    shutil.copytree(data, tmp_path / "data")
    for name in ("predictions.nc", "metrics.json", "results.md"):
        (tmp_path / "run" / name).unlink()
    overrides = (
        f"RUN_DIR = pathlib.Path({str(tmp_path / 'run')!r})\n"
        f"DATA_DIR = pathlib.Path({str(tmp_path / 'data')!r})"
    )
    notebook, text = run_notebook("burgers_simulation.ipynb", overrides, tmp_path)
    assert "channels: ['u" in text and "'u(t=0)" in text  # state, control, condition bands
    assert "DiffusionSimulator at step" in text
    for kind in MODELS:
        assert f"| {kind} |" in text, kind
    images = [
        output
        for cell in notebook.cells
        for output in cell.get("outputs", [])
        if "image/png" in output.get("data", {})
    ]
    assert len(images) == 2
    for name in ("predictions.nc", "metrics.json", "results.md", "figures/fields.png"):
        assert (tmp_path / "run" / name).is_file(), name
    assert not (tmp_path / "runs").exists()  # the overrides took effect


def test_burgers_control_notebook(demo_run, tmp_path, monkeypatch, run_notebook):
    # On a copy of the demo's run: its control model is trained, so the notebook goes straight
    # to the controller, the baselines and the custom bounded objective.
    _, run, data = demo_run
    monkeypatch.setenv("MPLBACKEND", "Agg")
    shutil.copytree(run, tmp_path / "run")
    shutil.copytree(data, tmp_path / "data")
    overrides = (
        f"RUN_DIR = pathlib.Path({str(tmp_path / 'run')!r})\n"
        f"DATA_DIR = pathlib.Path({str(tmp_path / 'data')!r})\n"
        "NUM_PROBLEMS = 2"
    )
    notebook, text = run_notebook("burgers_control.ipynb", overrides, tmp_path)
    assert "control model at step" in text
    assert "control (2, 80, 120, 1)" in text
    assert "bounded J of bounded control" in text
    images = [
        output
        for cell in notebook.cells
        for output in cell.get("outputs", [])
        if "image/png" in output.get("data", {})
    ]
    assert len(images) == 1
    assert not (tmp_path / "runs").exists()  # the overrides took effect


def test_default_data_directory_is_the_run_presets_data():
    # `--preset cpu-hour` trains on the cpu data: no second copy under data/burgers-cpu-hour.
    import argparse

    from experiments import _options

    system = _options._System("burgers", lambda: TASK, {})
    for preset, expected in (("cpu-hour", "cpu"), ("cpu", "cpu"), ("tiny", "tiny")):
        args = argparse.Namespace(data=None, preset=preset)
        assert system.data_dir(args).as_posix() == f"data/burgers-{expected}"
