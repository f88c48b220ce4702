"""Learned simulators behind one protocol (:class:`base.Simulator`): fit, load, predict.

Implementations: :class:`DiffusionSimulator` (WDNO in wavelet space, or the physical-space DDPM)
and :class:`FNOSimulator`. A run's models are named by :data:`MODELS` (paper Table 1's rows): each
names an implementation and its options, so the driver trains and loads every model the same way
and never branches on a model's name. :func:`load` reads which implementation a directory holds
from its ``simulator.json``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from wdno.simulators.base import Simulator, read_description
from wdno.simulators.diffusion import DiffusionSimulator
from wdno.simulators.fno import FNOSimulator

__all__ = [
    "IMPLEMENTATIONS",
    "MODELS",
    "DiffusionSimulator",
    "FNOSimulator",
    "Model",
    "Simulator",
    "load",
]

IMPLEMENTATIONS: dict[str, type] = {
    DiffusionSimulator.implementation: DiffusionSimulator,
    FNOSimulator.implementation: FNOSimulator,
}


@dataclasses.dataclass(frozen=True)
class Model:
    """A model of a run: a name, a label for tables, an implementation and its fit options.

    ``modes``: the tasks it can be trained for (``"simulation"``; the diffusion models also
    ``"control"``, where state and control are generated jointly, :mod:`wdno.control`).
    """

    name: str
    label: str
    implementation: type
    options: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    modes: tuple[str, ...] = ("simulation",)

    def fit(
        self,
        workdir,
        state,
        control,
        *,
        preset,
        mode="simulation",
        past_frames=1,
        initial_given=True,
        monitor=None,
        progress=True,
    ) -> dict:
        """Train this model (:meth:`wdno.simulators.base.Simulator.fit`) for ``mode``, with
        ``past_frames`` leading state frames given (1: the initial state); ``initial_given=False``
        (control mode) is the inverse problem."""
        if mode not in self.modes:
            raise ValueError(f"model {self.name!r} has no {mode!r} mode; it has {self.modes}")
        extra = {} if mode == "simulation" else {"mode": mode}
        if past_frames != 1:
            extra["past_frames"] = past_frames
        if not initial_given:
            extra["initial_given"] = False
        return self.implementation.fit(
            workdir,
            state,
            control,
            preset=preset,
            monitor=monitor,
            progress=progress,
            **self.options,
            **extra,
        )

    def directory(self, mode: str = "simulation") -> str:
        """The model's sub-directory of a run: ``<name>`` or ``<name>_<mode>``."""
        return self.name if mode == "simulation" else f"{self.name}_{mode}"


MODELS: dict[str, Model] = {
    "wdno": Model(
        "wdno", "WDNO", DiffusionSimulator, {"transform": "wavelet"}, ("simulation", "control")
    ),
    "ddpm": Model(
        "ddpm", "DDPM", DiffusionSimulator, {"transform": "identity"}, ("simulation", "control")
    ),
    "fno": Model("fno", "FNO", FNOSimulator),
}


def load(workdir, *, use_ema: bool | None = None) -> Simulator:
    """The trained simulator in ``workdir``, whichever implementation wrote it."""
    name = read_description(workdir).get("implementation")
    if name not in IMPLEMENTATIONS:
        raise ValueError(
            f"{workdir}: simulator implementation {name!r} unknown; expected one of "
            f"{sorted(IMPLEMENTATIONS)}"
        )
    return IMPLEMENTATIONS[name].load(workdir, use_ema=use_ema)
