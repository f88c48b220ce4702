"""Control by guided joint sampling of state and control (paper Sec. 3.3, Eq. 4-5; spec §2.3).

- :class:`Controller` (:mod:`~wdno.control.controller`): from a model trained in control mode,
  a task and an objective, the controls of many problems, scored by the true solver.
- :class:`GuidedForecaster` (:mod:`~wdno.control.forecaster`): a simulation/forecast model's
  samples guided by any objective (e.g. the misfit to observations of the forecast window).
- :func:`~wdno.control.guided.guided_samples`: the guided sampling with known entries that both
  use.
- :class:`GuidanceSettings` (:mod:`~wdno.control.weights`): guidance scale and weight schedule.
- :mod:`~wdno.control.evaluation`: objectives and rollouts, solver-evaluated ``J``.
- :mod:`~wdno.control.baselines`: no control, the nearest training control, and gradient descent
  on the control through the differentiable solver.
"""

from wdno.control.controller import Controller, ControlResult
from wdno.control.evaluation import check_objective, solver_objective
from wdno.control.forecaster import GuidedForecaster
from wdno.control.weights import GuidanceSettings

__all__ = [
    "ControlResult",
    "Controller",
    "GuidanceSettings",
    "GuidedForecaster",
    "check_objective",
    "solver_objective",
]
