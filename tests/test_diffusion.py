"""Tests for wdno.diffusion: closed-form schedules, samplers driven by the exact Gaussian denoiser,
inpainting, guidance and the masked loss."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from wdno.diffusion import (
    Guidance,
    cosine_beta_weights,
    ddim_sample,
    ddim_timesteps,
    ddpm_sample,
    diffusion_loss,
    make_schedule,
    q_sample,
)

# Gaussian data N(mu, diag(s^2)) on 4 coordinates.
MU = np.array([0.5, -0.3, 0.0, 0.2], np.float32)
STD = np.array([0.6, 1.0, 0.8, 1.3], np.float32)


def exact_denoiser(schedule, mu=MU, std=STD):
    """Optimal noise predictor for N(mu, diag(std^2)) data:
    E[eps | x_t] = sqrt(1-ab) (x_t - sqrt(ab) mu) / (ab s^2 + 1 - ab)."""

    def denoise(x, t):
        ab = schedule.alphas_cumprod[t][:, None]
        return jnp.sqrt(1 - ab) * (x - jnp.sqrt(ab) * mu) / (ab * std**2 + 1 - ab)

    return denoise


# ------------------------------------------------------------------------------------- schedules


def test_cosine_schedule_closed_form():
    # Nichol & Dhariwal: ab_t = f(t+1)/f(0), f(u) = cos((u/T + s)/(1+s) pi/2)^2, as long as no beta
    # is clipped; only the last beta (f(T) = 0 -> beta = 1) is clipped to 0.999.
    T, s = 1000, 0.008
    f = lambda u: np.cos((u / T + s) / (1 + s) * np.pi / 2) ** 2
    t = np.arange(T - 1)
    schedule = make_schedule("cosine", T)
    np.testing.assert_allclose(
        schedule.alphas_cumprod[: T - 1], f(t + 1) / f(0), rtol=2e-5, atol=1e-9
    )
    np.testing.assert_allclose(schedule.betas[-1], 0.999, rtol=1e-6)
    np.testing.assert_allclose(schedule.alphas_cumprod[-1], f(T - 1) / f(0) * 0.001, rtol=1e-4)


def test_sigmoid_schedule_closed_form():
    # ab_t = (sig(3) - sig(6 (t+1)/T - 3)) / (sig(3) - sig(-3)); the last beta is clipped.
    T = 1000
    sig = lambda z: 1 / (1 + np.exp(-z))
    t = np.arange(T - 1)
    expected = (sig(3) - sig(6 * (t + 1) / T - 3)) / (sig(3) - sig(-3))
    schedule = make_schedule("sigmoid", T)
    np.testing.assert_allclose(schedule.alphas_cumprod[: T - 1], expected, rtol=2e-5, atol=1e-9)
    assert float(schedule.betas.max()) <= 0.999 + 1e-7


def test_linear_schedule_closed_form():
    # ab_t = exp(sum_{i<=t} log(1 - beta_i)), beta_i = 1e-4 + (0.02 - 1e-4) i / (T - 1).
    T = 1000
    i = np.arange(T)
    expected = np.exp(np.cumsum(np.log1p(-(1e-4 + (0.02 - 1e-4) * i / (T - 1)))))
    np.testing.assert_allclose(make_schedule("linear", T).alphas_cumprod, expected, rtol=2e-5)


def test_cosine_beta_weights_values_of_spec():
    weights = np.asarray(cosine_beta_weights(jnp.array([999, 899, 499, 0])))
    np.testing.assert_allclose(weights, [0.999, 0.0195, 0.0031, 4e-5], rtol=0.05)


def test_unknown_schedule_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown schedule 'quadratic'"):
        make_schedule("quadratic")


def test_ddim_timesteps_of_spec():
    times, next_times = ddim_timesteps(50, 1000)
    assert (times[0], next_times[0]) == (999, 979)
    assert (times[-1], next_times[-1]) == (19, -1)
    times, next_times = ddim_timesteps(100, 1000)
    assert (times[0], next_times[0], times[-1], next_times[-1]) == (999, 989, 9, -1)


def test_q_sample_moments():
    # x_t | x0 ~ N(sqrt(ab) x0, 1 - ab).
    schedule = make_schedule("cosine")
    x0 = jnp.full((20000, 1), 0.7)
    t = jnp.full((20000,), 300)
    noise = jax.random.normal(jax.random.key(0), x0.shape)
    x_t = q_sample(schedule, x0, t, noise)
    ab = float(schedule.alphas_cumprod[300])
    np.testing.assert_allclose(float(x_t.mean()), np.sqrt(ab) * 0.7, atol=0.03)
    np.testing.assert_allclose(float(x_t.var()), 1 - ab, rtol=0.05)


# -------------------------------------------------------------------- samplers with exact denoiser

NUM_SAMPLES = 20000


def _check_moments(samples, mean, variance, rtol=0.04):
    samples = np.asarray(samples)
    # Mean within 5 standard errors; variance within `rtol` (statistical error ~1%).
    standard_error = np.sqrt(variance / len(samples))
    np.testing.assert_array_less(np.abs(samples.mean(0) - mean), 5 * standard_error)
    np.testing.assert_allclose(samples.var(0), variance, rtol=rtol)


def _exact_ddim(schedule, num_steps, eta, num_samples=NUM_SAMPLES, **options):
    """Jitted DDIM sampler of the exact Gaussian denoiser: ``key -> samples``."""
    return jax.jit(
        lambda key: ddim_sample(
            exact_denoiser(schedule),
            (num_samples, 4),
            key,
            schedule,
            num_steps=num_steps,
            eta=eta,
            **options,
        )
    )


@pytest.mark.parametrize("name", ["cosine", "linear"])
@pytest.mark.parametrize("eta", [0.0, 1.0])
def test_ddim_with_exact_denoiser_reproduces_gaussian(name, eta):
    # With every step of the schedule (S = T) the discretisation bias is below 1.5%.
    schedule = make_schedule(name)
    sample = _exact_ddim(schedule, 1000, eta, clip_range=None)
    _check_moments(sample(jax.random.key(1)), MU, STD**2)


def test_ddpm_with_exact_denoiser_reproduces_gaussian():
    schedule = make_schedule("cosine")
    sample = jax.jit(
        lambda key: ddpm_sample(
            exact_denoiser(schedule), (NUM_SAMPLES, 4), key, schedule, clip_range=None
        )
    )
    _check_moments(sample(jax.random.key(2)), MU, STD**2)


def _ddim_gaussian_moments(alphas_cumprod, num_steps, eta, mu, std):
    """Exact mean/variance after DDIM with the exact denoiser, by the linear-Gaussian recursion.

    With x_t ~ N(m, v) and v_t = ab s^2 + 1 - ab: eps_hat = a1 x + b1 with a1 = sqrt(1-ab)/v_t,
    b1 = -sqrt(1-ab) sqrt(ab) mu / v_t; x0_hat = (x - sqrt(1-ab) eps_hat)/sqrt(ab); then
    x' = sqrt(ab') x0_hat + c eps_hat + sigma z = k x + b + sigma z, so m' = k m + b,
    v' = k^2 v + sigma^2. Coarse steps under-disperse (about 5-15% at S = 50).
    """
    times = np.linspace(-1, len(alphas_cumprod) - 1, num_steps + 1).astype(int)[::-1]
    mean, variance = np.zeros_like(mu), np.ones_like(mu)
    for t, t_next in zip(times[:-1], times[1:], strict=True):
        ab = alphas_cumprod[t]
        ab_next = alphas_cumprod[t_next] if t_next >= 0 else 1.0
        v_t = ab * std**2 + 1 - ab
        a1, b1 = np.sqrt(1 - ab) / v_t, -np.sqrt(1 - ab) * np.sqrt(ab) * mu / v_t
        a0, b0 = (1 - np.sqrt(1 - ab) * a1) / np.sqrt(ab), -np.sqrt(1 - ab) * b1 / np.sqrt(ab)
        sigma = eta * np.sqrt((1 - ab / ab_next) * (1 - ab_next) / (1 - ab))
        c = np.sqrt(max(1 - ab_next - sigma**2, 0.0))
        k, b = np.sqrt(ab_next) * a0 + c * a1, np.sqrt(ab_next) * b0 + c * b1
        mean, variance = k * mean + b, k**2 * variance + sigma**2
    return mean, variance


@pytest.mark.parametrize("name", ["cosine", "linear"])
@pytest.mark.parametrize("eta", [0.0, 1.0])
def test_ddim_50_steps_matches_exact_gaussian_recursion(name, eta):
    schedule = make_schedule(name)
    sample = _exact_ddim(schedule, 50, eta, clip_range=None)
    mean, variance = _ddim_gaussian_moments(
        np.asarray(schedule.alphas_cumprod, np.float64),
        50,
        eta,
        MU.astype(np.float64),
        STD.astype(np.float64),
    )
    assert np.all(variance < 0.96 * STD**2)  # the reference differs from the data at S = 50
    _check_moments(sample(jax.random.key(3)), mean, variance, rtol=0.03)


def test_ddim_eta0_is_deterministic_and_keys_matter():
    schedule = make_schedule("cosine")
    run = jax.jit(
        lambda key: ddim_sample(
            exact_denoiser(schedule), (64, 4), key, schedule, num_steps=20, eta=0.0
        )
    )
    a, b, c = run(jax.random.key(3)), run(jax.random.key(3)), run(jax.random.key(4))
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)


def test_clipping_bounds_the_sample():
    schedule = make_schedule("cosine")
    far = exact_denoiser(schedule, mu=np.full(4, 3.0, np.float32))
    samples = ddim_sample(
        far, (256, 4), jax.random.key(5), schedule, num_steps=10, clip_range=(-1.0, 1.0)
    )
    assert float(jnp.abs(samples).max()) <= 1.0 + 1e-5
    assert float(samples.mean()) > 0.9  # pushed against the upper bound


# ------------------------------------------------------------------------------------ inpainting


@pytest.mark.parametrize("sampler", ["ddim", "ddpm"])
def test_inpainting_keeps_known_entries_exactly(sampler):
    schedule = make_schedule("cosine", 100)
    shape = (32, 4)
    mask = jnp.array([True, False, True, False])
    values = jax.random.normal(jax.random.key(6), shape) * 3.0  # outside the clip range too
    kwargs = dict(known_mask=mask, known_values=values)
    if sampler == "ddim":
        samples = ddim_sample(
            exact_denoiser(schedule), shape, jax.random.key(7), schedule, num_steps=10, **kwargs
        )
    else:
        samples = ddpm_sample(
            exact_denoiser(schedule), shape, jax.random.key(7), schedule, **kwargs
        )
    np.testing.assert_array_equal(np.asarray(samples)[:, [0, 2]], np.asarray(values)[:, [0, 2]])
    assert np.all(np.abs(np.asarray(samples)[:, [1, 3]]) <= 1.0 + 1e-4)


def test_inpainting_needs_mask_and_values():
    schedule = make_schedule("cosine", 10)
    with pytest.raises(ValueError, match="known_mask and known_values"):
        ddim_sample(
            exact_denoiser(schedule),
            (2, 4),
            jax.random.key(0),
            schedule,
            num_steps=2,
            known_mask=jnp.ones(4, bool),
        )


# -------------------------------------------------------------------------------------- guidance


def test_guidance_moves_samples_toward_target_monotonically():
    # J = ||x0 - target||^2. Weights lam * sqrt(ab/(1-ab)) turn one guidance step into
    # x0 <- x0 - 2 lam (x0 - target): a contraction toward the target for lam in [0, 1/2].
    schedule = make_schedule("cosine")
    target = jnp.array([2.0, -2.0, 1.0, -1.0])
    objective = lambda x0: jnp.sum((x0 - target) ** 2)
    times, _ = ddim_timesteps(50, 1000)
    ab = np.asarray(schedule.alphas_cumprod)[times]
    key = jax.random.key(8)
    distances = []
    for lam in [0.0, 0.05, 0.15, 0.3, 0.45]:
        guidance = Guidance(objective, weights=jnp.asarray(lam * np.sqrt(ab / (1 - ab))))
        samples = ddim_sample(
            exact_denoiser(schedule), (2000, 4), key, schedule, clip_range=None, guidance=guidance
        )
        distances.append(float(jnp.linalg.norm(samples.mean(0) - target)))
    assert all(a > b for a, b in zip(distances, distances[1:], strict=False)), distances
    assert distances[-1] < 0.3 * distances[0]


def test_zero_guidance_equals_unguided_and_callable_weights():
    schedule = make_schedule("cosine")
    denoise = exact_denoiser(schedule)
    key = jax.random.key(9)
    plain = ddim_sample(denoise, (16, 4), key, schedule, num_steps=10)
    objective = lambda x0: jnp.sum(x0**2)
    for weights in (jnp.zeros(10), lambda t: 0.0 * t):
        guided = ddim_sample(
            denoise, (16, 4), key, schedule, num_steps=10, guidance=Guidance(objective, weights)
        )
        np.testing.assert_allclose(guided, plain, atol=1e-6)
    # The spec's w(t) = beta_t^cos as a callable changes the sample.
    guided = ddim_sample(
        denoise,
        (16, 4),
        key,
        schedule,
        num_steps=10,
        guidance=Guidance(objective, cosine_beta_weights),
    )
    assert not np.allclose(guided, plain, atol=1e-4)


def test_guidance_weights_length_is_checked():
    schedule = make_schedule("cosine", 100)
    guidance = Guidance(lambda x0: jnp.sum(x0), weights=jnp.ones(7))
    with pytest.raises(ValueError, match=r"shape \(10,\), got \(7,\)"):
        ddim_sample(
            exact_denoiser(schedule),
            (2, 4),
            jax.random.key(0),
            schedule,
            num_steps=10,
            guidance=guidance,
        )


# ------------------------------------------------------------------------------------------ loss


def test_masked_loss_counts_only_unknown_unmasked_entries():
    # A denoiser that returns the true noise on coordinate 0 (x_t = sqrt(ab) x0 + sqrt(1-ab) eps
    # inverted with x0 = 0) and +1 elsewhere: the loss is the mean of (1 - eps)^2 = 2 over the
    # counted coordinates, and 0 if only coordinate 0 counts.
    schedule = make_schedule("cosine")
    x0 = jnp.zeros((4096, 3))

    def denoise(x_t, t):
        ab = schedule.alphas_cumprod[t][:, None]
        eps = x_t / jnp.sqrt(1 - ab)
        return jnp.concatenate([eps[:, :1], jnp.ones_like(eps[:, 1:])], axis=1)

    key = jax.random.key(10)
    only_first = diffusion_loss(
        denoise, x0, key, schedule, known_mask=jnp.array([False, True, True])
    )
    assert float(only_first) < 1e-8
    # Coordinate 2 known, coordinate 0 padded out: only coordinate 1 counts -> E(1 - eps)^2 = 2.
    loss = diffusion_loss(
        denoise,
        x0,
        key,
        schedule,
        known_mask=jnp.array([False, False, True]),
        loss_mask=jnp.array([False, True, True]),
    )
    np.testing.assert_allclose(float(loss), 2.0, rtol=0.05)
    weighted = diffusion_loss(
        denoise,
        x0,
        key,
        schedule,
        loss_mask=jnp.array([False, True, True]),
        channel_weights=jnp.array([1.0, 3.0, 1.0]),
    )
    np.testing.assert_allclose(float(weighted), (3 * 2 + 2) / 2, rtol=0.05)


def test_loss_sees_clean_known_entries():
    # Known entries of x_t must equal x0 when the network sees them.
    schedule = make_schedule("cosine")
    x0 = jax.random.normal(jax.random.key(11), (8, 3))
    known = jnp.array([True, False, True])
    seen = []

    def denoise(x_t, t):
        seen.append(x_t)
        return jnp.zeros_like(x_t)

    diffusion_loss(denoise, x0, jax.random.key(12), schedule, known_mask=known)
    np.testing.assert_array_equal(np.asarray(seen[0])[:, [0, 2]], np.asarray(x0)[:, [0, 2]])
    assert not np.allclose(np.asarray(seen[0])[:, 1], np.asarray(x0)[:, 1])


def test_progress_bar_does_not_change_the_sample():
    schedule = make_schedule("cosine", 100)
    run = lambda progress: ddim_sample(
        exact_denoiser(schedule),
        (8, 4),
        jax.random.key(13),
        schedule,
        num_steps=5,
        progress=progress,
    )
    np.testing.assert_array_equal(run(True), run(False))
