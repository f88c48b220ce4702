"""The controller: find controls by guided joint sampling of state and control (paper Sec. 3.3,
Eq. 4-5; spec §2.3).

A control model (a :class:`wdno.simulators.DiffusionSimulator` fitted with ``mode="control"``:
the initial state and the target final state known, state and control generated jointly)
samples in its domain (wavelet coefficients for WDNO, physical fields for the DDPM baseline).
At every denoising step the predicted clean sample ``x0_hat`` gets the known entries imposed, is
de-normalised and inverse-transformed to physical ``(state, control)``, and the gradient of the
guidance objective ``J_g`` with respect to ``x0_hat`` is added to the predicted noise with weight
``scale * w(t)`` (:mod:`wdno.control.weights`); the noise is then re-derived from the clipped
clean estimate (:mod:`wdno.diffusion.samplers`); the sampling itself is
:func:`wdno.control.guided.guided_samples`, shared with the guided forecaster. The returned
control is scored by the system's true solver (:mod:`wdno.control.evaluation`), from the true
initial state and, as the original evaluation did (spec pitfall 8), from the model's generated
``u(0)``.

Usage::

    model = simulators.load("runs/burgers-cpu/wdno_control")
    controller = Controller(model, task)                 # the task's objective and guidance
    result = controller.optimize(u0, target, key=0)      # u0, target: (N, 120, 1)
    result.control, result.objective                     # (N, 80, 120, 1), solver J (N,)

The inverse problem (a task whose ``known["control"]`` is ``("target",)``, e.g. compressible NS:
find the initial state that reaches a final state) uses a model trained with the initial state
generated (``initial_given=False``); ``optimize(None, target)`` then returns the generated initial
state as ``result.initial_state``, and the solver's ``J`` is computed from it.
"""

from __future__ import annotations

import dataclasses
import functools
import time
from collections.abc import Callable

import jax
import numpy as np

from wdno.control import evaluation, guided
from wdno.control.weights import GuidanceSettings
from wdno.simulators.sampling import SamplerConfig

__all__ = ["ControlResult", "Controller"]


@dataclasses.dataclass(frozen=True)
class ControlResult:
    """What :meth:`Controller.optimize` found, per problem (numpy arrays).

    Attributes:
        control: ``(N, T - 1, *spatial, Fc)`` the generated control (``Fc = 0`` for a system
            without control).
        initial_state: ``(N, *spatial, Fs)`` the initial state the solver started from: the
            given one, or the generated one for the inverse problem.
        predicted_state: ``(N, T, *spatial, Fs)`` the model's own trajectory (its ``u(0)`` as
            generated).
        state: ``(N, T, ...)`` the true solver's trajectory from ``initial_state``, or None
            without a solver.
        objective: ``(N,)`` the evaluation objective on ``state`` (None without a solver).
        objective_generated_start: ``(N,)`` the same with the solver started from the model's
            generated ``u(0)`` (the released evaluation, spec pitfall 8), or None (no solver,
            or the inverse problem, where ``objective`` already is that).
        predicted_objective: ``(N,)`` the evaluation objective on the model's own prediction.
        seconds: wall-clock of the guided sampling (compilation included).
    """

    control: np.ndarray
    initial_state: np.ndarray
    predicted_state: np.ndarray
    state: np.ndarray | None
    objective: np.ndarray | None
    objective_generated_start: np.ndarray | None
    predicted_objective: np.ndarray
    seconds: float


def _given(initial_state, target):
    given = {}
    if initial_state is not None:
        given["initial_state"] = initial_state
    if target is not None:
        given["target"] = target
    return given


_batch_objective = jax.jit(evaluation.batch_objective, static_argnums=0)


@dataclasses.dataclass(frozen=True, eq=False)
class Controller:
    """Guided-sampling controller over a trained control model.

    Args (fields):
        model: a diffusion model trained in control mode
            (``DiffusionSimulator.fit(..., mode="control")``), WDNO or the physical-space DDPM.
        task: the system (:class:`wdno.task.Task`): its true solver (``rollout``), evaluation
            objective (``control_objective``), default guidance objective and settings. May be
            None when ``objective`` is given (then there is no solver evaluation unless
            ``rollout`` is given).
        objective: the evaluation objective ``J(state, control, given)`` for one sample (see
            :mod:`wdno.control.evaluation`); default: the task's.
        guidance_objective: what guides sampling; default: ``objective`` when one was given,
            else the task's guidance objective (for Burgers the released one, with the
            ``(u(0) - u0)^2`` term), else the task's evaluation objective.
        guidance: scale and weight schedule; default: the task's, else ``GuidanceSettings()``.
        sampler: default: DDIM with the task's default preset's steps.
        rollout: the batched true solver; default: the task's.
    """

    model: object
    task: object = None
    objective: Callable | None = None
    guidance_objective: Callable | None = None
    guidance: GuidanceSettings | None = None
    sampler: SamplerConfig | None = None
    rollout: Callable | None = None

    def __post_init__(self):
        if not guided.is_diffusion_model(self.model):
            raise TypeError(
                "Controller: model must be a trained diffusion model (DiffusionSimulator), got "
                f"{type(self.model).__name__}"
            )
        if not self.model.layout.target:
            raise ValueError(
                "Controller: this model was trained for simulation (control given); train a "
                "control model with DiffusionSimulator.fit(..., mode='control') (CLI: "
                "`wdno <system> control`)"
            )
        task = self.task
        objective = self.objective or getattr(task, "control_objective", None)
        if objective is None:
            raise ValueError("Controller: give an objective (the task has no control_objective)")
        guide = self.guidance_objective
        if guide is None:
            guide = self.objective or getattr(task, "guidance_objective", None) or objective
        set_ = functools.partial(object.__setattr__, self)
        set_("objective", objective)
        set_("guidance_objective", guide)
        if self.guidance is None:
            set_("guidance", getattr(task, "guidance", None) or GuidanceSettings())
        if self.sampler is None:
            set_("sampler", SamplerConfig())
        if self.rollout is None:
            set_("rollout", getattr(task, "rollout", None))
        shapes = self._shapes()
        evaluation.check_objective(objective, *shapes, name="objective")
        if guide is not objective:
            evaluation.check_objective(guide, *shapes, name="guidance_objective")

    # ---- shapes and checks ----------------------------------------------------------------------
    def _shapes(self):
        layout = self.model.layout
        state, control = guided.sample_shapes(layout)
        frame = state[1:]
        given = {"initial_state": frame, "target": frame}
        if not layout.initial_given:
            del given["initial_state"]
        return state, control, given

    def _check_problems(self, initial_state, target):
        _, _, given = self._shapes()
        frame = given["target"]
        if "initial_state" not in given:
            if initial_state is not None:
                raise ValueError(
                    "Controller.optimize: this model solves the inverse problem (it generates the "
                    "initial state); pass initial_state=None"
                )
            if target is None:
                raise ValueError("Controller.optimize: target is required by this control model")
        arrays = {}
        for name in given:
            value = {"initial_state": initial_state, "target": target}[name]
            if value is None:
                raise ValueError(f"Controller.optimize: {name} is required by this control model")
            value = np.asarray(value, np.float32)
            if value.ndim != len(frame) + 1 or value.shape[1:] != frame:
                raise ValueError(
                    f"Controller.optimize: {name} must be (N, *{frame}) for this model, got "
                    f"{value.shape}"
                )
            arrays[name] = value
        if "initial_state" in arrays and len(arrays["initial_state"]) != len(arrays["target"]):
            raise ValueError(
                f"Controller.optimize: {len(arrays['initial_state'])} initial states but "
                f"{len(arrays['target'])} targets"
            )
        if not all(np.isfinite(v).all() for v in arrays.values()):
            raise ValueError(f"Controller.optimize: {' and '.join(arrays)} must be finite")
        return arrays.get("initial_state"), arrays["target"]

    # ---- the work -------------------------------------------------------------------------------
    def sample(self, initial_state, target, *, key=0, batch_size: int = 50, progress=True):
        """Guided joint samples ``(state, control)`` (numpy), no solver evaluation."""
        initial_state, target = self._check_problems(initial_state, target)
        layout = self.model.layout
        state_shape, control_shape = guided.sample_shapes(layout)
        known_state = np.zeros((len(target), *state_shape), np.float32)
        if initial_state is not None:
            known_state[:, 0] = initial_state
        known_state[:, -1] = target
        known_control = None  # the control is generated: zeros, never imposed
        if layout.num_control_fields:
            known_control = np.zeros((len(target), *control_shape), np.float32)
        return guided.guided_samples(
            self.model,
            known_state,
            known_control,
            _given(initial_state, target),
            objective=self.guidance_objective,
            guidance=self.guidance,
            sampler=self.sampler,
            key=key,
            batch_size=batch_size,
            progress=progress,
            description="control",
        )

    def optimize(
        self, initial_state, target, *, key=0, batch_size: int = 50, progress: bool = True
    ) -> ControlResult:
        """Controls for ``N`` problems: guided sampling, then the true solver's ``J``.

        Args:
            initial_state, target: ``(N, *spatial, Fs)``, the given initial and final states
                (``initial_state`` None for the inverse problem).
            key: PRNG key or seed; batch ``b`` samples with ``fold_in(key, b)``.
            batch_size: problems per compiled batch (the last batch is padded: one compilation).
            progress: progress bar over batches.
        """
        initial_state, target = self._check_problems(initial_state, target)
        start = time.perf_counter()
        predicted, control = self.sample(
            initial_state, target, key=key, batch_size=batch_size, progress=progress
        )
        seconds = time.perf_counter() - start
        given = _given(initial_state, target)
        predicted_objective = np.asarray(
            _batch_objective(self.objective, predicted, control, given)
        )
        state = objective = objective_generated = None
        start_state = predicted[:, 0] if initial_state is None else initial_state
        if self.rollout is not None:
            options = dict(batch_size=batch_size)
            state, objective = evaluation.solver_objective(
                self.rollout, self.objective, start_state, control, given, **options
            )
            if initial_state is not None:
                _, objective_generated = evaluation.solver_objective(
                    self.rollout, self.objective, predicted[:, 0], control, given, **options
                )
        return ControlResult(
            control=control,
            initial_state=start_state,
            predicted_state=predicted,
            state=state,
            objective=objective,
            objective_generated_start=objective_generated,
            predicted_objective=predicted_objective,
            seconds=seconds,
        )
