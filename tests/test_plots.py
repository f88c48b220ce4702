"""Tests for wdno.plots: each function writes a readable, non-blank PNG; bad shapes raise."""

import matplotlib.image
import matplotlib.pyplot as plt
import numpy as np
import pytest

from wdno.evaluation import plots


def _assert_png_not_blank(path, min_height=100, min_width=100):
    image = matplotlib.image.imread(path)
    assert image.ndim == 3 and image.shape[0] >= min_height and image.shape[1] >= min_width
    # A blank canvas is one colour; a real plot has many distinct pixel values.
    assert np.std(image[..., :3]) > 0.02
    assert len(np.unique(image[..., :3].reshape(-1, 3), axis=0)) > 20


def _fields():
    t = np.linspace(0.0, 8.0, 9)
    x = np.linspace(0.0, 1.0, 12)
    truth = (
        np.sin(2 * np.pi * x)[None, None]
        * np.exp(-t)[None, :, None]
        * np.arange(1, 4)[:, None, None]
    )
    return t, x, truth


def test_plot_field_comparison_writes_png_with_shared_scale(tmp_path):
    t, x, truth = _fields()
    predictions = {"WDNO": truth + 0.01, "FNO": 1.5 * truth}
    path = tmp_path / "nested" / "fields.png"
    figure = plots.plot_field_comparison(
        truth, predictions, t=t, x=x, sample_indices=(0, 2), path=path
    )
    _assert_png_not_blank(path)
    images = [axis.images[0] for axis in figure.axes if axis.images]
    assert len(images) == 2 * 5  # 2 samples x (truth + 2 predictions + 2 errors)
    field_limits = {images[row * 5 + col].get_clim() for row in range(2) for col in range(3)}
    error_limits = {images[row * 5 + col].get_clim() for row in range(2) for col in (3, 4)}
    assert len(field_limits) == 1 and len(error_limits) == 1
    # Shared field scale covers the largest value (1.5 * 3 at t=0, |sin| max over the grid).
    expected = 1.5 * 3 * np.max(np.abs(np.sin(2 * np.pi * x)))
    np.testing.assert_allclose(field_limits.pop(), (-expected, expected), rtol=1e-6)
    # Largest error: |1.5 u - u| = 0.5 * 3 * max|sin| on the shown samples.
    np.testing.assert_allclose(error_limits.pop(), (0.0, expected / 3), rtol=1e-6)
    plt.close(figure)


def test_plot_field_comparison_shape_errors():
    t, x, truth = _fields()
    with pytest.raises(ValueError, match=r"prediction 'bad' has shape \(3, 9, 11\)"):
        plots.plot_field_comparison(truth, {"bad": truth[..., :-1]}, t=t, x=x)
    with pytest.raises(ValueError, match="must match the truth's time and space"):
        plots.plot_field_comparison(truth, {"ok": truth}, t=t[:-1], x=x)
    with pytest.raises(ValueError, match="sample_indices"):
        plots.plot_field_comparison(truth, {"ok": truth}, t=t, x=x, sample_indices=(5,))


def test_plot_time_curves_writes_png(tmp_path):
    t = np.arange(1, 81) / 10
    curves = {"WDNO": 1e-3 * (1 + np.sin(t) ** 2), "DDPM": 2e-3 * np.ones_like(t)}
    path = tmp_path / "mae.png"
    figure = plots.plot_time_curves(curves, t=t, path=path)
    _assert_png_not_blank(path)
    assert figure.axes[0].get_yscale() == "log"
    plt.close(figure)
    with pytest.raises(ValueError, match=r"curve 'bad' has shape \(3,\)"):
        plots.plot_time_curves({"bad": np.ones(3)}, t=t)


def test_plot_loss_curves_writes_png_and_smooths(tmp_path):
    steps = np.arange(200)
    rng = np.random.default_rng(0)
    logs = {"run": (steps, np.exp(-steps / 50) * (1 + 0.3 * rng.random(200)))}
    path = tmp_path / "loss.png"
    figure = plots.plot_loss_curves(logs, path=path)
    _assert_png_not_blank(path)
    assert len(figure.axes[0].lines) == 2
    plt.close(figure)
    # Trailing moving average, window 2: [1, (1+3)/2, (3+5)/2] = [1, 2, 4].
    np.testing.assert_allclose(plots._smooth(np.array([1.0, 3.0, 5.0]), 2), [1.0, 2.0, 4.0])
    with pytest.raises(ValueError, match="equal length"):
        plots.plot_loss_curves({"bad": (steps, np.ones(5))})
