"""The controller (wdno.control): guided joint sampling, solver-evaluated J, input checks.

The model is an untrained tiny U-Net on the toy heat system (docs/examples/heat_system.py), whose
solver is exact and linear: these tests check the controller's plumbing and guidance, not what a
trained model learns.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib.util
import pathlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from _untrained import untrained_simulator
from flax import nnx

from wdno import diffusion
from wdno.control import Controller, GuidanceSettings
from wdno.simulators.sampling import SamplerConfig
from wdno.transforms import encoding

HEAT_PATH = pathlib.Path(__file__).parents[1] / "docs" / "examples" / "heat_system.py"
_spec = importlib.util.spec_from_file_location("heat_system_control", HEAT_PATH)
heat = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(heat)

T, X = heat.NUM_INTERVALS + 1, heat.NUM_POINTS
SAMPLER = SamplerConfig(num_steps=4)


@functools.cache  # one untrained model per layout, shared by the tests
def _model(transform="wavelet", target=True, seed=0):
    config = encoding.EncodingConfig(transform=transform, wavelet="bior2.4", level=1)
    layout = encoding.make_layout(config, (T, X, 1), (T - 1, X, 1), target=target)
    return untrained_simulator(layout, 2.0, seed=seed)


def _problems(num=3, seed=0):
    rng = np.random.default_rng(seed)
    u0 = rng.normal(size=(num, X, 1)).astype(np.float32) * 0.5
    target = rng.normal(size=(num, X, 1)).astype(np.float32) * 0.5
    return u0, target


def energy(state, control, given):
    return jnp.sum(control**2)


def tracking(state, control, given):
    return jnp.mean((state[-1] - given["target"]) ** 2) + 1e-3 * jnp.sum(control**2)


@pytest.mark.parametrize("transform", ["wavelet", "identity"])
def test_zero_guidance_equals_unguided_joint_sampling(transform):
    model = _model(transform)
    u0, target = _problems()
    controller = Controller(
        model, objective=energy, guidance=GuidanceSettings(scale=0.0), sampler=SAMPLER
    )
    state, control = controller.sample(u0, target, key=7, batch_size=3, progress=False)

    # Unguided joint sampling built directly from the sampler: u0 and target known, f generated.
    layout = model.layout
    known = np.zeros((3, T, X, 1), np.float32)
    known[:, 0], known[:, -1] = u0, target
    values = model.normalizer.normalize(
        encoding.encode(layout, jnp.asarray(known), jnp.zeros((3, T - 1, X, 1)))
    )
    graphdef, weights = nnx.split(model.model)
    sample = diffusion.ddim_sample(
        diffusion.noise_predictor(nnx.merge(graphdef, weights), model.schedule, "eps"),
        (3, *layout.shape),
        jax.random.fold_in(jax.random.key(7), 0),
        model.schedule,
        num_steps=SAMPLER.num_steps,
        known_mask=layout.known_mask(initial_state=True, control=False, target=True),
        known_values=values,
    )
    expected_state, expected_control = encoding.decode(layout, model.normalizer.denormalize(sample))
    np.testing.assert_allclose(state, expected_state, atol=2e-5)
    np.testing.assert_allclose(control, expected_control, atol=2e-5)
    if transform == "identity":  # in physical space both conditions are imposed exactly
        np.testing.assert_allclose(state[:, 0], u0, atol=1e-6)
        np.testing.assert_allclose(state[:, -1], target, atol=1e-6)


def test_returned_objective_is_the_solvers():
    model = _model("wavelet")
    u0, target = _problems(num=4)
    controller = Controller(
        model,
        objective=tracking,
        rollout=heat.rollout,
        sampler=SAMPLER,
        guidance=GuidanceSettings(scale=1.0),
    )
    result = controller.optimize(u0, target, key=1, batch_size=3, progress=False)
    assert result.control.shape == (4, T - 1, X, 1)
    # Independent recomputation: the heat solver in numpy-land from the true u0, then J by hand.
    for i in range(4):
        u = np.asarray(heat.solve(jnp.asarray(u0[i, :, 0]), jnp.asarray(result.control[i, ..., 0])))
        expected = np.mean((u[-1] - target[i, :, 0]) ** 2) + 1e-3 * np.sum(result.control[i] ** 2)
        np.testing.assert_allclose(result.objective[i], expected, rtol=1e-5)
        np.testing.assert_allclose(result.state[i, ..., 0], u, atol=1e-5)
        u_gen = np.asarray(
            heat.solve(
                jnp.asarray(result.predicted_state[i, 0, :, 0]),
                jnp.asarray(result.control[i, ..., 0]),
            )
        )
        expected_gen = np.mean((u_gen[-1] - target[i, :, 0]) ** 2) + 1e-3 * np.sum(
            result.control[i] ** 2
        )
        np.testing.assert_allclose(result.objective_generated_start[i], expected_gen, rtol=1e-5)


def test_guidance_moves_the_control_toward_the_closed_form_optimum():
    # J = sum (f - 0.3)^2 has its optimum at f = 0.3 everywhere; stronger guidance, closer f
    # (up to a point: far stronger guidance overshoots, as any gradient step does).
    def shifted(state, control, given):
        return jnp.sum((control - 0.3) ** 2)

    model = _model("wavelet")
    u0, target = _problems(num=4)
    distances = []
    for scale in (0.0, 0.03, 0.3):
        controller = Controller(
            model,
            objective=shifted,
            sampler=SamplerConfig(num_steps=10),
            guidance=GuidanceSettings(scale=scale),
        )
        _, control = controller.sample(u0, target, key=3, batch_size=4, progress=False)
        distances.append(float(np.mean((control - 0.3) ** 2)))
    assert distances[0] > distances[1] > distances[2], distances
    assert distances[2] < 0.2 * distances[0], distances


def test_cosine_beta_weights_follow_the_schedule():
    weights = GuidanceSettings(scale=2.0, schedule="cosine_beta")
    betas = diffusion.make_schedule("cosine", 1000).betas
    for t in (999, 899, 499, 0):
        np.testing.assert_allclose(weights.weight(jnp.asarray(t)), 2.0 * betas[t], rtol=1e-6)
    custom = GuidanceSettings(scale=3.0, schedule=lambda t: t / 1000.0)
    np.testing.assert_allclose(custom.weight(jnp.asarray(500)), 1.5, rtol=1e-6)
    with pytest.raises(ValueError, match="schedule"):
        GuidanceSettings(schedule="linear")


def test_bad_inputs_fail_before_compilation():
    model = _model("wavelet")
    u0, target = _problems()
    with pytest.raises(ValueError, match="scalar"):
        Controller(model, objective=lambda s, c, g: c.sum(axis=0))
    with pytest.raises(ValueError, match="floating"):
        Controller(model, objective=lambda s, c, g: jnp.argmax(c))

    def not_differentiable(state, control, given):
        value = jnp.sum(control)
        return jax.lax.while_loop(lambda v: v > 1e9, lambda v: v * 0.5, value)

    with pytest.raises(ValueError, match="not differentiable"):
        Controller(model, objective=not_differentiable)
    with pytest.raises(ValueError, match="target"):
        Controller(model, objective=lambda s, c, g: jnp.sum(s[-1] - g["goal"]))
    with pytest.raises(ValueError, match="trained for simulation"):
        Controller(_model("wavelet", False), objective=energy)
    controller = Controller(model, objective=energy, sampler=SAMPLER)
    with pytest.raises(ValueError, match=r"initial_state must be \(N, \*\(16, 1\)\)"):
        controller.sample(u0[:, :8], target)
    with pytest.raises(ValueError, match="3 initial states but 2 targets"):
        controller.sample(u0, target[:2])
    with pytest.raises(TypeError, match="diffusion model"):
        Controller(object(), objective=energy)


def test_layout_target_channels_carry_the_final_state():
    config = encoding.EncodingConfig(wavelet="bior2.4", level=1)
    plain = encoding.make_layout(config, (T, X, 1), (T - 1, X, 1))
    layout = dataclasses.replace(plain, target=True)
    assert layout.num_channels == plain.num_channels + plain.num_initial_channels
    rng = np.random.default_rng(0)
    state = rng.normal(size=(2, T, X, 1)).astype(np.float32)
    control = rng.normal(size=(2, T - 1, X, 1)).astype(np.float32)
    encoded = np.asarray(encoding.encode(layout, jnp.asarray(state), jnp.asarray(control)))
    # The target channels equal the initial-state channels of the time-reversed trajectory.
    reversed_state = state[:, ::-1].copy()
    initial_of_reversed = np.asarray(
        encoding.encode(plain, jnp.asarray(reversed_state), jnp.asarray(control))
    )[..., plain.num_channels - plain.num_initial_channels :]
    np.testing.assert_allclose(encoded[..., plain.num_channels :], initial_of_reversed, atol=1e-6)
    known = layout.task_known_mask()
    s = layout.num_state_channels
    assert not known[..., s : s + layout.num_control_channels].all()  # the control is generated
    assert known[..., plain.num_channels :].all()
