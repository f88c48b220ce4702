"""A run preset: everything that defines one experiment run of a system, in one frozen record.

A system offers named presets (``tiny`` for tests, ``cpu`` for a 2-core CPU, ``paper`` for a GPU
with the paper's settings, spec §6) through its :class:`wdno.task.Task`; the driver
(:mod:`wdno.experiment`) trains every model of a run with the preset's one budget, so the models
of paper Table 1 see the same data, steps, batches and seed. The preset is saved in ``run.json``
and read back from there, so the later verbs of a run need nothing but its directory.
"""

from __future__ import annotations

import dataclasses

from wdno.nets.fno import FNOConfig
from wdno.nets.unet import UNetConfig
from wdno.simulators.sampling import SamplerConfig
from wdno.training import TrainConfig
from wdno.transforms.encoding import EncodingConfig

__all__ = ["OVERRIDES", "RunPreset"]

# CLI option -> RunPreset field, with the option's type: the overrides every system accepts.
OVERRIDES = {
    "num_train": int,
    "num_test": int,
    "steps": int,
    "batch_size": int,
    "learning_rate": float,
    "sampling_steps": int,
    "checkpoint_every": int,
    "checkpoint_minutes": float,
    "num_control": int,
    "gradient_steps": int,
    "seed": int,
}


@dataclasses.dataclass(frozen=True)
class RunPreset:
    """Everything that defines a run (fields in :data:`OVERRIDES` can be set from the CLI).

    Attributes:
        name: preset name.
        data: the system's data preset (sizes of the generated sets).
        num_train: training trajectories used (``None``: all in the file).
        num_test: test trajectories simulated and evaluated.
        unet: the diffusion models' U-Net; ``in_channels`` is set from the encoding.
        fno: the FNO baseline; ``in_channels`` and ``out_channels`` are set from the data.
        encoding: WDNO's transform (the physical-space DDPM uses the same with ``identity``).
        scale_headroom, scale_round_up: how channel scales are made from the training maximum
            (:func:`wdno.transforms.normalization.scales_from_max`).
        steps, batch_size, learning_rate, lr_schedule, warmup_steps, cosine_period: training,
            shared by every model of the run.
        model_steps: ``((model, steps), ...)``: models that train for other than ``steps``, so
            that every model gets the same wall-clock budget (the ``cpu-hour`` presets); every
            model still sees the same batches in the same order, a shorter run a prefix of them.
            See :meth:`for_model`; overriding ``steps`` clears it.
        prediction, loss_weighting: the denoiser's target (eps, x0, v) and the loss weighting over
            noise levels (uniform, min_snr) of both diffusion models.
        use_ema: sample with the EMA weights (the original samples with the raw ones, pitfall 5).
        ema_warmup: EMA decay warm-up (see :class:`wdno.training.TrainConfig`).
        sampling_steps: DDIM steps (spec §4.1: 50, eta = 1).
        sim_batch_size: trajectories per compiled sampling batch.
        checkpoint_every: checkpoint every this many steps as well as at the end (0: at the end).
        checkpoint_minutes: also checkpoint every this many minutes of wall-clock time (0: never);
            an interrupted run (SIGINT, SIGTERM) checkpoints before stopping (docs/long_runs.md).
        eval_every: call a fit's ``monitor`` every this many steps (0: never; the learning-curve
            benchmark sets it).
        num_control: control problems (test trajectories: their initial and final states) of
            ``wdno <system> control``.
        gradient_learning_rate, gradient_steps: Adam on the control through the solver, the
            "run to convergence" baseline (:mod:`wdno.control.baselines`).
        hybrid_steps: solver-gradient steps that refine WDNO's control (the hybrid).
        seed: seed of initialisation, batches and sampling.
    """

    name: str
    data: str
    num_test: int
    unet: UNetConfig
    fno: FNOConfig
    encoding: EncodingConfig = EncodingConfig()
    num_train: int | None = None
    scale_headroom: float = 1.0
    scale_round_up: bool = False
    steps: int = 1000
    model_steps: tuple[tuple[str, int], ...] = ()
    batch_size: int = 16
    learning_rate: float = 1e-3
    lr_schedule: str = "cosine"
    warmup_steps: int = 20
    cosine_period: int = 10_000
    prediction: str = "eps"
    loss_weighting: str = "uniform"
    use_ema: bool = False
    ema_warmup: bool = True
    sampling_steps: int = 50
    sim_batch_size: int = 50
    checkpoint_every: int = 0
    checkpoint_minutes: float = 5.0
    eval_every: int = 0
    num_control: int = 50
    gradient_learning_rate: float = 0.1
    gradient_steps: int = 200
    hybrid_steps: int = 20
    seed: int = 0

    def __post_init__(self):
        for name in (
            "num_test",
            "steps",
            "batch_size",
            "sampling_steps",
            "sim_batch_size",
            "num_control",
        ):
            if getattr(self, name) < 1:
                raise ValueError(f"RunPreset.{name}: expected >= 1, got {getattr(self, name)}")
        for model, steps in self.model_steps:
            if not isinstance(steps, int) or steps < 1:
                raise ValueError(
                    f"RunPreset.model_steps[{model!r}]: expected an int >= 1, got {steps!r}"
                )
        if self.num_train is not None and self.num_train < 1:
            raise ValueError(f"RunPreset.num_train: expected >= 1 or None, got {self.num_train}")
        if self.learning_rate <= 0:
            raise ValueError(f"RunPreset.learning_rate: expected > 0, got {self.learning_rate}")
        if self.checkpoint_every < 0 or not self.checkpoint_minutes >= 0:
            raise ValueError(
                f"RunPreset.checkpoint_every, checkpoint_minutes: expected >= 0, got "
                f"{self.checkpoint_every}, {self.checkpoint_minutes}"
            )

    def override(self, **values) -> RunPreset:
        """A copy with the given fields replaced (``None`` values are ignored).

        Setting ``steps`` (and not ``model_steps``) gives every model that many steps."""
        values = {k: v for k, v in values.items() if v is not None}
        if "steps" in values:
            values.setdefault("model_steps", ())
        return dataclasses.replace(self, **values)

    def for_model(self, model: str) -> RunPreset:
        """This preset as ``model`` trains it: ``steps`` from :attr:`model_steps` if listed."""
        steps = dict(self.model_steps).get(model)
        if steps is None:
            return self
        return dataclasses.replace(self, steps=steps, model_steps=())

    @property
    def train_config(self) -> TrainConfig:
        """The training configuration shared by every model of the run."""
        return TrainConfig(
            num_steps=self.steps,
            batch_size=self.batch_size,
            learning_rate=self.learning_rate,
            lr_schedule=self.lr_schedule,
            warmup_steps=self.warmup_steps,
            cosine_period=self.cosine_period,
            use_ema_for_sampling=self.use_ema,
            prediction=self.prediction,
            loss_weighting=self.loss_weighting,
            ema_warmup=self.ema_warmup,
            log_every=max(1, min(50, self.steps // 20)),
            checkpoint_every=self.checkpoint_every,
            checkpoint_minutes=self.checkpoint_minutes,
            eval_every=self.eval_every,
            max_checkpoints=1,
            seed=self.seed,
        )

    @property
    def sampler(self) -> SamplerConfig:
        return SamplerConfig(num_steps=self.sampling_steps)
