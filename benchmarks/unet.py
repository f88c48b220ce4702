"""Benchmark: the denoiser U-Net's size, forward time, diffusion train-step time and peak memory.

Configurations: the CPU preset (``UNetConfig.cpu``) and the paper-scale Burgers preset
(``systems.burgers.presets.PAPER_UNET``, spec §5.1: dim 128, mults (1, 2, 4, 8), about 140.7 M
parameters)
on a ``(batch, 64, 64, channels)`` input, channels = 9 as in WDNO Burgers. The train step is the
full jitted step of `wdno.train` (masked diffusion loss, gradient clipping, Adam, EMA). Each
configuration runs in its own subprocess so that its peak memory (``ru_maxrss`` of the host process;
on GPU also the device's ``peak_bytes_in_use``) is its own. Compilation is excluded from the
timings and reported separately.

Run from the repository root (the paper preset is slow on CPU, keep ``--repeats`` small)::

    .venv/bin/python benchmarks/unet.py [--configs cpu burgers_paper] [--channels 9] \
        [--size 64] [--batch 16] [--repeats 3] [--json results.json]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import resource
import statistics
import subprocess
import sys
import time

CONFIGS = ("cpu", "burgers_paper")


def _median_ms(function, repeats: int) -> tuple[float, float]:
    start = time.perf_counter()
    function()  # warm-up: compilation
    compile_s = time.perf_counter() - start
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return 1e3 * statistics.median(times), compile_s


def _worker(name: str, channels: int, size: int, batch: int, repeats: int) -> dict:
    import dataclasses

    import jax
    import jax.numpy as jnp
    from flax import nnx

    from systems.burgers.presets import PAPER_UNET
    from wdno import training
    from wdno.diffusion import diffusion_loss, make_schedule
    from wdno.nets.unet import UNet, UNetConfig
    from wdno.training import parallel

    if name == "cpu":
        config = UNetConfig.cpu(channels)
    else:
        config = dataclasses.replace(PAPER_UNET, in_channels=channels)
    model = UNet(config, rngs=nnx.Rngs(0))
    graphdef, params = nnx.split(model)
    num_params = sum(math.prod(x.shape) for x in jax.tree.leaves(params))
    x = jax.random.normal(jax.random.key(0), (batch, size, size, channels))
    t = jnp.arange(batch) * 50

    forward = jax.jit(lambda params, x, t: nnx.merge(graphdef, params)(x, t))
    forward_ms, forward_compile_s = _median_ms(
        lambda: jax.block_until_ready(forward(params, x, t)), repeats
    )

    train_config = training.TrainConfig(num_steps=10**6)
    tx = training.make_optimizer(train_config)
    schedule = make_schedule("cosine")
    mesh = parallel.data_mesh()
    graphdef, params, rest = nnx.split(model, nnx.Param, ...)
    state = training.TrainState(
        jnp.zeros((), jnp.int32),
        params,
        jax.tree.map(jnp.copy, params),
        tx.init(params),
        jax.random.key_data(jax.random.key(0)),
    )
    state = parallel.replicate(state, mesh)
    step = training.make_train_step(
        graphdef, tx, lambda m, b, k: diffusion_loss(m, b["x0"], k, schedule), train_config, mesh
    )
    batch_arrays = parallel.shard_batch({"x0": x}, mesh)
    holder = {"state": state}

    def run_step():
        holder["state"], metrics = step(holder["state"], rest, batch_arrays)
        jax.block_until_ready(metrics["loss"])

    step_ms, step_compile_s = _median_ms(run_step, repeats)
    device = jax.devices()[0]
    stats = device.memory_stats() or {}
    return {
        "config": name,
        "parameters": num_params,
        "input": [batch, size, size, channels],
        "forward_ms": forward_ms,
        "forward_compile_s": forward_compile_s,
        "train_step_ms": step_ms,
        "train_step_compile_s": step_compile_s,
        "train_samples_per_s": 1e3 * batch / step_ms,
        "peak_host_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "peak_device_mb": stats["peak_bytes_in_use"] / 2**20
        if "peak_bytes_in_use" in stats
        else None,
        "device": f"{device.platform}: {device.device_kind}",
        "repeats": repeats,
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configs", nargs="+", default=list(CONFIGS), choices=CONFIGS)
    parser.add_argument("--channels", type=int, default=9)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", help="write the results to this JSON file")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        print(json.dumps(_worker(args.worker, args.channels, args.size, args.batch, args.repeats)))
        return
    results = []
    for name in args.configs:
        command = [
            sys.executable,
            os.path.abspath(__file__),
            "--worker",
            name,
            "--channels",
            str(args.channels),
            "--size",
            str(args.size),
            "--batch",
            str(args.batch),
            "--repeats",
            str(args.repeats),
        ]
        root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        environment = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join([root, os.environ.get("PYTHONPATH", "")]),
        }
        completed = subprocess.run(command, capture_output=True, text=True, env=environment)
        if completed.returncode != 0:
            raise RuntimeError(f"benchmark {name} failed:\n{completed.stderr[-3000:]}")
        results.append(json.loads(completed.stdout.strip().splitlines()[-1]))
    header = (
        f"{'config':<14} {'params':>12} {'forward ms':>11} {'step ms':>10} "
        f"{'samples/s':>10} {'compile s':>10} {'host MB':>9} {'device MB':>10}"
    )
    print(
        f"U-Net benchmark, input (B, H, W, C) = ({args.batch}, {args.size}, {args.size}, "
        f"{args.channels}), {platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} CPUs, {results[0]['device'] if results else ''}"
    )
    print(header)
    for r in results:
        device_mb = "-" if r["peak_device_mb"] is None else f"{r['peak_device_mb']:.0f}"
        print(
            f"{r['config']:<14} {r['parameters']:>12,} {r['forward_ms']:>11.1f} "
            f"{r['train_step_ms']:>10.1f} {r['train_samples_per_s']:>10.1f} "
            f"{r['forward_compile_s'] + r['train_step_compile_s']:>10.1f} "
            f"{r['peak_host_rss_mb']:>9.0f} {device_mb:>10}"
        )
    if args.json:
        with open(args.json, "w") as file:
            json.dump(results, file, indent=2)
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
