"""The U-Net's convolution against flax's ``nnx.Conv``: same parameters from the same seed, same
outputs and gradients (the 1x1 case is computed as a matrix product, the others by XLA's
convolution)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from wdno.nets.unet import Conv


@pytest.mark.parametrize("kernel_size, n", [(1, 2), (3, 2), (3, 1), (1, 3)])
def test_conv_matches_nnx_conv(kernel_size, n):
    ours = Conv(3, 5, kernel_size, n, rngs=nnx.Rngs(7))
    reference = nnx.Conv(3, 5, (kernel_size,) * n, padding="SAME", rngs=nnx.Rngs(7))
    np.testing.assert_array_equal(ours.kernel[...], reference.kernel[...])
    x = jax.random.normal(jax.random.key(1), (2, *(6,) * n, 3))
    np.testing.assert_allclose(ours(x), reference(x), rtol=1e-5, atol=1e-5)

    def loss(model, x):
        return jnp.sum(jnp.sin(model(x)))

    ours_grad = nnx.grad(loss)(ours, x)
    reference_grad = nnx.grad(loss)(reference, x)
    np.testing.assert_allclose(
        ours_grad.kernel[...], reference_grad.kernel[...], rtol=1e-4, atol=1e-5
    )
