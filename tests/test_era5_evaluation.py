"""ERA5 in the generic driver's evaluate and plot steps: the persistence and climatology rows and
the WeatherBench metrics per lead time, checked against numpy by hand on a run whose forecasts are
stand-ins (no training, so this stays fast): "wdno" is the truth plus 0.5 K at every forecast
hour, "fno" the truth itself."""

from __future__ import annotations

import dataclasses
import shutil

import numpy as np
import pytest
import xarray as xr

from systems.era5 import task
from wdno import experiment
from wdno.evaluation import maps
from wdno.io import rundir
from wdno.task import Scoring

pytest.importorskip("zarr")

PAST = task.PAST_HOURS
OFFSET = 0.5  # K: the stand-in WDNO's error at every forecast hour
NUM_TEST = 4


def _write_predictions(run, truth, forecasts, coords):
    dims = ("sample", *task.TASK.dims)
    variables = {"t2m_true": (dims, truth[..., 0])}
    variables.update({f"t2m_{name}": (dims, f[..., 0]) for name, f in forecasts.items()})
    xr.Dataset(
        variables,
        coords={"sample": np.arange(len(truth)), **coords},
        attrs={"models": ",".join(forecasts)},
    ).to_netcdf(run / "predictions.nc")


@pytest.fixture(scope="module")
def scored(tmp_path_factory):
    folder = tmp_path_factory.mktemp("era5-evaluation")
    data, run = folder / "data", folder / "run"
    for split in ("train", "test"):
        task.generate(data, split, "tiny", progress=False)
    run.mkdir()
    rundir.write_run(
        run, system="era5", preset=task.TASK.preset("tiny"), data_dir=data, num_train=0
    )
    test = task.read_split(data, "test", NUM_TEST)
    truth = test.state
    wdno = truth.copy()
    wdno[:, PAST:] += OFFSET
    _write_predictions(run, truth, {"wdno": wdno, "fno": truth.copy()}, test.coords)
    for name in ("wdno", "fno"):  # the loss-curve figure reads the training logs
        (run / name).mkdir()
        (run / name / "log.csv").write_text("step,loss\n1,1.0\n2,0.5\n")
    result = experiment.evaluate(task.TASK, run)
    return run, data, truth, result


def _weights(latitude):
    weights = np.cos(np.deg2rad(np.asarray(latitude, np.float64)))
    return weights / weights.mean()


def _hand_climatology(data_dir):
    """Hour-of-day means of the training windows' frames, each valid time once, by dictionary."""
    train = task.read_windows(data_dir, "train")
    frames = {}
    for window, times in zip(train.values, train.valid_times, strict=True):
        for frame, time in zip(window, times, strict=True):
            frames.setdefault(time, frame.astype(np.float64))
    by_hour = {}
    for time, frame in frames.items():
        by_hour.setdefault(int(time.astype("datetime64[h]").astype(int)) % 24, []).append(frame)
    return {hour: np.mean(stack, axis=0) for hour, stack in by_hour.items()}


def test_the_baselines_are_rows_beside_the_models(scored):
    run, _, truth, result = scored
    assert list(result["metrics"]) == ["wdno", "fno", "persistence", "climatology"]
    assert result["baselines"] == ["persistence", "climatology"]
    # The MSE over the 20 forecast hours, like the models': persistence by hand.
    forecast = np.repeat(truth[:, PAST - 1 : PAST], 32 - PAST, axis=1).astype(np.float64)
    mse = np.mean((forecast - truth[:, PAST:]) ** 2)
    assert result["metrics"]["persistence"]["mse"] == pytest.approx(mse, rel=1e-5)
    assert result["metrics"]["wdno"]["mse"] == pytest.approx(OFFSET**2, rel=1e-4)
    assert "train_s" not in result["metrics"]["persistence"]
    text = (run / "results.md").read_text()
    for row in ("| wdno |", "| persistence |", "| climatology |"):
        assert text.count(row) == 4  # the main table and the three per-lead tables
    assert "## latitude-weighted RMSE [K] by lead time" in text
    assert "| model | +1 h | +2 h |" in text and "+20 h |" in text


def test_persistence_per_lead_time_by_hand(scored):
    _, data, truth, result = scored
    assert result["lead_times"] == list(range(1, 21))
    latitude = task.read_split(data, "test", 1).coords["latitude"]
    weights = _weights(latitude)[None, :, None]
    last = truth[:, PAST - 1, ..., 0].astype(np.float64)  # (N, lat, lon)
    for lead in range(1, 21):
        error = last - truth[:, PAST - 1 + lead, ..., 0]
        rmse = np.sqrt(np.mean(weights * error**2))
        row = result["per_lead"]
        assert row["rmse_w"]["persistence"][lead - 1] == pytest.approx(rmse, rel=1e-5)
        assert row["mse"]["persistence"][lead - 1] == pytest.approx(np.mean(error**2), rel=1e-5)
    # the per-lead MSE averages to the table's MSE (equal numbers of points per lead time)
    for name, row in result["metrics"].items():
        mean = np.mean(result["per_lead"]["mse"][name])
        assert row["mse"] == pytest.approx(mean, rel=1e-4, abs=1e-9)


def test_a_constant_error_and_the_truth_itself(scored):
    result = scored[3]["per_lead"]
    np.testing.assert_allclose(result["rmse_w"]["wdno"], OFFSET, rtol=1e-4)
    np.testing.assert_allclose(result["mse"]["wdno"], OFFSET**2, rtol=1e-4)
    np.testing.assert_allclose(result["rmse_w"]["fno"], 0.0, atol=1e-6)
    np.testing.assert_allclose(result["acc"]["fno"], 1.0, rtol=1e-5)


def test_climatology_and_the_acc_by_hand(scored):
    _, data, truth, result = scored
    climatology = _hand_climatology(data)
    test = task.read_windows(data, "test", NUM_TEST)
    hours = test.valid_times[:, PAST:].astype("datetime64[h]").astype(int) % 24
    expected = np.stack([[climatology[h] for h in row] for row in hours])  # (N, 20, lat, lon)
    future = truth[:, PAST:, ..., 0].astype(np.float64)
    weights = _weights(test.latitude)[:, None]
    rmse = np.sqrt(np.mean(weights * (expected - future) ** 2, axis=(0, 2, 3)))
    np.testing.assert_allclose(result["per_lead"]["rmse_w"]["climatology"], rmse, rtol=1e-5)
    assert np.all(np.isnan(result["per_lead"]["acc"]["climatology"]))  # zero anomaly: undefined
    # persistence's ACC: per forecast sum w a b / sqrt(sum w a^2 sum w b^2), then the mean
    a = truth[:, PAST - 1 : PAST, ..., 0] - expected
    b = future - expected
    acc = np.sum(weights * a * b, axis=(2, 3)) / np.sqrt(
        np.sum(weights * a**2, axis=(2, 3)) * np.sum(weights * b**2, axis=(2, 3))
    )
    np.testing.assert_allclose(
        result["per_lead"]["acc"]["persistence"], acc.mean(axis=0), rtol=1e-4, atol=1e-5
    )


def test_plot_draws_the_lead_time_metrics_and_maps(scored):
    run = scored[0]
    paths = experiment.plot(task.TASK, run)
    names = {path.name for path in paths}
    assert {"lead_time_metrics.png", "maps_wdno.png", "per_time_mae.png"} <= names
    assert all(path.is_file() and path.stat().st_size > 0 for path in paths)


def test_a_changed_test_split_is_refused(scored, tmp_path):
    run, _, truth, _ = scored
    copy = tmp_path / "run"
    copy.mkdir()
    shutil.copy(run / "run.json", copy / "run.json")
    test = task.read_split(rundir.read_run(run).data_dir, "test", NUM_TEST)
    _write_predictions(copy, truth + 1.0, {"wdno": truth}, test.coords)
    with pytest.raises(ValueError, match="does not hold the test windows"):
        experiment.evaluate(task.TASK, copy)


def test_bad_task_scoring_is_named(scored, tmp_path):
    run, _, truth, _ = scored
    copy = tmp_path / "run"
    shutil.copytree(run, copy)
    clash = dataclasses.replace(task.TASK, scoring=lambda data: Scoring(baselines={"wdno": truth}))
    with pytest.raises(ValueError, match="baseline 'wdno' has the name of a model"):
        experiment.evaluate(clash, copy)
    short = dataclasses.replace(
        task.TASK, scoring=lambda data: Scoring(baselines={"zero": truth[:, 1:]})
    )
    with pytest.raises(ValueError, match="expected the test trajectories'"):
        experiment.evaluate(short, copy)
    curve = dataclasses.replace(
        task.TASK,
        scoring=lambda data: Scoring(lead_metrics=lambda p, t: {"x": np.zeros(3)}),
    )
    with pytest.raises(ValueError, match=r"lead metric 'x' of 'wdno' has shape \(3,\)"):
        experiment.evaluate(curve, copy)


def test_longitudes_are_drawn_contiguous_across_the_seam():
    np.testing.assert_array_equal(maps.contiguous_longitude([350, 355, 0, 5]), [-10, -5, 0, 5])
    np.testing.assert_array_equal(maps.contiguous_longitude([10, 20, 30]), [10, 20, 30])
    np.testing.assert_array_equal(maps.contiguous_longitude([190, 200]), [-170, -160])
    with pytest.raises(ValueError, match="wrap 2 times"):
        maps.contiguous_longitude([350, 0, 350, 0])


def test_maps_check_their_input():
    field = np.zeros((2, 3, 4))
    with pytest.raises(ValueError, match="do not match the maps' grid"):
        maps.plot_forecast_maps(
            field, field, latitude=np.arange(4), longitude=np.arange(4), titles=["a", "b"]
        )
    with pytest.raises(ValueError, match="2 lead times"):
        maps.plot_forecast_maps(
            field, field, latitude=np.arange(3), longitude=np.arange(4), titles=["a"]
        )
    if maps._cartopy_crs() is None:
        with pytest.raises(ImportError, match="needs cartopy"):
            maps.plot_forecast_maps(
                field,
                field,
                latitude=np.arange(3),
                longitude=np.arange(4),
                titles=["a", "b"],
                coastlines=True,
            )
