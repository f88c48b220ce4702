"""Tests for wdno.metrics: hand-derived values on tiny arrays, Parseval for the band split."""

import numpy as np
import pytest

from wdno.evaluation import metrics

# Tiny (N=2, t=2, x=2) example used by several tests.
#   true = 0 everywhere.
#   pred[0] = [[9, 9], [1, -1]]   (time level 0 is wrong on purpose: it must be skipped)
#   pred[1] = [[9, 9], [2,  0]]
# With skip_initial the errors are e = [[1, -1], [2, 0]] (4 entries):
#   MSE = (1 + 1 + 4 + 0) / 4 = 1.5,  MAE = (1 + 1 + 2 + 0) / 4 = 1.0,  max = 2.
# Without skipping, the 4 extra entries are 9: MSE = (6 + 4 * 81) / 8 = 41.25, max = 9.
PRED = np.array([[[9.0, 9.0], [1.0, -1.0]], [[9.0, 9.0], [2.0, 0.0]]])
TRUE = np.zeros_like(PRED)


def test_simulation_mse_hand_values_and_skip_initial():
    assert float(metrics.simulation_mse(PRED, TRUE)) == pytest.approx(1.5)
    assert float(metrics.simulation_mse(PRED, TRUE, skip_initial=False)) == pytest.approx(41.25)


def test_mae_and_max_error_hand_values():
    assert float(metrics.mean_absolute_error(PRED, TRUE)) == pytest.approx(1.0)
    assert float(metrics.max_error(PRED, TRUE)) == pytest.approx(2.0)
    assert float(metrics.max_error(PRED, TRUE, skip_initial=False)) == pytest.approx(9.0)


def test_relative_l2_hand_values():
    # true = [[[1, 0], [3, 4]], [[0, 0], [0, 2]]], pred = true + error, skipping t=0:
    #   sample 0: true[1] = (3, 4), norm 5; error (3, 0) -> 3 / 5 = 0.6
    #   sample 1: true[1] = (0, 2), norm 2; error (0, -1) -> 1 / 2 = 0.5;  mean 0.55.
    true = np.array([[[1.0, 0.0], [3.0, 4.0]], [[0.0, 0.0], [0.0, 2.0]]])
    error = np.array([[[7.0, 7.0], [3.0, 0.0]], [[7.0, 7.0], [0.0, -1.0]]])
    per_sample, mean = metrics.relative_l2(true + error, true)
    np.testing.assert_allclose(per_sample, [0.6, 0.5], rtol=1e-6)
    assert float(mean) == pytest.approx(0.55)


def test_per_time_mae_hand_values():
    # time 0: |9| everywhere -> 9; time 1: (1 + 1 + 2 + 0) / 4 = 1.
    np.testing.assert_allclose(metrics.per_time_mae(PRED, TRUE), [9.0, 1.0])
    np.testing.assert_allclose(metrics.per_time_mae(PRED, TRUE, skip_initial=True), [1.0])


def test_band_edges_thirds_of_burgers_grid():
    # 120 points -> wavenumbers 0..60 (61 of them); thirds at 20.33 and 40.67 round to 20, 41.
    assert metrics.band_edges(120) == (0, 20, 41, 61)
    with pytest.raises(ValueError, match="num_bands"):
        metrics.band_edges(2, num_bands=3)


def test_spectral_band_errors_single_modes_hand_values():
    # n = 12 -> wavenumbers 0..6, bands k in [0,2), [2,5), [5,7).
    # error = 1 (k=0) + cos(2*pi*3*x/12) (k=3) + 0.5*cos(pi*x) (k=6, Nyquist).
    # Mean squares: 1, 1/2 and 0.25 (cos(pi x) = +-1) -> bands (1, 0.5, 0.25), total 1.75.
    x = np.arange(12)
    error = 1.0 + np.cos(2 * np.pi * 3 * x / 12) + 0.5 * np.cos(np.pi * x)
    true = np.zeros((1, 2, 12))
    pred = true + error
    bands = metrics.spectral_band_errors(pred, true)
    np.testing.assert_allclose(bands, [1.0, 0.5, 0.25], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(
    "shape, axis",
    [((3, 5, 120), -1), ((2, 4, 17), 2), ((2, 3, 6, 11, 2), -2), ((2, 3, 9, 8, 2), 2)],
)
def test_spectral_band_errors_parseval(shape, axis):
    rng = np.random.default_rng(0)
    pred = rng.normal(size=shape)
    true = rng.normal(size=shape)
    bands = np.asarray(metrics.spectral_band_errors(pred, true, axis=axis))
    # Independent reference: the squared error summed in physical space.
    reference = np.mean((pred[:, 1:] - true[:, 1:]) ** 2)
    assert bands.shape == (3,)
    assert np.all(bands >= 0)
    np.testing.assert_allclose(bands.sum(), reference, rtol=1e-5)
    np.testing.assert_allclose(float(metrics.simulation_mse(pred, true)), reference, rtol=1e-5)


def test_spectral_band_errors_rejects_time_axis():
    with pytest.raises(ValueError, match="sample or time axis"):
        metrics.spectral_band_errors(PRED, TRUE, axis=1)


@pytest.mark.parametrize(
    "function",
    [
        metrics.simulation_mse,
        metrics.relative_l2,
        metrics.max_error,
        metrics.per_time_mae,
        metrics.spectral_band_errors,
        metrics.summarize,
    ],
)
def test_shape_mismatch_raises(function):
    with pytest.raises(ValueError, match=r"same shape.*\(2, 3, 4\).*\(2, 3, 5\)"):
        function(np.zeros((2, 3, 4)), np.zeros((2, 3, 5)))


def test_skip_initial_needs_two_time_levels():
    with pytest.raises(ValueError, match="at least 2 time levels"):
        metrics.simulation_mse(np.zeros((2, 1, 4)), np.zeros((2, 1, 4)))


def test_summarize_and_format_table():
    summary = metrics.summarize(PRED, TRUE, spectral_axis=-1, num_bands=2)
    assert summary["mse"] == pytest.approx(1.5)
    assert summary["mae"] == pytest.approx(1.0)
    assert summary["max_error"] == pytest.approx(2.0)
    # errors at t=1: sample 0 (1, -1) is pure k=1 (Nyquist for n=2): high band 2/4 = 0.5;
    # sample 1 (2, 0) = mean 1 + Nyquist 1: low 1 * 2 / 4 = 0.5, high 0.5 -> low 0.5, high 1.0.
    assert summary["mse_low"] == pytest.approx(0.5)
    assert summary["mse_high"] == pytest.approx(1.0)
    table = metrics.format_table({"WDNO": {"mse": 0.00014, "mae": 0.01}, "FNO": {"mse": 0.2575}})
    lines = table.splitlines()
    assert lines[0] == "| model | mse | mae |"
    assert lines[2] == "| WDNO | 1.40e-04 | 1.00e-02 |"
    assert lines[3] == "| FNO | 2.58e-01 | — |"
