"""The super-resolution model (SRM): trained on every resolution pair of a training set, saved,
loaded, and applied level by level to base trajectories (paper Sec. 3.4, spec §7).

:meth:`SuperResolutionModel.fit` builds the pairs' SRM tensors with one shared set of scales
(:func:`wdno.superres.batches.prepare`), a U-Net whose input channels are the SRM layout's, and
trains it with the mixed-resolution stream (:func:`~wdno.superres.batches.
multiresolution_minibatches`) through :func:`wdno.simulators.base.train_and_record`, so it
resumes, checkpoints and logs like every simulator. The training loop compiles its step once per
batch shape, so a stream whose shape changes with the pair drawn needs nothing special: one
compilation per pair.

The directory holds ``simulator.json`` (``implementation: "superres"``, the encoding, the
number of levels, the finest training shapes and every pair's fine grid), ``normalizer.json``
(the shared scales) and the training run (``config.json``, ``log.csv``, ``checkpoints/``). It is
not a :class:`wdno.simulators.base.Simulator` (it refines trajectories, it does not simulate
them), so :func:`wdno.simulators.load` does not load it; :meth:`SuperResolutionModel.load` does.

The network: ``preset.unet`` with ``in_channels`` from the SRM layout unless ``unet`` is given
(the paper's Burgers SRM is the base U-Net at dim 64,
:data:`systems.burgers.presets.PAPER_SUPERRES_UNET`).
"""

from __future__ import annotations

import dataclasses
import pathlib
import time
from collections.abc import Sequence

import jax
import numpy as np
from flax import nnx

from wdno import diffusion
from wdno.io import configs
from wdno.nets.unet import UNet, UNetConfig
from wdno.simulators import base
from wdno.simulators.sampling import SamplerConfig
from wdno.superres import batches as sr_batches
from wdno.superres import cascade
from wdno.transforms import encoding, normalization

__all__ = ["IMPLEMENTATION", "SuperResolutionModel"]

IMPLEMENTATION = "superres"


@dataclasses.dataclass(frozen=True)
class SuperResolutionModel:
    """A trained SRM (see :meth:`load`).

    Attributes:
        model: the network ``model(x_t, t)`` on normalised SRM tensors (any level: it is
            convolutional).
        config: the encoding of every level.
        normalizer: the shared channel scales of every level.
        schedule: the diffusion schedule.
        step: training step of the weights.
        num_levels: resolution levels it was trained on (finest included).
        state_shape, control_shape: the finest training level's per-sample shapes
            (``(T, *spatial, Fs)``, ``(T - 1, *spatial, Fc)`` or None).
        prediction: the network's target (``"eps"``, ``"x0"`` or ``"v"``).
    """

    implementation = IMPLEMENTATION

    model: UNet
    config: encoding.EncodingConfig
    normalizer: normalization.Normalizer
    schedule: diffusion.Schedule
    step: int
    num_levels: int
    state_shape: tuple[int, ...]
    control_shape: tuple[int, ...] | None
    prediction: str = "eps"

    @classmethod
    def fit(
        cls,
        workdir,
        state: np.ndarray,
        control: np.ndarray | None,
        *,
        preset,
        num_levels: int = 4,
        transform: str = "wavelet",
        unet: UNetConfig | None = None,
        steps: int | None = None,
        probabilities: Sequence[float] | None = None,
        weight_channels: bool = True,
        progress: bool = True,
    ) -> dict:
        """Train on a data set at its finest resolution and its ``num_levels - 1`` coarser ones.

        Args:
            workdir: the model's directory (created; an existing checkpoint is resumed, so
                calling again with more ``steps`` continues training).
            state, control: ``(N, T, *spatial, Fs)`` and ``(N, T - 1, *spatial, Fc)`` (or None)
                at the finest training resolution (Burgers: the base 81x120).
            preset: a :class:`wdno.preset.RunPreset` (``unet``, ``encoding``, scale rules,
                training budget and seed).
            num_levels: levels including the finest (Burgers: 4, pairs 41x60 -> 81x120,
                21x30 -> 41x60, 11x15 -> 21x30).
            transform: ``"wavelet"`` (WDNO's SRM) or ``"identity"`` (multi-resolution training
                in physical space, the paper's ablation).
            unet: the network (default ``preset.unet``); ``in_channels`` is set from the layout.
            steps: training steps (default ``preset.steps``).
            probabilities: per-pair probability of a step (default uniform, the original's).
            weight_channels: weigh each channel's loss by its relative scale.
            progress: progress bar.

        Returns:
            ``{"steps", "train_seconds", "final_loss", "num_parameters"}``.
        """
        workdir = pathlib.Path(workdir)
        workdir.mkdir(parents=True, exist_ok=True)
        state = np.asarray(state, np.float32)
        control = None if control is None else np.asarray(control, np.float32)
        enc = dataclasses.replace(preset.encoding, transform=transform)
        start = time.perf_counter()
        data = sr_batches.prepare(
            enc,
            state,
            control,
            num_levels=num_levels,
            headroom=preset.scale_headroom,
            round_up=preset.scale_round_up,
        )
        config = preset.train_config
        if steps is not None:
            config = dataclasses.replace(
                config, num_steps=steps, log_every=max(1, min(50, steps // 20))
            )
        if config.batch_size > len(state):
            raise ValueError(
                f"SuperResolutionModel.fit: batch size {config.batch_size} exceeds the "
                f"{len(state)} training trajectories"
            )
        network = dataclasses.replace(
            unet or preset.unet, in_channels=data.layouts[0].num_channels, out_channels=None
        )
        model = UNet(network, rngs=nnx.Rngs(preset.seed))
        stream = sr_batches.multiresolution_minibatches(
            data,
            config.batch_size,
            seed=config.seed,
            weight_channels=weight_channels,
            probabilities=probabilities,
        )
        base.write_description(
            workdir,
            {
                "implementation": cls.implementation,
                "encoding": configs.to_json(enc),
                "num_levels": num_levels,
                "state_shape": list(state.shape[1:]),
                "control_shape": None if control is None else list(control.shape[1:]),
                "pair_grids": [list(layout.fine.grid_shape) for layout in data.layouts],
                "tensor_shapes": [list(layout.shape) for layout in data.layouts],
                "num_train": len(state),
                "weight_channels": weight_channels,
                "probabilities": None if probabilities is None else list(probabilities),
            },
            data.normalizer,
        )
        return base.train_and_record(model, stream, config, workdir, start, progress=progress)

    @classmethod
    def load(cls, workdir, *, use_ema: bool | None = None) -> SuperResolutionModel:
        """Load from ``workdir``; ``use_ema`` overrides the training config's choice."""
        workdir = pathlib.Path(workdir)
        description = base.read_description(workdir)
        if description.get("implementation") != cls.implementation:
            raise ValueError(
                f"{workdir}: holds a {description.get('implementation')!r} model, not a "
                f"super-resolution model ({cls.implementation!r})"
            )
        model, restored = base.restore_model(workdir, use_ema)
        train_config = restored.config.get("train", {})
        schedule = diffusion.make_schedule(
            train_config.get("diffusion_schedule", "cosine"),
            train_config.get("diffusion_steps", 1000),
        )
        control_shape = description["control_shape"]
        return cls(
            model=model,
            config=configs.from_json(encoding.EncodingConfig, description["encoding"]),
            normalizer=normalization.Normalizer.load(workdir / base.NORMALIZER_FILE),
            schedule=schedule,
            step=restored.step,
            num_levels=int(description["num_levels"]),
            state_shape=tuple(description["state_shape"]),
            control_shape=None if control_shape is None else tuple(control_shape),
            prediction=train_config.get("prediction", "eps"),
        )

    @property
    def denoise_fn(self) -> diffusion.DenoiseFn:
        """``(x_t, t) -> eps`` on normalised SRM tensors, whatever the network predicts."""
        return diffusion.noise_predictor(self.model, self.schedule, self.prediction)

    def upscale(
        self,
        base_state,
        base_control,
        conditions: Sequence[tuple],
        *,
        factor: int | None = None,
        key: jax.Array | int = 0,
        sampler: SamplerConfig | None = None,
        batch_size: int = 16,
        progress: bool = False,
    ) -> list[cascade.Level]:
        """Refine base trajectories 2x per level up to ``factor``; every level, base first.

        Args:
            base_state: ``(N, T, *spatial, Fs)`` at the base resolution (e.g. a base model's
                prediction, ``state[:, 0]`` the given initial state).
            base_control: ``(N, T - 1, *spatial, Fc)`` or None.
            conditions: per finer level, ``(initial_state, control)`` on that level's grid
                (:func:`wdno.superres.cascade.super_resolve`); the first ``log2(factor)`` are used.
            factor: total refinement, a power of two (default ``2 ** len(conditions)``; 1 returns
                the base level only).
            key: PRNG key or seed.
            sampler: sampler settings (default DDIM 50 steps, eta 1, clipping).
            batch_size: trajectories per compiled sampling call.
            progress: a progress bar per level.

        Returns:
            ``log2(factor) + 1`` :class:`wdno.superres.cascade.Level` entries.
        """
        conditions = list(conditions)
        factor = 2 ** len(conditions) if factor is None else int(factor)
        num = factor.bit_length() - 1
        if factor < 1 or 2**num != factor:
            raise ValueError(f"upscale: factor must be a power of two >= 1, got {factor}")
        if num > len(conditions):
            raise ValueError(
                f"upscale: factor {factor} needs the conditions of {num} finer levels, got "
                f"{len(conditions)}"
            )
        return cascade.super_resolve(
            self.denoise_fn,
            self.config,
            self.normalizer,
            self.schedule,
            base_state,
            base_control,
            conditions[:num],
            key=key,
            sampler=sampler,
            batch_size=batch_size,
            progress=progress,
        )
