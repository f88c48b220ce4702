"""Tests for wdno.checkpoint: exact resume in a fresh process, and the model rebuilt from the
saved JSON config."""

import json
import textwrap

import jax
import numpy as np
import pytest
from flax import nnx

from wdno.io import checkpoint
from wdno.training import train
from wdno.nets.unet import UNet, UNetConfig

# Shared by this process and the subprocess: data stream, model and configuration.
SETUP = textwrap.dedent("""
    import numpy as np
    from flax import nnx
    from wdno.training import TrainConfig, train
    from wdno.nets.unet import UNet, UNetConfig

    def batches(start_step):
        for step in range(start_step, 10**9):
            rng = np.random.default_rng(step)
            yield {"x0": rng.uniform(-1, 1, size=(4, 8, 8, 2)).astype(np.float32),
                   "known_mask": np.array([True, False])}

    MODEL_CONFIG = UNetConfig.tiny(2, dim=8, dim_mults=(1,), num_groups=2, attention=False)
    CONFIG = TrainConfig(num_steps=12, learning_rate=1e-3, warmup_steps=3, log_every=2,
                         ema_every=2, ema_start_step=4, checkpoint_every=5, seed=3)
""")
namespace = {}
exec(SETUP, namespace)


def _params(model):
    return jax.tree.map(np.asarray, nnx.state(model, nnx.Param))


def _stop_after(iterable, count):
    for index, item in enumerate(iterable):
        if index == count:
            return
        yield item


def test_resume_in_fresh_process_equals_uninterrupted_run(tmp_path, run_python):
    batches, config = namespace["batches"], namespace["CONFIG"]
    model_config = namespace["MODEL_CONFIG"]
    uninterrupted = train(
        UNet(model_config, rngs=nnx.Rngs(0)),
        batches,
        config,
        workdir=tmp_path / "a",
        progress=False,
    )

    # Interrupted after 7 steps (the data run out): checkpoints at 5 and 7.
    first = train(
        UNet(model_config, rngs=nnx.Rngs(0)),
        lambda start: _stop_after(batches(start), 7),
        config,
        workdir=tmp_path / "b",
        progress=False,
    )
    assert int(first.state.step) == 7
    assert checkpoint.latest_step(tmp_path / "b") == 7

    # Resume in a fresh process from a differently initialised model: the checkpoint wins.
    script = SETUP + textwrap.dedent(f"""
        result = train(UNet(MODEL_CONFIG, rngs=nnx.Rngs(123)), batches, CONFIG,
                       workdir={str(tmp_path / "b")!r}, progress=False)
        assert int(result.state.step) == 12, int(result.state.step)
    """)
    run_python(script)

    restored = checkpoint.restore(tmp_path / "b")
    assert restored.step == 12
    assert isinstance(restored.model, UNet) and restored.model.config == model_config
    expected, got = _params(uninterrupted.model), _params(restored.model)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(b, a, rtol=0, atol=1e-6), expected, got)
    jax.tree.map(
        lambda a, b: np.testing.assert_allclose(b, a, rtol=0, atol=1e-6),
        _params(uninterrupted.ema_model),
        _params(restored.ema_model),
    )
    assert restored.sampling_model is restored.ema_model

    saved = json.loads((tmp_path / "b" / "config.json").read_text())
    assert saved["model"]["class"] == "wdno.unet.UNet"
    assert saved["train"]["num_steps"] == 12
    log_steps = [
        line.split(",")[0] for line in (tmp_path / "b" / "log.csv").read_text().splitlines()[1:]
    ]
    assert log_steps == ["2", "4", "6", "7", "8", "10", "12"]  # 7: the interrupted run's last


def test_model_description_round_trip():
    config = UNetConfig.cpu(3, 3, dim_mults=(1, 2), downsample_axes=(False, True, True))
    model = UNet(UNetConfig.tiny(1), rngs=nnx.Rngs(0))
    model.config = config  # only the description is exercised
    description = json.loads(json.dumps(checkpoint.model_description(model)))
    rebuilt = checkpoint.build_model(description, abstract=True)
    assert rebuilt.config == config


def test_restore_without_checkpoint_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="No checkpoint under"):
        checkpoint.restore(tmp_path)
