"""Benchmark: the denoiser U-Net's forward and diffusion train step, JAX beside PyTorch.

Configurations, on a ``(batch, 64, 64, channels)`` input (channels = 9 as in WDNO Burgers):

- ``cpu``: the CPU preset (``UNetConfig.cpu``: dim 32, mults (1, 2, 4), 2 x 16 attention);
- ``dim32``: the network of issue 10's PyTorch comparison, lucidrains' defaults at dim 32
  (mults (1, 2, 4), GroupNorm(8), 4 x 32 attention; 2,615,497 parameters);
- ``burgers_paper``: the paper's Burgers U-Net (``systems.burgers.presets.PAPER_UNET``, spec §5.1:
  dim 128, mults (1, 2, 4, 8), 140,748,553 parameters).

The JAX train step is the full jitted step of `wdno.train` (masked diffusion loss, gradient
clipping, Adam, EMA). The PyTorch column (optional: ``pip install -e .[bench]``; skipped with a
note when torch is absent) runs the same network rebuilt in `benchmarks/unet_torch.py` (its
parameter count is checked against ours) with the same step: epsilon loss, backward, clipping,
Adam, EMA, in PyTorch's default NCHW layout, ``--torch-threads`` threads (default: all CPUs) and
``OMP_WAIT_POLICY=PASSIVE`` (``--torch-omp-wait``; OpenMP's spinning threads slow PyTorch down
several times on a CPU shared with other processes).

Each framework runs in its own worker process, so that its peak memory (``ru_maxrss``; on GPU
also JAX's ``peak_bytes_in_use``) is its own. Both workers are built and compiled first, then
timed in alternation (JAX forward, PyTorch forward, JAX step, PyTorch step, repeated), so that a
machine shared with other work slows both alike; the table gives medians. For the paper-size
network the two workers do not fit in memory together on a small machine: they then run one after
the other (``--sequential``, the default for ``burgers_paper``). GFLOP/s is XLA's count of the
floating-point operations of the compiled forward or train step (``cost_analysis``) divided by
the time; the PyTorch column divides the same count (same network, same step) by its own time.
Compilation is excluded from the timings and reported separately.

Run from the repository root (the paper preset is slow on CPU, keep ``--repeats`` small)::

    .venv/bin/python benchmarks/unet.py [--configs cpu dim32 burgers_paper] [--batch 16] \
        [--repeats 3] [--no-torch] [--json results.json]
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

CONFIGS = ("cpu", "dim32", "burgers_paper")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _unet_config(name: str, channels: int):
    import dataclasses

    from wdno.nets.unet import UNetConfig

    if name == "cpu":
        return UNetConfig.cpu(channels)
    if name == "dim32":
        return UNetConfig(channels, dim=32, dim_mults=(1, 2, 4))
    from systems.burgers.presets import PAPER_UNET

    return dataclasses.replace(PAPER_UNET, in_channels=channels)


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class _JaxWorker:
    framework = "jax"

    def __init__(self, name, channels, size, batch):
        import jax
        import jax.numpy as jnp
        from flax import nnx

        from wdno import training
        from wdno.diffusion import diffusion_loss, make_schedule
        from wdno.nets.unet import UNet
        from wdno.training import parallel

        self.jax = jax
        model = UNet(_unet_config(name, channels), rngs=nnx.Rngs(0))
        graphdef, params = nnx.split(model)
        self.parameters = sum(math.prod(x.shape) for x in jax.tree.leaves(params))
        x = jax.random.normal(jax.random.key(0), (batch, size, size, channels))
        t = jnp.arange(batch) * 50

        start = time.perf_counter()
        forward = jax.jit(lambda params, x, t: nnx.merge(graphdef, params)(x, t))
        forward = forward.lower(params, x, t).compile()
        jax.block_until_ready(forward(params, x, t))
        self.forward_compile_s = time.perf_counter() - start
        self.forward_flops = _flops(forward)
        self.run_forward = lambda: jax.block_until_ready(forward(params, x, t))

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
            graphdef,
            tx,
            lambda m, b, k: diffusion_loss(m, b["x0"], k, schedule),
            train_config,
            mesh,
        )
        batch_arrays = parallel.shard_batch({"x0": x}, mesh)
        start = time.perf_counter()
        compiled = step.lower(state, rest, batch_arrays).compile()
        self.step_flops = _flops(compiled)
        memory = compiled.memory_analysis()
        self.step_temp_mb = None if memory is None else memory.temp_size_in_bytes / 2**20
        holder = {"state": state}

        def run_step():
            holder["state"], metrics = compiled(holder["state"], rest, batch_arrays)
            jax.block_until_ready(metrics["loss"])

        run_step()
        self.step_compile_s = time.perf_counter() - start
        self.run_step = run_step
        device = jax.devices()[0]
        self.device = f"{device.platform}: {device.device_kind}"

    def report(self):
        stats = self.jax.devices()[0].memory_stats() or {}
        return {
            "parameters": self.parameters,
            "forward_gflop": self.forward_flops / 1e9,
            "step_gflop": self.step_flops / 1e9,
            "compile_s": self.forward_compile_s + self.step_compile_s,
            "step_temp_mb": self.step_temp_mb,
            "peak_host_rss_mb": _peak_rss_mb(),
            "peak_device_mb": stats["peak_bytes_in_use"] / 2**20
            if "peak_bytes_in_use" in stats
            else None,
            "device": self.device,
            "jax": self.jax.__version__,
            "xla_flags": os.environ.get("XLA_FLAGS", ""),
        }


def _flops(compiled) -> float:
    analysis = compiled.cost_analysis()
    analysis = analysis[0] if isinstance(analysis, list) else analysis
    return float(analysis.get("flops", float("nan")))


class _TorchWorker:
    framework = "torch"

    def __init__(self, name, channels, size, batch, threads):
        import numpy as np
        import torch

        sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
        import unet_torch

        from wdno.diffusion import make_schedule

        torch.manual_seed(0)
        torch.set_num_threads(threads)
        self.torch, self.threads = torch, threads
        model = unet_torch.UNet(_unet_config(name, channels))
        self.parameters = sum(p.numel() for p in model.parameters())
        x = torch.randn(batch, channels, size, size)
        t = torch.arange(batch) * 50
        alphas_cumprod = np.asarray(make_schedule("cosine").alphas_cumprod)
        step = unet_torch.make_train_step(model, alphas_cumprod)

        def run_forward():
            with torch.no_grad():
                model(x, t)

        start = time.perf_counter()
        run_forward()
        step(x)
        self.compile_s = time.perf_counter() - start  # first calls (no compilation: eager)
        self.run_forward = run_forward
        self.run_step = lambda: step(x)

    def report(self):
        return {
            "parameters": self.parameters,
            "peak_host_rss_mb": _peak_rss_mb(),
            "torch": self.torch.__version__,
            "threads": self.threads,
            "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY", ""),
            "first_call_s": self.compile_s,
        }


def _serve(args):
    """Worker: build, compile, print 'ready', then time one call per command from stdin."""
    if args.worker_framework == "torch":
        worker = _TorchWorker(args.worker, args.channels, args.size, args.batch, args.threads)
    else:
        worker = _JaxWorker(args.worker, args.channels, args.size, args.batch)
    print(json.dumps({"ready": True}), flush=True)
    for line in sys.stdin:
        command = line.strip()
        if command in ("forward", "step"):
            function = worker.run_forward if command == "forward" else worker.run_step
            start = time.perf_counter()
            function()
            print(json.dumps({"seconds": time.perf_counter() - start}), flush=True)
        elif command == "report":
            print(json.dumps(worker.report()), flush=True)
            return


class _Process:
    """A worker process driven over stdin/stdout, one JSON line per answer."""

    def __init__(self, name, framework, args):
        command = [
            sys.executable,
            os.path.abspath(__file__),
            "--worker",
            name,
            "--worker-framework",
            framework,
            "--channels",
            str(args.channels),
            "--size",
            str(args.size),
            "--batch",
            str(args.batch),
            "--threads",
            str(args.torch_threads),
        ]
        environment = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join([ROOT, os.environ.get("PYTHONPATH", "")]),
        }
        if framework == "torch" and args.torch_omp_wait:
            environment["OMP_WAIT_POLICY"] = args.torch_omp_wait.upper()
        self.label = f"{name}/{framework}"
        self.process = subprocess.Popen(
            command,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=environment,
        )
        self.times = {"forward": [], "step": []}

    def _answer(self):
        line = self.process.stdout.readline()
        if not line:
            stderr = self.process.stderr.read()
            raise RuntimeError(f"benchmark worker {self.label} failed:\n{stderr[-3000:]}")
        return json.loads(line)

    def wait_ready(self):
        self._answer()

    def time(self, command):
        self.process.stdin.write(command + "\n")
        self.process.stdin.flush()
        self.times[command].append(self._answer()["seconds"])

    def finish(self):
        self.process.stdin.write("report\n")
        self.process.stdin.flush()
        report = self._answer()
        self.process.stdin.close()
        self.process.wait()
        return report


def _run_config(name, args, with_torch) -> dict:
    frameworks = ["jax"] + (["torch"] if with_torch else [])
    sequential = args.sequential or (args.sequential is None and name == "burgers_paper")
    groups = [[f] for f in frameworks] if sequential else [frameworks]
    reports, times = {}, {}
    for group in groups:
        workers = []
        for framework in group:  # built one at a time: compilation does not overlap timing
            worker = _Process(name, framework, args)
            worker.wait_ready()
            workers.append(worker)
        for _ in range(args.repeats):
            for command in ("forward", "step"):
                for worker in workers:
                    worker.time(command)
        for framework, worker in zip(group, workers, strict=True):
            reports[framework] = worker.finish()
            times[framework] = worker.times
    jax_report = reports["jax"]
    result = {
        "config": name,
        "input": [args.batch, args.size, args.size, args.channels],
        "repeats": args.repeats,
        "interleaved": not sequential,
        **jax_report,
    }
    for framework in frameworks:
        prefix = "" if framework == "jax" else "torch_"
        forward_ms = 1e3 * statistics.median(times[framework]["forward"])
        step_ms = 1e3 * statistics.median(times[framework]["step"])
        result.update(
            {
                f"{prefix}forward_ms": forward_ms,
                f"{prefix}train_step_ms": step_ms,
                f"{prefix}forward_ms_all": [1e3 * s for s in times[framework]["forward"]],
                f"{prefix}train_step_ms_all": [1e3 * s for s in times[framework]["step"]],
                f"{prefix}forward_gflop_per_s": jax_report["forward_gflop"] / forward_ms * 1e3,
                f"{prefix}train_step_gflop_per_s": jax_report["step_gflop"] / step_ms * 1e3,
                f"{prefix}train_samples_per_s": 1e3 * args.batch / step_ms,
            }
        )
    if with_torch:
        torch_report = reports["torch"]
        if torch_report["parameters"] != jax_report["parameters"]:
            raise RuntimeError(
                f"{name}: the PyTorch network has {torch_report['parameters']:,} parameters, "
                f"ours {jax_report['parameters']:,}; they must be the same network."
            )
        result.update({f"torch_{k}": v for k, v in torch_report.items() if k != "parameters"})
        result["step_speedup_over_torch"] = result["torch_train_step_ms"] / result["train_step_ms"]
        result["forward_speedup_over_torch"] = result["torch_forward_ms"] / result["forward_ms"]
    return result


def _print_table(results, args, with_torch, torch_note):
    print(
        f"U-Net benchmark, input (B, H, W, C) = ({args.batch}, {args.size}, {args.size}, "
        f"{args.channels}), {platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} CPUs, {results[0]['device'] if results else ''}, medians of "
        f"{args.repeats}"
    )
    header = (
        f"{'config':<14} {'params':>12} {'fwd ms':>9} {'GFLOP/s':>8} {'step ms':>9} "
        f"{'GFLOP/s':>8} {'compile s':>9} {'host MB':>8}"
    )
    if with_torch:
        header += (
            f" | {'torch fwd':>9} {'GFLOP/s':>8} {'torch step':>10} {'GFLOP/s':>8} "
            f"{'host MB':>8} {'step x':>7}"
        )
    print(header)
    for r in results:
        line = (
            f"{r['config']:<14} {r['parameters']:>12,} {r['forward_ms']:>9.1f} "
            f"{r['forward_gflop_per_s']:>8.1f} {r['train_step_ms']:>9.1f} "
            f"{r['train_step_gflop_per_s']:>8.1f} {r['compile_s']:>9.1f} "
            f"{r['peak_host_rss_mb']:>8.0f}"
        )
        if with_torch:
            line += (
                f" | {r['torch_forward_ms']:>9.1f} {r['torch_forward_gflop_per_s']:>8.1f} "
                f"{r['torch_train_step_ms']:>10.1f} {r['torch_train_step_gflop_per_s']:>8.1f} "
                f"{r['torch_peak_host_rss_mb']:>8.0f} {r['step_speedup_over_torch']:>7.2f}"
            )
        print(line)
    if results:
        r = results[0]
        print(f"JAX {r['jax']}, XLA_FLAGS={r['xla_flags']!r}; GFLOP/s: XLA's operation count.")
        if with_torch:
            print(
                f"PyTorch {r['torch_torch']}, {r['torch_threads']} threads, "
                f"OMP_WAIT_POLICY={r['torch_omp_wait_policy'] or '(unset)'}; step x: PyTorch "
                "step time / JAX step time."
            )
    if torch_note:
        print(torch_note)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configs", nargs="+", default=list(CONFIGS), choices=CONFIGS)
    parser.add_argument("--channels", type=int, default=9)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--no-torch", action="store_true", help="skip the PyTorch column")
    parser.add_argument("--torch-threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument(
        "--torch-omp-wait",
        default="passive",
        help="OMP_WAIT_POLICY of the PyTorch worker ('' leaves the environment's)",
    )
    parser.add_argument(
        "--sequential",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="time JAX, then PyTorch, instead of alternating (default: only for burgers_paper)",
    )
    parser.add_argument("--json", help="write the results to this JSON file")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--worker-framework", help=argparse.SUPPRESS)
    parser.add_argument("--threads", type=int, default=1, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        _serve(args)
        return
    torch_note = ""
    with_torch = not args.no_torch
    if with_torch:
        import importlib.util

        if importlib.util.find_spec("torch") is None:
            with_torch = False
            torch_note = (
                "PyTorch columns skipped: torch is not installed (pip install -e .[bench])."
            )
    results = []
    for name in args.configs:
        results.append(_run_config(name, args, with_torch))
        print(f"done: {name}", file=sys.stderr, flush=True)
    _print_table(results, args, with_torch, torch_note)
    if args.json:
        with open(args.json, "w") as file:
            json.dump(results, file, indent=2)
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
