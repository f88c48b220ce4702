"""Weather metrics (wdno.evaluation.metrics) and the ERA5 no-training baselines, by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from systems.era5 import baselines
from wdno.evaluation import metrics

LATITUDE = np.array([0.0, 60.0])  # cos: 1, 1/2; mean 3/4; weights 4/3, 2/3


def test_latitude_weights_are_cosines_with_mean_one():
    np.testing.assert_allclose(metrics.latitude_weights(LATITUDE), [4 / 3, 2 / 3], rtol=1e-6)
    np.testing.assert_allclose(metrics.latitude_weights([-45.0, 45.0]), [1.0, 1.0], rtol=1e-6)


def test_latitude_weighted_rmse_by_hand():
    # (N=2, t=2, lat=2, lon=2, F=1). Lead 0: every error 1, so RMSE 1 whatever the weights.
    # Lead 1: error 3 on the equator row, 0 at 60N: mean of w e^2 over (n, lat, lon) is
    # (4/3 * 9 + 2/3 * 0) / 2 = 6, RMSE sqrt(6) (unweighted it would be sqrt(4.5)).
    true = np.zeros((2, 2, 2, 2, 1))
    pred = np.ones_like(true)
    pred[:, 1, 0] = 3.0
    pred[:, 1, 1] = 0.0
    rmse = metrics.latitude_weighted_rmse(pred, true, LATITUDE)
    np.testing.assert_allclose(rmse, [1.0, math.sqrt(6.0)], rtol=1e-6)


def test_a_constant_error_is_its_own_latitude_weighted_rmse():
    # the weights have mean 1, so a uniform error c gives sqrt(mean(w) c^2) = |c| everywhere
    true = np.random.default_rng(1).normal(size=(3, 4, 5, 6, 1))
    rmse = metrics.latitude_weighted_rmse(true - 0.7, true, np.linspace(-80, 80, 5))
    np.testing.assert_allclose(rmse, np.full(4, 0.7), rtol=1e-5)


def test_anomaly_correlation_by_hand():
    # One forecast, one lead time, climatology 0. a = [[1, 2], [3, 4]], b = [[1, 0], [0, 2]]
    # (rows: lat 0 and 60). sum w a b = 4/3 (1) + 2/3 (8) = 20/3; sum w a^2 = 4/3 (5) + 2/3 (25)
    # = 70/3; sum w b^2 = 4/3 (1) + 2/3 (4) = 4. ACC = (20/3) / sqrt(280/3) = 20 / sqrt(840).
    pred = np.array([[1.0, 2.0], [3.0, 4.0]])[None, None]
    true = np.array([[1.0, 0.0], [0.0, 2.0]])[None, None]
    acc = metrics.anomaly_correlation(pred + 280.0, true + 280.0, 280.0, LATITUDE)
    np.testing.assert_allclose(acc, [20 / math.sqrt(840)], rtol=1e-5)


def test_anomaly_correlation_limits_and_centering():
    rng = np.random.default_rng(0)
    true = rng.normal(size=(3, 4, 5, 6, 1))
    climatology = rng.normal(size=(5, 6, 1))
    np.testing.assert_allclose(
        metrics.anomaly_correlation(true, true, climatology, np.linspace(-60, 60, 5)), 1.0, 1e-5
    )
    opposite = 2 * climatology - true  # anomaly of the opposite sign
    np.testing.assert_allclose(
        metrics.anomaly_correlation(opposite, true, climatology, np.linspace(-60, 60, 5)),
        -1.0,
        1e-5,
    )
    # centering removes a uniform offset of the forecast's anomaly
    shifted = true + 5.0
    centered = metrics.anomaly_correlation(
        shifted, true, climatology, np.linspace(-60, 60, 5), centered=True
    )
    np.testing.assert_allclose(centered, 1.0, rtol=1e-5)


def test_weather_metric_shape_errors():
    with pytest.raises(ValueError, match="3 latitudes given for a latitude axis"):
        metrics.latitude_weighted_rmse(np.zeros((1, 2, 2, 2)), np.zeros((1, 2, 2, 2)), [0, 1, 2])
    with pytest.raises(ValueError, match="does not broadcast"):
        metrics.anomaly_correlation(
            np.zeros((1, 2, 2, 2)), np.zeros((1, 2, 2, 2)), np.zeros(3), LATITUDE
        )


def test_persistence_repeats_the_last_known_hour():
    past = np.arange(2 * 3 * 2).reshape(2, 3, 2).astype(float)
    forecast = baselines.persistence(past, 4)
    assert forecast.shape == (2, 4, 2)
    np.testing.assert_array_equal(forecast[1], np.tile(past[1, -1], (4, 1)))


def test_climatology_by_hour_of_day():
    times = np.datetime64("2020-01-01T00", "h") + np.arange(48).astype("timedelta64[h]")
    hour = np.arange(48) % 24
    day = np.arange(48) // 24
    values = (hour + 100 * day)[:, None].astype(float)  # day 0: h, day 1: h + 100
    climatology = baselines.fit_climatology(values, times)
    np.testing.assert_allclose(climatology[:, 0], np.arange(24) + 50)
    overall = baselines.fit_climatology(values, times, by_hour=False)
    np.testing.assert_allclose(overall, [[11.5 + 50]])
    valid = np.array([["2021-06-01T22", "2021-06-01T23", "2021-06-02T00"]], "datetime64[h]")
    np.testing.assert_allclose(
        baselines.climatology_forecast(climatology, valid)[..., 0], [[72, 73, 50]]
    )
    assert baselines.climatology_forecast(overall, valid).shape == (1, 3, 1)
    with pytest.raises(ValueError, match=r"no training frames at hours \[12"):
        baselines.fit_climatology(values[:12], times[:12])


def test_unique_frames_take_each_hour_of_overlapping_windows_once():
    # two windows of 3 hours, the second starting 2 hours later: hours 0, 1, 2 and 2, 3, 4
    start = np.datetime64("2020-01-01T00", "h")
    times = start + np.array([[0, 1, 2], [2, 3, 4]]).astype("timedelta64[h]")
    values = np.array([[0.0, 1.0, 2.0], [2.5, 3.0, 4.0]])  # hour 2 differs: the first is kept
    frames, unique = baselines.unique_frames(values, times)
    np.testing.assert_array_equal(frames, [0.0, 1.0, 2.0, 3.0, 4.0])
    np.testing.assert_array_equal(unique, start + np.arange(5).astype("timedelta64[h]"))
    with pytest.raises(ValueError, match="do not match on"):
        baselines.unique_frames(values[:1], times)
