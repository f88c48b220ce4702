"""ERA5 2 m temperature as the method sees it: its :class:`wdno.task.Task` (spec §8.5).

A sample is one window of 32 consecutive hours of 2 m temperature on a latitude-longitude box,
``state (N, 32, lat, lon, 1)`` in kelvin, no control. The paper's task is a forecast: the past
12 hours known, the next 20 generated as one trajectory. The Task says so with
``past_frames = 12``: the generic driver's simulation conditions every model on the first 12
frames (WDNO: their joint DWT, extended to 32 frames by repeating the last one, as always-known
channels) and scores only the 20 generated ones. The transform is one level of bior1.3 over
(t, latitude, longitude), zero boundaries.

Evaluation adds WeatherBench's view (:func:`scoring`): persistence and the training period's
climatology as baselines beside the models, and per lead time (+1 .. +20 h) the MSE, the
latitude-weighted RMSE and the anomaly correlation against that climatology; :func:`figures` draws
truth / forecast / error maps at a few lead times.

Data are not simulated but read from an ERA5 archive (:mod:`systems.era5.loader`): ``generate``
cuts a split's windows from ``source`` (a CDS NetCDF file or a WeatherBench-style Zarr store) and
stores them in ``<data_dir>/<split>.npz``; for the ``tiny`` preset it first writes a synthetic
ERA5-like file when none is given.
"""

from __future__ import annotations

import dataclasses
import json
import pathlib

import numpy as np

from systems.era5 import baselines, loader, presets, synthetic
from wdno.evaluation import maps, metrics
from wdno.io import atomic
from wdno.task import MODES, EvaluationData, FieldSpec, Scoring, Task, Trajectories

__all__ = [
    "TASK",
    "data_file",
    "figures",
    "generate",
    "read_split",
    "read_windows",
    "scoring",
    "training_climatology",
]

PAST_HOURS = 12  # frames known in the forecast mode
MAP_LEADS = (1, 6, 12, 20)  # hours ahead drawn by `figures`


def data_file(data_dir, split: str) -> pathlib.Path:
    """``<data_dir>/<split>.npz``."""
    return pathlib.Path(data_dir) / f"{split}.npz"


def _source(data_dir: pathlib.Path, preset: presets.DataPreset, source) -> list:
    synthesize = source is None and preset.synthetic  # a user's source is never invented
    if source is None:
        source = preset.source
    if source is None:
        raise ValueError(
            f"ERA5 data preset {preset.name!r} reads a real archive: pass source= (a CDS NetCDF "
            "file, several of them, or a WeatherBench Zarr store; docs/era5.md)"
        )
    sources = [source] if isinstance(source, (str, pathlib.Path)) else list(source)
    sources = [s if "://" in str(s) else data_dir / s for s in sources]
    if synthesize and len(sources) == 1 and not pathlib.Path(sources[0]).exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        first = min(np.datetime64(a, "h") for a, _ in preset.periods.values())
        last = max(np.datetime64(b, "D") + 1 for _, b in preset.periods.values())
        field = synthetic.synthetic_field(
            str(first), int((last.astype("datetime64[h]") - first).astype(int))
        )
        with atomic.atomic_path(sources[0]) as temporary:
            synthetic.write_cds_netcdf(temporary, field, longitude_convention="-180..180")
    return sources


def generate(
    data_dir,
    split: str,
    data_preset: str,
    *,
    source=None,
    num: int | None = None,
    seed: int = 0,
    overwrite: bool = False,
    progress: bool = True,
) -> pathlib.Path:
    """Cut the windows of ``split`` from an ERA5 archive into ``<data_dir>/<split>.npz``.

    Args:
        data_dir: output directory (relative sources are read from it too).
        split: ``train``, ``val`` or ``test`` (the preset's periods).
        data_preset: a key of :data:`systems.era5.presets.DATA_PRESETS`.
        source: NetCDF path(s) or Zarr store; None: the preset's (synthetic for ``tiny``).
        num: keep only the first ``num`` windows (time order).
        seed: unused (the data are not random); accepted for the CLI's ``generate``.
        overwrite: replace an existing file.
        progress: print what is read.
    """
    del seed
    data_dir = pathlib.Path(data_dir)
    preset = presets.DATA_PRESETS[data_preset]
    if split not in preset.periods:
        raise ValueError(
            f"ERA5 preset {data_preset!r} has splits {sorted(preset.periods)}, not {split!r}"
        )
    sources = _source(data_dir, preset, source)
    period = preset.periods[split]
    selection = dataclasses.replace(preset.selection, period=period)
    if progress:
        print(f"[era5] reading {selection.variable} {period} from {', '.join(map(str, sources))}")
    field = loader.load_selection(sources, selection)
    windows = loader.split_windows(
        field, {split: period}, preset.window, expected_grid=preset.grid, source=str(sources[0])
    )[split]
    stop = None if num is None else num
    path = data_file(data_dir, split)
    attrs = {
        "variable": selection.variable,
        "units": field.attrs.get("units", "K"),
        "period": list(period),
        "sources": [str(s) for s in sources],
        "past": preset.window.past,
        "future": preset.window.future,
        "stride": preset.window.stride,
    }
    with atomic.atomic_path(path, overwrite=overwrite) as temporary:
        with open(temporary, "wb") as handle:
            np.savez(
                handle,
                state=windows.values[:stop],
                start_times=windows.start_times[:stop].astype("datetime64[s]").astype(np.int64),
                hours=windows.hours,
                latitude=windows.latitude,
                longitude=windows.longitude,
                attrs=json.dumps(attrs),
            )
    return path


def read_windows(data_dir, split: str, limit: int | None = None) -> loader.Windows:
    """The first ``limit`` windows of a split file, with their start times."""
    path = data_file(data_dir, split)
    if not path.exists():
        raise FileNotFoundError(
            f"{path} not found: cut it with `generate(data_dir, {split!r}, preset, source=...)`"
        )
    with np.load(path) as stored:
        if limit is not None and limit > len(stored["state"]):
            raise ValueError(f"{path} holds {len(stored['state'])} windows, {limit} requested")
        return loader.Windows(
            values=stored["state"][:limit].astype(np.float32),
            start_times=stored["start_times"][:limit].astype("datetime64[s]"),
            hours=stored["hours"],
            latitude=stored["latitude"],
            longitude=stored["longitude"],
        )


def read_split(data_dir, split: str, limit: int | None = None) -> Trajectories:
    """``state (N, 32, lat, lon, 1)`` in kelvin, no control; coordinates ``t`` (hours relative
    to the last known frame, ``-11 .. 20``), ``latitude`` and ``longitude``."""
    windows = read_windows(data_dir, split, limit)
    return Trajectories(
        state=windows.values[..., None],
        control=None,
        coords={
            "t": windows.hours.astype(np.float64),
            "latitude": windows.latitude,
            "longitude": windows.longitude,
        },
    )


def training_climatology(data_dir) -> np.ndarray:
    """The training split's mean by UTC hour of day, ``(24, lat, lon)`` in kelvin: every hour of
    its windows once (:func:`systems.era5.baselines.unique_frames`)."""
    train = read_windows(data_dir, "train")
    frames, times = baselines.unique_frames(train.values, train.valid_times)
    return baselines.fit_climatology(frames, times)


def scoring(data: EvaluationData) -> Scoring:
    """The generic driver's ERA5 additions for a run's test set (``Task.scoring``).

    Baselines (no training; whole windows, the 12 known hours the truth's): ``persistence``
    (the last known hour repeated) and ``climatology`` (:func:`training_climatology` at each
    valid time). Metrics per lead time on the 20 forecast hours: ``mse`` (unweighted, its mean
    over the lead times is the table's MSE), ``rmse_w`` (latitude-weighted RMSE) and ``acc``
    (anomaly correlation with the same climatology; undefined, NaN, for the climatology
    itself, whose anomaly is zero).
    """
    test = read_windows(data.data_dir, "test", len(data.truth))
    if test.values.shape != data.truth.shape[:-1] or not np.array_equal(
        test.values, data.truth[..., 0]
    ):
        raise ValueError(
            f"{data_file(data.data_dir, 'test')} does not hold the test windows of "
            f"{data.run_dir / 'predictions.nc'} (the data changed since `simulate`?): simulate "
            "again, or score the run with the data it used"
        )
    past, length = data.past_frames, data.truth.shape[1]
    expected = baselines.climatology_forecast(
        training_climatology(data.data_dir), test.valid_times[:, past:]
    )[..., None]
    known = data.truth[:, :past]
    forecasts = {
        "persistence": baselines.persistence(known, length - past),
        "climatology": expected,
    }
    latitude = np.asarray(data.coords["latitude"])

    def lead_metrics(prediction, truth):
        error = np.asarray(prediction, np.float64) - np.asarray(truth, np.float64)
        return {
            "mse": np.mean(error**2, axis=(0, *range(2, error.ndim))),
            "rmse_w": metrics.latitude_weighted_rmse(prediction, truth, latitude),
            "acc": metrics.anomaly_correlation(prediction, truth, expected, latitude),
        }

    return Scoring(
        baselines={
            name: np.concatenate([known, forecast.astype(known.dtype)], axis=1)
            for name, forecast in forecasts.items()
        },
        lead_metrics=lead_metrics,
        metric_labels={
            "mse": "MSE [K²]",
            "rmse_w": "latitude-weighted RMSE [K]",
            "acc": "anomaly correlation (ACC)",
        },
        lead_unit="h",
    )


def figures(data: EvaluationData, predictions, directory, samples) -> list[pathlib.Path]:
    """Truth / forecast / error maps of the first of ``samples`` at +1, +6, +12 and +20 h, for
    WDNO (or the first model of the run without it): ``<directory>/maps_<model>.png``."""
    name = "wdno" if "wdno" in predictions else next(iter(predictions))
    sample = samples[0]
    lead_times = np.asarray(data.coords["t"])[data.past_frames :]
    shown = [index for index, lead in enumerate(lead_times) if lead in MAP_LEADS]
    if not shown:
        return []
    frames = data.past_frames + np.asarray(shown, int)
    path = pathlib.Path(directory) / f"maps_{name}.png"
    maps.plot_forecast_maps(
        data.truth[sample, frames, ..., 0],
        np.asarray(predictions[name])[sample, frames, ..., 0],
        latitude=data.coords["latitude"],
        longitude=data.coords["longitude"],
        titles=[f"+{lead_times[index]:g} h" for index in shown],
        forecast_name=name.upper(),
        field_name="t2m",
        units="K",
        suptitle=f"{TASK.title}, test sample {sample}",
        path=path,
    )
    return [path]


TASK = Task(
    name="era5",
    title="ERA5 2 m temperature",
    state_fields=(FieldSpec("t2m", "K", "2 metre temperature"),),
    control_fields=(),
    dims=("t", "latitude", "longitude"),
    data_file=data_file,
    generate=generate,
    read_split=read_split,
    data_presets=presets.DATA_PRESETS,
    presets=presets.RUN_PRESETS,
    default_preset="tiny",
    known={"simulation": ("initial_state",), "forecast": MODES["forecast"]},
    transform=presets.ENCODING,
    spectral_axis=3,
    skip_initial=True,
    past_frames=PAST_HOURS,
    reference={"wdno": 12.83},
    reference_note=("Sec. 4.5 via secondary sources; region, resolution, years and split unknown"),
    scoring=scoring,
    figures=figures,
)
