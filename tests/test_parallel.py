"""Tests for wdno.training.parallel: a two-device data-parallel training run equals the one-device
run (in a subprocess with two forced host devices), and batch placement (batch data split,
declared constants replicated)."""

import textwrap

import jax
import numpy as np
import pytest

from wdno.training import batches, parallel

TWO_DEVICES = textwrap.dedent("""
    import jax, numpy as np, tempfile
    from flax import nnx
    from wdno.training import TrainConfig, batches, parallel, train

    assert jax.device_count() == 2, jax.devices()
    two = parallel.data_mesh()

    # A constant whose leading size equals the batch size: split when inferred (the old
    # behaviour, wrong across processes), replicated when declared.
    batch = {"x0": np.zeros((4, 3, 4), np.float32), "channel_weights": np.ones(4, np.float32)}
    inferred = parallel.shard_batch(batch, two)
    assert inferred["x0"].addressable_shards[0].data.shape == (2, 3, 4)
    assert not inferred["channel_weights"].sharding.is_fully_replicated
    declared = parallel.shard_batch(batch, two, constants=("channel_weights",))
    assert declared["x0"].addressable_shards[0].data.shape == (2, 3, 4)
    assert declared["channel_weights"].sharding.is_fully_replicated
    assert declared["channel_weights"].addressable_shards[1].data.shape == (4,)
    try:
        parallel.shard_batch({"x0": np.zeros((3, 2))}, two)
        raise AssertionError("no error for an indivisible batch")
    except ValueError as error:
        assert "not divisible by the 2 devices" in str(error), error

    class Tiny(nnx.Module):
        def __init__(self, channels, *, rngs):
            self.linear = nnx.Linear(channels, channels, rngs=rngs)

        def __call__(self, x, t):
            return self.linear(x) * (1.0 + t[:, None, None, None] / 100.0)

    data = np.random.default_rng(0).uniform(-1, 1, size=(8, 4, 4, 4)).astype(np.float32)
    stream = batches.minibatches(data, 4, constants={"channel_weights": np.arange(1.0, 5.0)})
    config = TrainConfig(num_steps=4, learning_rate=1e-2, ema_start_step=0, ema_every=1,
                         log_every=4, diffusion_steps=100)
    results = {}
    for name, mesh in [("one", parallel.data_mesh(jax.devices()[:1])), ("two", two)]:
        results[name] = train(Tiny(4, rngs=nnx.Rngs(0)), stream, config,
                              workdir=tempfile.mkdtemp(), mesh=mesh, progress=False)
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


def test_shard_batch_with_declared_constants_checks_the_batch_data():
    mesh = parallel.data_mesh(jax.devices()[:1])
    batch = {"x0": np.ones((3, 4)), "mask": np.ones((1, 4)), "scale": np.float32(2.0)}
    placed = parallel.shard_batch(batch, mesh, constants=("mask", "scale"))
    assert placed["mask"].shape == (1, 4) and placed["scale"].shape == ()
    with pytest.raises(ValueError, match="'mask' has shape"):
        parallel.shard_batch(batch, mesh, constants=("scale",))
    with pytest.raises(ValueError, match="every entry of the batch is a constant"):
        parallel.shard_batch({"mask": np.ones(2)}, mesh, constants=("mask",))


def test_minibatch_stream_names_its_constants_and_splits_batches_over_processes():
    data, constants = np.arange(12.0), {"channel_weights": np.ones(4)}
    stream = batches.minibatches(data, 4, seed=1, constants=constants)
    assert stream.constant_keys == ("channel_weights",)
    whole = next(stream(2))
    shares = [
        next(
            batches.minibatches(
                data, 4, seed=1, constants=constants, process_index=index, process_count=2
            )(2)
        )
        for index in range(2)
    ]
    np.testing.assert_array_equal(np.concatenate([share["x0"] for share in shares]), whole["x0"])
    assert all(share["channel_weights"] is constants["channel_weights"] for share in shares)
    with pytest.raises(ValueError, match="not divisible by the 3 processes"):
        next(batches.minibatches(data, 4, process_index=0, process_count=3)())


def test_distributed_not_initialised_unless_asked(monkeypatch):
    monkeypatch.delenv("WDNO_DISTRIBUTED", raising=False)
    assert parallel.initialize_distributed() is False
    assert parallel.initialize_distributed(False) is False
    assert parallel.is_main_process()
