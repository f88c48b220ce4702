"""The DDPM and DDIM samplers checked by value, step by step, against references written here in
numpy (float64) from the papers' formulas, with the samplers' own random numbers.

A statistical test (samples of a known distribution) cannot tell the ancestral variance
``beta~_t = beta_t (1 - ab_{t-1}) / (1 - ab_t)`` from ``beta_t``: both give nearly the same
distribution for many small steps. These tests can: the noise is fixed, so the numbers must match.

The random numbers are those the samplers draw: ``init_key, loop_key = split(key)``, ``x_T =
normal(init_key)`` and, at sampling step ``i``, ``z_i = normal(split(loop_key, S)[i])``.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from wdno.diffusion import Schedule, ddim_sample, ddpm_sample, make_schedule

SHAPE = (4, 6, 1)
# A short schedule with large steps, so beta_t and beta~_t differ a lot: ab = 0.95, 0.76, 0.38,
# 0.038 and beta~ / beta = (1 - ab_{t-1}) / (1 - ab_t) = 0, 0.21, 0.39, 0.64 for t = 0..3.
BETAS = np.array([0.05, 0.2, 0.5, 0.9])


def _schedule(betas):
    alphas_cumprod = np.cumprod(1.0 - betas)
    return Schedule(
        betas=jnp.asarray(betas, jnp.float32),
        alphas_cumprod=jnp.asarray(alphas_cumprod, jnp.float32),
    )


def _gain(t):
    """The test denoiser ``eps(x_t, t) = (0.2 + 0.1 t) x_t``: linear, and different at every t."""
    return 0.2 + 0.1 * np.asarray(t, np.float64)


def denoise(x, t):
    return (0.2 + 0.1 * t[:, None, None].astype(x.dtype)) * x


def _noises(key, num_steps):
    init_key, loop_key = jax.random.split(key)
    start = np.asarray(jax.random.normal(init_key, SHAPE, jnp.float32), np.float64)
    steps = [
        np.asarray(jax.random.normal(k, SHAPE, jnp.float32), np.float64)
        for k in jax.random.split(loop_key, num_steps)
    ]
    return start, steps


def _clean_estimate(x, t, alphas_cumprod, clip):
    """``x0_hat = (x_t - sqrt(1 - ab_t) eps) / sqrt(ab_t)`` (DDPM Eq. 15), clipped, and the noise
    consistent with the clipped value, ``eps = (x_t - sqrt(ab_t) x0_hat) / sqrt(1 - ab_t)``."""
    ab = alphas_cumprod[t]
    eps = _gain(t) * x
    x0 = (x - np.sqrt(1.0 - ab) * eps) / np.sqrt(ab)
    if clip:
        x0 = np.clip(x0, -1.0, 1.0)
        eps = (x - np.sqrt(ab) * x0) / np.sqrt(1.0 - ab)
    return x0, eps


def _posterior(x0, x_t, t, betas):
    """Mean and variance of ``q(x_{t-1} | x_t, x0)`` by conditioning the Gaussian pair

        x_{t-1} = sqrt(ab_{t-1}) x0 + sqrt(1 - ab_{t-1}) e1,  x_t = sqrt(a_t) x_{t-1} + sqrt(b_t) e2

    (``a_t = 1 - b_t``, ``ab_{-1} = 1``): ``V = Var x_{t-1} = 1 - ab_{t-1}``,
    ``C = Cov(x_{t-1}, x_t) = sqrt(a_t) V``, ``W = Var x_t = a_t V + b_t``;
    mean ``= sqrt(ab_{t-1}) x0 + C / W (x_t - sqrt(ab_t) x0)``, variance ``= V - C^2 / W``.
    """
    alphas_cumprod = np.cumprod(1.0 - betas)
    ab_prev = alphas_cumprod[t - 1] if t > 0 else 1.0
    alpha = 1.0 - betas[t]
    v = 1.0 - ab_prev
    c = np.sqrt(alpha) * v
    w = alpha * v + betas[t]
    mean = np.sqrt(ab_prev) * x0 + c / w * (x_t - np.sqrt(alphas_cumprod[t]) * x0)
    return mean, v - c**2 / w


def ddpm_reference(key, betas, clip, variance_rule="posterior"):
    """Ancestral sampling (DDPM Algorithm 2 with the x0-parameterised mean) in numpy;
    ``variance_rule="beta"`` uses ``beta_t`` instead of the posterior variance (the wrong rule)."""
    alphas_cumprod = np.cumprod(1.0 - betas)
    num_steps = len(betas)
    x, z = _noises(key, num_steps)
    for i, t in enumerate(range(num_steps - 1, -1, -1)):
        x0, _ = _clean_estimate(x, t, alphas_cumprod, clip)
        mean, variance = _posterior(x0, x, t, betas)
        if variance_rule == "beta" and t > 0:
            variance = betas[t]
        x = mean + np.sqrt(variance) * z[i]
    return x


def ddim_reference(key, betas, num_steps, eta, clip):
    """DDIM (Song et al. 2021, Eq. 12) in numpy on the time grid ``int(linspace(-1, T - 1, S + 1))``
    reversed (spec §4.1): ``x_t' = sqrt(ab_t') x0_hat + sqrt(1 - ab_t' - s^2) eps + s z`` with
    ``s = eta sqrt((1 - ab_t') / (1 - ab_t)) sqrt(1 - ab_t / ab_t')`` and ``ab_{-1} = 1``."""
    alphas_cumprod = np.cumprod(1.0 - betas)
    times = np.linspace(-1, len(betas) - 1, num_steps + 1).astype(int)[::-1]
    x, z = _noises(key, num_steps)
    for i, (t, t_next) in enumerate(zip(times[:-1], times[1:], strict=True)):
        x0, eps = _clean_estimate(x, t, alphas_cumprod, clip)
        ab, ab_next = alphas_cumprod[t], (alphas_cumprod[t_next] if t_next >= 0 else 1.0)
        sigma = eta * np.sqrt((1.0 - ab_next) / (1.0 - ab)) * np.sqrt(1.0 - ab / ab_next)
        x = np.sqrt(ab_next) * x0 + np.sqrt(1.0 - ab_next - sigma**2) * eps + sigma * z[i]
    return x


@pytest.mark.parametrize("clip", [False, True])
def test_ddpm_matches_the_posterior_step_by_step(clip):
    key = jax.random.key(3)
    clip_range = (-1.0, 1.0) if clip else None
    got = np.asarray(ddpm_sample(denoise, SHAPE, key, _schedule(BETAS), clip_range=clip_range))
    expected = ddpm_reference(key, BETAS, clip)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)
    # The same reference with beta_t as the step variance is far off: the test tells them apart.
    wrong = ddpm_reference(key, BETAS, clip, variance_rule="beta")
    assert np.abs(wrong - expected).max() > 0.1
    if clip:  # the clipping was active at some step, else this case would repeat the other
        assert not np.allclose(expected, ddpm_reference(key, BETAS, False), atol=1e-3)


@pytest.mark.parametrize(("num_steps", "eta"), [(4, 1.0), (4, 0.5), (2, 1.0), (3, 0.0)])
def test_ddim_matches_its_update_step_by_step(num_steps, eta):
    key = jax.random.key(4)
    schedule = _schedule(BETAS)
    got = ddim_sample(denoise, SHAPE, key, schedule, num_steps=num_steps, eta=eta)
    expected = ddim_reference(key, BETAS, num_steps, eta, clip=True)
    np.testing.assert_allclose(np.asarray(got), expected, rtol=1e-5, atol=1e-5)


def test_ddpm_equals_ddim_with_every_step_and_eta_one():
    # With S = T and eta = 1, sigma_t^2 = beta~_t and sqrt(ab_{t-1}) x0 + sqrt(1 - ab_{t-1} -
    # sigma^2) eps is the posterior mean: the two samplers take the same steps with the same random
    # numbers, so the samples agree one by one (cosine schedule, T = 100, inpainting and clipping
    # on, exact denoiser of Gaussian data N(0.2, 0.3^2)). Float32 round-off: 1.4e-5 here; eta =
    # 1.01 instead of 1 would move the samples by 9e-3.
    schedule = make_schedule("cosine", 100)
    mean, std = 0.2, 0.3

    def gaussian_denoise(x, t):  # E[eps | x_t] for x0 ~ N(mean, std^2) per entry
        ab = schedule.alphas_cumprod[t][:, None, None]
        return jnp.sqrt(1.0 - ab) * (x - jnp.sqrt(ab) * mean) / (ab * std**2 + 1.0 - ab)

    shape = (64, 6, 1)
    known = np.zeros(shape[1:], bool)
    known[0] = True
    options = dict(known_mask=known, known_values=np.full(shape[1:], 0.5, np.float32))
    key = jax.random.key(5)
    ancestral = np.asarray(ddpm_sample(gaussian_denoise, shape, key, schedule, **options))
    implicit = ddim_sample(
        gaussian_denoise, shape, key, schedule, num_steps=100, eta=1.0, **options
    )
    np.testing.assert_allclose(np.asarray(implicit), ancestral, rtol=0, atol=1e-4)
    np.testing.assert_array_equal(ancestral[:, 0], 0.5)
    # Not a degenerate agreement: the samples spread like the data.
    assert 0.2 < ancestral[:, 1:].std() < 0.4
