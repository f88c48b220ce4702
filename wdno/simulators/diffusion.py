"""A diffusion simulator: WDNO (wavelet space) or the physical-space DDPM baseline.

``transform="wavelet"``: diffusion on the joint space-time wavelet coefficients of the trajectory
(:mod:`wdno.transforms.encoding`), the paper's WDNO. ``transform="identity"``: the same model and
sampler on the raw fields, the paper's DDPM baseline. Both are conditioned by inpainting
(:mod:`wdno.simulators.sampling`) and trained with the masked diffusion loss, each channel's loss
weighted by its normalisation scale relative to the mean (the original's per-channel
``RESCALER`` weighting, spec §4.1), so energetic bands such as the wavelet approximation count more.
"""

from __future__ import annotations

import dataclasses
import pathlib
import time

import jax
import numpy as np
from flax import nnx

from wdno import diffusion
from wdno.io import configs
from wdno.nets.unet import UNet
from wdno.simulators import base, sampling
from wdno.training import batches
from wdno.transforms import encoding, normalization

__all__ = ["MODES", "DiffusionSimulator"]

MODES = ("simulation", "control")


@dataclasses.dataclass(frozen=True)
class DiffusionSimulator:
    """A trained diffusion simulator (see :meth:`load`).

    Attributes:
        model: the noise predictor ``model(x_t, t)``.
        layout: the trajectory encoding it was trained on.
        normalizer: channel scales fitted on the training set.
        schedule: the diffusion noise schedule.
        step: training step of the weights.
        prediction: what the model predicts (``"eps"``, ``"x0"`` or ``"v"``).
    """

    implementation = "diffusion"

    model: UNet
    layout: encoding.TrajectoryLayout
    normalizer: normalization.Normalizer
    schedule: diffusion.Schedule
    step: int
    prediction: str = "eps"

    @classmethod
    def fit(
        cls,
        workdir,
        state: np.ndarray,
        control: np.ndarray | None,
        *,
        preset,
        transform: str = "wavelet",
        mode: str = "simulation",
        past_frames: int = 1,
        initial_given: bool = True,
        weight_channels: bool = True,
        monitor=None,
        progress: bool = True,
    ) -> dict:
        """Train on a data set with the preset's U-Net, transform and budget.

        Args:
            workdir: the simulator's directory (created; an existing checkpoint is resumed).
            state, control: the training set, ``(N, T, *spatial, Fs)`` and
                ``(N, T - 1, *spatial, Fc)`` (or None).
            preset: a :class:`wdno.preset.RunPreset` (``unet``, ``encoding``, scales, training).
            transform: ``"wavelet"`` (WDNO) or ``"identity"`` (physical-space DDPM).
            mode: ``"simulation"`` (``u0`` and the control known, the state generated) or
                ``"control"`` (``u0`` and the final state known, state and control generated
                jointly: the model :mod:`wdno.control` guides, spec §2.3).
            past_frames: leading state frames given in simulation (1: ``u0``; more: a forecast).
            initial_given: in control mode, False for the inverse problem: only the final state
                known, the initial state generated with the rest (and the control, if any).
            weight_channels: weigh each channel's loss by its relative scale.
            monitor: ``monitor(simulator, step) -> dict`` every ``preset.eval_every`` steps
                (:func:`wdno.simulators.base.train_and_record`).
            progress: progress bars.

        Returns:
            ``{"steps", "train_seconds", "final_loss", "num_parameters"}``.
        """
        workdir = pathlib.Path(workdir)
        workdir.mkdir(parents=True, exist_ok=True)
        state = np.asarray(state, np.float32)
        control = None if control is None else np.asarray(control, np.float32)
        if mode not in MODES:
            raise ValueError(f"DiffusionSimulator.fit: mode must be one of {MODES}, got {mode!r}")
        if mode == "control" and control is None and initial_given:
            raise ValueError(
                "DiffusionSimulator.fit: mode='control' needs a control to generate, or "
                "initial_given=False (the inverse problem: the initial state generated)"
            )
        if not initial_given and mode != "control":
            raise ValueError(
                f"DiffusionSimulator.fit: initial_given=False is a control-mode setting (the "
                f"inverse problem), got mode={mode!r}"
            )
        enc = dataclasses.replace(preset.encoding, transform=transform)
        layout = encoding.make_layout(
            enc,
            state.shape[1:],
            None if control is None else control.shape[1:],
            target=mode == "control",
            past_frames=past_frames,
            initial_given=initial_given,
        )
        start = time.perf_counter()
        encoded = encoding.encode_dataset(layout, state, control)
        normalizer = normalization.Normalizer(
            normalization.fit_channel_scales(
                layout, encoded, headroom=preset.scale_headroom, round_up=preset.scale_round_up
            )
        )
        encoded = encoded / normalizer.scale
        network = dataclasses.replace(
            preset.unet, in_channels=layout.num_channels, out_channels=None
        )
        model = UNet(network, rngs=nnx.Rngs(preset.seed))
        constants = {
            "known_mask": layout.task_known_mask()[None],
            "loss_mask": ~layout.pad_mask()[None],
        }
        if weight_channels:
            constants["channel_weights"] = normalizer.scale / normalizer.scale.mean()
        config = preset.train_config
        stream = batches.minibatches(
            encoded, config.batch_size, seed=config.seed, constants=constants
        )
        base.write_description(
            workdir,
            {
                "implementation": cls.implementation,
                "mode": mode,
                "past_frames": past_frames,
                "initial_given": initial_given,
                "encoding": configs.to_json(enc),
                "state_shape": list(state.shape[1:]),
                "control_shape": None if control is None else list(control.shape[1:]),
                "num_train": len(state),
                "weight_channels": weight_channels,
            },
            normalizer,
        )
        schedule = diffusion.make_schedule(config.diffusion_schedule, config.diffusion_steps)

        def as_simulator(current, step):
            return cls(current, layout, normalizer, schedule, step, config.prediction)

        return base.train_and_record(
            model,
            stream,
            config,
            workdir,
            start,
            monitor=monitor,
            as_simulator=as_simulator,
            progress=progress,
        )

    @classmethod
    def load(cls, workdir, *, use_ema: bool | None = None) -> DiffusionSimulator:
        """Load from ``workdir``; ``use_ema`` overrides the training config's choice."""
        workdir = pathlib.Path(workdir)
        description = base.read_description(workdir)
        enc = configs.from_json(encoding.EncodingConfig, description["encoding"])
        layout = encoding.make_layout(
            enc,
            description["state_shape"],
            description["control_shape"],
            target=description.get("mode", "simulation") == "control",
            past_frames=description.get("past_frames", 1),
            initial_given=description.get("initial_given", True),
        )
        model, restored = base.restore_model(workdir, use_ema)
        train_config = restored.config.get("train", {})
        schedule = diffusion.make_schedule(
            train_config.get("diffusion_schedule", "cosine"),
            train_config.get("diffusion_steps", 1000),
        )
        return cls(
            model=model,
            layout=layout,
            normalizer=normalization.Normalizer.load(workdir / base.NORMALIZER_FILE),
            schedule=schedule,
            step=restored.step,
            prediction=train_config.get("prediction", "eps"),
        )

    def predict(
        self,
        initial_state,
        control=None,
        *,
        key: jax.Array | int = 0,
        sampler: sampling.SamplerConfig | None = None,
        batch_size: int = 64,
        progress: bool = True,
    ) -> np.ndarray:
        """The state trajectories, sampled conditioned on ``initial_state`` and ``control``."""
        if self.layout.target:
            raise ValueError(
                "predict: this is a control model (trained with the final state known and the "
                "control generated); use wdno.control.Controller with it"
            )
        return sampling.simulate(
            self.model,
            self.layout,
            self.normalizer,
            self.schedule,
            initial_state,
            control,
            key=key,
            sampler=sampler,
            batch_size=batch_size,
            prediction=self.prediction,
            progress=progress,
        ).state
