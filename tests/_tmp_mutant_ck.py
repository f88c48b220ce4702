"""Tests for wdno.checkpoint: exact resume in a fresh process, and the model rebuilt from the
saved JSON config."""

import json
import textwrap

import jax
import numpy as np
import pytest
from flax import nnx

from wdno.io import checkpoint
from wdno.nets.unet import UNet, UNetConfig
from wdno.training import train

# Shared by this process and the subprocess: data stream, model and configuration. The model is
# one convolution with a step-dependent gain, registered as a user network: resuming does not
# depend on the architecture, and a U-Net would only add compile time (one per process).
SETUP = textwrap.dedent("""
    import dataclasses

    import jax.numpy as jnp
    import numpy as np
    from flax import nnx

    from wdno.nets import registry
    from wdno.training import TrainConfig, train

    @dataclasses.dataclass(frozen=True)
    class OneLayerConfig:
        channels: int

    class OneLayer(nnx.Module):
        def __init__(self, config, *, rngs):
            self.config = config
            self.conv = nnx.Conv(config.channels, config.channels, (3, 3), rngs=rngs)
            self.gain = nnx.Param(jnp.zeros((config.channels,)))

        def __call__(self, x, t):
            return self.conv(x) * (1.0 + self.gain[...] * t[:, None, None, None] / 1000.0)

    registry.register("test_one_layer", OneLayer, OneLayerConfig)

    def batches(start_step):
        for step in range(start_step, 10**9):
            rng = np.random.default_rng(step)
            yield {"x0": rng.uniform(-1, 1, size=(4, 8, 8, 2)).astype(np.float32),
                   "known_mask": np.array([True, False])}

    MODEL_CONFIG = OneLayerConfig(channels=2)
    CONFIG = TrainConfig(num_steps=12, learning_rate=1e-2, warmup_steps=3, log_every=2,
                         ema_every=2, ema_start_step=4, checkpoint_every=5, seed=3)
""")
namespace = {}
exec(SETUP, namespace)


def _stop_after(iterable, count):
    for index, item in enumerate(iterable):
        if index == count:
            return
        yield item


def _assert_bitwise_equal(expected, got):
    # jax.tree.map also fails if the two trees differ in structure.
    def check(a, b):
        a, b = np.asarray(a), np.asarray(b)
        assert a.dtype == b.dtype and np.array_equal(a, b), np.abs(a - b).max()

    jax.tree.map(check, expected, got)


def test_resume_in_fresh_process_equals_uninterrupted_run(tmp_path, run_python):
    batches, config = namespace["batches"], namespace["CONFIG"]
    model_class, model_config = namespace["OneLayer"], namespace["MODEL_CONFIG"]
    uninterrupted = train(
        model_class(model_config, rngs=nnx.Rngs(0)),
        batches,
        config,
        workdir=tmp_path / "a",
        progress=False,
    )

    # Interrupted after 7 steps (the data run out): checkpoints at 5 and 7.
    first = train(
        model_class(model_config, rngs=nnx.Rngs(0)),
        lambda start: _stop_after(batches(start), 7),
        config,
        workdir=tmp_path / "b",
        progress=False,
    )
    assert int(first.state.step) == 7
    assert checkpoint.latest_step(tmp_path / "b") == 7

    # Resume in a fresh process from a differently initialised model: the checkpoint wins.
    script = SETUP + textwrap.dedent(f"""
        result = train(OneLayer(MODEL_CONFIG, rngs=nnx.Rngs(123)), lambda s: batches(s + 1), CONFIG,
                       workdir={str(tmp_path / "b")!r}, progress=False)
        assert int(result.state.step) == 12, int(result.state.step)
    """)
    run_python(script)

    # Everything the resumed process saved at step 12 (weights, EMA, optimiser moments and
    # count, step, PRNG key) equals the uninterrupted run's state bit for bit.
    state = uninterrupted.state
    targets = {
        "params": state.params,
        "ema_params": state.ema_params,
        "opt_state": state.opt_state,
        "meta": {"step": state.step, "key": state.key},
    }
    step, items, _ = checkpoint.restore_items(tmp_path / "b", targets)
    assert step == 12
    _assert_bitwise_equal(targets, items)
    # Not vacuous: the resumed process trained on from step 7, and the EMA lags the weights.
    moved = jax.tree.leaves(
        jax.tree.map(lambda a, b: np.any(a != b), first.state.params, items["params"])
    )
    assert all(moved)
    lag = jax.tree.leaves(
        jax.tree.map(lambda a, b: np.any(a != b), items["params"], items["ema_params"])
    )
    assert all(lag)

    # The model is rebuilt from the saved JSON through the network registry.
    restored = checkpoint.restore(tmp_path / "b")
    assert restored.step == 12
    assert isinstance(restored.model, model_class) and restored.model.config == model_config
    _assert_bitwise_equal(
        nnx.state(uninterrupted.model, nnx.Param), nnx.state(restored.model, nnx.Param)
    )
    _assert_bitwise_equal(
        nnx.state(uninterrupted.ema_model, nnx.Param), nnx.state(restored.ema_model, nnx.Param)
    )
    assert restored.sampling_model is restored.ema_model

    saved = json.loads((tmp_path / "b" / "config.json").read_text())
    assert saved["model"] == {"kind": "test_one_layer", "config": {"channels": 2}}
    assert saved["train"]["num_steps"] == 12
    log_steps = [
        line.split(",")[0] for line in (tmp_path / "b" / "log.csv").read_text().splitlines()[1:]
    ]
    assert log_steps == ["2", "4", "6", "7", "8", "10", "12"]  # 7: the interrupted run's last


def test_model_description_round_trip():
    config = UNetConfig.cpu(3, 3, dim_mults=(1, 2), downsample_axes=(False, True, True))
    model = nnx.eval_shape(lambda: UNet(UNetConfig.tiny(1), rngs=nnx.Rngs(0)))  # no weights
    model.config = config  # only the description is exercised
    description = json.loads(json.dumps(checkpoint.model_description(model)))
    rebuilt = checkpoint.build_model(description, abstract=True)
    assert rebuilt.config == config


def test_restore_without_checkpoint_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="No checkpoint under"):
        checkpoint.restore(tmp_path)
