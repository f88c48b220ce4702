"""The controller: find controls by guided joint sampling of state and control (paper Sec. 3.3,
Eq. 4-5; spec §2.3).

A control model (a :class:`wdno.simulators.DiffusionSimulator` fitted with ``mode="control"``:
the initial state and the target final state known, state and control generated jointly)
samples in its domain (wavelet coefficients for WDNO, physical fields for the DDPM baseline).
At every denoising step the predicted clean sample ``x0_hat`` gets the known entries imposed, is
de-normalised and inverse-transformed to physical ``(state, control)``, and the gradient of the
guidance objective ``J_g`` with respect to ``x0_hat`` is added to the predicted noise with weight
``scale * w(t)`` (:mod:`wdno.control.weights`); the noise is then re-derived from the clipped
clean estimate (:mod:`wdno.diffusion.samplers`). The returned control is scored by the system's
true solver (:mod:`wdno.control.evaluation`), from the true initial state and, as the original
evaluation did (spec pitfall 8), from the model's generated ``u(0)``.

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
import jax.numpy as jnp
import numpy as np
from flax import nnx
from tqdm.auto import tqdm

from wdno import diffusion
from wdno.control import evaluation
from wdno.control.weights import GuidanceSettings
from wdno.simulators.sampling import SamplerConfig
from wdno.training import batches
from wdno.transforms import encoding, normalization

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


@functools.partial(
    jax.jit,
    static_argnames=("graphdef", "layout", "sampler", "prediction", "objective", "guidance"),
)
def _guided_batch(
    weights,
    scale,
    schedule,
    key,
    initial_state,
    target,
    guidance_scale,
    *,
    graphdef,
    layout,
    sampler,
    prediction,
    objective,
    guidance,
):
    """One batch of guided joint samples, decoded: ``(state, control)``; ``initial_state`` is
    None for the inverse problem."""
    batch_size = target.shape[0]
    normalizer = normalization.Normalizer(scale)
    mask = jnp.asarray(layout.task_known_mask())
    state = jnp.zeros((batch_size, *layout.grid_shape, layout.num_state_fields))
    if initial_state is not None:
        state = state.at[:, 0].set(initial_state)
    state = state.at[:, -1].set(target)
    control = jnp.zeros(
        (batch_size, layout.num_times - 1, *layout.spatial_shape, layout.num_control_fields)
    )
    known_values = normalizer.normalize(
        encoding.encode(layout, state, control if layout.num_control_fields else None)
    )
    given = _given(initial_state, target)

    def decoded(x0):  # (state, control); a system without control gets an empty one
        sample_state, sample_control = encoding.decode(layout, normalizer.denormalize(x0))
        return sample_state, control if sample_control is None else sample_control

    def guidance_objective(x0):
        x0 = jnp.where(mask, known_values, x0)  # known entries imposed before J (spec §2.3)
        sample_state, sample_control = decoded(x0)
        return jnp.sum(evaluation.batch_objective(objective, sample_state, sample_control, given))

    def weight(t):  # the scale is traced: changing it does not recompile
        return guidance_scale * guidance.weight(t)

    steering = diffusion.Guidance(guidance_objective, weight)
    denoise = diffusion.noise_predictor(nnx.merge(graphdef, weights), schedule, prediction)
    options = dict(
        known_mask=mask,
        known_values=known_values,
        clip_range=(-1.0, 1.0) if sampler.clip else None,
        guidance=steering,
    )
    shape = (batch_size, *layout.shape)
    if sampler.method == "ddim":
        sample = diffusion.ddim_sample(
            denoise, shape, key, schedule, num_steps=sampler.num_steps, eta=sampler.eta, **options
        )
    else:
        sample = diffusion.ddpm_sample(denoise, shape, key, schedule, **options)
    return decoded(sample)


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
        layout = getattr(self.model, "layout", None)
        if layout is None or not hasattr(self.model, "schedule"):
            raise TypeError(
                "Controller: model must be a trained diffusion model (DiffusionSimulator), got "
                f"{type(self.model).__name__}"
            )
        if not layout.target:
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
        frame = (*layout.spatial_shape, layout.num_state_fields)
        state = (layout.num_times, *frame)
        control = (layout.num_times - 1, *layout.spatial_shape, layout.num_control_fields)
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
        key = jax.random.key(int(key)) if isinstance(key, (int, np.integer)) else key
        graphdef, weights = nnx.split(self.model.model)
        scale = jnp.asarray(self.model.normalizer.scale, jnp.float32)
        static = dict(
            graphdef=graphdef,
            layout=self.model.layout,
            sampler=self.sampler,
            prediction=self.model.prediction,
            objective=self.guidance_objective,
            guidance=dataclasses.replace(self.guidance, scale=1.0),
        )
        guidance_scale = jnp.asarray(self.guidance.scale, jnp.float32)
        states, controls = [], []
        padded = list(batches.padded_batches(len(target), batch_size))
        for number, (rows, index) in enumerate(tqdm(padded, desc="control", disable=not progress)):
            state, control = _guided_batch(
                weights,
                scale,
                self.model.schedule,
                jax.random.fold_in(key, number),
                None if initial_state is None else initial_state[index],
                target[index],
                guidance_scale,
                **static,
            )
            states.append(np.asarray(state)[rows])
            controls.append(np.asarray(control)[rows])
        return np.concatenate(states), np.concatenate(controls)

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
