"""The guided forecaster (wdno.control.GuidedForecaster): a simulation/forecast model's samples
steered by an objective, e.g. the misfit to observations of the forecast window.

The models are untrained tiny U-Nets on a (t, x) grid with 3 known past frames: these tests check
the plumbing (zero guidance is the model's own ``predict``, sample for sample) and what guidance
does physically (a strong misfit objective pulls the forecast to the observations), not what a
trained model learns.
"""

from __future__ import annotations

import functools

import jax.numpy as jnp
import numpy as np
import pytest
from _untrained import untrained_simulator

from systems.era5 import observations
from wdno.control import GuidanceSettings, GuidedForecaster
from wdno.simulators.sampling import SamplerConfig
from wdno.transforms import encoding

T, X, PAST = 9, 16, 3
SAMPLER = SamplerConfig(num_steps=4)


@functools.cache  # one untrained model per layout, shared by the tests
def _model(transform="wavelet", target=False, control=False):
    config = encoding.EncodingConfig(transform=transform, wavelet="bior2.4", level=1)
    layout = encoding.make_layout(
        config,
        (T, X, 1),
        (T - 1, X, 1) if control else None,
        target=target,
        past_frames=1 if target else PAST,
    )
    return untrained_simulator(layout, 2.0)


def _truth(num=3):
    """Smooth travelling waves, well inside the normalised range of the models."""
    t = np.arange(T)[:, None] / T
    x = np.arange(X)[None, :] / X
    phase = np.arange(num)[:, None, None]
    waves = 0.8 * np.sin(2 * np.pi * (x - 0.3 * t) + phase) + 0.2 * phase
    return waves[..., None].astype(np.float32)  # (N, T, X, 1)


def _observed_everywhere(truth):
    mask = np.zeros((T, X, 1), np.float32)
    mask[PAST:] = 1.0  # every point of every forecast frame
    given = {
        "observations": truth * mask,
        "observation_mask": np.broadcast_to(mask, truth.shape).copy(),
    }
    return given, mask


def _misfit(forecast, truth, mask):
    return np.mean(np.sum(mask * (forecast - truth) ** 2, axis=(1, 2, 3)) / mask.sum())


# identity: slow-marked (make test under 10 minutes); tests/test_control.py checks the shared
# guided sampler's zero-guidance equality in physical space by default
@pytest.mark.parametrize("transform", ["wavelet", pytest.param("identity", marks=pytest.mark.slow)])
def test_zero_guidance_is_the_models_own_forecast(transform):
    model = _model(transform)
    truth = _truth()
    given, _ = _observed_everywhere(truth)
    forecaster = GuidedForecaster(
        model, observations.misfit, guidance=GuidanceSettings(scale=0.0), sampler=SAMPLER
    )
    options = dict(key=5, batch_size=2, progress=False)  # two batches, the second padded
    guided = forecaster.predict(truth[:, :PAST], given, **options)
    unguided = model.predict(truth[:, :PAST], sampler=SAMPLER, **options)
    assert guided.shape == (3, T, X, 1)
    np.testing.assert_array_equal(guided, unguided)
    np.testing.assert_array_equal(guided[:, :PAST], truth[:, :PAST])  # the given past
    other = model.predict(truth[:, :PAST], sampler=SAMPLER, key=6, batch_size=2, progress=False)
    assert not np.allclose(other[:, PAST:], unguided[:, PAST:])  # the key matters


# The physical-space variant is slow-marked to keep `make test` under 10 minutes (the wavelet one
# runs by default; the zero-guidance equality covers both transforms).
@pytest.mark.parametrize("transform", ["wavelet", pytest.param("identity", marks=pytest.mark.slow)])
def test_strong_guidance_pulls_the_forecast_to_the_observations(transform):
    model = _model(transform)
    truth = _truth()
    given, mask = _observed_everywhere(truth)
    options = dict(key=1, batch_size=3, progress=False)
    misfits = []
    for scale in (0.0, 30.0):
        forecaster = GuidedForecaster(
            model,
            observations.misfit,
            guidance=GuidanceSettings(scale=scale),
            sampler=SamplerConfig(num_steps=10),
        )
        misfits.append(_misfit(forecaster.predict(truth[:, :PAST], given, **options), truth, mask))
    assert misfits[1] < 0.5 * misfits[0], misfits


def test_a_control_is_passed_through_and_inputs_are_checked():
    model = _model("wavelet", control=True)
    truth = _truth(2)
    given, _ = _observed_everywhere(truth)
    forecaster = GuidedForecaster(model, observations.misfit, sampler=SAMPLER)
    with pytest.raises(ValueError, match="pass control="):
        forecaster.predict(truth[:, :PAST], given)
    with pytest.raises(ValueError, match=r"the 3 known frames \(initial_state\) must be"):
        forecaster.predict(truth[:, :2], given, control=np.zeros((2, T - 1, X, 1)))
    control = np.zeros((2, T - 1, X, 1), np.float32)
    with pytest.raises(ValueError, match=r"given\['observations'\] must have one row per"):
        forecaster.predict(truth[:, :PAST], {**given, "observations": truth[:1]}, control=control)
    with pytest.raises(ValueError, match="objective: calling J"):  # reads a key not given
        forecaster.predict(truth[:, :PAST], {"observations": truth}, control=control)
    with pytest.raises(ValueError, match="scalar"):
        GuidedForecaster(model, lambda s, c, g: s.sum(axis=0), sampler=SAMPLER).predict(
            truth[:, :PAST], {}, control=control
        )
    with pytest.raises(ValueError, match="control model"):
        GuidedForecaster(_model("wavelet", target=True), observations.misfit)
    with pytest.raises(TypeError, match="diffusion model"):
        GuidedForecaster(object(), observations.misfit)
    with pytest.raises(TypeError, match="callable"):
        GuidedForecaster(model, "misfit")


@pytest.mark.slow  # 20 s; make test stays under 10 minutes
def test_an_objective_of_the_given_control_leaves_the_forecast_alone():
    # The control of a simulation model is imposed, so J = sum (f - 0.3)^2 has no gradient with
    # respect to anything generated: the guided forecast is the unguided one, while J is still
    # called with the (T - 1, X, 1) control.
    model = _model("wavelet", control=True)
    truth = _truth(2)
    control = np.full((2, T - 1, X, 1), 0.1, np.float32)
    seen = []

    def objective(state, control, given):
        seen.append(control.shape)
        return jnp.sum((control - 0.3) ** 2) + 0.0 * jnp.sum(state)

    forecaster = GuidedForecaster(
        model, objective, guidance=GuidanceSettings(scale=10.0), sampler=SAMPLER
    )
    options = dict(key=0, progress=False)
    state = forecaster.predict(truth[:, :PAST], control=control, **options)
    unguided = model.predict(truth[:, :PAST], control, sampler=SAMPLER, **options)
    np.testing.assert_allclose(state, unguided, atol=1e-5)
    assert seen and all(tuple(shape) == (T - 1, X, 1) for shape in seen)
