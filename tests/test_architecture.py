"""The architecture's promises: the method never imports a system, and a new system is a Task plus
a few CLI lines (docs/adding_a_system.md), exercised here with the toy heat system of
``docs/examples/heat_system.py`` through the generic driver and the shared CLI builders."""

from __future__ import annotations

import argparse
import ast
import importlib.util
import json
import math
import pathlib

import numpy as np
import pytest
import xarray as xr

from experiments import _options

ROOT = pathlib.Path(__file__).resolve().parents[1]


def _imports(path: pathlib.Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
    return found


def test_the_method_never_imports_a_system_or_an_experiment():
    offending = {
        str(path.relative_to(ROOT)): sorted(
            m for m in _imports(path) if m.split(".")[0] in ("systems", "experiments")
        )
        for path in (ROOT / "wdno").rglob("*.py")
    }
    assert not {k: v for k, v in offending.items() if v}


def test_the_diffusion_core_does_not_import_flax():
    for path in (ROOT / "wdno" / "diffusion").glob("*.py"):
        assert not any(m.split(".")[0] == "flax" for m in _imports(path)), path.name


def test_systems_hold_no_pipeline_code():
    # A system's modules never import the driver or the simulators: it is handed to them.
    for path in (ROOT / "systems").rglob("*.py"):
        bad = {"wdno.experiment", "wdno.simulators", "wdno.training"} & _imports(path)
        assert not bad, (path.name, bad)


@pytest.fixture(scope="module")
def heat():
    spec = importlib.util.spec_from_file_location(
        "heat_system", ROOT / "docs" / "examples" / "heat_system.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_toy_solver_against_the_analytic_mode_decay(heat):
    # One Fourier mode without forcing decays as exp(-nu (2 pi k)^2 t).
    x = np.arange(heat.NUM_POINTS) / heat.NUM_POINTS
    u0 = np.sin(2 * np.pi * 2 * x)
    u = np.asarray(heat.solve(u0, np.zeros((heat.NUM_INTERVALS, heat.NUM_POINTS))))
    t = np.arange(heat.NUM_INTERVALS + 1) * heat.INTERVAL
    expected = np.exp(-heat.VISCOSITY * (4 * np.pi) ** 2 * t)[:, None] * u0
    np.testing.assert_allclose(u, expected, atol=1e-5)


# 50-100 s (the toy system's demo trains five models); slow-marked to keep make test under 10
# minutes: the advection, compressible-NS and ERA5 demo tests run the same generic driver and CLI
@pytest.mark.slow
def test_a_new_system_runs_through_the_generic_driver_and_cli(heat, tmp_path):
    parser = argparse.ArgumentParser(prog="wdno")
    subparsers = parser.add_subparsers(dest="system")
    _options.add_system(subparsers, "heat", lambda: heat.TASK, help="toy", description="toy")
    run, data = tmp_path / "run", tmp_path / "data"
    args = parser.parse_args(["heat", "demo", "--run", str(run), "--data", str(data)])
    assert args.func(args) == 0

    record = json.loads((run / "run.json").read_text())
    assert record["system"] == "heat" and record["preset"]["name"] == "tiny"
    result = json.loads((run / "metrics.json").read_text())
    assert set(result["metrics"]) == {"wdno", "ddpm", "fno"}
    assert all(math.isfinite(row["mse"]) for row in result["metrics"].values())
    with xr.open_dataset(run / "predictions.nc") as predictions:
        assert predictions["u_wdno"].dims == ("sample", "t", "x")
        assert predictions["f"].dims == ("sample", "t_control", "x")
        truth = heat.read_split(data, "test", 4).state[..., 0]
        np.testing.assert_array_equal(predictions["u_true"].values, truth)
    assert (run / "figures" / "fields.png").is_file()
    # Later verbs need nothing but the run directory.
    args = parser.parse_args(["heat", "evaluate", "--run", str(run)])
    assert args.func(args) == 0
