"""What a physical system offers the method: a :class:`Task`.

The method (``wdno``) never imports a system. A system (``systems/<name>/task.py``) describes
itself as a frozen ``Task``: its fields and units, its grid, how to make and read its data, which
fields are known in each mode (simulation: the initial state and the control), its default
transform and presets, and, where it has one, its differentiable solver and control objective.
A system may also add to evaluation (:class:`Scoring`: baselines that need no training and metrics
per lead time) and to the figures, through plain callables that receive the test set
(:class:`EvaluationData`). The generic driver (:mod:`wdno.experiment`) and the CLI builders take a
``Task`` and nothing else.
"""

from __future__ import annotations

import dataclasses
import pathlib
from collections.abc import Callable, Mapping, Sequence

import numpy as np

from wdno.preset import RunPreset
from wdno.transforms.encoding import EncodingConfig

__all__ = ["MODES", "EvaluationData", "FieldSpec", "Scoring", "Task", "Trajectories"]

# What may be known in each mode; the simulation mode is the one every system has.
MODES = {
    "simulation": ("initial_state", "control"),
    "control": ("initial_state", "target"),
    "forecast": ("past",),
}


@dataclasses.dataclass(frozen=True)
class FieldSpec:
    """One physical field (a channel of the state or of the control)."""

    name: str
    units: str = "1"
    long_name: str = ""


@dataclasses.dataclass(frozen=True)
class Trajectories:
    """A split of a data set, channels last.

    Attributes:
        state: ``(N, T, *spatial, Fs)`` float32, ``state[:, 0]`` the initial states.
        control: ``(N, T - 1, *spatial, Fc)`` float32, or None for an uncontrolled system.
        coords: coordinate values by dimension name (``"t"`` and the spatial dimensions).
    """

    state: np.ndarray
    control: np.ndarray | None
    coords: Mapping[str, np.ndarray]

    def __post_init__(self):
        if self.state.ndim < 3:
            raise ValueError(
                f"Trajectories.state: expected (N, T, *spatial, F), got {self.state.shape}"
            )
        if self.control is not None and len(self.control) != len(self.state):
            raise ValueError(
                f"Trajectories: {len(self.state)} states but {len(self.control)} controls"
            )

    def __len__(self) -> int:
        return len(self.state)


@dataclasses.dataclass(frozen=True, eq=False)
class EvaluationData:
    """A run's test set as the driver hands it to a Task's evaluation hooks.

    Attributes:
        truth: ``(N, T, *spatial, Fs)`` the test trajectories of ``predictions.nc``.
        coords: coordinate values by dimension name (``"t"`` and the spatial dimensions).
        past_frames: the leading frames the models were given (:attr:`Task.past_frames`).
        data_dir: the run's data directory (from ``run.json``), e.g. to read the training split.
        run_dir: the run directory.
    """

    truth: np.ndarray
    coords: Mapping[str, np.ndarray]
    past_frames: int
    data_dir: pathlib.Path
    run_dir: pathlib.Path


@dataclasses.dataclass(frozen=True, eq=False)
class Scoring:
    """What a task adds to the driver's evaluation of one test set (made by ``Task.scoring``).

    Attributes:
        baselines: name -> ``(N, T, *spatial, Fs)``: forecasts of the test set that need no
            training (e.g. persistence), whole trajectories whose known frames are the truth's.
            They are scored by exactly the models' metrics (the same frames skipped) and appear
            as rows beside the models in the table, the per-lead tables and the plots.
        lead_metrics: ``(prediction, truth) -> {metric: (L,)}``, called with the generated
            frames ``(N, L, *spatial, Fs)`` (those after ``past_frames``) of each model and
            baseline: one value per lead time (the time coordinate of those frames).
        metric_labels: metric -> label with units, for the per-lead tables and plots.
        lead_unit: the unit of the time coordinate (e.g. ``"h"``), for headers and axes.
    """

    baselines: Mapping[str, np.ndarray] = dataclasses.field(default_factory=dict)
    lead_metrics: Callable[[np.ndarray, np.ndarray], Mapping[str, np.ndarray]] | None = None
    metric_labels: Mapping[str, str] = dataclasses.field(default_factory=dict)
    lead_unit: str = ""


@dataclasses.dataclass(frozen=True, eq=False)
class Task:
    """A physical system as the method sees it.

    Attributes:
        name: the CLI name (``wdno <name> ...``) and the default run/data directory stem.
        title: a human title for tables and figures.
        state_fields, control_fields: the fields, in channel order.
        dims: the state's dimension names, time first (``("t", "x")``; ``("t", "y", "x")``).
        data_file: ``(data_dir, split) -> path`` of a split's file.
        generate: ``(data_dir, split, data_preset, *, progress, **options) -> path``: makes a
            split with the system's solver (seeded; same arguments, same file).
        read_split: ``(data_dir, split, limit) -> Trajectories``: the first ``limit`` (None:
            all) trajectories of a split, with a clear error if the file is missing or too small.
        data_presets: data preset name -> object with ``num_samples(split) -> int``.
        presets: run presets by name (``tiny``, ``cpu``, ``paper``, ...).
        default_preset: the preset the CLI uses when none is named.
        control_time_dim: name of the control's time dimension (its values: the state times
            but the last, the start of each interval).
        known: the mode -> the known parts (subsets of :data:`MODES`); every task has
            ``"simulation"``. ``known["control"] = ("target",)`` is the inverse problem: the
            initial state is generated (and scored by the solver from it) instead of given.
        transform: the default wavelet transform (wavelet, mode, level).
        spectral_axis: axis of a batched state array ``(N, T, *spatial, F)`` for the spectral
            error bands (a periodic spatial axis).
        skip_initial: metrics skip the given frames (``t = 0``, the paper's metric; the first
            ``past_frames`` for a forecast).
        past_frames: leading state frames known in simulation: 1 (the initial state) or more
            (a forecast from the past, e.g. ERA5's 12 hours); the models condition on them.
        reference: published numbers to quote beside ours (e.g. ``{"wdno": 1.4e-4}``), with
            ``reference_note`` saying where they come from.
        rollout: the true, differentiable solver, batched and channels-last:
            ``rollout(initial_state (N, *spatial, Fs), control (N, T-1, *spatial, Fc)) ->
            state (N, T, *spatial, Fs)``, if the system has one (control is scored with it).
        gradient_rollout: a cheaper differentiable rollout (e.g. a coarser grid) that the
            solver-gradient baselines may use for their gradients only; every reported ``J`` is
            still the ``rollout``'s. None: ``rollout``.
        control_objective: the control task's evaluation objective for one sample,
            ``J(state, control, given) -> scalar`` with ``given = {"initial_state", "target"}``
            (:mod:`wdno.control.evaluation`), if the system is controlled.
        guidance_objective: the objective that guides sampling by default (same signature),
            e.g. the released one with its extra terms; None: ``control_objective``.
        guidance: default :class:`wdno.control.weights.GuidanceSettings` (scale, schedule).
        decision_parametrization: for the inverse problem, ``(encode, decode)`` elementwise maps
            between the initial state and the variable the solver-gradient baseline moves (e.g.
            ``log`` of positive fields); None: the state itself.
        control_reference, control_reference_note: published control objectives to quote
            (e.g. ``{"WDNO": 0.0205}``) and where they come from.
        scoring: ``(EvaluationData) -> Scoring``, called once per ``evaluate`` and ``plot``:
            the task's no-training baselines and metrics per lead time (ERA5: persistence,
            climatology, latitude-weighted RMSE and ACC). None: the generic metrics only.
        figures: ``(EvaluationData, predictions, directory, samples) -> [paths]``: extra
            figures of the ``plot`` step (e.g. maps), with ``predictions`` the models' states
            by model name and ``samples`` the sample indices asked for. None: none.
    """

    name: str
    title: str
    state_fields: tuple[FieldSpec, ...]
    control_fields: tuple[FieldSpec, ...]
    dims: tuple[str, ...]
    data_file: Callable[[pathlib.Path, str], pathlib.Path]
    generate: Callable[..., pathlib.Path]
    read_split: Callable[[pathlib.Path, str, int | None], Trajectories]
    data_presets: Mapping[str, object]
    presets: Mapping[str, RunPreset]
    default_preset: str = "cpu"
    control_time_dim: str = "t_control"
    known: Mapping[str, tuple[str, ...]] = dataclasses.field(
        default_factory=lambda: {"simulation": MODES["simulation"]}
    )
    transform: EncodingConfig = EncodingConfig()
    spectral_axis: int = -2
    skip_initial: bool = True
    past_frames: int = 1
    reference: Mapping[str, float] = dataclasses.field(default_factory=dict)
    reference_note: str = ""
    rollout: Callable | None = None
    gradient_rollout: Callable | None = None
    control_objective: Callable | None = None
    guidance_objective: Callable | None = None
    guidance: object = None
    decision_parametrization: tuple[Callable, Callable] | None = None
    control_reference: Mapping[str, float] = dataclasses.field(default_factory=dict)
    control_reference_note: str = ""
    scoring: Callable[[EvaluationData], Scoring] | None = None
    figures: (
        Callable[
            [EvaluationData, Mapping[str, np.ndarray], pathlib.Path, Sequence[int]],
            list[pathlib.Path],
        ]
        | None
    ) = None

    def __post_init__(self):
        if "simulation" not in self.known:
            raise ValueError(f"Task {self.name!r}: known must describe the 'simulation' mode")
        for mode, parts in self.known.items():
            allowed = MODES.get(mode)
            if allowed is None or not set(parts) <= set(allowed):
                raise ValueError(
                    f"Task {self.name!r}: known[{mode!r}] = {parts}; expected a mode of "
                    f"{sorted(MODES)} with parts among {allowed}"
                )
        if self.default_preset not in self.presets:
            raise ValueError(
                f"Task {self.name!r}: default preset {self.default_preset!r} not in "
                f"{sorted(self.presets)}"
            )
        for name, preset in self.presets.items():
            if preset.data not in self.data_presets:
                raise ValueError(
                    f"Task {self.name!r}: preset {name!r} uses data preset {preset.data!r}; "
                    f"known: {sorted(self.data_presets)}"
                )
        if self.past_frames < 1:
            raise ValueError(
                f"Task {self.name!r}: past_frames must be >= 1, got {self.past_frames}"
            )
        if "control" in self.known and "target" not in self.known["control"]:
            raise ValueError(
                f"Task {self.name!r}: known['control'] = {self.known['control']}; the control task "
                "needs the target"
            )
        if self.dims[0] != "t":
            raise ValueError(f"Task {self.name!r}: dims must start with 't', got {self.dims}")

    @property
    def control_dims(self) -> tuple[str, ...]:
        """Dimension names of the control: its time dimension (the intervals), then space."""
        return (self.control_time_dim, *self.dims[1:])

    def preset(self, name: str) -> RunPreset:
        """The run preset ``name``, with a clear error if the system has none of that name."""
        if name not in self.presets:
            raise ValueError(
                f"{self.name}: unknown preset {name!r}; expected one of {sorted(self.presets)}"
            )
        return self.presets[name]
