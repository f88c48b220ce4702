"""Tests for wdno.parallel: a two-device data-parallel training run equals the one-device run
(in a subprocess with two forced host devices), and batch placement."""

import textwrap

import jax
import numpy as np
import pytest

from wdno.training import parallel

TWO_DEVICES = textwrap.dedent("""
    import jax, numpy as np, tempfile
    from flax import nnx
    from wdno.training import parallel
    from wdno.training import TrainConfig, train
    from wdno.nets.unet import UNet, UNetConfig

    assert jax.device_count() == 2, jax.devices()

    def batches():
        for step in range(5):
            rng = np.random.default_rng(step)
            yield {"x0": rng.uniform(-1, 1, size=(4, 8, 8, 2)).astype(np.float32),
                   "loss_mask": np.array([True, False])}

    two = parallel.data_mesh()
    placed = parallel.shard_batch(next(batches()), two)
    assert len(placed["x0"].sharding.device_set) == 2
    assert placed["x0"].addressable_shards[0].data.shape == (2, 8, 8, 2)
    assert placed["loss_mask"].sharding.is_fully_replicated
    try:
        parallel.shard_batch({"x0": np.zeros((3, 2))}, two)
        raise AssertionError("no error for an indivisible batch")
    except ValueError as error:
        assert "not divisible by the 2 devices" in str(error), error

    config = TrainConfig(num_steps=5, learning_rate=1e-3, ema_start_step=0, ema_every=1,
                         log_every=5)
    model_config = UNetConfig.tiny(2, dim=8, dim_mults=(1,), num_groups=2, attention=False)
    results = {}
    for name, mesh in [("one", parallel.data_mesh(jax.devices()[:1])), ("two", two)]:
        model = UNet(model_config, rngs=nnx.Rngs(0))
        results[name] = train(model, batches(), config, workdir=tempfile.mkdtemp(), mesh=mesh,
                              key=jax.random.key(1), progress=False)
    leaf = jax.tree.leaves(results["two"].state.params)[0]
    assert leaf.sharding.is_fully_replicated and len(leaf.sharding.device_set) == 2
    one = jax.tree.leaves(nnx.state(results["one"].model, nnx.Param))
    two_ = jax.tree.leaves(nnx.state(results["two"].model, nnx.Param))
    difference = max(float(np.abs(np.asarray(a) - np.asarray(b)).max()) for a, b in zip(one, two_))
    print("max difference", difference)
    assert difference < 1e-5, difference
    np.testing.assert_allclose(results["one"].history[-1]["loss"],
                               results["two"].history[-1]["loss"], rtol=1e-5)
""")


def test_two_device_data_parallel_equals_one_device(run_python):
    output = run_python(TWO_DEVICES, XLA_FLAGS="--xla_force_host_platform_device_count=2")
    assert "max difference" in output


def test_shard_batch_on_this_process():
    mesh = parallel.data_mesh(jax.devices()[:1])
    batch = parallel.shard_batch({"x0": np.ones((3, 4)), "weights": np.arange(2.0)}, mesh)
    np.testing.assert_array_equal(batch["x0"], np.ones((3, 4)))
    np.testing.assert_array_equal(batch["weights"], np.arange(2.0))
    with pytest.raises(ValueError, match="no array with a leading batch axis"):
        parallel.shard_batch({"scalar": np.float32(1.0)}, mesh)


def test_distributed_not_initialised_unless_asked(monkeypatch):
    monkeypatch.delenv("WDNO_DISTRIBUTED", raising=False)
    assert parallel.initialize_distributed() is False
    assert parallel.is_main_process()
