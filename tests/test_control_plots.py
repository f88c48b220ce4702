"""Tests for wdno.evaluation.control_plots: each function writes a real, non-blank PNG whose
figure shows what was given (checked on the figure itself); bad input raises naming the method."""

import matplotlib.image
import numpy as np
import pytest

from wdno.evaluation import control_plots

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
METHODS = ("WDNO", "DDPM", "solver gradient (converged)")


@pytest.fixture
def figures(monkeypatch):
    """The figures the helpers close, kept for inspection (a closed Figure keeps its artists)."""
    closed = []
    close = control_plots.plt.close

    def record(figure):
        closed.append(figure)
        close(figure)

    monkeypatch.setattr(control_plots.plt, "close", record)
    return closed


def _assert_png(path):
    assert path.is_file() and path.read_bytes()[:8] == PNG_SIGNATURE
    image = matplotlib.image.imread(path)
    assert image.shape[0] >= 100 and image.shape[1] >= 100
    assert np.std(image[..., :3]) > 0.02  # not a blank canvas


def _states(count=4, points=16, seed=0):
    rng = np.random.default_rng(seed)
    x = np.linspace(0.0, 1.0, points)
    target = np.sin(2 * np.pi * x)[None] * rng.uniform(0.5, 1.5, (count, 1))
    reached = {m: target + 0.1 * rng.standard_normal(target.shape) for m in METHODS}
    initial = rng.standard_normal(target.shape)
    return x, target, reached, initial


def test_final_states_draws_target_initial_and_every_method(tmp_path, figures):
    x, target, reached, initial = _states()
    path = tmp_path / "nested" / "final.png"
    # Channels-last inputs (a trailing axis of size 1) are accepted.
    returned = control_plots.plot_final_states(
        x, target[..., None], reached, initial, sample_indices=(1, 3), path=path
    )
    assert returned == path
    _assert_png(path)
    (figure,) = figures
    axes = [axis for axis in figure.axes if axis.get_visible()]
    assert len(axes) == 2
    for axis, sample in zip(axes, (1, 3), strict=True):
        lines = {line.get_label(): line for line in axis.get_lines()}
        assert set(lines) == {"initial u0", "target u_T", *METHODS}
        np.testing.assert_array_equal(lines["target u_T"].get_ydata(), target[sample])
        np.testing.assert_array_equal(lines["DDPM"].get_ydata(), reached["DDPM"][sample])
        np.testing.assert_array_equal(lines["initial u0"].get_ydata(), initial[sample])
        assert lines["target u_T"].get_linestyle() == "--"
        assert lines["target u_T"].get_linewidth() > lines["WDNO"].get_linewidth()
        assert axis.get_legend() is None
    (legend,) = figure.legends  # one legend for the figure
    assert {text.get_text() for text in legend.get_texts()} == {
        "initial u0",
        "target u_T",
        *METHODS,
    }


def test_final_states_rejects_bad_input(tmp_path):
    x, target, reached, initial = _states()
    path = tmp_path / "final.png"
    with pytest.raises(ValueError, match="reached is empty"):
        control_plots.plot_final_states(x, target, {}, path=path)
    bad = {**reached, "hybrid": target[:, :-1]}
    with pytest.raises(ValueError, match=r"method 'hybrid' in reached has shape \(4, 15\)"):
        control_plots.plot_final_states(x, target, bad, path=path)
    with pytest.raises(ValueError, match="initial has shape"):
        control_plots.plot_final_states(x, target, reached, initial[:2], path=path)
    with pytest.raises(ValueError, match="sample indices"):
        control_plots.plot_final_states(x, target, reached, sample_indices=(4,), path=path)
    assert not path.exists()


def _controls(count=3, steps=5, points=8):
    rng = np.random.default_rng(1)
    controls = {m: rng.uniform(-1.0, 1.0, (count, steps, points)) for m in METHODS}
    controls["no control"] = np.zeros((count, steps, points))
    controls["DDPM"][2, 0, 0] = -3.0  # the largest |f| on sample 2, negative
    t = np.linspace(0.0, 1.0, steps + 1)  # state times: edges of the control steps
    x = np.linspace(0.0, 1.0, points)
    return t, x, controls


def test_control_fields_share_one_symmetric_scale_and_report_energy(tmp_path, figures):
    t, x, controls = _controls()
    reference = np.full((3, 5, 8), 0.5)  # energy sum f^2 = 5 * 8 * 0.25 = 10
    path = tmp_path / "controls.png"
    control_plots.plot_control_fields(
        t, x, controls, sample=2, reference=reference, reference_label="data force", path=path
    )
    _assert_png(path)
    (figure,) = figures
    colorbars = [axis for axis in figure.axes if axis.get_label() == "<colorbar>"]
    assert len(colorbars) == 1
    panels = [axis for axis in figure.axes if axis.get_visible() and axis not in colorbars]
    meshes = [axis.collections[0] for axis in panels]
    assert len(meshes) == 1 + len(controls)
    assert {mesh.get_clim() for mesh in meshes} == {(-3.0, 3.0)}  # max |f| over the panels
    assert {mesh.get_cmap().name for mesh in meshes} == {"RdBu_r"}
    titles = [axis.get_title() for axis in panels]
    assert titles[0] == "data force\nΣf² = 10"
    assert titles[-1] == "no control\nΣf² = 0"
    energy = np.sum(controls["WDNO"][2] ** 2)
    assert titles[1] == f"WDNO\nΣf² = {energy:.3g}"
    assert figure.axes[0].get_xlabel() == "x" and figure.axes[0].get_ylabel() == "t"
    # Time runs over the state times (the force acts on [t_n, t_{n+1}]).
    assert figure.axes[0].get_ylim() == (0.0, 1.0)


def test_control_fields_accept_step_centres_and_all_zero_forces(tmp_path, figures):
    t, x, _ = _controls()
    centres = 0.5 * (t[1:] + t[:-1])
    path = tmp_path / "zero.png"
    control_plots.plot_control_fields(centres, x, {"no control": np.zeros((3, 5, 8))}, path=path)
    assert path.read_bytes()[:8] == PNG_SIGNATURE
    (figure,) = figures
    assert figure.axes[0].collections[0].get_clim() == (-1.0, 1.0)
    np.testing.assert_allclose(figure.axes[0].get_ylim(), (0.0, 1.0))


def test_control_fields_reject_bad_input(tmp_path):
    t, x, controls = _controls()
    path = tmp_path / "controls.png"
    with pytest.raises(ValueError, match="controls is empty"):
        control_plots.plot_control_fields(t, x, {}, path=path)
    bad = {**controls, "hybrid": controls["WDNO"][:, :-1]}
    with pytest.raises(ValueError, match=r"method 'hybrid' in controls has shape \(3, 4, 8\)"):
        control_plots.plot_control_fields(t, x, bad, path=path)
    with pytest.raises(ValueError, match=r"t has shape \(3,\)"):
        control_plots.plot_control_fields(t[:3], x, controls, path=path)
    with pytest.raises(ValueError, match="sample indices"):
        control_plots.plot_control_fields(t, x, controls, sample=3, path=path)
    assert not path.exists()


def _objectives(count=20):
    rng = np.random.default_rng(2)
    return {m: np.exp(rng.normal(-4.0 + i, 0.5, count)) for i, m in enumerate(METHODS)}


def test_objective_distribution_marks_points_means_and_references(tmp_path, figures):
    objectives = _objectives()
    path = tmp_path / "distribution.png"
    control_plots.plot_objective_distribution(
        objectives, reference={"paper WDNO (GPU)": 0.0205}, path=path
    )
    _assert_png(path)
    (figure,) = figures
    (axis,) = figure.axes
    assert axis.get_yscale() == "log"
    assert [label.get_text() for label in axis.get_xticklabels()] == list(METHODS)
    *strips, means = axis.collections
    for strip, values in zip(strips, objectives.values(), strict=True):
        np.testing.assert_array_equal(np.sort(strip.get_offsets()[:, 1]), np.sort(values))
    expected_means = [np.mean(values) for values in objectives.values()]
    np.testing.assert_allclose(means.get_offsets()[:, 1], expected_means)
    (reference,) = [line for line in axis.get_lines() if line.get_label().startswith("paper")]
    assert reference.get_label() == "paper WDNO (GPU): 0.0205"
    assert reference.get_linestyle() == "--"
    np.testing.assert_array_equal(reference.get_ydata(), [0.0205, 0.0205])
    legend_texts = {text.get_text() for text in axis.get_legend().get_texts()}
    assert {"mean", "paper WDNO (GPU): 0.0205"} <= legend_texts


def test_objective_distribution_rejects_bad_input(tmp_path):
    objectives = _objectives()
    path = tmp_path / "distribution.png"
    with pytest.raises(ValueError, match="no methods to plot"):
        control_plots.plot_objective_distribution({}, path=path)
    bad = {**objectives, "nearest training force": np.ones((19, 2))}
    with pytest.raises(ValueError, match=r"method 'nearest training force' .* shape \(19, 2\)"):
        control_plots.plot_objective_distribution(bad, path=path)
    # Methods may have different numbers of problems (diverged ones left out).
    control_plots.plot_objective_distribution({**objectives, "hybrid": np.ones(17)}, path=path)
    negative = {**objectives, "hybrid": -np.ones(20)}
    with pytest.raises(ValueError, match="method 'hybrid' has values <= 0"):
        control_plots.plot_objective_distribution(negative, path=path)
    # The same values are fine on a linear axis.
    control_plots.plot_objective_distribution(negative, log=False, path=path)
    assert path.read_bytes()[:8] == PNG_SIGNATURE


def test_objective_vs_time_draws_curves_and_labelled_points(tmp_path, figures):
    seconds = np.linspace(0.1, 100.0, 30)
    curves = {
        "solver gradient (equal time)": (seconds[:10], 0.5 / (1 + seconds[:10])),
        "solver gradient (converged)": (seconds, 0.3 / (1 + seconds)),
    }
    markers = {"WDNO": (2.5, 0.02), "DDPM": (np.float32(3.0), np.array(0.05))}
    path = tmp_path / "time.png"
    control_plots.plot_objective_vs_time(curves, markers=markers, logx=True, path=path)
    _assert_png(path)
    (figure,) = figures
    (axis,) = figure.axes
    assert axis.get_yscale() == "log" and axis.get_xscale() == "log"
    lines = {line.get_label(): line for line in axis.get_lines()}
    assert set(lines) == set(curves)
    np.testing.assert_array_equal(lines["solver gradient (converged)"].get_xdata(), seconds)
    points = [tuple(c.get_offsets()[0]) for c in axis.collections]
    np.testing.assert_allclose(points, [(2.5, 0.02), (3.0, 0.05)])
    assert {text.get_text() for text in axis.texts} == {"WDNO", "DDPM"}


def test_objective_vs_time_rejects_bad_input(tmp_path):
    path = tmp_path / "time.png"
    with pytest.raises(ValueError, match="both empty"):
        control_plots.plot_objective_vs_time({}, path=path)
    with pytest.raises(
        ValueError, match=r"curve 'hybrid' needs .* seconds \(5,\) and mean_J \(4,\)"
    ):
        control_plots.plot_objective_vs_time({"hybrid": (np.ones(5), np.ones(4))}, path=path)
    with pytest.raises(ValueError, match="marker 'WDNO' needs scalar"):
        control_plots.plot_objective_vs_time({}, markers={"WDNO": ([1.0, 2.0], 0.1)}, path=path)
    with pytest.raises(ValueError, match="method 'DDPM' has values <= 0"):
        control_plots.plot_objective_vs_time({}, markers={"DDPM": (1.0, 0.0)}, path=path)
    assert not path.exists()
