"""Guided forecasting: a simulation/forecast model's samples steered by an objective (paper
Sec. 3.3's guidance applied to the simulation task; e.g. observations during the forecast).

A simulation model (a :class:`wdno.simulators.DiffusionSimulator` fitted in ``"simulation"``
mode) knows the past frames (one: the initial state; ``P > 1``: a forecast, ``Task.past_frames``)
and the control, and generates the rest of the trajectory. :class:`GuidedForecaster` samples it
as :meth:`~wdno.simulators.DiffusionSimulator.predict` does and adds, at every denoising step,
``scale * w(t) * grad J(x0_hat)`` to the predicted noise, with ``J(state, control, given)`` any
objective of one sample (:mod:`wdno.control.evaluation`): for data assimilation the misfit to
sparse observations of the forecast window (``given = {"observations": ..., "observation_mask":
...}``, :mod:`systems.era5.observations`). The machinery is the controller's
(:func:`wdno.control.guided.guided_samples`); a zero scale gives exactly ``predict``'s samples.

Usage::

    model = simulators.load("runs/era5-tiny/wdno")              # past_frames = 12
    forecaster = GuidedForecaster(model, misfit, guidance=GuidanceSettings(scale=10.0))
    state = forecaster.predict(past, given, key=0)              # past: (N, 12, lat, lon, 1)
    state.shape                                                 # (N, 32, lat, lon, 1)
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping

import jax
import numpy as np

from wdno.control import evaluation, guided
from wdno.control.weights import GuidanceSettings
from wdno.simulators import base
from wdno.simulators.sampling import SamplerConfig

__all__ = ["GuidedForecaster"]


@dataclasses.dataclass(frozen=True, eq=False)
class GuidedForecaster:
    """Guided sampling of a simulation/forecast model.

    Args (fields):
        model: a diffusion model trained in simulation mode (WDNO or the physical-space DDPM),
            with any number of known past frames.
        objective: ``J(state (T, *spatial, Fs), control (T - 1, *spatial, Fc), given) -> scalar``
            on one sample (``Fc = 0`` without control), differentiable; checked with the shapes
            of ``given`` when :meth:`predict` is called, before anything compiles.
        guidance: scale and weight schedule (:class:`GuidanceSettings`); scale 0: unguided.
        sampler: default: DDIM with 50 steps, as ``predict``'s default.
    """

    model: object
    objective: Callable
    guidance: GuidanceSettings = GuidanceSettings()
    sampler: SamplerConfig | None = None

    def __post_init__(self):
        if not guided.is_diffusion_model(self.model):
            raise TypeError(
                "GuidedForecaster: model must be a trained diffusion model (DiffusionSimulator), "
                f"got {type(self.model).__name__}"
            )
        if self.model.layout.target:
            raise ValueError(
                "GuidedForecaster: this is a control model (trained with the final state known); "
                "use a simulation model (DiffusionSimulator.fit(..., mode='simulation')), or "
                "wdno.control.Controller with this one"
            )
        if not callable(self.objective):
            raise TypeError(
                f"GuidedForecaster: objective must be a callable J(state, control, given), got "
                f"{self.objective!r}"
            )
        if not isinstance(self.guidance, GuidanceSettings):
            raise TypeError(
                f"GuidedForecaster: guidance must be a GuidanceSettings, got {self.guidance!r}"
            )
        if self.sampler is None:
            object.__setattr__(self, "sampler", SamplerConfig())

    @property
    def past_frames(self) -> int:
        """The leading frames the model is given."""
        return self.model.layout.past_frames

    def _check_given(self, given, num):
        if not isinstance(given, Mapping):
            raise TypeError(
                f"GuidedForecaster.predict: given must be a dict of arrays, got {type(given)}"
            )
        arrays = {}
        for name, value in given.items():
            value = np.asarray(value, np.float32)
            if value.ndim < 1 or len(value) != num:
                raise ValueError(
                    f"GuidedForecaster.predict: given[{name!r}] must have one row per forecast "
                    f"({num}) on axis 0, got shape {value.shape}"
                )
            if not np.isfinite(value).all():
                raise ValueError(f"GuidedForecaster.predict: given[{name!r}] must be finite")
            arrays[name] = value
        state, control = guided.sample_shapes(self.model.layout)
        shapes = {name: value.shape[1:] for name, value in arrays.items()}
        evaluation.check_objective(self.objective, state, control, shapes, name="objective")
        return arrays

    def predict(
        self,
        past_frames,
        given: Mapping[str, np.ndarray] | None = None,
        control=None,
        *,
        key: jax.Array | int = 0,
        batch_size: int = 64,
        progress: bool = True,
    ) -> np.ndarray:
        """Guided forecasts ``(N, T, *spatial, Fs)``; the known past frames are the given ones.

        Args:
            past_frames: ``(N, P, *spatial, Fs)`` the known leading frames (``(N, *spatial, Fs)``
                for a model given only the initial state, ``P = 1``).
            given: the objective's known parts, ``{name: (N, ...)}`` (e.g. ``"observations"`` and
                ``"observation_mask"``, ``(N, T, *spatial, Fs)``); None: ``{}``.
            control: ``(N, T - 1, *spatial, Fc)`` for a model conditioned on a control, else None.
            key: PRNG key or seed; batch ``b`` samples with ``fold_in(key, b)`` (as ``predict``:
                with scale 0 the same key gives the same forecasts).
            batch_size: forecasts per compiled batch (the last padded: one compilation).
            progress: progress bar over batches.
        """
        layout = self.model.layout
        past, control = base.check_conditions(
            layout, past_frames, control, "GuidedForecaster.predict"
        )
        if not np.isfinite(past).all():
            raise ValueError("GuidedForecaster.predict: past_frames must be finite")
        given = self._check_given({} if given is None else given, len(past))
        known = past[:, None] if self.past_frames == 1 else past
        state_shape, _ = guided.sample_shapes(layout)
        known_state = np.zeros((len(past), *state_shape), np.float32)
        known_state[:, : self.past_frames] = known
        state, _ = guided.guided_samples(
            self.model,
            known_state,
            control,
            given,
            objective=self.objective,
            guidance=self.guidance,
            sampler=self.sampler,
            key=key,
            batch_size=batch_size,
            progress=progress,
            description="guided forecast",
        )
        state[:, : self.past_frames] = known  # as predict: the known frames are the given ones
        return state
