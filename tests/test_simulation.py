"""Tests for wdno.simulation (conditional sampling by inpainting) and wdno.batches (resumable
minibatches).

The simulation tests use an untrained one-layer network: whatever it predicts, the imposed
conditions must come back unchanged (paper Sec. 3.3, inpainting). For WDNO the control is a set of
known joint space-time coefficients, and the transform acts on each field separately, so the
decoded control equals the given one up to float32 round-off; ``u(t=0)`` is replaced by the given
``u0``. For the physical-space baseline (``transform="identity"``) both are imposed directly.

The oracle test replaces the network by the exact noise of the true trajectory: then the whole
chain (encoding, normalisation, inpainting, sampler, denormalisation, decoding) must return that
trajectory.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from wdno import diffusion
from wdno.simulators import sampling as simulation
from wdno.training import batches
from wdno.transforms import encoding, normalization

# A Burgers-like trajectory, shrunk: 9 state levels and 8 control frames on 16 points.
STATE_SHAPE, CONTROL_SHAPE = (9, 16, 1), (8, 16, 1)
WAVELET = encoding.EncodingConfig(wavelet="bior2.4", mode="periodization", level=1, pad_multiple=4)
IDENTITY = encoding.EncodingConfig(transform="identity", pad_multiple=4)
SAMPLER = simulation.SamplerConfig(num_steps=3)
SCHEDULE = diffusion.make_schedule("cosine", 100)
# One compilation instead of hundreds of eagerly dispatched (and compiled) operations.
encode = jax.jit(encoding.encode, static_argnums=0)


def _trajectories(num, seed=0):
    rng = np.random.default_rng(seed)
    state = rng.standard_normal((num, *STATE_SHAPE)).astype(np.float32)
    control = (2.0 * rng.standard_normal((num, *CONTROL_SHAPE))).astype(np.float32)
    return state, control


class OneConv(nnx.Module):
    """An untrained one-layer noise predictor ``eps(x_t, t) = conv(x_t)``."""

    def __init__(self, channels: int, *, rngs: nnx.Rngs):
        self.conv = nnx.Conv(channels, channels, (3, 3), rngs=rngs)

    def __call__(self, x, t):
        return self.conv(x)


class ExactNoise(nnx.Module):
    """Oracle noise predictor for one batch of known clean samples ``x0`` (normalised, encoded):
    ``eps(x_t, t) = (x_t - sqrt(ab_t) x0) / sqrt(1 - ab_t)``, the noise that carries ``x0`` to
    ``x_t`` under ``q(x_t | x0)``, so the predicted clean sample is ``x0`` at every step."""

    def __init__(self, x0, alphas_cumprod):
        self.x0 = nnx.Variable(jnp.asarray(x0, jnp.float32))
        self.alphas_cumprod = nnx.Variable(jnp.asarray(alphas_cumprod, jnp.float32))

    def __call__(self, x, t):
        assert t.shape == x.shape[:1] and jnp.issubdtype(t.dtype, jnp.integer)
        alpha_bar = self.alphas_cumprod[...][t].reshape((-1,) + (1,) * (x.ndim - 1))
        return (x - jnp.sqrt(alpha_bar) * self.x0[...]) / jnp.sqrt(1.0 - alpha_bar)


def _setup(config):
    """(untrained one-layer network, layout, normalizer fitted on random trajectories)."""
    layout = encoding.make_layout(config, STATE_SHAPE, CONTROL_SHAPE)
    state, control = _trajectories(32, seed=1)
    encoded = encode(layout, jnp.asarray(state), jnp.asarray(control))
    normalizer = normalization.Normalizer(normalization.fit_channel_scales(layout, [encoded]))
    return OneConv(layout.num_channels, rngs=nnx.Rngs(0)), layout, normalizer


@pytest.fixture(scope="module")
def wavelet_setup():
    return _setup(WAVELET)


@pytest.fixture(scope="module")
def identity_setup():
    return _setup(IDENTITY)


def _simulate(setup, u0, control, **options):
    model, layout, normalizer = setup
    options = {"key": 0, "sampler": SAMPLER, "batch_size": 2, "progress": False, **options}
    return simulation.simulate(model, layout, normalizer, SCHEDULE, u0, control, **options)


@pytest.fixture(scope="module")
def wavelet_result(wavelet_setup):
    state, control = _trajectories(5, seed=2)
    state[2], control[2] = state[0], control[0]  # same inputs as sample 0, in the next batch
    return state, control, _simulate(wavelet_setup, state[:, 0], control)


def test_wavelet_simulation_preserves_the_conditions(wavelet_result):
    state, control, result = wavelet_result
    assert result.state.shape == (5, *STATE_SHAPE)
    assert result.control.shape == (5, *CONTROL_SHAPE)
    assert result.initial_state_error.shape == (5,)
    assert np.all(np.isfinite(result.state))
    # The control coefficients were imposed: the decoded control is the given one (float32
    # round-off of normalise -> denormalise -> inverse DWT, relative to its scale ~ 2).
    scale = np.abs(control).max()
    np.testing.assert_allclose(result.control, control, rtol=0, atol=1e-5 * scale)
    # The initial state is replaced by the given one exactly.
    np.testing.assert_array_equal(result.state[:, 0], state[:, 0])
    # The untrained model's own u(t=0) is not the given one; the error reports it.
    assert np.all(result.initial_state_error > 1e-3)


def test_identity_simulation_imposes_control_and_initial_state(identity_setup):
    state, control = _trajectories(3, seed=3)
    result = _simulate(identity_setup, state[:, 0], control)
    scale = np.abs(control).max()
    np.testing.assert_allclose(result.control, control, rtol=0, atol=1e-6 * scale)
    np.testing.assert_array_equal(result.state[:, 0], state[:, 0])
    # u0 is the state's first time row in physical space, imposed directly: only the
    # normalise/denormalise round-off separates the decoded u(t=0) from it.
    np.testing.assert_allclose(result.initial_state_error, 0.0, atol=1e-6 * np.abs(state).max())


def test_batches_are_independent_of_the_number_of_samples(wavelet_setup, wavelet_result):
    # Batch b uses fold_in(key, b): the first batch of 2 is the same whether N is 5 or 3 (which
    # also checks same key, same result), and the padded last batch returns exactly N samples.
    state, control, result = wavelet_result
    fewer = _simulate(wavelet_setup, state[:3, 0], control[:3])
    assert fewer.state.shape == (3, *STATE_SHAPE)
    np.testing.assert_allclose(fewer.state[:2], result.state[:2], rtol=0, atol=1e-6)
    np.testing.assert_allclose(fewer.state[2], result.state[2], rtol=0, atol=1e-6)
    # Samples 0 and 2 have the same inputs but lie in different batches, hence other noise.
    assert np.abs(result.state[2, 1:] - result.state[0, 1:]).max() > 1e-4


def test_simulate_rejects_bad_inputs(wavelet_setup):
    state, control = _trajectories(2)
    with pytest.raises(ValueError, match="initial_state must be"):
        _simulate(wavelet_setup, state[:, :2, :, 0], control)  # (N, 2, 16): wrong shape
    with pytest.raises(ValueError, match="initial_state must be"):
        _simulate(wavelet_setup, state[:, 0, :8], control)  # wrong grid
    with pytest.raises(ValueError, match="pass control="):
        _simulate(wavelet_setup, state[:, 0], None)
    with pytest.raises(ValueError, match="control must be"):
        _simulate(wavelet_setup, state[:, 0], control[:, :-1])  # T frames expected minus one
    with pytest.raises(ValueError, match="control must be"):
        _simulate(wavelet_setup, state[:, 0], control[:1])  # batch mismatch


@pytest.mark.parametrize("method", ["ddim", "ddpm"])
@pytest.mark.parametrize("config", [WAVELET, IDENTITY], ids=["wavelet", "identity"])
def test_exact_denoiser_recovers_the_true_trajectory(config, method):
    # Burgers-like trajectories, smooth in space and time; the normaliser is fitted on them, so
    # the normalised encoded trajectories x0 lie in [-1, 1] (clipping is a no-op on x0 itself).
    num = 3
    x = np.linspace(0, 2 * np.pi, STATE_SHAPE[1], endpoint=False)
    times = np.linspace(0, 1, STATE_SHAPE[0])[:, None]
    amplitude = np.array([1.0, -0.5, 2.0])[:, None, None]
    state = (amplitude * np.sin(x - 3 * times) * np.exp(-times))[..., None].astype(np.float32)
    control = (0.3 * np.cos(2 * x + np.arange(num)[:, None, None]) * times[:-1])[..., None]
    control = np.broadcast_to(control, (num, *CONTROL_SHAPE)).astype(np.float32)
    layout = encoding.make_layout(config, STATE_SHAPE, CONTROL_SHAPE)
    encoded = encode(layout, jnp.asarray(state), jnp.asarray(control))
    normalizer = normalization.Normalizer(normalization.fit_channel_scales(layout, [encoded]))
    x0 = normalizer.normalize(encoded)
    assert float(jnp.abs(x0).max()) <= 1.0 + 1e-6

    oracle = ExactNoise(x0, SCHEDULE.alphas_cumprod)
    sampler = simulation.SamplerConfig(method=method, num_steps=5)
    result = simulation.simulate(
        oracle,
        layout,
        normalizer,
        SCHEDULE,
        state[:, 0],
        control,
        key=1,
        sampler=sampler,
        batch_size=num,
        progress=False,
    )
    # Float32 round-off only: the model's own u(t=0) (before it is replaced) included.
    scale = np.abs(state).max()
    np.testing.assert_allclose(result.state, state, rtol=0, atol=1e-4 * scale)
    np.testing.assert_allclose(result.initial_state_error, 0.0, atol=1e-4 * scale)
    np.testing.assert_allclose(result.control, control, rtol=0, atol=1e-4 * np.abs(control).max())


def test_sampler_config_validates():
    with pytest.raises(ValueError, match="method"):
        simulation.SamplerConfig(method="euler")
    with pytest.raises(ValueError, match="num_steps"):
        simulation.SamplerConfig(num_steps=0)


# ---- minibatches ------------------------------------------------------------------------------
def _take(iterator, count):
    return [next(iterator) for _ in range(count)]


def test_minibatches_resume_matches_the_uninterrupted_stream():
    data = np.arange(10 * 3, dtype=np.float32).reshape(10, 3)
    stream = batches.minibatches(data, 3, seed=7)
    full = _take(stream(0), 12)  # 3 batches per epoch: 4 epochs
    for start in (0, 1, 3, 5, 10):
        resumed = _take(stream(start), 12 - start)
        for a, b in zip(resumed, full[start:], strict=True):
            np.testing.assert_array_equal(a["x0"], b["x0"])
    # Same seed, new stream object: same batches; another seed: another order.
    again = _take(batches.minibatches(data, 3, seed=7)(0), 12)
    assert all(np.array_equal(a["x0"], b["x0"]) for a, b in zip(again, full, strict=True))
    other = _take(batches.minibatches(data, 3, seed=8)(0), 12)
    assert not all(np.array_equal(a["x0"], b["x0"]) for a, b in zip(other, full, strict=True))


def test_minibatches_visit_each_sample_once_per_epoch():
    num, batch_size = 12, 4
    data = {"u": np.arange(num), "v": 10 * np.arange(num)}
    stream = batches.minibatches(data, batch_size, seed=0)
    epochs = [_take(stream(e * 3), 3) for e in range(4)]
    orders = []
    for epoch in epochs:
        seen = np.concatenate([b["u"] for b in epoch])
        assert sorted(seen.tolist()) == list(range(num))
        for b in epoch:  # dict entries stay aligned
            np.testing.assert_array_equal(b["v"], 10 * b["u"])
        orders.append(tuple(seen))
    assert len(set(orders)) > 1  # reshuffled between epochs


def test_minibatches_drop_the_incomplete_batch():
    # 10 samples, batch 4: 2 batches per epoch, 8 distinct samples each epoch.
    stream = batches.minibatches(np.arange(10), 4, seed=0)
    for epoch in range(3):
        seen = np.concatenate([b["x0"] for b in _take(stream(2 * epoch), 2)])
        assert len(np.unique(seen)) == 8


def test_minibatches_constants_pass_through():
    mask = np.ones((1, 4), bool)
    stream = batches.minibatches(np.zeros((6, 4)), 2, seed=0, constants={"mask": mask})
    for batch in _take(stream(0), 5):
        assert set(batch) == {"x0", "mask"}
        assert batch["mask"] is mask
        assert batch["x0"].shape == (2, 4)


def test_minibatches_reject_bad_inputs():
    with pytest.raises(ValueError, match="batch_size 5 exceeds the 4"):
        batches.minibatches(np.zeros((4, 2)), 5)
    with pytest.raises(ValueError, match="share axis 0"):
        batches.minibatches({"a": np.zeros(4), "b": np.zeros(5)}, 2)
