"""The Burgers simulation experiment end to end: data, training, simulation, evaluation, plots.

One *run directory* holds everything a run produces::

    run.json            the run preset (with overrides), data location, command, hardware
    wdno/ ddpm/ fno/    one trained simulator each (wdno.simulators): simulator.json,
                        normalizer.json, config.json, log.csv, checkpoints/
    train.json          training time, steps and final loss per model
    predictions.nc      test trajectories: u_true, f and u_<model> (NetCDF, xarray-readable)
    metrics.json        scalar metrics and per-time MAE per model
    results.md          the results table
    figures/            heat maps, per-time MAE curve, training-loss curves (PNG)

The three models are trained on the same training set with the same steps, batch size, learning
rate schedule and seed (paper Table 1's comparison; spec §6 for the paper preset). Presets:
``tiny`` (tests, seconds), ``cpu`` (the README demo on a 2-core CPU) and ``paper`` (a GPU: 40,000
trajectories, the paper's U-Net, 100k steps; the paper reports a WDNO simulation MSE of 1.4e-4).
"""

from __future__ import annotations

import dataclasses
import json
import os
import pathlib
import platform
import sys
import time

import numpy as np

from systems.burgers import generate, presets
from wdno.transforms import encoding, fno, metrics, plots, simulation, simulators, train, unet

__all__ = [
    "MODELS",
    "RUN_PRESETS",
    "RunPreset",
    "ensure_data",
    "evaluate_run",
    "load_split",
    "plot_run",
    "read_run",
    "run_all",
    "simulate_run",
    "train_run",
]

MODELS = simulators.KINDS
REFERENCE_MSE = {"wdno": 1.4e-4, "ddpm": 1.3e-4}  # paper Table 1 (spec §10), 40k trajectories


@dataclasses.dataclass(frozen=True)
class RunPreset:
    """Everything that defines a Burgers run (every field can be overridden from the CLI).

    Attributes:
        name: preset name.
        data: data preset of :mod:`systems.burgers.presets` (sizes of the generated sets).
        num_train: training trajectories used (``None``: all in the file).
        num_test: test trajectories simulated and evaluated.
        network: U-Net preset of :class:`wdno.unet.UNetConfig` (``tiny``, ``cpu``, ``paper``).
        network_dim: base width of the U-Net (``None``: the preset's).
        network_groups: GroupNorm groups of the U-Net (``None``: the preset's); keep at least two
            channels per group (with one, GroupNorm becomes instance norm, which trains worse).
        fno_width, fno_modes: FNO hidden width and Fourier modes per (t, x) axis.
        steps, batch_size, learning_rate, lr_schedule, warmup_steps: training (shared by all
            models).
        use_ema: sample with EMA weights (the original samples with the raw ones, pitfall 5).
        sampling_steps: DDIM steps (spec §4.1: 50, eta = 1).
        sim_batch_size: trajectories per compiled sampling batch.
        wavelet, mode, level: WDNO's transform (spec §3.1: bior2.4, periodization, 1 level).
        seed: seed of initialisation, batches and sampling; data use the data preset's seed 0.
    """

    name: str
    data: str
    num_train: int | None
    num_test: int
    network: str
    network_dim: int | None = None
    network_groups: int | None = None
    fno_width: int = 32
    fno_modes: tuple[int, int] = (16, 16)
    steps: int = 1000
    batch_size: int = 16
    learning_rate: float = 1e-3
    lr_schedule: str = "cosine"
    warmup_steps: int = 20
    use_ema: bool = False
    sampling_steps: int = 50
    sim_batch_size: int = 50
    wavelet: str = "bior2.4"
    mode: str = "periodization"
    level: int = 1
    seed: int = 0

    def __post_init__(self):
        if self.data not in presets.PRESETS:
            raise ValueError(
                f"RunPreset.data: expected one of {sorted(presets.PRESETS)}, got {self.data!r}"
            )
        if self.network not in ("tiny", "cpu", "paper"):
            raise ValueError(f"RunPreset.network: expected tiny|cpu|paper, got {self.network!r}")
        object.__setattr__(self, "fno_modes", tuple(int(m) for m in self.fno_modes))

    @property
    def train_config(self) -> train.TrainConfig:
        return train.TrainConfig(
            num_steps=self.steps,
            batch_size=self.batch_size,
            learning_rate=self.learning_rate,
            lr_schedule=self.lr_schedule,
            warmup_steps=self.warmup_steps,
            use_ema_for_sampling=self.use_ema,
            log_every=max(1, min(50, self.steps // 20)),
            checkpoint_every=0,
            max_checkpoints=1,
            seed=self.seed,
        )

    @property
    def encoding_config(self) -> encoding.EncodingConfig:
        return encoding.EncodingConfig(wavelet=self.wavelet, mode=self.mode, level=self.level)

    @property
    def sampler(self) -> simulation.SamplerConfig:
        return simulation.SamplerConfig(num_steps=self.sampling_steps)

    def network_builder(self, kind: str):
        """``(in_channels, layout) -> module`` for :func:`wdno.simulators.fit`."""
        from flax import nnx

        def build(in_channels, layout):
            rngs = nnx.Rngs(self.seed)
            if kind == "fno":
                config = fno.FNOConfig(
                    in_channels,
                    layout.num_state_fields,
                    width=self.fno_width,
                    modes=self.fno_modes,
                    padding=(8, 8),
                )
                return fno.FNO(config, rngs=rngs)
            overrides = {} if self.network_dim is None else {"dim": self.network_dim}
            if self.network_groups is not None:
                overrides["num_groups"] = self.network_groups
            if self.network == "paper":
                config = unet.UNetConfig.burgers_paper(in_channels, **overrides)
            elif self.network == "cpu":
                config = unet.UNetConfig.cpu(
                    in_channels, **{"linear_attention": False, **overrides}
                )
            else:
                config = unet.UNetConfig.tiny(in_channels, **overrides)
            return unet.UNet(config, rngs=rngs)

        return build


RUN_PRESETS = {
    "tiny": RunPreset(
        "tiny",
        data="tiny",
        num_train=None,
        num_test=4,
        network="tiny",
        fno_width=8,
        fno_modes=(4, 4),
        steps=6,
        batch_size=4,
        warmup_steps=0,
        sampling_steps=3,
        sim_batch_size=4,
    ),
    "cpu": RunPreset(
        "cpu",
        data="cpu",
        num_train=None,
        num_test=100,
        network="cpu",
        network_dim=8,
        network_groups=4,
        steps=1000,
        batch_size=4,
        learning_rate=2e-3,
        sampling_steps=25,
        sim_batch_size=50,
    ),
    "paper": RunPreset(
        "paper",
        data="paper",
        num_train=None,
        num_test=8000,
        network="paper",
        fno_width=64,
        steps=100_000,
        batch_size=16,
        learning_rate=1e-4,
        lr_schedule="periodic_cosine",
        warmup_steps=0,
        sampling_steps=50,
        sim_batch_size=200,
    ),
}


# ---- data --------------------------------------------------------------------------------------
def ensure_data(data_dir, preset: RunPreset, *, progress: bool = True) -> pathlib.Path:
    """Generate the train and test files of the preset's data preset if they are missing."""
    data_dir = pathlib.Path(data_dir)
    data_preset = presets.PRESETS[preset.data]
    for split in ("train", "test"):
        path = generate.output_path(data_dir, split, 1)
        if path.exists():
            continue
        generate.generate(
            path,
            split,
            data_preset.num_samples(split),
            seed=0,
            batch_size=data_preset.batch_size,
            solver_config=data_preset.solver,
            progress=progress,
        )
    return data_dir


def load_split(data_dir, split: str, limit: int | None = None):
    """``(u (N, 81, 120, 1), f (N, 80, 120, 1), t, x)`` read from ``<data_dir>/<split>.h5``."""
    path = generate.output_path(data_dir, split, 1)
    if not path.exists():
        raise FileNotFoundError(
            f"{path} not found; generate it with `wdno burgers generate --split {split} "
            f"--out {data_dir}` (or run `wdno burgers demo`)"
        )
    with generate.open_dataset(path) as reader:
        num = len(reader) if limit is None else min(limit, len(reader))
        if limit is not None and limit > len(reader):
            raise ValueError(f"{path} holds {len(reader)} trajectories, {limit} requested")
        fields = reader.read(0, num, ["u", "f"])
        coords = reader.coords
    u = np.asarray(fields["u"], np.float32)[..., None]
    f = np.asarray(fields["f"], np.float32)[..., None]
    return u, f, np.asarray(coords["t"]), np.asarray(coords["x"])


# ---- run directory -----------------------------------------------------------------------------
def _hardware() -> dict:
    import jax

    return {
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "jax_backend": jax.default_backend(),
        "devices": [str(d) for d in jax.devices()],
        "jax_version": jax.__version__,
    }


def _write_text(path: pathlib.Path, text: str) -> None:
    """Write via a temporary file and rename, so a reader never sees half a file."""
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(text)
    tmp.replace(path)


def _write_json(path: pathlib.Path, value) -> None:
    _write_text(path, json.dumps(value, indent=1))


def read_run(run_dir) -> tuple[RunPreset, pathlib.Path]:
    """The preset and data directory recorded in ``<run_dir>/run.json``."""
    path = pathlib.Path(run_dir) / "run.json"
    if not path.exists():
        raise FileNotFoundError(f"{path} not found: train a run first (`wdno burgers train`)")
    record = json.loads(path.read_text())
    return RunPreset(**record["preset"]), pathlib.Path(record["data_dir"])


def _check_models(models) -> tuple[str, ...]:
    models = tuple(models)
    unknown = [m for m in models if m not in MODELS]
    if unknown or not models:
        raise ValueError(f"models: expected a non-empty subset of {MODELS}, got {models}")
    return models


def train_run(
    run_dir, preset: RunPreset, data_dir, *, models=MODELS, progress: bool = True
) -> dict:
    """Train ``models`` on the same data with the same budget; returns ``train.json``'s content."""
    models = _check_models(models)
    run_dir = pathlib.Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    u, f, _, _ = load_split(data_dir, "train", preset.num_train)
    record = {
        "preset": dataclasses.asdict(preset),
        "data_dir": str(pathlib.Path(data_dir).absolute()),
        "num_train": len(u),
        "command": " ".join(sys.argv),
        "hardware": _hardware(),
    }
    _write_json(run_dir / "run.json", record)
    path = run_dir / "train.json"
    summary = json.loads(path.read_text()) if path.exists() else {}
    for kind in models:
        previous = summary.get(kind) if (run_dir / kind).exists() else None
        if previous and previous["steps"] >= preset.steps:
            # Already trained: fit() would resume at the last step and train nothing, and its
            # record (final loss NaN, seconds of the no-op) would replace the real one.
            if progress:
                print(f"[train] {kind}: already trained for {previous['steps']} steps")
            continue
        if progress:
            print(
                f"[train] {kind}: {preset.steps} steps, batch {preset.batch_size}, "
                f"{len(u)} trajectories"
            )
        summary[kind] = simulators.fit(
            kind,
            run_dir / kind,
            u,
            f,
            network=preset.network_builder(kind),
            train_config=preset.train_config,
            encoding_config=preset.encoding_config,
            progress=progress,
        )
        if previous:  # resumed a shorter run: report the total training time
            summary[kind]["train_seconds"] += previous["train_seconds"]
        _write_json(path, summary)
    return summary


def simulate_run(run_dir, *, models=None, num_test: int | None = None, progress: bool = True):
    """Simulate the test set with every trained model; writes ``predictions.nc``."""
    import xarray as xr

    run_dir = pathlib.Path(run_dir)
    preset, data_dir = read_run(run_dir)
    models = _check_models(models or [m for m in MODELS if (run_dir / m).exists()])
    num_test = preset.num_test if num_test is None else num_test
    u, f, t, x = load_split(data_dir, "test", num_test)
    variables = {
        "u_true": (("sample", "t", "x"), u[..., 0]),
        "f": (("sample", "t_force", "x"), f[..., 0]),
    }
    seconds = {}
    for kind in models:
        simulator = simulators.load(run_dir / kind, use_ema=preset.use_ema)
        start = time.perf_counter()
        state = simulators.predict(
            simulator,
            u[:, 0],
            f,
            key=preset.seed,
            sampler=preset.sampler,
            batch_size=preset.sim_batch_size,
            progress=progress,
        )
        seconds[kind] = time.perf_counter() - start
        variables[f"u_{kind}"] = (("sample", "t", "x"), state[..., 0])
    dataset = xr.Dataset(
        variables,
        coords={"sample": np.arange(len(u)), "t": t, "t_force": t[:-1], "x": x},
        attrs={
            "title": "WDNO Burgers simulation: test trajectories and model predictions",
            "models": ",".join(models),
            "simulate_seconds": json.dumps(seconds),
            "sampler": json.dumps(dataclasses.asdict(preset.sampler)),
        },
    )
    path = run_dir / "predictions.nc"
    tmp = run_dir / "predictions.nc.tmp"
    dataset.to_netcdf(tmp)
    tmp.replace(path)
    return path


def evaluate_run(run_dir) -> dict:
    """Metrics of every model in ``predictions.nc``; writes ``metrics.json`` and ``results.md``."""
    import xarray as xr

    run_dir = pathlib.Path(run_dir)
    path = run_dir / "predictions.nc"
    if not path.exists():
        raise FileNotFoundError(f"{path} not found: run `wdno burgers simulate --run {run_dir}`")
    with xr.open_dataset(path) as dataset:
        truth = dataset["u_true"].values
        predictions = {
            name[2:]: dataset[name].values for name in dataset.data_vars if name.startswith("u_")
        }
        predictions.pop("true")
        simulate_seconds = json.loads(dataset.attrs.get("simulate_seconds", "{}"))
    trained = json.loads((run_dir / "train.json").read_text())
    rows, curves = {}, {}
    for kind, pred in predictions.items():
        rows[kind] = metrics.summarize(pred, truth, skip_initial=True, spectral_axis=2)
        rows[kind]["train_s"] = trained.get(kind, {}).get("train_seconds", float("nan"))
        rows[kind]["simulate_s"] = simulate_seconds.get(kind, float("nan"))
        curves[kind] = np.asarray(metrics.per_time_mae(pred, truth)).tolist()
    result = {"num_test": len(truth), "metrics": rows, "per_time_mae": curves}
    _write_json(run_dir / "metrics.json", result)
    table = metrics.format_table(rows)
    _write_text(run_dir / "results.md", _results_markdown(run_dir, table, len(truth)))
    return result


def _results_markdown(run_dir: pathlib.Path, table: str, num_test: int) -> str:
    record = json.loads((run_dir / "run.json").read_text())
    preset = RunPreset(**record["preset"])
    hardware = record["hardware"]
    return (
        f"# Burgers simulation, preset `{preset.name}`\n\n"
        f"Test MSE over t > 0 (paper metric) on {num_test} test trajectories; "
        f"{record['num_train']} training trajectories; every model trained for {preset.steps} "
        f"steps of batch {preset.batch_size} (seed {preset.seed}).\n\n"
        f"{table}\n\n"
        f"Command: `{record['command']}`  \n"
        f"Hardware: {hardware['processor']}, {hardware['cpu_count']} CPUs, "
        f"JAX {hardware['jax_version']} on {hardware['jax_backend']}.  \n"
        f"Paper (40,000 trajectories, GPU): WDNO MSE {REFERENCE_MSE['wdno']:.1e}, "
        f"DDPM {REFERENCE_MSE['ddpm']:.1e}.\n"
    )


def plot_run(run_dir, *, samples=(0, 1, 2)) -> list[pathlib.Path]:
    """Heat maps, per-time MAE and training-loss figures under ``<run_dir>/figures``."""
    import csv

    import xarray as xr

    run_dir = pathlib.Path(run_dir)
    figures = run_dir / "figures"
    figures.mkdir(exist_ok=True)
    with xr.open_dataset(run_dir / "predictions.nc") as dataset:
        truth = dataset["u_true"].values
        t, x = dataset["t"].values, dataset["x"].values
        predictions = {
            name[2:].upper(): dataset[name].values
            for name in dataset.data_vars
            if name.startswith("u_") and name != "u_true"
        }
    samples = [s for s in samples if s < len(truth)]
    paths = [figures / "fields.png", figures / "per_time_mae.png", figures / "training_loss.png"]
    plots.plot_field_comparison(truth, predictions, t=t, x=x, sample_indices=samples, path=paths[0])
    curves = {name: np.asarray(metrics.per_time_mae(p, truth)) for name, p in predictions.items()}
    plots.plot_time_curves(curves, t=t, path=paths[1], title="Burgers: MAE per time step")
    logs = {}
    for name in predictions:
        log = run_dir / name.lower() / "log.csv"
        if log.exists():
            with log.open() as handle:
                rows = list(csv.DictReader(handle))
            logs[name] = (
                np.array([float(r["step"]) for r in rows]),
                np.array([float(r["loss"]) for r in rows]),
            )
    plots.plot_loss_curves(logs, path=paths[2])
    import matplotlib.pyplot as plt

    plt.close("all")
    return paths


def run_all(run_dir, preset: RunPreset, data_dir, *, models=MODELS, progress: bool = True) -> dict:
    """generate (if missing) -> train -> simulate -> evaluate -> plot; returns the metrics."""
    start = time.perf_counter()
    ensure_data(data_dir, preset, progress=progress)
    train_run(run_dir, preset, data_dir, models=models, progress=progress)
    simulate_run(run_dir, models=models, progress=progress)
    result = evaluate_run(run_dir)
    plot_run(run_dir)
    result["total_seconds"] = time.perf_counter() - start
    _write_json(pathlib.Path(run_dir) / "metrics.json", result)
    return result
