"""Tests for wdno.train: a tiny U-Net learns a toy image distribution, the step compiles once per
shape, the learning-rate schedule and EMA follow their formulas, logs and evaluation hook."""

import csv
import pathlib
import runpy
import sys

import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from wdno.diffusion import diffusion_loss, make_schedule
from wdno.nets.unet import UNet, UNetConfig
from wdno.training import TrainConfig, learning_rate_schedule, train

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


def test_toy_example_learns_the_distribution(tmp_path, monkeypatch):
    # Runs docs/examples/toy_diffusion.py with fewer steps; its data are the toy distribution
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
    model = UNet(UNetConfig.tiny(1, dim=8, dim_mults=(1,), num_groups=2), rngs=nnx.Rngs(0))
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


def test_ema_follows_its_recursion(tmp_path):
    # Linear model y = w x with a fixed batch; after each step e_k = d e_{k-1} + (1-d) w_k on the
    # steps k divisible by ema_every (k > ema_start_step), e = w before. We rebuild it from the
    # raw weights of runs stopped after each step (every run resumes from the previous checkpoint).
    class Scale(nnx.Module):
        def __init__(self):
            self.weight = nnx.Param(jnp.ones(()))

    def loss_fn(model, batch, key):
        return jnp.mean((model.weight[...] * batch["x"] - 2.0 * batch["x"]) ** 2)

    batch = {"x": np.linspace(-1, 1, 4, dtype=np.float32)}
    config = TrainConfig(
        num_steps=9,
        learning_rate=0.1,
        lr_schedule="constant",
        grad_clip=0,
        ema_decay=0.5,
        ema_every=2,
        ema_start_step=3,
        log_every=1,
    )
    weights, ema = [1.0], None
    for steps in range(1, 10):
        result = train(Scale(), [batch], config, workdir=tmp_path, loss_fn=loss_fn, progress=False)
        assert int(result.state.step) == steps
        weights.append(float(result.model.weight[...]))
        w = weights[-1]
        ema = w if steps <= 3 else (0.5 * ema + 0.5 * w if steps % 2 == 0 else ema)
        np.testing.assert_allclose(float(result.ema_model.weight[...]), ema, rtol=1e-6)
    assert abs(weights[-1] - 2.0) < abs(weights[1] - 2.0)


def test_bad_config_is_a_clear_error():
    with pytest.raises(ValueError, match="optimizer must be 'adam' or 'adamw', got 'sgd'"):
        TrainConfig(optimizer="sgd")
