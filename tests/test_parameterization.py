"""Prediction targets (eps, x0, v) and min-SNR weighting, checked against their definitions:
x_t = sqrt(ab) x0 + sqrt(1 - ab) eps, v = sqrt(ab) eps - sqrt(1 - ab) x0 (Salimans & Ho 2022),
snr = ab / (1 - ab), min-SNR weight on the x0 error min(snr, gamma) (Hang et al. 2023)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from wdno.diffusion import diffusion_loss, make_schedule, noise_predictor, parameterization

SCHEDULE = make_schedule("cosine", 100)


def _sample(seed=0, shape=(6, 4, 3)):
    rng = np.random.default_rng(seed)
    x0 = rng.uniform(-1, 1, shape).astype(np.float32)
    noise = rng.normal(size=shape).astype(np.float32)
    t = np.array([0, 5, 20, 50, 80, 99])
    ab = np.asarray(SCHEDULE.alphas_cumprod)[t].reshape(-1, 1, 1)
    x_t = np.sqrt(ab) * x0 + np.sqrt(1 - ab) * noise
    return x0, noise, t, ab, x_t


@pytest.mark.parametrize("prediction", ["eps", "x0", "v"])
def test_an_exact_predictor_of_any_target_gives_the_exact_noise(prediction):
    x0, noise, t, ab, x_t = _sample()
    # The network's ideal output, written from the definitions (numpy).
    exact = {"eps": noise, "x0": x0, "v": np.sqrt(ab) * noise - np.sqrt(1 - ab) * x0}[prediction]
    eps = noise_predictor(lambda x, steps: jnp.asarray(exact), SCHEDULE, prediction)(
        jnp.asarray(x_t), jnp.asarray(t)
    )
    np.testing.assert_allclose(eps[1:], noise[1:], atol=2e-4)  # t = 0: 1/sqrt(1 - ab) ~ 1e2


def test_min_snr_weights_every_target_alike_on_the_x0_error():
    # A denoiser whose clean-sample estimate is off by delta, expressed in each target: the
    # min-SNR weighted squared errors are all min(snr, gamma) * delta^2.
    x0, noise, t, ab, x_t = _sample(1)
    delta = 0.1 * np.random.default_rng(2).normal(size=x0.shape).astype(np.float32)
    x0_hat = x0 + delta
    eps_hat = (x_t - np.sqrt(ab) * x0_hat) / np.sqrt(1 - ab)
    v_hat = np.sqrt(ab) * eps_hat - np.sqrt(1 - ab) * x0_hat
    outputs = {"eps": eps_hat, "x0": x0_hat, "v": v_hat}
    snr = ab[:, 0, 0] / (1 - ab[:, 0, 0])
    expected = np.minimum(snr, 5.0)[:, None, None] * delta**2
    for prediction, output in outputs.items():
        weight = parameterization.loss_weight(prediction, "min_snr", jnp.asarray(ab[:, 0, 0]))
        wanted = parameterization.target(prediction, x0, noise, ab)
        weighted = np.asarray(weight)[:, None, None] * (output - wanted) ** 2
        np.testing.assert_allclose(weighted[1:], expected[1:], rtol=2e-3, atol=1e-7)


@pytest.mark.parametrize("prediction", ["eps", "x0", "v"])
def test_the_loss_vanishes_for_the_exact_predictor_and_not_otherwise(prediction):
    x0 = jnp.asarray(np.random.default_rng(3).uniform(-1, 1, (8, 4, 3)), jnp.float32)
    key = jax.random.key(0)
    time_key, noise_key = jax.random.split(key)
    t = jax.random.randint(time_key, x0.shape[:1], 0, SCHEDULE.num_steps)
    noise = jax.random.normal(noise_key, x0.shape, x0.dtype)  # the loss's own draws
    ab = SCHEDULE.alphas_cumprod[t].reshape(-1, 1, 1)
    exact = parameterization.target(prediction, x0, noise, ab)
    for weighting in ("uniform", "min_snr"):
        options = dict(prediction=prediction, weighting=weighting)
        zero = diffusion_loss(lambda x, s: exact, x0, key, SCHEDULE, **options)
        assert float(zero) < 1e-10
        assert float(diffusion_loss(lambda x, s: exact + 0.1, x0, key, SCHEDULE, **options)) > 1e-4


def test_unknown_targets_are_clear_errors():
    with pytest.raises(ValueError, match="prediction"):
        noise_predictor(lambda x, t: x, SCHEDULE, "score")
    with pytest.raises(ValueError, match="loss weighting"):
        parameterization.loss_weight("eps", "p2", jnp.ones(2))
