"""The simulator protocol's pieces checked by value: FNO normalisation and its t = 0 loss mask,
condition checks, implementation dispatch, the network registry and config round trips."""

from __future__ import annotations

import json

import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from systems.burgers.presets import RUN_PRESETS
from wdno import simulators
from wdno.io import configs
from wdno.nets import registry
from wdno.nets.fno import FNO, FNOConfig, fno_loss
from wdno.nets.unet import UNet, UNetConfig
from wdno.preset import RunPreset
from wdno.simulators import fno as fno_simulator
from wdno.transforms import encoding, normalization

T, X = 5, 8


@pytest.fixture
def data():
    rng = np.random.default_rng(0)
    state = rng.normal(size=(6, T, X, 2)).astype(np.float32) * np.array([1.0, 3.0], np.float32)
    control = rng.normal(size=(6, T - 1, X, 1)).astype(np.float32) * 7.0
    return state, control


def test_fno_scales_are_per_field_max_abs(data):
    state, control = data
    scale = fno_simulator.field_scales(state, control)
    expected = [np.abs(state[..., i]).max() for i in range(2)] + [np.abs(control).max()]
    np.testing.assert_allclose(scale, expected, rtol=1e-6)


def test_fno_time_loss_mask_drops_only_the_initial_state():
    mask = fno_simulator.time_loss_mask(T, 1)
    assert mask.shape == (1, T, 1, 1)
    np.testing.assert_array_equal(mask[0, :, 0, 0], [0, 1, 1, 1, 1])
    # With the mask, the FNO loss is the MSE over t > 0 (numpy reference).
    model = FNO(FNOConfig(3, 2, width=4, modes=(2, 2), padding=0), rngs=nnx.Rngs(0))
    rng = np.random.default_rng(1)
    inputs = rng.normal(size=(2, T, X, 3)).astype(np.float32)
    targets = rng.normal(size=(2, T, X, 2)).astype(np.float32)
    predictions = np.asarray(model(jnp.asarray(inputs)))
    expected = np.mean((predictions[:, 1:] - targets[:, 1:]) ** 2)
    assert float(fno_loss(model, inputs, targets, mask)) == pytest.approx(expected, rel=1e-5)


class _ControlEcho(nnx.Module):
    """Returns its (normalised) control input channel for both state fields."""

    def __call__(self, inputs):
        return jnp.concatenate([inputs[..., 2:3], inputs[..., 2:3]], axis=-1)


def test_fno_predict_normalises_inputs_and_denormalises_outputs(data):
    state, control = data
    layout = encoding.make_layout(
        encoding.EncodingConfig(transform="identity"), state.shape[1:], control.shape[1:]
    )
    scale = fno_simulator.field_scales(state, control)
    simulator = fno_simulator.FNOSimulator(
        model=_ControlEcho(), layout=layout, normalizer=normalization.Normalizer(scale), step=0
    )
    predicted = simulator.predict(state[:, 0], control, batch_size=4, progress=False)
    # Output = (control / scale_f) * scale_state per field, the control's last frame repeated,
    # and the given initial state at t = 0.
    extended = np.concatenate([control, control[:, -1:]], axis=1)[..., 0]
    for field in range(2):
        expected = extended / scale[2] * scale[field]
        np.testing.assert_allclose(predicted[:, 1:, :, field], expected[:, 1:], rtol=1e-5)
    np.testing.assert_array_equal(predicted[:, 0], state[:, 0])
    with pytest.raises(ValueError, match="control must be"):
        simulator.predict(state[:, 0], control[:, :-1], progress=False)
    with pytest.raises(ValueError, match="pass control="):
        simulator.predict(state[:, 0], None, progress=False)
    with pytest.raises(ValueError, match="initial_state must be"):
        simulator.predict(state[:, :2], control, progress=False)


def test_load_dispatches_on_the_saved_implementation(tmp_path):
    (tmp_path / "simulator.json").write_text(json.dumps({"implementation": "resnet"}))
    with pytest.raises(ValueError, match="implementation 'resnet' unknown"):
        simulators.load(tmp_path)
    with pytest.raises(FileNotFoundError, match="simulator.json"):
        simulators.load(tmp_path / "missing")
    assert set(simulators.MODELS) == {"wdno", "ddpm", "fno"}


def test_registry_rebuilds_networks_from_their_description():
    model = UNet(UNetConfig(3, dim=8, dim_mults=(1,), num_groups=2), rngs=nnx.Rngs(3))
    description = json.loads(json.dumps(registry.describe(model)))
    assert description["kind"] == "unet" and "class" not in description
    rebuilt = registry.build(description, seed=3)
    import jax

    leaves = jax.tree.leaves(nnx.state(model, nnx.Param))
    rebuilt_leaves = jax.tree.leaves(nnx.state(rebuilt, nnx.Param))
    assert len(leaves) == len(rebuilt_leaves)
    for a, b in zip(leaves, rebuilt_leaves, strict=True):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="network kind"):
        registry.build({"kind": "os.system", "config": {}})
    with pytest.raises(ValueError, match="register it"):
        registry.describe(_ControlEcho())


def test_run_presets_round_trip_through_json():
    for preset in RUN_PRESETS.values():
        text = json.dumps(configs.to_json(preset))
        assert configs.from_json(RunPreset, json.loads(text)) == preset
    with pytest.raises(ValueError, match="unknown fields"):
        configs.from_json(RunPreset, {**configs.to_json(RUN_PRESETS["tiny"]), "network": "x"})


def test_model_steps_give_each_model_its_own_budget():
    # The cpu-hour preset: one wall-clock budget per model, as a step count per model.
    hour = RUN_PRESETS["cpu-hour"]
    steps = dict(hour.model_steps)
    assert hour.for_model("wdno").steps == hour.steps
    assert hour.for_model("ddpm").steps == steps["ddpm"] != hour.steps
    assert hour.for_model("ddpm").train_config.num_steps == steps["ddpm"]
    assert hour.for_model("ddpm").batch_size == hour.batch_size  # the same batches
    # --steps N on the command line: every model N steps.
    assert {hour.override(steps=7).for_model(m).steps for m in ("wdno", "ddpm", "fno")} == {7}
    with pytest.raises(ValueError, match=r"model_steps\['fno'\]: expected an int >= 1, got 0"):
        hour.override(model_steps=(("fno", 0),))
