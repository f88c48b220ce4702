"""Learned simulators behind one interface: WDNO, the physical-space DDPM, and FNO.

Each maps a trajectory's initial state and control to the whole state trajectory (paper Sec. 4,
simulation task) and is trained on the same in-memory data with the same budget:

- ``wdno``: diffusion on the joint space-time wavelet coefficients (:mod:`wdno.encoding` with
  ``transform="wavelet"``), conditioned by inpainting (:mod:`wdno.simulation`).
- ``ddpm``: the same diffusion model and sampler on the raw fields (``transform="identity"``),
  the paper's main baseline.
- ``fno``: a deterministic Fourier neural operator on the ``(t, *space)`` grid: input channels are
  ``u0`` broadcast over time and the control (last frame repeated, as in the encoding), output the
  state; trained by MSE over all time levels but the given first one.

A simulator's directory holds ``simulator.json`` (kind, encoding, grid shapes), its normalisation
statistics (``normalizer.json``, fitted on the training set), and the training run of
:func:`wdno.train.train` (``config.json``, ``log.csv``, ``checkpoints/``). :func:`load` needs
nothing but that directory.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import pathlib
import time
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx
from tqdm.auto import tqdm

from wdno import batches, checkpoint, diffusion, encoding, fno, simulation, train

__all__ = ["KINDS", "Simulator", "fit", "load", "predict"]

KINDS = ("wdno", "ddpm", "fno")
DESCRIPTION_FILE = "simulator.json"
NORMALIZER_FILE = "normalizer.json"


@dataclasses.dataclass(frozen=True)
class Simulator:
    """A trained simulator loaded from its directory (see :func:`load`)."""

    kind: str
    model: nnx.Module
    layout: encoding.TrajectoryLayout
    normalizer: encoding.Normalizer
    schedule: diffusion.Schedule | None
    step: int


def _check_kind(kind: str) -> None:
    if kind not in KINDS:
        raise ValueError(f"simulator kind: expected one of {KINDS}, got {kind!r}")


def _encode_all(layout, state, control, chunk: int = 256) -> np.ndarray:
    encode = jax.jit(encoding.encode, static_argnums=0)
    parts = []
    for start in range(0, len(state), chunk):
        c = None if control is None else control[start : start + chunk]
        parts.append(np.asarray(encode(layout, state[start : start + chunk], c)))
    return np.concatenate(parts)


def fno_inputs(layout: encoding.TrajectoryLayout, state_or_u0, control) -> jax.Array:
    """FNO input ``(N, T, *spatial, Fs + Fc)``: ``u0`` repeated over time, then the control
    with its last frame repeated (the 81 state / 80 control rule of :mod:`wdno.encoding`)."""
    u0 = state_or_u0 if state_or_u0.ndim == len(layout.spatial_shape) + 2 else state_or_u0[:, 0]
    parts = [fno.broadcast_initial_state(jnp.asarray(u0), layout.num_times)]
    if layout.num_control_fields:
        control = jnp.asarray(control)
        parts.append(jnp.concatenate([control, control[:, -1:]], axis=1))
    return jnp.concatenate(parts, axis=-1)


def _field_scales(state, control) -> np.ndarray:
    """Max |value| per state field, then per control field (the FNO's normalisation)."""
    axes = tuple(range(state.ndim - 1))
    scales = [np.abs(state).max(axis=axes)]
    if control is not None:
        scales.append(np.abs(control).max(axis=axes))
    return np.maximum(np.concatenate(scales), 1e-6).astype(np.float32)


def fit(
    kind: str,
    workdir,
    state: np.ndarray,
    control: np.ndarray | None,
    *,
    network: Callable[[int, encoding.TrajectoryLayout], nnx.Module],
    train_config: train.TrainConfig,
    encoding_config: encoding.EncodingConfig | None = None,
    weight_channels: bool = True,
    progress: bool = True,
) -> dict:
    """Train one simulator on ``state (N, T, *spatial, Fs)`` and ``control (N, T-1, ..., Fc)``.

    Args:
        kind: ``"wdno"``, ``"ddpm"`` or ``"fno"``.
        workdir: the simulator's directory (created; an existing checkpoint is resumed).
        state, control: the training set.
        network: ``network(in_channels, layout) -> module`` building the U-Net (diffusion kinds)
            or the FNO (its output channels are the state fields).
        train_config: optimiser, steps, batch size, seed (shared by all kinds for a fair run).
        encoding_config: the wavelet settings for ``wdno`` (``transform`` is set from ``kind``).
        weight_channels: diffusion kinds weigh each channel's loss by its normalisation scale
            relative to the mean scale (the original's per-channel ``RESCALER`` weighting, spec
            §4.1), so energetic bands such as the wavelet approximation count more.
        progress: progress bars.

    Returns:
        ``{"kind", "steps", "train_seconds", "final_loss", "num_parameters"}``.
    """
    _check_kind(kind)
    workdir = pathlib.Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    state = np.asarray(state, np.float32)
    control = None if control is None else np.asarray(control, np.float32)
    encoding_config = encoding_config or encoding.EncodingConfig()
    transform = "wavelet" if kind == "wdno" else "identity"
    encoding_config = dataclasses.replace(encoding_config, transform=transform)
    layout = encoding.make_layout(
        encoding_config, state.shape[1:], None if control is None else control.shape[1:]
    )
    description = {
        "kind": kind,
        "encoding": dataclasses.asdict(encoding_config),
        "state_shape": list(state.shape[1:]),
        "control_shape": None if control is None else list(control.shape[1:]),
        "num_train": len(state),
        "weight_channels": weight_channels and kind != "fno",
    }
    start = time.perf_counter()
    if kind == "fno":
        scale = _field_scales(state, control)
        normalizer = encoding.Normalizer(scale)
        s = layout.num_state_fields
        inputs = np.asarray(fno_inputs(layout, state, control)) / scale
        targets = state / scale[:s]
        model = network(inputs.shape[-1], layout)
        weights = np.ones((1, layout.num_times) + (1,) * (state.ndim - 2), np.float32)
        weights[:, 0] = 0.0  # the given initial state does not count

        def loss_fn(model, batch, key):
            return fno.fno_loss(model, batch["inputs"], batch["targets"], batch["mask"])

        data = {"inputs": inputs, "targets": targets}
        stream = batches.minibatches(
            data, train_config.batch_size, seed=train_config.seed, constants={"mask": weights}
        )
    else:
        encoded = _encode_all(layout, state, control)
        normalizer = encoding.Normalizer(
            encoding.fit_channel_scales(
                layout, [encoded[i : i + 256] for i in range(0, len(encoded), 256)]
            )
        )
        encoded = encoded / normalizer.scale
        model = network(layout.num_channels, layout)
        loss_fn = None
        constants = {
            "known_mask": layout.known_mask(initial_state=True, control=True)[None],
            "loss_mask": ~layout.pad_mask()[None],
        }
        if weight_channels:
            constants["channel_weights"] = normalizer.scale / normalizer.scale.mean()
        stream = batches.minibatches(
            encoded, train_config.batch_size, seed=train_config.seed, constants=constants
        )
    normalizer.save(workdir / NORMALIZER_FILE)
    (workdir / DESCRIPTION_FILE).write_text(json.dumps(description, indent=1))
    result = train.train(
        model, stream, train_config, workdir=workdir, loss_fn=loss_fn, progress=progress
    )
    seconds = time.perf_counter() - start
    losses = [row["loss"] for row in result.history]
    return {
        "kind": kind,
        "steps": int(result.state.step),
        "train_seconds": seconds,
        "final_loss": float(losses[-1]) if losses else float("nan"),
        "num_parameters": int(sum(x.size for x in jax.tree.leaves(nnx.state(model, nnx.Param)))),
    }


def load(workdir, *, use_ema: bool | None = None) -> Simulator:
    """Load a trained simulator from its directory.

    Args:
        workdir: directory written by :func:`fit`.
        use_ema: sample with the EMA weights (default: what the training config says).
    """
    workdir = pathlib.Path(workdir)
    path = workdir / DESCRIPTION_FILE
    if not path.exists():
        raise FileNotFoundError(f"{path} not found: is {workdir} a directory written by fit()?")
    description = json.loads(path.read_text())
    enc = encoding.EncodingConfig(**description["encoding"])
    control_shape = description["control_shape"]
    layout = encoding.make_layout(enc, description["state_shape"], control_shape)
    restored = checkpoint.restore(workdir)
    if use_ema is None:
        model = restored.sampling_model
    else:
        model = restored.ema_model if use_ema else restored.model
    schedule = None
    if description["kind"] != "fno":
        cfg = restored.config.get("train", {})
        schedule = diffusion.make_schedule(
            cfg.get("diffusion_schedule", "cosine"), cfg.get("diffusion_steps", 1000)
        )
    return Simulator(
        kind=description["kind"],
        model=model,
        layout=layout,
        normalizer=encoding.Normalizer.load(workdir / NORMALIZER_FILE),
        schedule=schedule,
        step=restored.step,
    )


def predict(
    simulator: Simulator,
    initial_state,
    control=None,
    *,
    key: jax.Array | int = 0,
    sampler: simulation.SamplerConfig | None = None,
    batch_size: int = 64,
    progress: bool = True,
) -> np.ndarray:
    """The state trajectory ``(N, T, *spatial, Fs)`` from ``initial_state (N, *spatial, Fs)`` and
    ``control``; ``state[:, 0]`` is the given initial state for every kind."""
    if simulator.kind != "fno":
        return simulation.simulate(
            simulator.model,
            simulator.layout,
            simulator.normalizer,
            simulator.schedule,
            initial_state,
            control,
            key=key,
            sampler=sampler,
            batch_size=batch_size,
            progress=progress,
        ).state
    layout = simulator.layout
    initial_state = np.asarray(initial_state, np.float32)
    expected = (*layout.spatial_shape, layout.num_state_fields)
    if initial_state.shape[1:] != expected:
        raise ValueError(
            f"predict: initial_state must be (N, *{expected}), got {initial_state.shape}"
        )
    if layout.num_control_fields and control is None:
        raise ValueError("predict: this simulator is conditioned on a control; pass control=")
    graphdef, weights = nnx.split(simulator.model)
    scale = jnp.asarray(simulator.normalizer.scale, jnp.float32)
    num = len(initial_state)
    batch_size = max(1, min(batch_size, num))
    outputs = []
    for start in tqdm(range(0, num, batch_size), desc="fno", disable=not progress):
        index = np.minimum(np.arange(start, start + batch_size), num - 1)  # pad: one compilation
        f = None if control is None else np.asarray(control[index], np.float32)
        state = _fno_batch(
            weights, scale, initial_state[index], f, graphdef=graphdef, layout=layout
        )
        outputs.append(np.asarray(state)[: min(batch_size, num - start)])
    state = np.concatenate(outputs)
    state[:, 0] = initial_state
    return state


@functools.partial(jax.jit, static_argnames=("graphdef", "layout"))
def _fno_batch(weights, scale, initial_state, control, *, graphdef, layout):
    inputs = fno_inputs(layout, initial_state, control) / scale
    return nnx.merge(graphdef, weights)(inputs) * scale[: layout.num_state_fields]
