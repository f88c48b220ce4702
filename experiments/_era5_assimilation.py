"""Guided forecasting with observations: a run's trained forecasts conditioned on sparse point
observations of the forecast window (``wdno era5 assimilate``; docs/era5.md).

The first ``num`` test windows are forecast from their 12 known hours twice with the same key:
unguided (``predict``) and guided by the misfit to observations of the 20 forecast hours at a
seeded random set of stations (:mod:`systems.era5.observations`; the truth there, optionally
with noise), through :class:`wdno.control.GuidedForecaster` at one or more guidance scales.
Every forecast is scored per lead time by the latitude-weighted RMSE against the truth at the
points nobody observed (does guidance spread the information?) and at the stations (does it
reach the observations?); persistence is the reference.

The run directory gets ``assimilation.json`` (settings, stations, RMSE per lead time and
misfits per model and scale), ``assimilation.md`` (a table per model) and
``figures/assimilation.png``.
"""

from __future__ import annotations

import pathlib
import time

import numpy as np

from systems.era5 import baselines, observations, task
from wdno import simulators
from wdno.control import GuidanceSettings, GuidedForecaster
from wdno.io import atomic, rundir
from wdno.training import parallel

__all__ = ["DEFAULT_SCALE", "MODELS", "plot", "run"]

MODELS = ("wdno", "ddpm")  # diffusion models of a run that can be guided
DEFAULT_SCALE = 1e-3


def _models(run_dir: pathlib.Path) -> list[str]:
    found = [name for name in MODELS if (run_dir / name / "simulator.json").exists()]
    if "wdno" not in found:
        raise FileNotFoundError(
            f"{run_dir / 'wdno'}: no trained WDNO; train the run first (`wdno era5 train --run "
            f"{run_dir}` or `wdno era5 demo`)"
        )
    return found


def _mean_misfit(forecast, observed, mask) -> float:
    """The objective averaged over forecasts: mean squared misfit at the observed entries."""
    squared = mask * (np.asarray(forecast, np.float64) - observed) ** 2
    return float(np.mean(squared.reshape(len(squared), -1).sum(axis=1) / mask.sum()))


def run(
    run_dir,
    *,
    fraction: float = 0.01,
    scales=(DEFAULT_SCALE,),
    num: int | None = None,
    noise_std: float = 0.0,
    seed: int = 0,
    schedule: str = "constant",
    progress: bool = True,
) -> dict:
    """Unguided and guided forecasts of the first ``num`` test windows; writes the files above.

    Args:
        run_dir: a trained ERA5 run (``<run>/wdno``; ``<run>/ddpm`` is used when present).
        fraction: share of the grid points that are stations (at least one).
        scales: guidance scales to try (each a :class:`GuidanceSettings` scale, > 0).
        num: test windows (default: the run preset's ``num_test``).
        noise_std: observation noise, standard deviation in kelvin.
        seed: the stations and the noise (sampling uses the run's seed).
        schedule: the guidance weight schedule (``"constant"`` or ``"cosine_beta"``).
        progress: progress bars.

    Returns:
        What ``assimilation.json`` holds.
    """
    run_dir = pathlib.Path(run_dir)
    record = rundir.read_run(run_dir, system=task.TASK.name)
    preset = record.preset
    scales = [float(scale) for scale in np.atleast_1d(scales)]
    if not scales or not all(scale > 0 for scale in scales):
        raise ValueError(f"scales: expected guidance scales > 0, got {scales}")
    num = preset.num_test if num is None else num
    if num < 1:
        raise ValueError(f"num: expected >= 1 test windows, got {num}")
    models = _models(run_dir)
    test = task.read_split(record.data_dir, "test", num)
    truth, past = test.state, task.PAST_HOURS
    latitude = np.asarray(test.coords["latitude"])
    stations = observations.choose_stations(truth.shape[2:4], fraction, seed=seed)
    mask = observations.observation_mask(stations, truth.shape[1], past, truth.shape[-1])
    observed = observations.observe(truth, mask, noise_std=noise_std, seed=seed)
    given = {"observations": observed, "observation_mask": np.broadcast_to(mask, truth.shape)}
    future = baselines.persistence(truth[:, :past], truth.shape[1] - past)
    persistence = np.concatenate([truth[:, :past], future], axis=1)

    def scores(forecast):
        finite = np.isfinite(forecast.reshape(len(forecast), -1)).all(axis=1)
        if not finite.all():
            raise FloatingPointError(
                f"assimilate: NaN/inf in forecasts {np.flatnonzero(~finite)[:10].tolist()}; "
                "nothing written (a smaller --scale?)"
            )
        rmse = observations.lead_rmse(forecast, truth, latitude, stations, past)
        return {
            **{name: values.tolist() for name, values in rmse.items()},
            "misfit": _mean_misfit(forecast, observed, mask),
        }

    result = {
        "fraction": fraction,
        "num_stations": int(stations.sum()),
        "num_points": int(stations.size),
        "stations": np.argwhere(stations).tolist(),
        "noise_std": noise_std,
        "seed": seed,
        "scales": scales,
        "schedule": schedule,
        "num_windows": num,
        "sampler": {"method": preset.sampler.method, "num_steps": preset.sampler.num_steps},
        "lead_times": np.asarray(test.coords["t"])[past:].tolist(),
        "persistence": scores(persistence),
        "models": {},
    }
    options = dict(key=preset.seed, batch_size=preset.sim_batch_size, progress=progress)
    with rundir.lock(run_dir, enabled=parallel.is_main_process()):
        for name in models:
            model = simulators.load(run_dir / name, use_ema=preset.use_ema)
            start = time.perf_counter()
            unguided = model.predict(truth[:, :past], sampler=preset.sampler, **options)
            entry = {
                "step": int(model.step),
                "unguided": {**scores(unguided), "seconds": time.perf_counter() - start},
                "guided": {},
            }
            for scale in scales:
                forecaster = GuidedForecaster(
                    model,
                    observations.misfit,
                    guidance=GuidanceSettings(scale=scale, schedule=schedule),
                    sampler=preset.sampler,
                )
                start = time.perf_counter()
                guided = forecaster.predict(truth[:, :past], given, **options)
                seconds = time.perf_counter() - start
                entry["guided"][_key(scale)] = {**scores(guided), "seconds": seconds}
            result["models"][name] = entry
        atomic.write_json(run_dir / "assimilation.json", result)
        atomic.write_text(run_dir / "assimilation.md", markdown(result, run_dir))
        plot(result, run_dir / "figures" / "assimilation.png")
    return result


def _key(scale: float) -> str:
    return f"{scale:g}"


def markdown(result: dict, run_dir) -> str:
    """``assimilation.md``: the settings, then per model a table by lead time of the RMSE at the
    unobserved points and at the stations, unguided, guided at each scale, and persistence."""
    scales = [_key(scale) for scale in result["scales"]]
    lines = [
        "# Guided forecasting with observations",
        "",
        f"Run `{run_dir}`: the first {result['num_windows']} test windows, the 12 past hours "
        f"given; {result['num_stations']} of {result['num_points']} grid points observed "
        f"(fraction {result['fraction']:g}, seed {result['seed']}) at every forecast hour, "
        f"observation noise {result['noise_std']:g} K. Guidance by the mean squared misfit to "
        f"the observations, {result['schedule']} weights; sampler {result['sampler']['method']} "
        f"with {result['sampler']['num_steps']} steps, the same key guided and unguided.",
        "",
        "Latitude-weighted RMSE [K] against the truth, per lead time, at the points not observed "
        "and at the stations; misfit: the guidance objective (mean squared misfit to the "
        "observations, K²), mean over windows.",
    ]
    header = ["unguided", *[f"guided {s}" for s in scales], "persistence"]
    for name, entry in result["models"].items():
        columns = [entry["unguided"], *[entry["guided"][s] for s in scales], result["persistence"]]
        lines += [
            "",
            f"## {name.upper()} (step {entry['step']})",
            "",
            "| lead | "
            + " | ".join(f"unobserved: {h}" for h in header)
            + " | "
            + " | ".join(f"observed: {h}" for h in header)
            + " |",
            "|" + " --- |" * (1 + 2 * len(header)),
        ]
        rows = [(f"+{lead:g} h", index) for index, lead in enumerate(result["lead_times"])]
        for label, index in [*rows, ("mean", None)]:
            cells = []
            for where in ("unobserved", "observed"):
                for column in columns:
                    values = np.asarray(column[where])
                    value = values.mean() if index is None else values[index]
                    cells.append(f"{value:.3f}")
            lines.append(f"| {label} | " + " | ".join(cells) + " |")
        misfits = " | ".join(f"{column['misfit']:.3g}" for column in columns)
        lines += [
            "",
            "| misfit [K²] | " + " | ".join(header) + " |",
            "|" + " --- |" * (1 + len(header)),
            f"| mean | {misfits} |",
        ]
    return "\n".join(lines) + "\n"


def plot(result: dict, path) -> pathlib.Path:
    """RMSE against lead time: a panel per model and point set (unobserved, observed), a line
    per method (unguided, guided at each scale, persistence); written atomically."""
    import matplotlib.pyplot as plt

    from wdno.evaluation import plots

    curves = {}
    for name, entry in result["models"].items():
        for where in ("unobserved", "observed"):
            methods = {"unguided": entry["unguided"][where]}
            for scale, scores in entry["guided"].items():
                methods[f"guided, scale {scale}"] = scores[where]
            methods["persistence"] = result["persistence"][where]
            curves[f"{name.upper()}, {where} points: RMSE [K]"] = methods
    count = result["num_stations"]
    figure = plots.plot_lead_time_metrics(
        curves,
        lead_times=result["lead_times"],
        xlabel="lead time [h]",
        title=f"Guided forecasting with {count} observed point{'s' * (count != 1)}",
    )
    path = pathlib.Path(path)
    with atomic.atomic_path(path, overwrite=True) as temporary:
        figure.savefig(temporary, format="png", dpi=120, bbox_inches="tight")
    plt.close(figure)
    return path
