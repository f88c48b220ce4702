"""The super-resolution model (wdno.superres.simulator) and the Burgers super-resolution driver
(experiments._burgers_superres, the `wdno burgers superres` verb) end to end on the tiny preset.

The models are trained for two or three steps with a very small U-Net: the checks are about the
pipeline (files, shapes, preserved conditions, resumption, metrics), not accuracy. Compilation
(one training step per resolution pair, one sampler per level) dominates the time: about a minute
per model on two loaded CPU cores, so only the driver test (every method, through the CLI) runs
by default; the SRM's own fit/load/upscale/resume test is ``slow``.
"""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import xarray as xr

from experiments import _burgers_superres as driver
from experiments import cli
from systems.burgers import generate, grid, presets
from systems.burgers.task import TASK
from wdno import experiment, simulators
from wdno.io import rundir
from wdno.nets.unet import UNetConfig
from wdno.simulators.sampling import SamplerConfig
from wdno.superres.simulator import SuperResolutionModel

SMALL_UNET = UNetConfig(
    9,
    dim=4,
    dim_mults=(1, 2),
    num_spatial_dims=2,
    num_groups=2,
    attention=False,
    linear_attention=False,
    init_kernel_size=3,
)


def _preset(**changes):
    base = presets.RUN_PRESETS["tiny"]
    return dataclasses.replace(
        base, unet=SMALL_UNET, steps=2, batch_size=2, sampling_steps=2, **changes
    )


# ---- interpolation (fast) --------------------------------------------------------------------


def test_interpolation_matches_np_interp_on_the_nested_coordinates():
    rng = np.random.default_rng(0)
    factor, stride = 4, 2
    coarse_t, coarse_x = grid.stored_times(factor // stride), grid.stored_x(factor // stride)
    fine_t, fine_x = grid.stored_times(factor), grid.stored_x(factor)
    np.testing.assert_allclose(fine_t[::stride], coarse_t, atol=1e-12)
    np.testing.assert_array_equal(fine_x[::stride], coarse_x)
    values = rng.normal(size=(2, len(coarse_t), len(coarse_x)))
    linear = driver.interpolate_to_finest(values, stride, (len(fine_t), len(fine_x)), "linear")
    expected = np.stack(
        [
            np.stack([np.interp(fine_x, coarse_x, row) for row in _along_t(v, coarse_t, fine_t)])
            for v in values
        ]
    )
    np.testing.assert_allclose(linear, expected, atol=1e-12)
    nearest = driver.interpolate_to_finest(values, stride, (len(fine_t), len(fine_x)), "nearest")
    np.testing.assert_array_equal(nearest[:, ::stride, ::stride], values)
    np.testing.assert_array_equal(nearest[:, 1::stride, 1::stride], values[:, :-1, :])  # ties
    assert driver.mse(values, values) == 0.0


def _along_t(values, coarse_t, fine_t):
    """``(T_fine, X_coarse)``: linear interpolation in t of every x column."""
    return np.stack([np.interp(fine_t, coarse_t, column) for column in values.T], axis=1)


# ---- the SRM on random data --------------------------------------------------------------------


@pytest.mark.slow
def test_superres_model_fits_loads_upscales_and_resumes(tmp_path):
    rng = np.random.default_rng(1)
    state = rng.normal(size=(4, 33, 32, 1)).astype(np.float32)
    control = rng.normal(size=(4, 32, 32, 1)).astype(np.float32)
    workdir = tmp_path / "sr"
    record = SuperResolutionModel.fit(
        workdir, state, control, preset=_preset(), num_levels=2, progress=False
    )
    assert record["steps"] == 2 and np.isfinite(record["final_loss"])
    description = json.loads((workdir / "simulator.json").read_text())
    assert description["implementation"] == "superres" and description["num_levels"] == 2
    assert description["pair_grids"] == [[33, 32]]
    assert (workdir / "normalizer.json").is_file()

    model = SuperResolutionModel.load(workdir)
    assert model.step == 2 and model.state_shape == (33, 32, 1)
    fine = rng.normal(size=(4, 65, 64, 1)).astype(np.float32)
    fine_control = rng.normal(size=(4, 64, 64, 1)).astype(np.float32)
    levels = model.upscale(
        state,
        control,
        [(fine[:, 0], fine_control)],
        factor=2,
        key=0,
        sampler=SamplerConfig(num_steps=2),
        batch_size=4,
    )
    assert [lv.state.shape for lv in levels] == [(4, 33, 32, 1), (4, 65, 64, 1)]
    assert levels[1].control.shape == (4, 64, 64, 1)
    np.testing.assert_array_equal(levels[1].state[:, 0], fine[:, 0])
    np.testing.assert_allclose(levels[1].control, fine_control, atol=1e-4)
    with pytest.raises(ValueError, match="factor"):
        model.upscale(state, control, [(fine[:, 0], fine_control)], factor=4)

    record = SuperResolutionModel.fit(
        workdir, state, control, preset=_preset(), num_levels=2, steps=3, progress=False
    )
    assert record["steps"] == 3
    steps = [int(line.split(",")[0]) for line in (workdir / "log.csv").read_text().split()[1:]]
    assert steps == [1, 2, 3]  # continued from the checkpoint of step 2, not restarted
    assert SuperResolutionModel.load(workdir).step == 3


# ---- the Burgers driver --------------------------------------------------------------------------


@pytest.mark.slow  # 1.5-3 min: six tiny models trained; make test stays under 10 minutes
def test_burgers_superres_every_method_end_to_end(tmp_path):
    run, data = tmp_path / "run", tmp_path / "data"
    preset = _preset(num_train=4, num_test=2)
    TASK.generate(data, "train", "tiny", num=4, progress=False)
    experiment.train(TASK, run, preset, data, models=("wdno",), progress=False)
    assert rundir.read_run(run).preset.unet == SMALL_UNET
    with pytest.raises(FileNotFoundError, match="no trained ddpm, fno"):
        driver.run(run, methods=("ddpm", "fno", "wdno"), factor=2, progress=False)
    experiment.train(TASK, run, preset, data, models=("ddpm", "fno"), progress=False)

    num, factor = 2, 2
    arguments = ["--run", str(run), "--factor", "2", "--num", "2", "--levels", "3"]
    assert cli.main(["burgers", "superres", *arguments]) == 0
    result = json.loads((run / "superres.json").read_text())

    for name in (
        "superres.nc",
        "superres.md",
        "figures/superres.png",
        "figures/superres_error.png",
    ):
        assert (run / name).is_file(), name
    assert generate.output_path(data, "test", factor).is_file()
    assert list(result["methods"]) == ["wdno", "ddpm", "fno", "single-pair"]
    # every SRM in its own directory: WDNO's and the DDPM's on 3 levels (2 pairs), one pair
    for directory, transform, grids in (
        ("superres", "wavelet", [[81, 120], [41, 60]]),
        ("superres_ddpm", "identity", [[81, 120], [41, 60]]),
        ("superres_single_pair", "wavelet", [[81, 120]]),
    ):
        description = json.loads((run / directory / "simulator.json").read_text())
        assert description["encoding"]["transform"] == transform
        assert description["pair_grids"] == grids and description["num_levels"] == len(grids) + 1
    assert not (run / "superres_fno").exists()
    for name, entry in result["methods"].items():
        assert [row["shape"] for row in entry["levels"]] == [[81, 120], [161, 240]], name
        if name != "fno":
            assert all(row["control_error_max"] < 1e-4 for row in entry["levels"])  # f imposed
    # in physical space u(t=0) is a grid row, imposed: the DDPM cascade returns it exactly
    assert result["methods"]["ddpm"]["levels"][1]["initial_state_error_max"] < 1e-5
    table = (run / "superres.md").read_text()
    for entry in result["methods"].values():
        assert table.count(f"| {entry['label']} | x") == 2

    with generate.open_dataset(generate.output_path(data, "test", factor)) as reader:
        fields = reader.read(0, num, ["u", "f"])
    truth, force = np.asarray(fields["u"], np.float64), np.asarray(fields["f"], np.float32)
    with xr.open_dataset(run / "superres.nc") as dataset:
        dataset = dataset.load()
    assert dataset["f_r2"].shape == (num, 160, 240)
    for r, stride in ((1, 2), (2, 1)):
        np.testing.assert_array_equal(dataset[f"u_true_r{r}"].values, truth[:, ::stride, ::stride])
        np.testing.assert_array_equal(dataset[f"f_r{r}"].values, force[:, ::stride, ::stride])
        for name, key in (("wdno", "wdno"), ("ddpm", "ddpm"), ("fno", "fno")):
            prediction = dataset[f"u_{key}_r{r}"].values
            assert prediction.shape == truth[:, ::stride, ::stride].shape
            np.testing.assert_array_equal(prediction[:, 0], truth[:, 0, ::stride])  # u0 kept
            native = np.mean((prediction[:, 1:] - truth[:, ::stride, ::stride][:, 1:]) ** 2)
            level = result["methods"][name]["levels"][r // 2]
            np.testing.assert_allclose(level["mse_native"], native, rtol=1e-10)
    # the single-pair SRM refines the same base WDNO output
    np.testing.assert_array_equal(dataset["u_single_pair_r1"], dataset["u_wdno_r1"])
    # the FNO's base level is the run's FNO at its training grid
    base_fno = simulators.load(run / "fno").predict(
        truth[:, 0, ::2, None], force[:, ::2, ::2, None], progress=False
    )
    np.testing.assert_allclose(dataset["u_fno_r1"].values, base_fno[..., 0], rtol=1e-6, atol=1e-6)

    # the interpolation baseline, recomputed with np.interp on the stored coordinates
    base = dataset["u_wdno_r1"].values.astype(np.float64)
    t_coarse, x_coarse = dataset["t_r1"].values, dataset["x_r1"].values
    t_fine, x_fine = dataset["t_r2"].values, dataset["x_r2"].values
    linear = np.stack(
        [
            np.stack(
                [np.interp(x_fine, x_coarse, row) for row in _along_t(sample, t_coarse, t_fine)]
            )
            for sample in base
        ]
    )
    expected = np.mean((linear[:, 1:] - truth[:, 1:]) ** 2)
    np.testing.assert_allclose(result["baseline"]["mse_linear"], expected, rtol=1e-10)
    nearest = np.repeat(np.repeat(base, 2, axis=1)[:, :161], 2, axis=2)  # ties: earlier point
    expected = np.mean((nearest[:, 1:] - truth[:, 1:]) ** 2)
    np.testing.assert_allclose(result["baseline"]["mse_nearest"], expected, rtol=1e-10)
    assert result["baseline"]["mse_linear"] == result["methods"]["wdno"]["levels"][0]["mse_linear"]

    # --methods: the FNO alone (no SRM trained or loaded), the files hold that method only
    assert cli.main(["burgers", "superres", *arguments, "--methods", "fno"]) == 0
    again = json.loads((run / "superres.json").read_text())
    assert list(again["methods"]) == ["fno"] and "baseline" not in again
    assert again["methods"]["fno"]["levels"] == result["methods"]["fno"]["levels"]
