"""Observations of the forecast window (systems/era5/observations.py) and the assimilation
experiment's report (experiments/_era5_assimilation.py): stations, masks, the misfit objective and
the RMSE at observed and unobserved points against numpy by hand; one tiny trained run through
``wdno era5 assimilate`` (slow)."""

from __future__ import annotations

import json

import jax.numpy as jnp
import numpy as np
import pytest

from experiments import _era5_assimilation as assimilation
from systems.era5 import observations, task
from wdno.evaluation import metrics

PAST, T = task.PAST_HOURS, 32


def test_stations_are_seeded_at_the_requested_fraction():
    for fraction, count in ((0.01, 1), (0.1, 6), (0.5, 32), (1.0, 64)):  # 8 x 8 points
        stations = observations.choose_stations((8, 8), fraction, seed=3)
        assert stations.shape == (8, 8) and stations.dtype == bool
        assert stations.sum() == count  # max(1, round(fraction * 64))
    np.testing.assert_array_equal(
        observations.choose_stations((8, 8), 0.1, seed=3),
        observations.choose_stations((8, 8), 0.1, seed=3),
    )
    draws = {observations.choose_stations((8, 8), 0.1, seed=s).tobytes() for s in range(5)}
    assert len(draws) > 1  # other seeds, other stations
    assert observations.choose_stations((64, 128), 0.01).sum() == 82
    for bad in (0.0, -0.1, 1.5):
        with pytest.raises(ValueError, match=r"fraction must be in \(0, 1\]"):
            observations.choose_stations((8, 8), bad)
    with pytest.raises(ValueError, match="grid shape"):
        observations.choose_stations((8, 8, 1))


def test_the_mask_covers_the_stations_in_the_forecast_hours_only():
    stations = observations.choose_stations((8, 8), 0.1, seed=0)
    mask = observations.observation_mask(stations, T, PAST)
    assert mask.shape == (T, 8, 8, 1) and mask.dtype == np.float32
    assert not mask[:PAST].any()  # never in the known past
    for hour in range(PAST, T):  # the same stations every forecast hour
        np.testing.assert_array_equal(mask[hour, ..., 0], stations.astype(np.float32))
    assert mask.sum() == 6 * (T - PAST)


def test_observations_and_the_misfit_by_hand():
    rng = np.random.default_rng(0)
    truth = 280 + rng.normal(size=(3, T, 8, 8, 1)).astype(np.float32)
    stations = observations.choose_stations((8, 8), 0.25, seed=1)
    mask = observations.observation_mask(stations, T, PAST)
    exact = observations.observe(truth, mask)
    np.testing.assert_array_equal(exact, truth * mask)
    noisy = observations.observe(truth, mask, noise_std=0.5, seed=2)
    residual = (noisy - truth)[:, mask.astype(bool)]
    assert residual.size == 3 * 16 * 20 and abs(residual.std() - 0.5) < 0.05
    assert not noisy[:, ~mask.astype(bool)].any()
    with pytest.raises(ValueError, match="noise_std"):
        observations.observe(truth, mask, noise_std=-1.0)
    # J = sum m (u - y)^2 / sum m over the 16 stations x 20 hours
    forecast = truth[0] + 2.0
    value = observations.misfit(
        jnp.asarray(forecast), None, {"observations": noisy[0], "observation_mask": mask}
    )
    squared = [
        (forecast[h, i, j, 0] - noisy[0, h, i, j, 0]) ** 2
        for h, i, j in zip(*np.nonzero(mask[..., 0]), strict=True)
    ]
    assert float(value) == pytest.approx(np.mean(squared), rel=1e-5)


def test_rmse_at_unobserved_and_observed_points_by_hand():
    rng = np.random.default_rng(4)
    truth = rng.normal(size=(2, T, 4, 5, 1))
    forecast = truth + rng.normal(size=truth.shape)
    latitude = np.array([30.0, 40.0, 50.0, 60.0])
    stations = np.zeros((4, 5), bool)
    stations[0, 1] = stations[3, 4] = stations[2, 0] = True
    result = observations.lead_rmse(forecast, truth, latitude, stations, PAST)
    weights = np.cos(np.deg2rad(latitude))
    weights = weights / weights.mean()
    for where, points in (("unobserved", ~stations), ("observed", stations)):
        assert result[where].shape == (T - PAST,)
        for lead in range(T - PAST):
            numerator = denominator = 0.0
            for n in range(2):
                for j, k in zip(*np.nonzero(points), strict=True):
                    error = forecast[n, PAST + lead, j, k, 0] - truth[n, PAST + lead, j, k, 0]
                    numerator += weights[j] * error**2
                    denominator += weights[j]
            expected = np.sqrt(numerator / denominator)
            assert result[where][lead] == pytest.approx(expected, rel=1e-5)
    # every point in the mask: the plain latitude-weighted RMSE
    everywhere = metrics.latitude_weighted_rmse(
        forecast[:, PAST:], truth[:, PAST:], latitude, mask=np.ones((4, 5, 1))
    )
    plain = metrics.latitude_weighted_rmse(forecast[:, PAST:], truth[:, PAST:], latitude)
    np.testing.assert_allclose(everywhere, plain, rtol=1e-5)
    with pytest.raises(ValueError, match="does not broadcast"):
        metrics.latitude_weighted_rmse(forecast, truth, latitude, mask=np.ones((3, 5)))


def _result():
    lead_times = list(range(1, 21))
    scores = lambda a, b, m: {"unobserved": [a] * 20, "observed": [b] * 20, "misfit": m}  # noqa: E731
    return {
        "fraction": 0.1,
        "num_stations": 6,
        "num_points": 64,
        "stations": [[0, 1]],
        "noise_std": 0.0,
        "seed": 0,
        "scales": [0.001, 0.01],
        "schedule": "constant",
        "num_windows": 4,
        "sampler": {"method": "ddim", "num_steps": 2},
        "lead_times": lead_times,
        "persistence": scores(3.0, 3.5, 12.0),
        "models": {
            "wdno": {
                "step": 3,
                "unguided": {**scores(2.0, 2.5, 6.25), "seconds": 1.0},
                "guided": {
                    "0.001": {**scores(1.9, 1.0, 1.0), "seconds": 2.0},
                    "0.01": {**scores(1.8, 0.5, 0.25), "seconds": 2.0},
                },
            }
        },
    }


def test_the_report_has_a_row_per_lead_time_and_a_figure(tmp_path):
    text = assimilation.markdown(_result(), tmp_path)
    assert "## WDNO (step 3)" in text
    assert (
        "| lead | unobserved: unguided | unobserved: guided 0.001 | unobserved: guided 0.01 |"
        in text
    )
    assert "| +1 h | 2.000 | 1.900 | 1.800 | 3.000 | 2.500 | 1.000 | 0.500 | 3.500 |" in text
    assert "| +20 h |" in text and "| mean | 2.000 |" in text
    assert "| mean | 6.25 | 1 | 0.25 | 12 |" in text  # the misfits
    path = assimilation.plot(_result(), tmp_path / "figures" / "assimilation.png")
    assert path.is_file() and path.stat().st_size > 0
    assert [p.name for p in path.parent.iterdir()] == ["assimilation.png"]  # no partial file


@pytest.mark.slow  # about 3 minutes on 2 CPU cores: training and the 3-D U-Net's compilations
def test_assimilate_on_a_tiny_trained_run(tmp_path, capsys):
    from experiments import cli

    run, data = tmp_path / "run", tmp_path / "data"
    common = ["--run", str(run), "--data", str(data), "--preset", "tiny"]
    for split in ("train", "test"):
        args = ["era5", "generate", "--split", split, "--preset", "tiny", "--out", str(data)]
        assert cli.main(args) == 0
    assert cli.main(["era5", "train", *common, "--models", "wdno"]) == 0
    args = ["era5", "assimilate", "--run", str(run), "--fraction", "1", "--num", "2"]
    assert cli.main([*args, "--scale", "1e-3", "1e-2"]) == 0
    result = json.loads((run / "assimilation.json").read_text())
    assert result["num_stations"] == 64 and list(result["models"]) == ["wdno"]
    wdno = result["models"]["wdno"]
    assert set(wdno["guided"]) == {"0.001", "0.01"}
    # every point observed: guidance lowers the misfit at the stations (nothing is unobserved)
    assert wdno["guided"]["0.01"]["misfit"] < wdno["unguided"]["misfit"]
    assert np.all(np.isnan(wdno["unguided"]["unobserved"]))
    assert (run / "assimilation.md").is_file() and (run / "figures" / "assimilation.png").is_file()
    assert "wrote" in capsys.readouterr().out
