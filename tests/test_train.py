"""Tests for wdno.training.loop: a tiny U-Net learns a toy image distribution, the step and the
sampler compile once per shape, the learning-rate schedule and EMA follow their formulas, logs and
evaluation hook.

Only the toy example trains a U-Net; the loop's mechanics are checked on one-layer models, which
compile in a fraction of the time and prove the same things."""

import csv
import pathlib
import runpy
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from wdno.diffusion import Guidance, ddim_sample, diffusion_loss, make_schedule
from wdno.training import (
    TrainConfig,
    TrainState,
    ema_decay_schedule,
    learning_rate_schedule,
    make_optimizer,
    make_train_step,
    parallel,
    sample_model,
    train,
)

REPOSITORY = pathlib.Path(__file__).resolve().parents[1]

# Toy distribution of 8x8x1 images: a constant level c ~ N(0.2, 0.3^2) plus pixel noise 0.05.
LEVEL_MEAN, LEVEL_STD, PIXEL_STD = 0.2, 0.3, 0.05


def toy_batches(start_step=0, batch_size=16, size=8):
    for step in range(start_step, 10**9):
        rng = np.random.default_rng(step)
        level = LEVEL_MEAN + LEVEL_STD * rng.normal(size=(batch_size, 1, 1, 1))
        yield {
            "x0": (level + PIXEL_STD * rng.normal(size=(batch_size, size, size, 1))).astype(
                np.float32
            )
        }


class OneConv(nnx.Module):
    """A one-layer noise predictor ``eps(x_t, t) = conv(x_t)``."""

    def __init__(self, *, rngs: nnx.Rngs):
        self.conv = nnx.Conv(1, 1, (3, 3), rngs=rngs)

    def __call__(self, x, t):
        return self.conv(x)


class Scale(nnx.Module):
    """``y = w x`` with a scalar weight ``w`` (initially 1)."""

    def __init__(self):
        self.weight = nnx.Param(jnp.ones(()))


def test_toy_example_learns_the_distribution(tmp_path, monkeypatch):
    # Runs docs/examples/toy_diffusion.py with 300 steps; its data are the toy distribution
    # above (level c ~ N(0.2, 0.3^2) per image plus pixel noise 0.05).
    monkeypatch.setattr(sys, "argv", ["toy_diffusion.py", "300", str(tmp_path)])
    example = runpy.run_path(str(REPOSITORY / "docs" / "examples" / "toy_diffusion.py"))
    losses = [row["loss"] for row in example["result"].history]
    assert losses[-1] < 0.5 * losses[0], losses
    samples = np.asarray(example["samples"])
    levels = samples.mean(axis=(1, 2, 3))
    within = samples.std(axis=(1, 2, 3))
    # Closed-form moments: E x = 0.2, std of the image mean ~ 0.3 (+0.05/8), in-image std 0.05.
    assert abs(samples.mean() - LEVEL_MEAN) < 0.08
    assert 0.2 < levels.std() < 0.4
    assert np.median(within) < 0.12
    with open(tmp_path / "log.csv") as file:
        rows = list(csv.DictReader(file))
    assert [int(r["step"]) for r in rows] == list(range(50, 301, 50))
    assert set(rows[0]) == {
        "step",
        "loss",
        "learning_rate",
        "grad_norm",
        "steps_per_second",
        "wall_time",
    }
    # docs/toy_diffusion.md shows the same code (its first lines set what the script reads from
    # the command line).
    document = (REPOSITORY / "docs" / "toy_diffusion.md").read_text()
    shown = document.split("```python\n", 1)[1].split("```", 1)[0].splitlines()
    script = (REPOSITORY / "docs" / "examples" / "toy_diffusion.py").read_text().splitlines()
    assert [line for line in shown if line not in script] == [
        'num_steps, workdir = 400, "runs/toy_diffusion"'
    ]


def test_step_compiles_once_per_shape_and_custom_loss(tmp_path):
    schedule = make_schedule("cosine")
    traces = []

    def loss_fn(model, batch, key):
        traces.append(batch["x0"].shape)  # Python side effect: runs only when tracing
        return diffusion_loss(model, batch["x0"], key, schedule)

    def batches():
        small, large = toy_batches(size=8), toy_batches(size=16)
        for step in range(24):
            yield next(small) if step < 8 or step >= 16 else next(large)

    evaluated = []
    config = TrainConfig(num_steps=24, log_every=4, eval_every=12)
    model = OneConv(rngs=nnx.Rngs(0))
    result = train(
        model,
        batches(),
        config,
        workdir=tmp_path,
        loss_fn=loss_fn,
        eval_fn=lambda model, step: evaluated.append(step) or {"step_again": step},
        progress=False,
    )
    assert traces == [(16, 8, 8, 1), (16, 16, 16, 1)]
    assert int(result.state.step) == 24 and evaluated == [12, 24]
    assert [e["step_again"] for e in result.evaluations] == [12.0, 24.0]
    assert (tmp_path / "eval.jsonl").read_text().count("\n") == 2


def test_learning_rate_schedule_closed_form():
    config = TrainConfig(num_steps=110, learning_rate=1e-3, warmup_steps=10, final_lr_fraction=0.1)
    schedule = learning_rate_schedule(config)
    for step, expected in [
        (0, 1e-4),
        (4, 5e-4),
        (10, 1e-3),
        (60, 1e-3 * (0.1 + 0.9 * 0.5)),
        (110, 1e-4),
    ]:
        np.testing.assert_allclose(float(schedule(step)), expected, rtol=1e-5)
    periodic = learning_rate_schedule(
        TrainConfig(lr_schedule="periodic_cosine", learning_rate=1e-4)
    )
    # The original's CosineAnnealingLR(T_max=10k): zero at 10k and 30k, back to the peak at 20k.
    np.testing.assert_allclose(
        [float(periodic(s)) for s in (0, 10000, 20000, 30000)], [1e-4, 0.0, 1e-4, 0.0], atol=1e-12
    )


def test_ema_decay_schedule_closed_form():
    # Warm-up 1 - (1 + n)^(-2/3), n = s - ema_start_step, capped at ema_decay: 0 (copy) up to the
    # start, 1 - 2^(-2/3) at n = 1, 1 - 1000^(-2/3) = 0.99 at n = 999, the cap far out.
    warm = ema_decay_schedule(TrainConfig(ema_decay=0.999, ema_start_step=100))
    np.testing.assert_allclose(
        [float(warm(s)) for s in (1, 100, 101, 1099, 10**6)],
        [0.0, 0.0, 1.0 - 2.0 ** (-2.0 / 3.0), 0.99, 0.999],
        rtol=1e-6,
    )
    fixed = ema_decay_schedule(TrainConfig(ema_decay=0.999, ema_start_step=100, ema_warmup=False))
    np.testing.assert_allclose([float(fixed(s)) for s in (100, 101, 10**6)], [0.0, 0.999, 0.999])


def _ema_reference(weights, decay, every, start, power, warmup):
    """The EMA of the raw weights ``w_1, w_2, ...`` by its recursion (float64): ``e_k = w_k`` for
    ``k <= start``; else on steps divisible by ``every`` ``e_k = d_k e_{k-1} + (1 - d_k) w_k``
    with ``d_k = min(decay, 1 - (1 + k - start)^(-power))`` (warm-up) or ``decay``."""
    ema, out = None, []
    for k, w in enumerate(weights, start=1):
        if k <= start:
            ema = w
        elif k % every == 0:
            d = min(decay, 1.0 - (1.0 + k - start) ** -power) if warmup else decay
            ema = d * ema + (1.0 - d) * w
        out.append(ema)
    return np.asarray(out)


@pytest.mark.parametrize("warmup", [True, False])
def test_ema_matches_a_hand_computed_recursion(warmup):
    # The jitted step on y = w x with a fixed batch (w moves from 1 towards 2); the raw weight and
    # its EMA are read after every step and the EMA recomputed from the raw weights in numpy.
    def loss_fn(model, batch, key):
        return jnp.mean((model.weight[...] * batch["x"] - 2.0 * batch["x"]) ** 2)

    config = TrainConfig(
        num_steps=40,
        learning_rate=0.05,
        lr_schedule="constant",
        grad_clip=0,
        ema_decay=0.9,
        ema_every=2,
        ema_start_step=3,
        ema_warmup=warmup,
    )
    graphdef, params, rest = nnx.split(Scale(), nnx.Param, ...)
    tx = make_optimizer(config)
    key = jax.random.key_data(jax.random.key(0))
    state = TrainState(
        jnp.zeros((), jnp.int32), params, jax.tree.map(jnp.copy, params), tx.init(params), key
    )
    train_step = make_train_step(graphdef, tx, loss_fn, config, parallel.data_mesh())
    batch = {"x": np.linspace(-1, 1, 4, dtype=np.float32)}
    weights, ema = [], []
    for _ in range(config.num_steps):
        state, _ = train_step(state, rest, batch)
        weights.append(float(jax.tree.leaves(state.params)[0]))
        ema.append(float(jax.tree.leaves(state.ema_params)[0]))
    assert int(state.step) == config.num_steps
    options = dict(decay=0.9, every=2, start=3, power=2.0 / 3.0)
    expected = _ema_reference(weights, warmup=warmup, **options)
    np.testing.assert_allclose(ema, expected, rtol=1e-6)
    # The two rules differ by far more than the tolerance: the check tells them apart (during the
    # warm-up, d_k < 0.9 up to k = 34, the warmed-up EMA follows the weights more closely).
    other = _ema_reference(weights, warmup=not warmup, **options)
    assert np.abs(other - expected).max() > 1e-2
    assert abs(weights[-1] - 2.0) < 0.2 < abs(weights[0] - 2.0)


def test_sample_model_compiles_once_per_shape_and_options():
    traces = []

    class Linear(nnx.Module):
        def __init__(self, gain):
            self.gain = nnx.Param(jnp.asarray(gain, jnp.float32))

        def __call__(self, x, t):
            traces.append(x.shape)  # Python side effect: runs only when tracing
            return self.gain[...] * x

    shape, cosine = (4, 3, 1), make_schedule("cosine", 20)
    first = sample_model(Linear(0.5), shape, jax.random.key(0), cosine, num_steps=5)
    compiled = len(traces)
    assert compiled >= 1
    # The same computation without jit (the sampler on the plain module).
    direct = ddim_sample(Linear(0.5), shape, jax.random.key(0), cosine, num_steps=5)
    np.testing.assert_allclose(first, direct, rtol=1e-5, atol=1e-6)
    traces.clear()

    # New weights, key and schedule values of the same length: no new trace, new numbers.
    again = sample_model(
        Linear(0.3), shape, jax.random.key(1), make_schedule("sigmoid", 20), num_steps=5
    )
    assert traces == []
    assert np.abs(np.asarray(again) - np.asarray(first)).max() > 1e-3
    # Guidance weights are traced arrays: new values reuse the compilation of the same objective.
    objective = lambda x0: jnp.sum(x0**2)
    for scale in (1.0, 2.0):
        guidance = Guidance(objective, scale * np.ones(5, np.float32))
        sample_model(Linear(0.5), shape, jax.random.key(0), cosine, num_steps=5, guidance=guidance)
    assert len(traces) == compiled
    traces.clear()

    # Another shape or other options compile again.
    sample_model(Linear(0.5), (2, 3, 1), jax.random.key(0), cosine, num_steps=5)
    sample_model(Linear(0.5), shape, jax.random.key(0), cosine, num_steps=4)
    sample_model(Linear(0.5), shape, jax.random.key(0), cosine, method="ddpm")
    assert [s[0] for s in traces] == [2] * compiled + [4] * (len(traces) - compiled)
    assert len(traces) == 3 * compiled
    with pytest.raises(TypeError, match="hashable"):
        sample_model(Linear(0.5), shape, jax.random.key(0), cosine, eta=np.ones(1))


def test_bad_config_is_a_clear_error():
    with pytest.raises(ValueError, match="optimizer must be 'adam' or 'adamw', got 'sgd'"):
        TrainConfig(optimizer="sgd")
