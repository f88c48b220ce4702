"""Benchmark: Burgers solver throughput and accuracy on the paper's stored grid (81 x 120).

Compares our solver (ROS34PW2, 960 points, 8 steps per control interval; ``SolverConfig()``)
with a straightforward explicit-Euler solver at the released generator's settings (spec Sec. 8.1:
1,920 points, dt = 1/76800, i.e. 614,400 steps). Accuracy is the relative L2 error over
t >= dt_control on the stored grid against a converged reference (our solver in float64 on
3,843 points with 32 steps per interval). The Euler *timing* runs one control interval (1/80 of
the steps) on a batch and is extrapolated x80 (marked in the table); its *accuracy* is from full
runs. Both solvers get the same u0 and f (generator samples), float32, vmapped batches.

Run from the repository root::

    .venv/bin/python benchmarks/burgers_solver.py [--batch 64] [--samples 4] [--json results.json]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import platform
import time

import jax
import jax.numpy as jnp
import numpy as np

from systems.burgers import generate, grid, solver

EULER_POINTS, EULER_STEPS = 1920, 614_400


def euler_solve(u0, force, num_steps_per_interval, num_intervals, viscosity=0.01, end_time=8.0):
    """Explicit Euler, conservative central differences on the 1,920-point grid (one sample)."""
    dx, dt = 1.0 / (EULER_POINTS + 1), end_time / EULER_STEPS
    to_fine = jnp.asarray(
        grid.interpolation_matrix(grid.stored_x(1), grid.solver_x(EULER_POINTS)).T, u0.dtype
    )
    u, force = u0 @ to_fine, force @ to_fine

    def step(v, frame):
        padded = jnp.pad(v, 1)
        flux = (padded[2:] ** 2 - padded[:-2] ** 2) / (4 * dx)
        return v + dt * (
            -flux + viscosity * (padded[2:] - 2 * v + padded[:-2]) / dx**2 + frame
        ), None

    def interval(v, frame):
        v, _ = jax.lax.scan(step, v, jnp.broadcast_to(frame, (num_steps_per_interval, v.size)))
        return v, v

    _, states = jax.lax.scan(interval, u, force[:num_intervals])
    to_stored = jnp.asarray(
        grid.interpolation_matrix(grid.solver_x(EULER_POINTS), grid.stored_x(1)).T, u0.dtype
    )
    return jnp.concatenate([u0[None], states @ to_stored])


def _timed(function, *args):
    jax.block_until_ready(function(*args))  # compile and warm up
    start = time.perf_counter()
    jax.block_until_ready(function(*args))
    return time.perf_counter() - start


def _relative_l2(pred, reference):
    pred, reference = np.asarray(pred, np.float64)[:, 1:], np.asarray(reference)[:, 1:]
    return float(
        np.mean(
            np.linalg.norm((pred - reference).reshape(len(pred), -1), axis=1)
            / np.linalg.norm(reference.reshape(len(pred), -1), axis=1)
        )
    )


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=64, help="trajectories per timed batch")
    parser.add_argument("--samples", type=int, default=4, help="samples for the accuracy columns")
    parser.add_argument("--json", default=None, help="also write the results to this JSON file")
    args = parser.parse_args(argv)

    keys = generate.sample_keys(123, "test", np.arange(args.batch))
    x_fine = jnp.asarray(grid.stored_x(grid.FINEST_FACTOR))
    tau = jnp.arange(80) / 80

    def inputs(key):
        p = generate.sample_parameters(key)
        u0 = generate.initial_state(p, x_fine)[:: grid.FINEST_FACTOR]
        return u0, generate.control_force(p, tau, x_fine, generate.SamplingConfig())[
            :, :: grid.FINEST_FACTOR
        ]

    u0, force = jax.vmap(inputs)(keys)
    n = args.samples
    with jax.enable_x64():
        reference_config = solver.SolverConfig(num_points=961 * 4 - 1, steps_per_interval=32)
        reference = np.asarray(
            jax.jit(jax.vmap(lambda a, b: solver.solve(a, b, reference_config)))(
                jnp.asarray(u0[:n], jnp.float64), jnp.asarray(force[:n], jnp.float64)
            )
        )

    rows = []
    config = solver.SolverConfig()
    ours = jax.jit(jax.vmap(lambda a, b: solver.solve(a, b, config)))
    seconds = _timed(ours, u0, force)
    rows.append(
        {
            "method": "ROS34PW2 (ours)",
            "points": config.num_points,
            "steps": config.num_intervals * config.steps_per_interval,
            "seconds_per_trajectory": seconds / args.batch,
            "extrapolated": False,
            "relative_l2": _relative_l2(ours(u0[:n], force[:n]), reference),
        }
    )
    per_interval = EULER_STEPS // 80
    euler_one = jax.jit(jax.vmap(lambda a, b: euler_solve(a, b, per_interval, 1)))
    seconds = _timed(euler_one, u0, force) * 80
    euler_full = jax.jit(jax.vmap(lambda a, b: euler_solve(a, b, per_interval, 80)))
    rows.append(
        {
            "method": "explicit Euler (released settings)",
            "points": EULER_POINTS,
            "steps": EULER_STEPS,
            "seconds_per_trajectory": seconds / args.batch,
            "extrapolated": True,
            "relative_l2": _relative_l2(euler_full(u0[:n], force[:n]), reference),
        }
    )
    speedup = rows[1]["seconds_per_trajectory"] / rows[0]["seconds_per_trajectory"]

    print(
        f"Burgers solver, stored grid 81 x 120, batch {args.batch}, float32, "
        f"{jax.devices()[0].platform}"
    )
    print(f"{'method':<36} {'points':>6} {'steps':>8} {'traj/s':>9} {'s/traj':>9} {'rel L2':>9}")
    for row in rows:
        mark = " (timed 1/80, x80)" if row["extrapolated"] else ""
        print(
            f"{row['method']:<36} {row['points']:>6} {row['steps']:>8} "
            f"{1 / row['seconds_per_trajectory']:>9.2f} {row['seconds_per_trajectory']:>9.4f} "
            f"{row['relative_l2']:>9.2e}{mark}"
        )
    print(f"speed-up per trajectory: {speedup:.0f}x; reference: {reference_config}")
    if args.json:
        result = {
            "rows": rows,
            "speedup": speedup,
            "batch": args.batch,
            "samples": n,
            "reference": dataclasses.asdict(reference_config),
            "machine": platform.platform(),
            "device": str(jax.devices()[0]),
        }
        with open(args.json, "w") as file:
            json.dump(result, file, indent=2)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
