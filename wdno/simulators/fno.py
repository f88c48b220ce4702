"""The FNO baseline as a simulator: a deterministic Fourier neural operator on the (t, *space) grid.

Input channels are the initial state broadcast over time and the control (its last frame repeated,
:func:`wdno.transforms.encoding.extend_control`, the rule every model uses); the output is the
state. Inputs and outputs are divided by per-field max |value| scales of the training set, and the
loss is the MSE over every time level but the given first one (paper Sec. 4's metric).
"""

from __future__ import annotations

import dataclasses
import functools
import pathlib
import time

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx
from tqdm.auto import tqdm

from wdno.nets import fno
from wdno.simulators import base
from wdno.training import batches
from wdno.transforms import encoding, normalization

__all__ = ["FNOSimulator", "fno_inputs", "field_scales", "time_loss_mask"]


def fno_inputs(layout: encoding.TrajectoryLayout, initial_state, control) -> jax.Array:
    """``(N, T, *spatial, Fs + Fc)``: ``u0`` repeated over time (with ``P > 1`` known frames: those,
    then the last one repeated), then the extended control."""
    initial_state = jnp.asarray(initial_state)
    if layout.past_frames == 1:
        parts = [fno.broadcast_initial_state(initial_state, layout.num_times)]
    else:
        repeats = layout.num_times - layout.past_frames
        last = jnp.repeat(initial_state[:, -1:], repeats, axis=1)
        parts = [jnp.concatenate([initial_state, last], axis=1)]
    if layout.num_control_fields:
        parts.append(encoding.extend_control(control))
    return jnp.concatenate(parts, axis=-1)


def field_scales(state: np.ndarray, control: np.ndarray | None) -> np.ndarray:
    """Max |value| per state field, then per control field: the FNO's normalisation."""
    scales = [normalization.channel_max_abs(state)]
    if control is not None:
        scales.append(normalization.channel_max_abs(control))
    return normalization.scales_from_max(np.concatenate(scales))


def time_loss_mask(num_times: int, num_spatial_axes: int, past_frames: int = 1) -> np.ndarray:
    """``(1, T, 1, ..., 1)`` weights: 0 at the given first ``past_frames`` levels, 1 elsewhere."""
    weights = np.ones((1, num_times) + (1,) * (num_spatial_axes + 1), np.float32)
    weights[:, :past_frames] = 0.0
    return weights


def _loss(model, batch, key):
    return fno.fno_loss(model, batch["inputs"], batch["targets"], batch["mask"])


@dataclasses.dataclass(frozen=True)
class FNOSimulator:
    """A trained FNO simulator (see :meth:`load`)."""

    implementation = "fno"

    model: fno.FNO
    layout: encoding.TrajectoryLayout
    normalizer: normalization.Normalizer
    step: int

    @classmethod
    def fit(
        cls,
        workdir,
        state: np.ndarray,
        control: np.ndarray | None,
        *,
        preset,
        past_frames: int = 1,
        monitor=None,
        progress=True,
    ) -> dict:
        """Train on a data set with the preset's FNO and budget (see
        :meth:`wdno.simulators.diffusion.DiffusionSimulator.fit` for the arguments)."""
        workdir = pathlib.Path(workdir)
        workdir.mkdir(parents=True, exist_ok=True)
        state = np.asarray(state, np.float32)
        control = None if control is None else np.asarray(control, np.float32)
        layout = encoding.make_layout(
            dataclasses.replace(preset.encoding, transform="identity"),
            state.shape[1:],
            None if control is None else control.shape[1:],
            past_frames=past_frames,
        )
        start = time.perf_counter()
        normalizer = normalization.Normalizer(field_scales(state, control))
        scale = normalizer.scale
        known = state[:, 0] if past_frames == 1 else state[:, :past_frames]
        inputs = np.asarray(fno_inputs(layout, known, control)) / scale
        targets = state / scale[: layout.num_state_fields]
        network = dataclasses.replace(
            preset.fno, in_channels=inputs.shape[-1], out_channels=layout.num_state_fields
        )
        model = fno.FNO(network, rngs=nnx.Rngs(preset.seed))
        config = preset.train_config
        mask = time_loss_mask(layout.num_times, len(layout.spatial_shape), past_frames)
        stream = batches.minibatches(
            {"inputs": inputs, "targets": targets},
            config.batch_size,
            seed=config.seed,
            constants={"mask": mask},
        )
        base.write_description(
            workdir,
            {
                "implementation": cls.implementation,
                "state_shape": list(state.shape[1:]),
                "control_shape": None if control is None else list(control.shape[1:]),
                "past_frames": past_frames,
                "num_train": len(state),
            },
            normalizer,
        )
        return base.train_and_record(
            model,
            stream,
            config,
            workdir,
            start,
            loss_fn=_loss,
            monitor=monitor,
            as_simulator=lambda current, step: cls(current, layout, normalizer, step),
            progress=progress,
        )

    @classmethod
    def load(cls, workdir, *, use_ema: bool | None = None) -> FNOSimulator:
        workdir = pathlib.Path(workdir)
        description = base.read_description(workdir)
        layout = encoding.make_layout(
            encoding.EncodingConfig(transform="identity"),
            description["state_shape"],
            description["control_shape"],
            past_frames=description.get("past_frames", 1),
        )
        model, restored = base.restore_model(workdir, use_ema)
        return cls(
            model=model,
            layout=layout,
            normalizer=normalization.Normalizer.load(workdir / base.NORMALIZER_FILE),
            step=restored.step,
        )

    def predict(
        self, initial_state, control=None, *, key=0, sampler=None, batch_size=64, progress=True
    ) -> np.ndarray:
        """The state trajectories (deterministic: ``key`` and ``sampler`` are unused)."""
        layout = self.layout
        initial_state, control = base.check_conditions(layout, initial_state, control, "predict")
        graphdef, weights = nnx.split(self.model)
        scale = jnp.asarray(self.normalizer.scale, jnp.float32)
        outputs = []
        padded = list(batches.padded_batches(len(initial_state), batch_size))
        for rows, index in tqdm(padded, desc="fno", disable=not progress):
            f = None if control is None else control[index]
            state = _predict_batch(
                weights, scale, initial_state[index], f, graphdef=graphdef, layout=layout
            )
            outputs.append(np.asarray(state)[rows])
        state = np.concatenate(outputs)
        if layout.past_frames == 1:
            state[:, 0] = initial_state
        else:
            state[:, : layout.past_frames] = initial_state
        return state


@functools.partial(jax.jit, static_argnames=("graphdef", "layout"))
def _predict_batch(weights, scale, initial_state, control, *, graphdef, layout):
    inputs = fno_inputs(layout, initial_state, control) / scale
    return nnx.merge(graphdef, weights)(inputs) * scale[: layout.num_state_fields]
