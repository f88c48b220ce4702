"""Tests for wdno.fno: spectral convolution against numpy FFT, shapes, resolution invariance,
and a small fit of the periodic heat-equation solution operator."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx

from wdno.nets.fno import FNO, FNOConfig, SpectralConvolution, broadcast_initial_state, fno_loss


def _numpy_spectral_convolution(x, weight, modes):
    """Reference: loop over every kept frequency and apply its (C_in, C_out) matrix."""
    num_axes = len(modes)
    spatial = x.shape[1:-1]
    axes = tuple(range(1, num_axes + 1))
    spectrum = np.fft.rfftn(x, axes=axes)
    out = np.zeros(spectrum.shape[:-1] + (weight.shape[-1],), complex)
    for index in np.ndindex(*weight.shape[:num_axes]):
        frequency = []
        for axis, (j, m) in enumerate(zip(index, modes, strict=True)):
            last = axis == num_axes - 1
            frequency.append(j if (last or j < m) else spatial[axis] - 2 * m + j)
        location = (slice(None), *frequency)
        out[location] = spectrum[location] @ weight[index]
    return np.fft.irfftn(out, s=spatial, axes=axes)


def _weight(layer):
    return np.asarray(layer.weight_real[...]) + 1j * np.asarray(layer.weight_imag[...])


@pytest.mark.parametrize(
    "spatial, modes", [((16,), (5,)), ((10, 9), (3, 4)), ((6, 7, 8), (2, 3, 3)), ((8, 10), (4, 6))]
)
def test_spectral_convolution_matches_numpy(spatial, modes):
    layer = SpectralConvolution(3, 2, modes, rngs=nnx.Rngs(1))
    # Give the weights a nonzero imaginary/negative part so sign errors would show.
    layer.weight_imag[...] = layer.weight_imag[...] - 0.5 * jnp.mean(layer.weight_imag[...])
    x = np.random.default_rng(0).normal(size=(2, *spatial, 3)).astype(np.float32)
    expected = _numpy_spectral_convolution(x.astype(np.float64), _weight(layer), modes)
    np.testing.assert_allclose(layer(jnp.asarray(x)), expected, rtol=1e-4, atol=1e-5)


def _set_identity(layer, channels):
    eye = jnp.broadcast_to(jnp.eye(channels), layer.weight_real[...].shape)
    layer.weight_real[...] = eye
    layer.weight_imag[...] = jnp.zeros_like(eye)


def test_spectral_convolution_identity_with_all_modes():
    # (8, 10): all frequencies kept with modes (4, 6) -> identity on any real input.
    layer = SpectralConvolution(2, 2, (4, 6), rngs=nnx.Rngs(0))
    _set_identity(layer, 2)
    x = np.random.default_rng(1).normal(size=(3, 8, 10, 2)).astype(np.float32)
    np.testing.assert_allclose(layer(jnp.asarray(x)), x, atol=1e-5)


def test_spectral_convolution_identity_is_low_pass():
    # Identity weights on modes (2, 3) of a 12 x 16 grid keep |k_y| <= 1, k_x <= 2 exactly and
    # remove everything else.
    y, x = np.meshgrid(np.arange(12) / 12, np.arange(16) / 16, indexing="ij")
    low = 1.0 + np.cos(2 * np.pi * y) * np.sin(2 * np.pi * 2 * x) + np.sin(2 * np.pi * y)
    high = np.cos(2 * np.pi * 4 * y) + np.sin(2 * np.pi * 5 * x)
    layer = SpectralConvolution(1, 1, (2, 3), rngs=nnx.Rngs(0))
    _set_identity(layer, 1)
    field = jnp.asarray((low + high)[None, ..., None], jnp.float32)
    np.testing.assert_allclose(layer(field)[0, ..., 0], low, atol=1e-5)


@pytest.mark.parametrize(
    "spatial, modes", [((33,), (8,)), ((81, 120), (12, 12)), ((5, 7, 9), (2, 3, 4))]
)
def test_fno_output_shapes(spatial, modes):
    model = FNO(
        FNOConfig(2, 3, width=8, modes=modes, num_layers=2, projection_width=16), rngs=nnx.Rngs(0)
    )
    out = model(jnp.ones((2, *spatial, 2)))
    assert out.shape == (2, *spatial, 3)
    assert np.all(np.isfinite(out))


def _band_limited(n, rng, num_modes=4, batch=3):
    x = np.arange(n) / n
    u = np.zeros((batch, n))
    for k in range(num_modes + 1):
        a, b = rng.normal(size=(2, batch, 1))
        u += (a * np.cos(2 * np.pi * k * x) + b * np.sin(2 * np.pi * k * x)) / (1 + k)
    return u[..., None].astype(np.float32)


def test_fno_resolution_invariance_periodic():
    # The same weights on one band-limited periodic function sampled at 64 and 128 points: the
    # spectral convolution gives the same samples exactly; the full network agrees up to the
    # aliasing of the GELU outputs, which is small for smooth fields.
    config = FNOConfig(
        1, 1, width=8, modes=(8,), num_layers=3, padding=0, append_grid=False, projection_width=16
    )
    model = FNO(config, rngs=nnx.Rngs(2))
    rng = np.random.default_rng(3)
    fine = _band_limited(128, rng)
    coarse = fine[:, ::2]
    layer = model.spectral_layers[0]
    lifted_fine = jnp.asarray(np.repeat(fine, 8, axis=-1))
    lifted_coarse = jnp.asarray(np.repeat(coarse, 8, axis=-1))
    np.testing.assert_allclose(layer(lifted_fine)[:, ::2], layer(lifted_coarse), atol=1e-5)
    out_fine = np.asarray(model(jnp.asarray(fine)))[:, ::2]
    out_coarse = np.asarray(model(jnp.asarray(coarse)))
    relative = np.linalg.norm(out_fine - out_coarse) / np.linalg.norm(out_coarse)
    assert relative < 1e-2


def test_fno_fits_heat_equation_operator():
    # Target: periodic heat equation u_t = u_xx on [0, 1) after time tau, i.e. multiply Fourier
    # mode k by exp(-(2 pi k)^2 tau), computed with numpy's FFT.
    n, tau = 64, 0.002
    rng = np.random.default_rng(0)

    def make(count):
        u = _band_limited(n, rng, num_modes=8, batch=count)[..., 0]
        wavenumber = 2 * np.pi * np.arange(n // 2 + 1)
        v = np.fft.irfft(np.fft.rfft(u) * np.exp(-(wavenumber**2) * tau), n=n)
        return jnp.asarray(u[..., None], jnp.float32), jnp.asarray(v[..., None], jnp.float32)

    train_inputs, train_targets = make(256)
    test_inputs, test_targets = make(64)
    config = FNOConfig(
        1, 1, width=16, modes=(12,), num_layers=2, padding=0, append_grid=False, projection_width=32
    )
    model = FNO(config, rngs=nnx.Rngs(0))
    optimizer = nnx.Optimizer(model, optax.adam(3e-3), wrt=nnx.Param)

    @nnx.jit
    def train_step(model, optimizer, inputs, targets):
        loss, grads = nnx.value_and_grad(fno_loss)(model, inputs, targets)
        optimizer.update(model, grads)
        return loss

    for _ in range(300):
        batch = rng.integers(0, 256, 32)
        train_step(model, optimizer, train_inputs[batch], train_targets[batch])
    predictions = model(test_inputs)
    relative = jnp.linalg.norm(predictions - test_targets) / jnp.linalg.norm(test_targets)
    baseline = jnp.linalg.norm(test_inputs - test_targets) / jnp.linalg.norm(test_targets)
    assert float(baseline) > 0.2  # the operator is far from the identity
    assert float(relative) < 0.05


def test_fno_errors_for_bad_shapes():
    model = FNO(
        FNOConfig(2, 1, width=4, modes=(4, 6), num_layers=1, padding=2, projection_width=8),
        rngs=nnx.Rngs(0),
    )
    with pytest.raises(ValueError, match="2 channels"):
        model(jnp.ones((1, 16, 16, 3)))
    with pytest.raises(ValueError, match="2 spatial axes"):
        model(jnp.ones((1, 16, 2)))
    with pytest.raises(ValueError, match=r"spatial axis 0 has size 7.*2 \* modes <= size"):
        model(jnp.ones((1, 5, 16, 2)))
    with pytest.raises(ValueError, match=r"spatial axis 1 has size 9.*size // 2 \+ 1"):
        model(jnp.ones((1, 16, 7, 2)))
    with pytest.raises(ValueError, match="modes"):
        FNOConfig(1, 1, modes=(4, 4, 4, 4))
    with pytest.raises(ValueError, match="padding"):
        FNOConfig(1, 1, modes=(4, 4), padding=(1, 2, 3))


def test_broadcast_initial_state():
    initial = np.arange(6.0).reshape(2, 3)
    out = broadcast_initial_state(initial, 4)
    assert out.shape == (2, 4, 3)
    for t in range(4):
        np.testing.assert_array_equal(out[:, t], initial)
    assert broadcast_initial_state(np.zeros((2, 3, 5)), 7).shape == (2, 7, 3, 5)


def test_fno_loss_mask_averages_only_masked_entries():
    model = FNO(
        FNOConfig(1, 1, width=4, modes=(3,), num_layers=1, padding=0, projection_width=8),
        rngs=nnx.Rngs(0),
    )
    inputs = jax.random.normal(jax.random.key(0), (2, 8, 1))
    targets = jnp.zeros((2, 8, 1))
    squared = np.asarray(model(inputs)) ** 2
    mask = np.zeros((2, 8, 1), bool)
    mask[:, 1:] = True
    np.testing.assert_allclose(
        fno_loss(model, inputs, targets, mask), squared[:, 1:].mean(), rtol=1e-5
    )
    np.testing.assert_allclose(fno_loss(model, inputs, targets), squared.mean(), rtol=1e-5)
    with pytest.raises(ValueError, match="not broadcastable"):
        fno_loss(model, inputs, targets, np.ones((3, 8, 1)))
