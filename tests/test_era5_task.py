"""The ERA5 Task's data side: windows cut into split files, read back as Trajectories, encoded."""

from __future__ import annotations

import jax
import numpy as np
import pytest

from systems.era5 import baselines, loader, presets, synthetic, task
from wdno.evaluation import metrics
from wdno.transforms import encoding

pytest.importorskip("zarr")


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("era5-tiny")
    for split in ("train", "val", "test"):
        task.generate(folder, split, "tiny", progress=False)
    return folder


def test_splits_hold_windows_of_32_hours_in_time_order(data_dir):
    preset = presets.DATA_PRESETS["tiny"]
    ends = []
    for split in ("train", "val", "test"):
        data = task.TASK.read_split(data_dir, split, None)
        assert data.state.shape == (preset.num_samples(split), 32, 8, 8, 1)
        assert data.control is None and data.state.dtype == np.float32
        np.testing.assert_array_equal(data.coords["t"], np.arange(-11, 21))
        windows = task.read_windows(data_dir, split)
        ends.append((windows.valid_times.min(), windows.valid_times.max()))
    assert ends[0][1] < ends[1][0] and ends[1][1] < ends[2][0]


def test_a_zarr_source_gives_the_same_split_file(data_dir, tmp_path):
    # the tiny preset's synthetic CDS file, rewritten as a WeatherBench store
    field = loader.load_selection(data_dir / "synthetic_era5.nc", loader.Selection())
    synthetic.write_weatherbench_zarr(tmp_path / "wb.zarr", field)
    task.generate(tmp_path, "test", "tiny", source=tmp_path / "wb.zarr", progress=False)
    np.testing.assert_array_equal(
        task.read_split(tmp_path, "test").state, task.read_split(data_dir, "test").state
    )


def test_a_real_preset_without_source_says_what_to_do(tmp_path):
    with pytest.raises(ValueError, match="pass source="):
        task.generate(tmp_path, "train", "europe", progress=False)
    with pytest.raises(FileNotFoundError, match="not found"):
        task.read_split(tmp_path, "train")


def test_the_3d_transform_reconstructs_a_window(data_dir):
    data = task.read_split(data_dir, "test", 2)
    layout = encoding.make_layout(task.TASK.transform, data.state.shape[1:])
    assert layout.spatial_shape == (8, 8) and layout.trajectory_coeffs.num_bands == 8
    encoded = encoding.encode_dataset(layout, data.state)  # jitted: compiles faster than eager
    state, control = jax.jit(encoding.decode, static_argnums=0)(layout, encoded)
    assert control is None
    np.testing.assert_allclose(state, data.state, rtol=1e-5, atol=1e-3)  # kelvin, float32


def test_baselines_score_on_the_forecast_hours(data_dir):
    train, test = task.read_windows(data_dir, "train"), task.read_windows(data_dir, "test")
    past, future = test.values[:, :12], test.values[:, 12:]
    persistence = baselines.persistence(past, 20)
    climatology = baselines.fit_climatology(
        train.values.reshape(-1, 8, 8), train.valid_times.reshape(-1)
    )
    clim = baselines.climatology_forecast(climatology, test.valid_times[:, 12:])
    rmse_persistence = metrics.latitude_weighted_rmse(persistence, future, test.latitude)
    rmse_climatology = metrics.latitude_weighted_rmse(clim, future, test.latitude)
    assert rmse_persistence.shape == rmse_climatology.shape == (20,)
    assert rmse_persistence[0] < rmse_persistence[-1]  # persistence decays with lead time
    # the synthetic field is a diurnal cycle plus a slow wave: the hourly climatology wins late
    assert rmse_climatology[-1] < rmse_persistence[-1]
    acc = metrics.anomaly_correlation(persistence, future, clim, test.latitude)
    assert acc.shape == (20,) and np.all(np.abs(acc) <= 1 + 1e-5)


def test_the_task_declares_the_forecast_mode():
    assert task.TASK.known["forecast"] == ("past",)
    assert task.TASK.dims == ("t", "latitude", "longitude") and not task.TASK.control_fields


@pytest.mark.slow  # about 3 minutes on 2 CPU cores: the 3-D U-Nets compile slowly
def test_the_forecast_runs_through_the_generic_driver(tmp_path):
    import argparse
    import json
    import math

    from experiments import _options

    parser = argparse.ArgumentParser(prog="wdno")
    subparsers = parser.add_subparsers(dest="system")
    _options.add_system(subparsers, "era5", lambda: task.TASK, help="era5", description="era5")
    run, data = tmp_path / "run", tmp_path / "data"
    args = parser.parse_args(["era5", "demo", "--run", str(run), "--data", str(data)])
    assert args.func(args) == 0
    result = json.loads((run / "metrics.json").read_text())
    assert set(result["metrics"]) == {"wdno", "ddpm", "fno", "persistence", "climatology"}
    assert all(math.isfinite(row["mse"]) for row in result["metrics"].values())
    # WeatherBench's metrics per lead time (+1 .. +20 h) for every model and baseline
    assert result["lead_times"] == list(range(1, 21))
    for metric in ("mse", "rmse_w", "acc"):
        assert set(result["per_lead"][metric]) == set(result["metrics"])
    for name in ("lead_time_metrics", "maps_wdno", "per_time_mae", "training_loss"):
        assert (run / "figures" / f"{name}.png").is_file()
    # The 12 known hours come back unchanged; the metrics score the 20 generated ones.
    import xarray as xr

    with xr.open_dataset(run / "predictions.nc") as predictions:
        truth = predictions["t2m_true"].values
        for name in ("wdno", "ddpm", "fno"):
            forecast = predictions[f"t2m_{name}"].values
            past = task.PAST_HOURS
            np.testing.assert_array_equal(forecast[:, :past], truth[:, :past])
            mse = np.mean((forecast[:, past:] - truth[:, past:]) ** 2)
            assert result["metrics"][name]["mse"] == pytest.approx(mse, rel=1e-4)


def test_a_wdno_forecast_runs_end_to_end_in_ci(tmp_path):
    # The CI-sized end-to-end run (the slow test above adds the DDPM and the FNO): synthetic
    # ERA5 written as a CDS file, windows cut, WDNO trained, forecast, scored beside persistence
    # and climatology, plotted.
    import json

    from experiments import cli

    run, data = tmp_path / "run", tmp_path / "data"
    argv = ["era5", "demo", "--models", "wdno", "--run", str(run), "--data", str(data)]
    assert cli.main(argv) == 0
    result = json.loads((run / "metrics.json").read_text())
    assert set(result["metrics"]) == {"wdno", "persistence", "climatology"}
    assert (run / "figures" / "maps_wdno.png").is_file()
    import xarray as xr

    with xr.open_dataset(run / "predictions.nc") as predictions:
        truth, forecast = predictions["t2m_true"].values, predictions["t2m_wdno"].values
    past = task.PAST_HOURS
    np.testing.assert_array_equal(forecast[:, :past], truth[:, :past])  # the known hours
    mse = np.mean((forecast[:, past:] - truth[:, past:]) ** 2)  # scored: the generated hours
    assert result["metrics"]["wdno"]["mse"] == pytest.approx(mse, rel=1e-4)
    persistence = np.mean((truth[:, past - 1 : past] - truth[:, past:]) ** 2)
    assert result["metrics"]["persistence"]["mse"] == pytest.approx(persistence, rel=1e-4)


def test_prepare_and_forecast_are_the_era5_names_of_generate_and_simulate():
    from experiments import cli

    parser = cli.build_parser()
    for alias, verb in (("prepare", "generate"), ("forecast", "simulate")):
        extra = ["--split", "train"] if verb == "generate" else []
        ours, standard = (parser.parse_args(["era5", name, *extra]) for name in (alias, verb))
        assert ours.func.__func__ is standard.func.__func__
        assert ours.func.__name__ == verb


def test_cli_generate_and_a_missing_source(tmp_path, capsys):
    from experiments import cli

    out = tmp_path / "data"
    assert (
        cli.main(["era5", "generate", "--split", "test", "--preset", "tiny", "--out", str(out)])
        == 0
    )
    split = task.read_split(out, "test")
    assert split.state.shape[1:] == (32, 8, 8, 1) and split.control is None
    missing = tmp_path / "nowhere.nc"
    args = ["era5", "generate", "--split", "train", "--preset", "tiny", "--out", str(tmp_path)]
    assert cli.main([*args, "--source", str(missing)]) == 2
    assert "nowhere.nc" in capsys.readouterr().err
