"""Data-generation presets for the Burgers system (spec Sec. 8.1: 40,000 train / 8,000 test).

``tiny`` is for smoke tests, ``cpu`` is what a laptop generates in a few minutes, ``paper`` is
the paper's scale (GPU). The super-resolution test set is ``paper`` with ``--resolution 8``.
"""

from __future__ import annotations

import dataclasses

from systems.burgers.solver import SolverConfig

__all__ = ["PRESETS", "DataPreset"]


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
