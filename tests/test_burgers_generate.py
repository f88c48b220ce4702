"""Burgers data generation: determinism, disjoint splits, stored f drives stored u, nesting, CLI."""

from __future__ import annotations

import jax
import numpy as np
import pytest

from experiments import cli
from systems.burgers import generate, grid, solver

FAST = solver.SolverConfig(end_time=0.8, steps_per_interval=8)


def test_samples_do_not_depend_on_batch_size():
    sampling = generate.SamplingConfig()
    whole = generate.generate_batch(generate.sample_keys(5, "train", np.arange(4)), sampling, FAST)
    parts = [
        generate.generate_batch(
            generate.sample_keys(5, "train", np.arange(i, i + 2)), sampling, FAST
        )
        for i in (0, 2)
    ]
    for name, values in whole.items():
        joined = np.concatenate([np.asarray(part[name]) for part in parts])
        if name == "u":
            np.testing.assert_allclose(joined, values, atol=1e-5)
        else:
            np.testing.assert_array_equal(joined, values)


def test_train_and_test_streams_are_disjoint():
    sampling = generate.SamplingConfig()
    draw = jax.jit(jax.vmap(lambda key: generate.sample_parameters(key, sampling)))
    rows = {}
    for split in generate.SPLITS:
        parameters = draw(generate.sample_keys(0, split, np.arange(2000)))
        rows[split] = {
            np.concatenate([np.ravel(v[i]) for v in parameters.values()]).tobytes()
            for i in range(2000)
        }
        assert len(rows[split]) == 2000  # no repeats inside a split either
    assert not rows["train"] & rows["test"]


def test_sampled_ranges_match_the_paper():
    parameters = jax.vmap(generate.sample_parameters)(
        generate.sample_keys(1, "train", np.arange(4000))
    )
    a = np.asarray(parameters["initial_amplitude"])
    assert a[:, 0].min() >= 0 and a[:, 0].max() <= 2 and a[:, 1].min() >= -2 and a[:, 1].max() <= 0
    b = np.asarray(parameters["initial_center"])
    assert (
        0.2 <= b[:, 0].min()
        and b[:, 0].max() <= 0.4
        and 0.6 <= b[:, 1].min()
        and b[:, 1].max() <= 0.8
    )
    on = np.asarray(parameters["force_amplitude"]) != 0
    assert on[:, 0].all() and abs(on[:, 1:].mean() - 0.5) < 0.02
    assert np.asarray(parameters["force_width_t"]).min() >= 0.1


def test_generated_file_is_consistent(tmp_path):
    path = generate.output_path(tmp_path, "test")
    generate.generate(path, "test", 3, seed=2, batch_size=2, solver_config=FAST, progress=False)
    with pytest.raises(FileExistsError):
        generate.generate(path, "test", 3, seed=2, solver_config=FAST, progress=False)
    with generate.open_dataset(path) as reader:
        batch = reader.read(0, 3, list(reader.fields) + list(reader.parameters))
        x, times = reader.coords["x"], reader.coords["t"]
        assert batch["u"].shape == (3, 81, 120) and batch["f"].shape == (3, 80, 120)
        assert reader.attrs["split"] == "test" and reader.attrs["seed"] == 2
    # independent NumPy evaluation of the documented formulas from the stored parameters
    p = {k.split("/")[-1]: v for k, v in batch.items()}
    gauss = lambda z, c, s: np.exp(-((z - c) ** 2) / (2 * s**2))
    u0 = sum(
        p["initial_amplitude"][:, [i]]
        * gauss(x, p["initial_center"][:, [i]], p["initial_width"][:, [i]])
        for i in range(2)
    )
    np.testing.assert_allclose(batch["u"][:, 0], u0, atol=1e-5)
    tau = times[:-1] / times[-1]
    force = np.zeros((3, 80, 120))
    for i in range(8):
        space = gauss(x[None, :], p["force_center_x"][:, [i]], p["force_width_x"][:, [i]])[
            :, None, :
        ]
        time = (
            2
            * gauss(tau[None, :], p["force_center_t"][:, [i]], p["force_width_t"][:, [i]])[
                :, :, None
            ]
        )
        force += p["force_amplitude"][:, i, None, None] * space * time
    np.testing.assert_allclose(batch["f"], force, atol=1e-5)
    # the stored (coarse) u0 and f drive the solver to the stored u (spec pitfall 1 avoided);
    # the coarse inputs are re-interpolated, so agreement is to interpolation accuracy
    again = jax.vmap(lambda a, b: solver.solve(a, b, FAST))(batch["u"][:, 0], batch["f"])
    error = np.linalg.norm(np.asarray(again) - batch["u"]) / np.linalg.norm(batch["u"])
    assert error < 1e-3


def test_resolutions_hold_the_same_trajectories(tmp_path):
    for factor in (1, 2):
        generate.generate(
            generate.output_path(tmp_path, "train", factor),
            "train",
            2,
            factor=factor,
            solver_config=FAST,
            progress=False,
        )
    with (
        generate.open_dataset(tmp_path / "train.h5") as base,
        generate.open_dataset(tmp_path / "train_r2.h5") as fine,
    ):
        coarse, dense = base[:], fine[:]
        assert dense["u"].shape == (2, 161, 240)
        np.testing.assert_allclose(dense["u"][:, ::2, ::2], coarse["u"], atol=1e-5)
        np.testing.assert_array_equal(dense["f"][:, ::2, ::2], coarse["f"])
        np.testing.assert_array_equal(dense["f"][:, 1::2, ::2], coarse["f"])  # repeated in time
        np.testing.assert_array_equal(fine.coords["x"][::2], grid.stored_x(1))


def test_interrupted_generation_leaves_no_file(tmp_path, monkeypatch):
    real = generate.generate_batch
    calls = []

    def failing(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(generate, "generate_batch", failing)
    with pytest.raises(KeyboardInterrupt):
        generate.generate(
            tmp_path / "train.h5", "train", 4, batch_size=2, solver_config=FAST, progress=False
        )
    assert list(tmp_path.iterdir()) == []


def test_cli_generate_and_export(tmp_path, capsys):
    import xarray as xr

    out = tmp_path / "burgers"
    args = [
        "burgers",
        "generate",
        "--split",
        "test",
        "--num",
        "2",
        "--out",
        str(out),
        "--preset",
        "tiny",
    ]
    assert cli.main(args) == 0
    assert cli.main(args) == 1  # refuses to overwrite
    assert cli.main(["burgers", "export", str(out / "test.h5"), str(tmp_path / "test.nc")]) == 0
    with xr.open_dataset(tmp_path / "test.nc") as dataset:
        assert dataset["u"].dims == ("sample", "t", "x") and dataset["f"].dims == (
            "sample",
            "t_force",
            "x",
        )
        assert dataset["u"].shape == (2, 81, 120) and dataset["t"].attrs["units"] == "1"
    assert cli.main(["burgers"]) == 2
    assert "generate" in capsys.readouterr().out


def test_parameters_do_not_depend_on_x64_mode():
    keys = generate.sample_keys(0, "test", np.arange(8))
    draw = jax.vmap(generate.sample_parameters)
    default = draw(keys)
    with jax.enable_x64():
        wide = draw(keys)
    for name, values in default.items():
        np.testing.assert_array_equal(np.asarray(wide[name]), np.asarray(values), err_msg=name)
