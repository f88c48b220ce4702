"""Compressible Navier-Stokes presets (spec §6 and §8.3): data-set sizes and run settings.

Data: ``tiny`` (tests: 32 cells x 17 levels to ``t = 1``, 16 train / 8 test, under a second to
generate), ``cpu`` (128 cells x 41 levels, 1000 train / 100 test; about 35 trajectories a second
on a 2-core CPU, half a minute in all) and ``paper`` (PDEBench's scale: 1024 cells x 101 levels,
9000 train / 1000 test, PDEBench's 90/10 split of its 10,000 trajectories; a GPU). All use
PDEBench's shock case: gamma = 5/3, eta = zeta = 1e-8, ``[-1, 1]`` with outgoing boundaries
(``..._trans_...``), ``t in [0, 1]``.

Transform: one level of bior2.4 with the ``symmetric`` boundary mode. The boundaries are
outgoing (zero-gradient), so the fields are continued by their mirror image, which matches them
(no jump at the ends); ``zero`` would put a jump of the boundary value (density and pressure are
positive, 0.1 to 1) at both ends and in time after ``t = 1``, and ``periodization`` a jump
between the two ends of the domain and between ``t = 0`` and ``t = 1``. A data set made with
``periodic`` boundaries would use ``periodization`` in space, but the encoding has one mode for all
axes, and ``symmetric`` is also right for the non-periodic time axis.

Runs: ``tiny`` (tests, seconds), ``cpu`` (a few minutes per model on a 2-core CPU, the advection
CPU network and budget, x0 prediction) and ``paper`` (a GPU: the Burgers paper U-Net and budget;
the paper does not state its CNS settings, spec §8.3).
"""

from __future__ import annotations

import dataclasses

from systems.compressible_ns.solver import SolverConfig
from wdno.nets.configs import CPU_UNET_2D, PAPER_UNET_2D, TINY_UNET_2D
from wdno.nets.fno import FNOConfig
from wdno.preset import RunPreset
from wdno.transforms.encoding import EncodingConfig

__all__ = ["ENCODING", "PRESETS", "RUN_PRESETS", "DataPreset"]

ENCODING = EncodingConfig(wavelet="bior2.4", mode="symmetric", level=1)


@dataclasses.dataclass(frozen=True)
class DataPreset:
    """Sizes and grid of a generated compressible NS data set."""

    name: str
    num_train: int
    num_test: int
    batch_size: int
    solver: SolverConfig

    def num_samples(self, split: str) -> int:
        return {"train": self.num_train, "test": self.num_test}[split]


PRESETS = {
    "tiny": DataPreset("tiny", 16, 8, 8, SolverConfig(num_cells=32, num_outputs=16)),
    "cpu": DataPreset("cpu", 1000, 100, 100, SolverConfig(num_cells=128, num_outputs=40)),
    "paper": DataPreset("paper", 9000, 1000, 100, SolverConfig(num_cells=1024, num_outputs=100)),
}


def _fno(width: int, modes: tuple[int, int]) -> FNOConfig:
    # (t, x): neither axis is periodic (outgoing boundaries), both are padded.
    return FNOConfig(2, 3, width=width, modes=modes, padding=(8, 8))


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
        encoding=ENCODING,
        prediction="x0",
        steps=1000,
        batch_size=4,
        learning_rate=2e-3,
        sampling_steps=25,
        sim_batch_size=50,
        # The inverse problem: each Adam step differentiates 800 solver steps per problem
        # (about 0.5 s per problem on 2 cores); lr 0.03 on (log rho, v, log p) beat 0.01 over
        # 30 steps on 5 problems (J 0.0011 against 0.0023, from 0.0133).
        num_control=20,
        gradient_learning_rate=0.03,
        gradient_steps=100,
        hybrid_steps=10,
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
