"""Burgers presets (spec §6 and §8.1): data-set sizes and run settings.

Data: ``tiny`` for smoke tests, ``cpu`` what a laptop generates in a few minutes, ``paper`` the
paper's scale (40,000 train / 8,000 test; the super-resolution test set is ``paper`` with
``--resolution 8``).

Runs: ``tiny`` (tests, seconds), ``cpu`` (the README demo on a 2-core CPU; its diffusion models
predict the clean sample x0 instead of the paper's noise, which the learning curve of
docs/results.md showed to learn about three times faster at this budget) and ``paper`` (a GPU:
the released U-Net, batch 16, learning rate 1e-4 on the released periodic cosine schedule). The
paper preset trains 90,000 steps: the released schedule ``lr (1 + cos(pi step / 10k)) / 2``
reaches zero at step 90k, and the original sampled its step-90k checkpoint (at 100k it would be
back at the peak rate). Its channel scales follow the original rule ``int(max) + 1``.
"""

from __future__ import annotations

import dataclasses

from systems.burgers.solver import SolverConfig
from wdno.nets.configs import CPU_UNET_2D, PAPER_UNET_2D, TINY_UNET_2D
from wdno.nets.fno import FNOConfig
from wdno.nets.unet import UNetConfig
from wdno.preset import RunPreset

__all__ = [
    "PAPER_SUPERRES_UNET",
    "PAPER_UNET",
    "PRESETS",
    "RUN_PRESETS",
    "SUPERRES_PRESETS",
    "DataPreset",
    "SuperResPreset",
]


@dataclasses.dataclass(frozen=True)
class DataPreset:
    """Sizes and settings of a generated Burgers data set."""

    name: str
    num_train: int
    num_test: int
    batch_size: int
    solver: SolverConfig = SolverConfig()

    def num_samples(self, split: str) -> int:
        return {"train": self.num_train, "test": self.num_test}[split]


PRESETS = {
    "tiny": DataPreset("tiny", num_train=16, num_test=8, batch_size=8),
    "cpu": DataPreset("cpu", num_train=2000, num_test=200, batch_size=256),
    "paper": DataPreset("paper", num_train=40000, num_test=8000, batch_size=800),
}

# The released networks (spec §5.1): in_channels is set from the encoding when a model is built.
PAPER_UNET = PAPER_UNET_2D
PAPER_SUPERRES_UNET = UNetConfig(
    17, dim=64, dim_mults=(1, 2, 4, 8), num_spatial_dims=2, num_groups=1
)


def _fno(width: int, modes: tuple[int, int]) -> FNOConfig:
    return FNOConfig(2, 1, width=width, modes=modes, padding=(8, 8))


RUN_PRESETS = {
    "tiny": RunPreset(
        "tiny",
        data="tiny",
        num_test=4,
        unet=TINY_UNET_2D,
        fno=_fno(8, (4, 4)),
        steps=6,
        batch_size=4,
        warmup_steps=0,
        sampling_steps=3,
        sim_batch_size=4,
        num_control=2,
        gradient_steps=3,
        hybrid_steps=2,
    ),
    "cpu": RunPreset(
        "cpu",
        data="cpu",
        num_test=100,
        unet=CPU_UNET_2D,
        fno=_fno(32, (16, 16)),
        prediction="x0",
        steps=1000,
        batch_size=4,
        learning_rate=2e-3,
        sampling_steps=25,
        sim_batch_size=50,
    ),
    "cpu-hour": RunPreset(
        "cpu-hour",
        data="cpu",
        num_test=100,
        unet=dataclasses.replace(CPU_UNET_2D, dim=16),
        fno=_fno(32, (16, 16)),
        prediction="x0",
        steps=8000,
        model_steps=(("ddpm", 2500), ("fno", 4200)),
        batch_size=8,
        learning_rate=1e-3,
        warmup_steps=100,
        sampling_steps=25,
        sim_batch_size=50,
    ),
    "paper": RunPreset(
        "paper",
        data="paper",
        num_test=8000,
        unet=PAPER_UNET,
        fno=_fno(64, (16, 16)),
        scale_round_up=True,
        steps=90_000,
        batch_size=16,
        learning_rate=1e-4,
        lr_schedule="periodic_cosine",
        warmup_steps=0,
        cosine_period=10_000,
        sampling_steps=50,
        sim_batch_size=200,
        checkpoint_every=5_000,
    ),
}


@dataclasses.dataclass(frozen=True)
class SuperResPreset:
    """What ``wdno burgers superres`` changes from a run preset (spec §6, §7.2).

    Every super-resolution model (the WDNO SRM, the physical-space DDPM's, the single-pair one)
    trains with the run preset's batch, learning rate, schedule and seed; these fields set the
    rest (None: the run preset's).

    Attributes:
        unet: the SRMs' U-Net (``in_channels`` is set from each SRM's layout).
        steps: SRM training steps.
        num_test: test trajectories super-resolved.
        batch_size: trajectories per sampling call (memory: the finest level's attention).
    """

    unet: UNetConfig | None = None
    steps: int | None = None
    num_test: int | None = None
    batch_size: int = 4


# Keyed by run preset. `paper`: the released SRM (spec §6): U-Net dim 64, 250,000 steps of batch
# 16 at lr 1e-4 on the run's periodic cosine (zero again at step 250k, the checkpoint the original
# sampled), 200 test trajectories in batches of 5. `cpu`: the run's U-Net and budget, 20
# trajectories (the x8 level of the physical-space cascade costs minutes per trajectory on 2 cores).
SUPERRES_PRESETS = {
    "tiny": SuperResPreset(),
    "cpu": SuperResPreset(num_test=20),
    "paper": SuperResPreset(unet=PAPER_SUPERRES_UNET, steps=250_000, num_test=200, batch_size=5),
}
