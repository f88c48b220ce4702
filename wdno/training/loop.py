"""Training loop: optax optimiser, EMA, data parallelism, logging and resumable checkpoints;
spec §6 (hyper-parameters) and §13 pitfalls 5-6.

Defaults follow the original Burgers trainer (Adam with betas (0.9, 0.99), learning rate 1e-4,
global gradient-norm clipping at 1.0, EMA decay 0.995 updated every 10 steps after a copy phase of
100 steps, with ema_pytorch's decay warm-up) with two deliberate changes: the learning rate follows
warm-up + a single cosine decay to ``num_steps`` (the original's periodic
``CosineAnnealingLR(T_max=10k)`` is available as ``lr_schedule="periodic_cosine"``), and whether
sampling uses the EMA or the raw weights is a config choice (the original samples with raw
weights).

The jit boundary follows flax's performance guide: the model is split once into a graph definition
and a parameter state; a plain ``jax.jit`` step merges, differentiates, updates and returns the
new state. The step compiles once per batch shape (multi-resolution training: one compile per
resolution). Parameters are replicated and batches sharded over a device mesh (`wdno.parallel`).

Long runs (docs/long_runs.md): checkpoints are written every ``checkpoint_every`` steps, every
``checkpoint_minutes`` of wall-clock time and at the end; on SIGINT/SIGTERM the loop finishes the
step, saves, and raises `TrainingInterrupted`; calling `train` again resumes from the newest
checkpoint with the same data order and random stream, so the interrupted run ends where an
uninterrupted one would. A non-finite loss or gradient norm stops training with
`NonFiniteLossError` before any later checkpoint, so the newest checkpoint stays the last good one.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import math
import pathlib
import time
from collections.abc import Callable, Iterable, Iterator

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx
from tqdm.auto import tqdm

from wdno import interrupts
from wdno.diffusion import (
    Schedule,
    diffusion_loss,
    make_schedule,
)
from wdno.io import checkpoint
from wdno.training import parallel
from wdno.training.config import (
    TrainConfig,
    ema_decay_schedule,
    learning_rate_schedule,
    make_optimizer,
)

__all__ = [
    "NonFiniteLossError",
    "TrainResult",
    "TrainState",
    "make_train_step",
    "TrainingInterrupted",
    "train",
]

LOG_COLUMNS = ("step", "loss", "learning_rate", "grad_norm", "steps_per_second", "wall_time")


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class TrainState:
    """Everything that changes during training (a pytree of arrays).

    Attributes:
        step: number of optimiser steps taken (int32 scalar).
        params: model parameters (``nnx.State``).
        ema_params: exponential moving average of ``params``.
        opt_state: optax state.
        key: raw PRNG key data; step ``s`` uses ``fold_in(key, s)``.
    """

    step: jax.Array
    params: nnx.State
    ema_params: nnx.State
    opt_state: optax.OptState
    key: jax.Array


@dataclasses.dataclass
class TrainResult:
    """Outcome of `train`.

    Attributes:
        model: the model with the final raw weights (the model passed in, updated in place).
        ema_model: a copy with the EMA weights.
        state: final `TrainState`.
        config: the training configuration.
        history: logged rows (dicts with `LOG_COLUMNS`).
        evaluations: evaluation-hook results (dicts with ``step``).
        resumed_seconds: training time of the earlier runs this one resumed (recorded in the
            checkpoint it started from; 0 for a fresh run).
    """

    model: nnx.Module
    ema_model: nnx.Module
    state: TrainState
    config: TrainConfig
    history: list[dict]
    evaluations: list[dict]
    resumed_seconds: float = 0.0

    @property
    def sampling_model(self) -> nnx.Module:
        """EMA or raw model, as ``config.use_ema_for_sampling`` says."""
        return self.ema_model if self.config.use_ema_for_sampling else self.model


class TrainingInterrupted(interrupts.Interrupted):
    """Training stopped on SIGINT/SIGTERM after checkpointing; `train` again resumes.

    Attributes:
        step: the step checkpointed.
        directory: the checkpoint directory.
    """

    def __init__(self, step: int, directory: pathlib.Path, signal_number: int):
        self.step, self.directory = step, directory
        name = interrupts.SignalFlag(signal_number).name
        super().__init__(
            f"training interrupted ({name}) at step {step}; checkpoint in {directory}; rerun "
            "the same command to resume",
            signal_number,
        )


class NonFiniteLossError(FloatingPointError):
    """The loss or the gradient norm became NaN/inf; nothing was saved after the last good step.

    Attributes:
        step: the first step with a non-finite loss or gradient norm.
        checkpoint_step: the newest checkpoint (the last good one), or None.
    """

    def __init__(self, step, loss, grad_norm, directory, checkpoint_step):
        self.step, self.checkpoint_step = step, checkpoint_step
        kept = (
            f"the newest checkpoint, step {checkpoint_step} in {directory}, is the last good one"
            if checkpoint_step is not None
            else "no checkpoint was saved"
        )
        super().__init__(
            f"training stopped: loss {loss}, gradient norm {grad_norm} at step {step}; {kept}; "
            "lower the learning rate or check the data for NaN/inf"
        )


def _diffusion_loss_fn(schedule: Schedule, config: TrainConfig):
    def loss_fn(model, batch, key):
        return diffusion_loss(
            model,
            batch["x0"],
            key,
            schedule,
            known_mask=batch.get("known_mask"),
            loss_mask=batch.get("loss_mask"),
            channel_weights=batch.get("channel_weights"),
            prediction=config.prediction,
            weighting=config.loss_weighting,
            min_snr_gamma=config.min_snr_gamma,
        )

    return loss_fn


def make_train_step(graphdef, tx, loss_fn, config: TrainConfig, mesh):
    """Jitted ``train_step(state, rest, batch) -> (state, metrics)``; ``state`` is donated.

    Args:
        graphdef: graph definition of the model (``nnx.split(model, nnx.Param, ...)``).
        tx: optax optimiser (`make_optimizer`).
        loss_fn: ``loss_fn(model, batch, key) -> scalar``.
        config: training configuration (EMA, learning-rate schedule).
        mesh: device mesh; the returned state and metrics are replicated over it.
    """
    schedule = learning_rate_schedule(config)
    ema_schedule = ema_decay_schedule(config)

    def train_step(state: TrainState, rest, batch):
        key = jax.random.fold_in(jax.random.wrap_key_data(state.key), state.step)

        def objective(params):
            return loss_fn(nnx.merge(graphdef, params, rest), batch, key)

        loss, grads = jax.value_and_grad(objective)(state.params)
        updates, opt_state = tx.update(grads, state.opt_state, state.params)
        params = optax.apply_updates(state.params, updates)
        step = state.step + 1
        # EMA (ema_pytorch): copy up to ema_start_step, then every ema_every steps
        # ema <- decay ema + (1 - decay) params, the decay warmed up (`ema_decay_schedule`).
        decay = ema_schedule(step)
        update = (step % config.ema_every == 0) | (step <= config.ema_start_step)
        ema_params = jax.tree.map(
            lambda e, p: jnp.where(update, decay * e + (1.0 - decay) * p, e),
            state.ema_params,
            params,
        )
        metrics = {
            "loss": loss,
            "grad_norm": optax.tree.norm(grads),
            "learning_rate": schedule(state.step),
        }
        return TrainState(step, params, ema_params, opt_state, state.key), metrics

    copy = parallel.replicated(mesh)
    return jax.jit(train_step, donate_argnums=(0,), out_shardings=(copy, copy))


def _key_data(key) -> jax.Array:
    key = jax.random.key(key) if isinstance(key, int) else key
    if jnp.issubdtype(key.dtype, jax.dtypes.prng_key):
        return jax.random.key_data(key)
    return jnp.asarray(key, jnp.uint32)


def _run_config(model, config: TrainConfig) -> dict:
    try:
        description = checkpoint.model_description(model)
    except ValueError:
        description = None
    return {"model": description, "train": dataclasses.asdict(config)}


class _Logger:
    """Collects step metrics; writes ``workdir/log.csv`` rows and ``workdir/eval.jsonl`` lines
    (process 0 only). Metrics stay on device until a row is flushed."""

    def __init__(self, workdir: pathlib.Path, enabled: bool):
        self.workdir, self.enabled = workdir, enabled
        self.path = workdir / "log.csv"
        self.history, self.evaluations, self.pending = [], [], []
        self.began = self.last_time = time.perf_counter()
        self.last_step = None
        if enabled and not self.path.exists():
            with self.path.open("w", newline="") as file:
                csv.writer(file).writerow(LOG_COLUMNS)

    def add(self, step: int, metrics: dict):
        self.pending.append((step, metrics))

    def first_non_finite(self) -> tuple | None:
        """``(step, loss, grad_norm)`` of the first pending step with a non-finite loss or
        gradient norm, or None (fetches the pending metrics to the host, once)."""
        self.pending = [(step, jax.device_get(m)) for step, m in self.pending]
        for step, m in self.pending:
            loss, grad_norm = float(m["loss"]), float(m["grad_norm"])
            if not (math.isfinite(loss) and math.isfinite(grad_norm)):
                return step, loss, grad_norm
        return None

    def flush(self, step: int) -> dict | None:
        """Log the mean of the pending metrics as the row of ``step`` (checked finite first)."""
        if not self.pending:
            return None
        if self.first_non_finite() is not None:
            raise FloatingPointError(f"train: non-finite loss or gradient before step {step}")
        fetched = [m for _, m in self.pending]
        now = time.perf_counter()
        last_step = step - len(fetched) if self.last_step is None else self.last_step
        row = {
            "step": step,
            "loss": float(np.mean([m["loss"] for m in fetched])),
            "learning_rate": float(fetched[-1]["learning_rate"]),
            "grad_norm": float(np.mean([m["grad_norm"] for m in fetched])),
            "steps_per_second": (step - last_step) / max(now - self.last_time, 1e-9),
            "wall_time": now - self.began,
        }
        self.pending, self.last_step, self.last_time = [], step, now
        self.history.append(row)
        if self.enabled:
            with self.path.open("a", newline="") as file:
                csv.writer(file).writerow([row[c] for c in LOG_COLUMNS])
        return row

    def evaluation(self, row: dict):
        self.evaluations.append(row)
        if self.enabled:
            with (self.workdir / "eval.jsonl").open("a") as file:
                file.write(json.dumps(row) + "\n")


def _batch_iterator(batches, start_step: int) -> Iterator[dict]:
    return iter(batches(start_step)) if callable(batches) else iter(batches)


def train(
    model: nnx.Module,
    batches: Iterable[dict] | Callable[[int], Iterable[dict]],
    config: TrainConfig,
    *,
    workdir,
    key: jax.Array | int | None = None,
    loss_fn: Callable | None = None,
    eval_fn: Callable[[nnx.Module, int], dict] | None = None,
    schedule: Schedule | None = None,
    mesh: jax.sharding.Mesh | None = None,
    resume: bool = True,
    progress: bool = True,
) -> TrainResult:
    """Train ``model`` (resuming from the newest checkpoint in ``workdir``).

    Args:
        model: an NNX module; updated in place with the final raw weights.
        batches: iterable of dicts of arrays (``{"x0", "known_mask"?, "loss_mask"?,
            "channel_weights"?}`` for the default loss), or a callable ``start_step -> iterable``
            so a resumed run continues the same data stream. Shapes may vary between batches
            (one compilation per shape). Training stops at ``config.num_steps`` or when the
            iterator is exhausted. Under multi-process, each process yields its local share.
            Entries named in ``batches.constant_keys`` (set by `minibatches`) are replicated;
            without that attribute, arrays led by the batch size of ``"x0"`` are split over the
            devices and the rest replicated (`parallel.shard_batch`).
        config: training configuration.
        workdir: run directory (``log.csv``, ``eval.jsonl``, ``config.json``, ``checkpoints/``).
        key: PRNG key (default ``config.seed``).
        loss_fn: ``loss_fn(model, batch, key) -> scalar`` (default: the masked diffusion loss of
            `wdno.diffusion.diffusion_loss` on ``schedule``).
        eval_fn: ``eval_fn(model, step) -> dict of floats`` called every ``config.eval_every``
            steps with the sampling model (EMA or raw).
        schedule: diffusion schedule for the default loss (default from the config).
        mesh: device mesh for data parallelism (default: all devices, `parallel.data_mesh`).
        resume: continue from the newest checkpoint in ``workdir`` if there is one.
        progress: show a tqdm progress bar (process 0 only).

    Returns:
        `TrainResult`.
    """
    workdir = pathlib.Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    mesh = parallel.data_mesh() if mesh is None else mesh
    main = parallel.is_main_process()
    schedule = schedule or make_schedule(config.diffusion_schedule, config.diffusion_steps)
    loss_fn = loss_fn or _diffusion_loss_fn(schedule, config)
    tx = make_optimizer(config)
    run_config = _run_config(model, config)

    graphdef, params, rest = nnx.split(model, nnx.Param, ...)
    key = _key_data(config.seed if key is None else key)
    state = TrainState(
        jnp.zeros((), jnp.int32), params, jax.tree.map(jnp.copy, params), tx.init(params), key
    )
    manager = checkpoint.checkpoint_manager(workdir, max_to_keep=config.max_checkpoints)
    resumed_seconds = 0.0
    if resume and manager.latest_step() is not None:
        targets = {
            "params": state.params,
            "ema_params": state.ema_params,
            "opt_state": state.opt_state,
            "meta": {"step": state.step, "key": state.key},
        }
        _, items, saved = checkpoint.restore_items(
            workdir, targets, sharding=parallel.replicated(mesh)
        )
        resumed_seconds = float(saved.get("progress", {}).get("train_seconds", 0.0))
        state = TrainState(
            items["meta"]["step"],
            items["params"],
            items["ema_params"],
            items["opt_state"],
            items["meta"]["key"],
        )
    state = parallel.replicate(state, mesh)
    rest = parallel.replicate(rest, mesh)
    train_step = make_train_step(graphdef, tx, loss_fn, config, mesh)

    def current_models():
        return (
            nnx.merge(graphdef, state.params, rest),
            nnx.merge(graphdef, state.ema_params, rest),
        )

    logger = _Logger(workdir, main)
    start = step = saved_step = int(state.step)
    began = last_save = time.monotonic()
    directory = workdir.absolute() / checkpoint.CHECKPOINT_DIRECTORY

    def check_finite():
        bad = logger.first_non_finite()
        if bad is not None:
            raise NonFiniteLossError(*bad, directory, manager.latest_step())

    def save():
        nonlocal saved_step, last_save
        check_finite()  # a non-finite state is never saved: the newest checkpoint stays good
        seconds = resumed_seconds + time.monotonic() - began
        checkpoint.save(
            workdir,
            int(state.step),
            params=state.params,
            ema_params=state.ema_params,
            opt_state=state.opt_state,
            meta={"step": state.step, "key": state.key},
            config={**run_config, "progress": {"step": step, "train_seconds": seconds}},
            manager=manager,
        )
        saved_step, last_save = step, time.monotonic()

    def clock_due() -> bool:
        minutes = config.checkpoint_minutes
        return minutes > 0 and time.monotonic() - last_save >= 60.0 * minutes

    # With several processes, the signal flags and clocks are compared (a collective) at the
    # steps where every process logs, so that all of them save and stop at the same step.
    synchronous = jax.process_count() == 1
    iterator = _batch_iterator(batches, start)
    bar = tqdm(
        total=config.num_steps,
        initial=start,
        desc="train",
        disable=not (progress and main),
        dynamic_ncols=True,
    )
    try:
        with interrupts.deferred_signals() as signals:
            while step < config.num_steps:
                try:
                    batch = next(iterator)
                except StopIteration:
                    break
                state, metrics = train_step(
                    state,
                    rest,
                    parallel.shard_batch(
                        dict(batch), mesh, constants=getattr(batches, "constant_keys", None)
                    ),
                )
                step += 1
                logger.add(step, metrics)
                bar.update(1)
                if step % config.log_every == 0 or step == config.num_steps:
                    check_finite()
                    row = logger.flush(step)
                    bar.set_postfix(
                        loss=f"{row['loss']:.4g}", steps_per_s=f"{row['steps_per_second']:.3g}"
                    )
                if eval_fn is not None and config.eval_every and step % config.eval_every == 0:
                    raw, ema = current_models()
                    values = eval_fn(ema if config.use_ema_for_sampling else raw, step)
                    logger.evaluation({"step": step, **{k: float(v) for k, v in values.items()}})
                save_now = bool(config.checkpoint_every) and step % config.checkpoint_every == 0
                stop = 0
                if synchronous or step % config.log_every == 0:
                    stop, due = _agree([signals.received or 0, clock_due()])
                    save_now = save_now or bool(due or stop)
                if save_now and step != saved_step:
                    save()
                if stop:
                    raise TrainingInterrupted(step, directory, stop)
            check_finite()
            logger.flush(step)
            if step != saved_step or manager.latest_step() is None:
                save()
            (stop,) = _agree([signals.received or 0])
            if stop:  # the signal came during the last step or the final save: say so
                raise TrainingInterrupted(step, directory, stop)
    finally:
        bar.close()
        manager.close()
    raw, ema = current_models()
    nnx.update(model, nnx.state(raw))
    return TrainResult(
        model=model,
        ema_model=ema,
        state=state,
        config=config,
        history=logger.history,
        evaluations=logger.evaluations,
        resumed_seconds=resumed_seconds,
    )


def _agree(values) -> list[int]:
    """The element-wise maximum of integer ``values`` over processes (a collective: every
    process calls it at the same step)."""
    values = np.asarray(values, np.int64)
    if jax.process_count() > 1:
        from jax.experimental import multihost_utils

        values = np.max(np.asarray(multihost_utils.process_allgather(values)), axis=0)
    return [int(v) for v in values]
