"""Control baselines (spec §2.4): no control, the nearest training control, and gradient descent
on the control (or, for the inverse problem, on the initial state) through the system's
differentiable solver.

The gradient baseline minimises, with Adam (optax), the batch sum of the per-sample objective

    L(f_1..f_N) = sum_n J(rollout(u0_n, f_n), f_n, given_n),

so ``dL/df_n = dJ_n/df_n``: every problem gets its own gradient and, Adam being elementwise, its
own independent optimisation (solving problems together equals solving each alone). Starting
from ``f = 0`` it is the classical adjoint-style baseline; started from a WDNO control
(``init``) it is the hybrid. :func:`initial_state_gradient` descends the same way on the initial
state ``u0`` with the control fixed (the inverse problem: which ``u0`` reaches the target), through
an optional ``parametrization`` that keeps it physical (e.g. ``log`` of a density).
Conventions for objectives and rollouts: :mod:`.evaluation`.
"""

from __future__ import annotations

import dataclasses
import functools
import time
import warnings
from collections.abc import Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np
import optax
from tqdm.auto import tqdm

from wdno.control.evaluation import Objective, Rollout, batch_objective, check_objective
from wdno.control.evaluation import solver_objective as _solver_objective

__all__ = [
    "DEFAULT_LEARNING_RATE",
    "GradientResult",
    "initial_state_gradient",
    "nearest_training_control",
    "nearest_training_start",
    "objective_gradient",
    "solver_gradient",
    "zero_control",
]

# Adam step on the control; the best of 0.01-0.3 for Burgers (alpha = 2e-5) over 100 steps
DEFAULT_LEARNING_RATE = 0.1

# One Adam transform for every call: the learning rate is a traced scalar, so changing it (or
# calling again with the same shapes) reuses the compiled step.
_ADAM = optax.scale_by_adam()


def zero_control(initial_state, control_shape: Sequence[int]) -> np.ndarray:
    """The "no control" floor: zeros ``(N, *control_shape)`` float32 for ``N`` initial states."""
    return np.zeros((len(initial_state), *tuple(control_shape)), np.float32)


def nearest_training_control(train_initial_states, train_controls, initial_state):
    """For each problem, the control of the training trajectory whose initial state is nearest.

    Args:
        train_initial_states: ``(M, *spatial, Fs)`` initial states of the training set.
        train_controls: ``(M, T - 1, *spatial, Fc)`` their controls.
        initial_state: ``(N, *spatial, Fs)`` the problems' initial states.

    Returns:
        ``(controls (N, T - 1, *spatial, Fc), indices (N,))``: numpy, ``controls =
        train_controls[indices]`` with ``indices`` minimising ``||u0_train - u0||_2``.
    """
    train = np.asarray(train_initial_states, np.float64)
    controls = np.asarray(train_controls)
    query = np.asarray(initial_state, np.float64)
    if train.ndim < 2 or len(train) == 0:
        raise ValueError(
            f"nearest_training_control: train_initial_states must be (M >= 1, *spatial, Fs), "
            f"got shape {train.shape}"
        )
    if len(controls) != len(train):
        raise ValueError(
            f"nearest_training_control: train_controls must have one control per training "
            f"initial state: expected {len(train)} along axis 0, got shape {controls.shape}"
        )
    if query.shape[1:] != train.shape[1:]:
        raise ValueError(
            f"nearest_training_control: initial_state must be (N, *{train.shape[1:]}) like the "
            f"training initial states, got shape {query.shape}"
        )
    train, query = train.reshape(len(train), -1), query.reshape(len(query), -1)
    # ||a - b||^2 = ||a||^2 - 2 a.b + ||b||^2, in float64 (||a||^2 is constant per query)
    distances = np.sum(train**2, axis=1)[None, :] - 2.0 * query @ train.T
    indices = np.argmin(distances, axis=1)
    return controls[indices], indices


def nearest_training_start(train_final_states, train_initial_states, target):
    """For the inverse problem: the initial state of the training trajectory whose final state is
    nearest to each target (``(initial_states (N, ...), indices (N,))``, Euclidean)."""
    return nearest_training_control(train_final_states, train_initial_states, target)


@dataclasses.dataclass(frozen=True)
class GradientResult:
    """What :func:`solver_gradient` found (numpy arrays).

    Attributes:
        control: ``(N, T - 1, *spatial, Fc)`` the final control (the fixed one when the initial
            state was optimised).
        initial_state: ``(N, *spatial, Fs)`` the initial state: the given one, or the optimised
            one (:func:`initial_state_gradient`).
        objective: ``(N,)`` ``J`` of the result, rolled out with ``rollout`` (the true
            solver, also when the gradient used ``gradient_rollout``).
        history: per gradient step ``"step"`` (S,), ``"seconds"`` (S,) elapsed after the step
            (compilation excluded), ``"mean_objective"`` (S,) and ``"objective"`` (S, N): ``J``
            of the iterate the step started from (step 0: ``init``), as the gradient rollout
            computes it.
        seconds: wall-clock of the gradient steps (compilation and final evaluation excluded).
        compile_seconds: compilation of the gradient step.
        steps: Adam updates done.
        stopped: why it stopped: ``"max_steps"``, ``"time_budget"`` or ``"converged"``.
    """

    control: np.ndarray
    initial_state: np.ndarray
    objective: np.ndarray
    history: dict
    seconds: float
    compile_seconds: float
    steps: int
    stopped: str


def _value_and_gradient(rollout, objective, initial_state, control, given):
    def loss(control):
        values = batch_objective(objective, rollout(initial_state, control), control, given)
        return jnp.sum(values), values

    (_, values), gradient = jax.value_and_grad(loss, has_aux=True)(control)
    return values, gradient


@functools.partial(jax.jit, static_argnums=(0, 1))
def objective_gradient(rollout: Rollout, objective: Objective, initial_state, control, given):
    """``(J (N,), dL/dcontrol (N, T - 1, ...))`` with ``L = sum_n J_n``, so row ``n`` of the
    gradient is ``dJ_n/df_n``: what :func:`solver_gradient` descends."""
    return _value_and_gradient(rollout, objective, initial_state, control, given)


def _identity(x):
    return x


def _step(rollout, objective, variable, decode, decision, adam_state, learning_rate, fixed, given):
    """One Adam update of a batch's decision variables (the controls, or the initial states
    through ``decode``); returns the new ones, the Adam state and ``J`` (N,) of the iterate it
    started from. A problem whose ``J`` or gradient is not finite keeps its iterate (frozen)."""

    def loss(decision):
        if variable == "control":
            initial_state, control = fixed, decision
        else:
            initial_state, control = decode(decision), fixed
        values = batch_objective(objective, rollout(initial_state, control), control, given)
        return jnp.sum(values), values

    (_, values), gradient = jax.value_and_grad(loss, has_aux=True)(decision)
    axes = tuple(range(1, decision.ndim))
    finite = jnp.isfinite(values) & jnp.all(jnp.isfinite(gradient), axis=axes)
    rows = finite.reshape((-1,) + (1,) * (decision.ndim - 1))
    gradient = jnp.where(rows, gradient, 0.0)  # frozen rows leave Adam's moments unchanged
    updates, new_state = _ADAM.update(gradient, adam_state, decision)
    new_state = jax.tree.map(
        lambda new, old: jnp.where(rows, new, old) if new.shape == decision.shape else new,
        new_state,
        adam_state,
    )
    return jnp.where(rows, decision - learning_rate * updates, decision), new_state, values


@functools.lru_cache(maxsize=16)
def _compiled_step(rollout, objective, variable, decode, decision_shape, fixed_shape, given_shapes):
    """The step, compiled ahead of time for these shapes (cached, so compile time is measurable
    and paid once per rollout, objective and shapes)."""
    decision = jax.ShapeDtypeStruct(decision_shape, jnp.float32)
    given = {key: jax.ShapeDtypeStruct(shape, jnp.float32) for key, shape in given_shapes}
    jitted = jax.jit(_step, static_argnums=(0, 1, 2, 3))
    return jitted.lower(
        rollout,
        objective,
        variable,
        decode,
        decision,
        jax.eval_shape(_ADAM.init, decision),
        jax.ShapeDtypeStruct((), jnp.float32),
        jax.ShapeDtypeStruct(fixed_shape, jnp.float32),
        given,
    ).compile()


def _check_shapes(
    rollouts, objective, initial_state, given, init, control_shape, *, name="solver_gradient"
):
    """The control shape per sample, after clear checks of every input against the others
    (``init``: the starting control, or the fixed one of :func:`initial_state_gradient`)."""
    what = "init" if name == "solver_gradient" else "control"
    if initial_state.ndim < 2:
        raise ValueError(
            f"{name}: initial_state must be (N, *spatial, Fs), got shape {initial_state.shape}"
        )
    num, spatial = initial_state.shape[0], initial_state.shape[1:-1]
    if init is None and control_shape is None:
        raise ValueError(f"{name}: pass init (N, T - 1, *spatial, Fc) or control_shape")
    if init is not None:
        if init.ndim != initial_state.ndim + 1 or init.shape[0] != num:
            raise ValueError(
                f"{name}: {what} must be (N={num}, T - 1, *spatial, Fc) with {len(spatial)} "
                f"spatial axes, got shape {init.shape}"
            )
        if control_shape is not None and tuple(control_shape) != init.shape[1:]:
            raise ValueError(
                f"{name}: control_shape {tuple(control_shape)} disagrees with init's per-sample "
                f"shape {init.shape[1:]}"
            )
        control_shape = init.shape[1:]
    control_shape = tuple(int(size) for size in control_shape)
    if len(control_shape) != len(spatial) + 2 or control_shape[1:-1] != spatial:
        raise ValueError(
            f"{name}: the control must be (T - 1, {', '.join(map(str, spatial))}, Fc) per sample "
            f"(spatial axes of initial_state {tuple(initial_state.shape)}), got {control_shape}"
        )
    for key, value in given.items():
        if value.ndim < 1 or value.shape[0] != num:
            raise ValueError(
                f"{name}: given[{key!r}] must have the batch axis N={num} first, got shape "
                f"{value.shape}"
            )
    state_shape = (control_shape[0] + 1, *initial_state.shape[1:])
    for current in rollouts:
        out = jax.eval_shape(
            current,
            jax.ShapeDtypeStruct(initial_state.shape, jnp.float32),
            jax.ShapeDtypeStruct((num, *control_shape), jnp.float32),
        )
        if getattr(out, "shape", None) != (num, *state_shape):
            raise ValueError(
                f"{name}: the rollout must map initial_state {initial_state.shape} and control "
                f"{(num, *control_shape)} to a state {(num, *state_shape)}, got "
                f"{getattr(out, 'shape', type(out).__name__)}"
            )
    given_shapes = {key: value.shape[1:] for key, value in given.items()}
    check_objective(objective, state_shape, control_shape, given_shapes, name=f"{name} objective")
    return control_shape


def solver_gradient(
    rollout: Rollout,
    objective: Objective,
    initial_state,
    given: dict,
    *,
    init=None,
    control_shape: Sequence[int] | None = None,
    learning_rate: float | Callable[[int], float] = DEFAULT_LEARNING_RATE,
    max_steps: int = 100,
    time_budget: float | None = None,
    tolerance: float | None = None,
    window: int = 20,
    batch_size: int | None = None,
    gradient_rollout: Rollout | None = None,
    progress: bool = True,
) -> GradientResult:
    """Adam on the control through the differentiable rollout, every problem independently.

    Args:
        rollout: the batched true solver; scores the final control (:mod:`.evaluation`).
        objective: ``J(state, control, given)`` of one sample.
        initial_state: ``(N, *spatial, Fs)``.
        given: the objective's known parts, each ``(N, ...)`` (``"initial_state"``,
            ``"target"``).
        init: ``(N, T - 1, *spatial, Fc)`` starting controls (e.g. WDNO's: the hybrid); None
            starts from ``f = 0`` and needs ``control_shape``.
        control_shape: ``(T - 1, *spatial, Fc)``, the per-sample control shape (with init None).
        learning_rate: Adam's step size, or a function of the step index (an optax schedule,
            e.g. ``optax.cosine_decay_schedule(0.1, max_steps)``).
        max_steps: most Adam updates (0 returns ``init`` and its ``J``).
        time_budget: stop once the steps have taken this many seconds (checked after each step;
            compilation not counted).
        tolerance: stop when the last ``window`` steps lowered the best mean ``J`` by less than
            this fraction (convergence); None never.
        window: steps over which the relative improvement is measured.
        batch_size: problems per compiled step (memory); all batches advance in lockstep, so the
            result, budget and history are those of one batch of ``N``. None: all at once.
        gradient_rollout: a cheaper differentiable rollout (e.g. a coarser solver) used for the
            gradient only; ``rollout`` still scores the final control. None: ``rollout``.
        progress: show a tqdm bar with the mean ``J``.

    Returns:
        :class:`GradientResult`.
    """
    initial_state = jnp.asarray(initial_state, jnp.float32)
    given = {key: jnp.asarray(value, jnp.float32) for key, value in given.items()}
    init = None if init is None else jnp.asarray(init, jnp.float32)
    gradient_rollout = rollout if gradient_rollout is None else gradient_rollout
    rollouts = (rollout,) if gradient_rollout is rollout else (rollout, gradient_rollout)
    control_shape = _check_shapes(rollouts, objective, initial_state, given, init, control_shape)
    num = initial_state.shape[0]
    control = jnp.zeros((num, *control_shape), jnp.float32) if init is None else init
    control, *descent = _descend(
        gradient_rollout,
        objective,
        "control",
        _identity,
        control,
        initial_state,
        given,
        learning_rate=learning_rate,
        max_steps=max_steps,
        time_budget=time_budget,
        tolerance=tolerance,
        window=window,
        batch_size=batch_size,
        progress=progress,
    )
    return _result(rollout, objective, initial_state, control, given, batch_size, descent)


def initial_state_gradient(
    rollout: Rollout,
    objective: Objective,
    given: dict,
    *,
    init,
    control,
    parametrization: tuple[Callable, Callable] | None = None,
    learning_rate: float | Callable[[int], float] = DEFAULT_LEARNING_RATE,
    max_steps: int = 100,
    time_budget: float | None = None,
    tolerance: float | None = None,
    window: int = 20,
    batch_size: int | None = None,
    gradient_rollout: Rollout | None = None,
    progress: bool = True,
) -> GradientResult:
    """Adam on the initial state through the differentiable rollout (the inverse problem: which
    ``u0`` makes the solver reach the target), every problem independently, the control fixed.

    Args:
        rollout, objective, given: as for :func:`solver_gradient` (``given`` without
            ``"initial_state"``: it is the unknown).
        init: ``(N, *spatial, Fs)`` starting initial states (e.g. the nearest training one, or a
            model's: the hybrid).
        control: ``(N, T - 1, *spatial, Fc)`` the fixed control (``Fc = 0`` for a system without
            one: it fixes ``T``).
        parametrization: ``(encode, decode)``, elementwise maps between the initial state and the
            variable Adam moves (e.g. ``log`` of density and pressure, so they stay positive);
            None: the state itself. ``decode(encode(u0)) == u0``.
        learning_rate, max_steps, time_budget, tolerance, window, batch_size, gradient_rollout,
            progress: as for :func:`solver_gradient`.
    """
    init = jnp.asarray(init, jnp.float32)
    control = jnp.asarray(control, jnp.float32)
    given = {key: jnp.asarray(value, jnp.float32) for key, value in given.items()}
    if "initial_state" in given:
        raise ValueError("initial_state_gradient: given must not hold the unknown initial_state")
    gradient_rollout = rollout if gradient_rollout is None else gradient_rollout
    rollouts = (rollout,) if gradient_rollout is rollout else (rollout, gradient_rollout)
    _check_shapes(rollouts, objective, init, given, control, None, name="initial_state_gradient")
    encode, decode = (_identity, _identity) if parametrization is None else parametrization
    decision = jnp.asarray(encode(init), jnp.float32)
    if decision.shape != init.shape or not bool(jnp.all(jnp.isfinite(decision))):
        raise ValueError(
            f"initial_state_gradient: parametrization encode(init) must be finite with init's "
            f"shape {init.shape}; got shape {decision.shape} (finite: "
            f"{bool(jnp.all(jnp.isfinite(decision)))})"
        )
    decision, *descent = _descend(
        gradient_rollout,
        objective,
        "initial_state",
        decode,
        decision,
        control,
        given,
        learning_rate=learning_rate,
        max_steps=max_steps,
        time_budget=time_budget,
        tolerance=tolerance,
        window=window,
        batch_size=batch_size,
        progress=progress,
    )
    initial_state = jnp.asarray(decode(decision), jnp.float32)
    return _result(rollout, objective, initial_state, control, given, batch_size, descent)


def _result(rollout, objective, initial_state, control, given, batch_size, descent):
    """The answer of :func:`_descend` (its history, seconds, compile seconds, stop reason), its J
    recomputed with the evaluation ``rollout``."""
    history, seconds, compile_seconds, stopped = descent
    num = len(initial_state)
    _, final = _solver_objective(
        rollout, objective, initial_state, control, given, batch_size=min(batch_size or num, num)
    )
    return GradientResult(
        control=np.asarray(control),
        initial_state=np.asarray(initial_state),
        objective=np.asarray(final),
        history=history,
        seconds=seconds,
        compile_seconds=compile_seconds,
        steps=len(history["step"]),
        stopped=stopped,
    )


def _descend(
    rollout,
    objective,
    variable,
    decode,
    decision,
    fixed,
    given,
    *,
    learning_rate,
    max_steps,
    time_budget,
    tolerance,
    window,
    batch_size,
    progress,
):
    """Adam on ``decision`` (the controls or the encoded initial states, ``fixed`` the other),
    batched; returns ``(decision, history, seconds, compile_seconds, stopped)``."""
    caller = "solver_gradient" if variable == "control" else "initial_state_gradient"
    if max_steps < 0 or window < 1 or (batch_size is not None and batch_size < 1):
        raise ValueError(
            f"{caller}: need max_steps >= 0, window >= 1, batch_size >= 1 or None; got "
            f"{max_steps}, {window}, {batch_size}"
        )
    num = decision.shape[0]
    size = num if batch_size is None else min(batch_size, num)

    # Batches of `size` rows; the last one padded by repeating its last row (one compilation).
    batches = []
    for start in range(0, num, size):
        index = np.minimum(np.arange(start, start + size), num - 1)
        batch_decision = decision[index]
        batches.append(
            [
                batch_decision,
                _ADAM.init(batch_decision),
                fixed[index],
                {key: value[index] for key, value in given.items()},
            ]
        )

    history = {"step": [], "seconds": [], "mean_objective": [], "objective": []}
    compile_seconds, elapsed, stopped = 0.0, 0.0, "max_steps"
    frozen_warned = False
    if max_steps > 0:
        begin = time.perf_counter()
        step = _compiled_step(
            rollout,
            objective,
            variable,
            decode,
            tuple(batches[0][0].shape),
            tuple(batches[0][2].shape),
            tuple((key, tuple(value.shape)) for key, value in batches[0][3].items()),
        )
        compile_seconds = time.perf_counter() - begin
    schedule = learning_rate if callable(learning_rate) else (lambda _: learning_rate)
    bar = tqdm(total=max_steps, desc=f"solver-gradient ({variable})", disable=not progress)
    for index in range(max_steps):
        begin = time.perf_counter()
        values, rate = [], jnp.float32(schedule(index))
        for batch in batches:
            batch[0], batch[1], batch_values = step(batch[0], batch[1], rate, batch[2], batch[3])
            values.append(batch_values)
        values = np.concatenate(jax.device_get(values))[:num]  # waits for the step
        jax.block_until_ready([batch[0] for batch in batches])
        elapsed += time.perf_counter() - begin
        finite = np.isfinite(values)
        if not finite.any():
            bar.close()
            raise FloatingPointError(
                f"{caller}: J is non-finite for every problem at step {index}; lower "
                f"learning_rate (now {float(schedule(index)):.3g}) or check the starting point"
            )
        if not finite.all() and not frozen_warned:
            warnings.warn(
                f"{caller}: J is non-finite at step {index} for problems "
                f"{np.flatnonzero(~finite)[:10].tolist()}: they keep their last iterate; the "
                "mean J is over the others",
                stacklevel=3,
            )
            frozen_warned = True
        mean = float(np.mean(values[finite]))
        for key, value in zip(history, (index, elapsed, mean, values), strict=True):
            history[key].append(value)
        bar.update(1)
        bar.set_postfix(J=f"{mean:.4g}")
        if time_budget is not None and elapsed >= time_budget:
            stopped = "time_budget"
            break
        means = history["mean_objective"]
        if tolerance is not None and len(means) > window:
            # the best mean J before the window against the best inside it: robust to the small
            # oscillations of Adam near the optimum
            before, recent = min(means[:-window]), min(means[-window:])
            if before - recent <= tolerance * abs(before):
                stopped = "converged"
                break
    bar.close()
    steps = len(history["step"])
    decision = jnp.concatenate([batch[0] for batch in batches])[:num]
    history = {key: np.asarray(value) for key, value in history.items()}
    if steps == 0:
        history["objective"] = np.zeros((0, num), np.float32)
    return decision, history, elapsed, compile_seconds, stopped
