"""Advection presets (spec §6 and §8.4): data-set sizes and run settings.

Data: ``tiny`` (tests: 32 points x 17 levels), ``cpu`` (128 x 41, 1000 train / 100 test; a few
seconds to generate) and ``paper`` (PDEBench's scale: 1024 x 201 to ``t = 2``, 9000 train / 1000
test, PDEBench's 90/10 split of its 10,000 trajectories). All use beta = 0.1 (PDEBench's first
file, ``1D_Advection_Sols_beta0.1.hdf5``); ``wdno advection generate --beta`` makes others.

Runs: ``tiny`` (tests, seconds), ``cpu`` (a few minutes per model on a 2-core CPU, the Burgers
CPU network and budget, x0 prediction) and ``paper`` (a GPU: the released U-Net and budget of the
Burgers paper preset; the paper does not state its advection settings, spec §8.4).
"""

from __future__ import annotations

import dataclasses

from systems.advection.solver import SolverConfig
from wdno.nets.configs import CPU_UNET_2D, PAPER_UNET_2D, TINY_UNET_2D
from wdno.nets.fno import FNOConfig
from wdno.preset import RunPreset
from wdno.transforms.encoding import EncodingConfig

__all__ = ["ENCODING", "PRESETS", "RUN_PRESETS", "DataPreset"]

# Space is periodic: periodization is exact there (and wraps time, as for Burgers); level 1.
ENCODING = EncodingConfig(wavelet="bior2.4", mode="periodization", level=1)


@dataclasses.dataclass(frozen=True)
class DataPreset:
    """Sizes and grid of a generated advection data set."""

    name: str
    num_train: int
    num_test: int
    batch_size: int
    solver: SolverConfig

    def num_samples(self, split: str) -> int:
        return {"train": self.num_train, "test": self.num_test}[split]


PRESETS = {
    "tiny": DataPreset("tiny", 16, 8, 8, SolverConfig(num_points=32, num_times=17)),
    "cpu": DataPreset("cpu", 1000, 100, 250, SolverConfig(num_points=128, num_times=41)),
    "paper": DataPreset("paper", 9000, 1000, 100, SolverConfig(num_points=1024, num_times=201)),
}


def _fno(width: int, modes: tuple[int, int]) -> FNOConfig:
    # (t, x): time is padded, the periodic x is not.
    return FNOConfig(2, 1, width=width, modes=modes, padding=(8, 0))


RUN_PRESETS = {
    "tiny": RunPreset(
        "tiny",
        data="tiny",
        num_test=4,
        unet=TINY_UNET_2D,
        fno=_fno(8, (4, 4)),
        encoding=ENCODING,
        steps=6,
        batch_size=4,
        warmup_steps=0,
        sampling_steps=3,
        sim_batch_size=4,
    ),
    "cpu": RunPreset(
        "cpu",
        data="cpu",
        num_test=100,
        unet=CPU_UNET_2D,
        fno=_fno(32, (16, 16)),
        encoding=ENCODING,
        prediction="x0",
        steps=1000,
        batch_size=4,
        learning_rate=2e-3,
        sampling_steps=25,
        sim_batch_size=50,
    ),
    "paper": RunPreset(
        "paper",
        data="paper",
        num_test=1000,
        unet=PAPER_UNET_2D,
        fno=_fno(64, (16, 16)),
        encoding=ENCODING,
        scale_round_up=True,
        steps=90_000,
        batch_size=16,
        learning_rate=1e-4,
        lr_schedule="periodic_cosine",
        warmup_steps=0,
        cosine_period=10_000,
        sampling_steps=50,
        sim_batch_size=50,
        checkpoint_every=5_000,
    ),
}
