"""Benchmark: 1-D compressible Navier-Stokes solver, throughput and accuracy (spec Sec. 8.3).

Throughput: trajectories per second at PDEBench's resolution (1,024 cells on [-1, 1], outgoing
boundaries, eta = zeta = 1e-8, gamma = 5/3, 100 outputs), on a vmapped, jitted batch of random
piecewise-constant initial states (``systems.compressible_ns.initial_states``), float32. The
timed run integrates to ``--end-time`` (default 1.0, PDEBench's window; compile time excluded).

Accuracy: L1 error of the density against the exact Riemann solution (our numpy Toro solver)
for Sod (gamma = 5/3 and 1.4), Lax and Toro's 123 problem at several resolutions on [0, 1],
float64, inviscid, with the observed order between successive resolutions.

Run from the repository root::

    .venv/bin/python benchmarks/compressible_ns_solver.py [--batch 8] [--end-time 1.0]
        [--cells 128 256 512 1024] [--json results.json]
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

from systems.compressible_ns import exact_riemann, initial_states, solver

PROBLEMS = {  # name: (left, right, gamma, end_time), jump at x = 0.5
    "sod (gamma 5/3)": ((1.0, 0.0, 1.0), (0.125, 0.0, 0.1), 5.0 / 3.0, 0.2),
    "sod (gamma 1.4)": ((1.0, 0.0, 1.0), (0.125, 0.0, 0.1), 1.4, 0.2),
    "lax": ((0.445, 0.698, 3.528), (0.5, 0.0, 0.571), 1.4, 0.14),
    "123 (toro 2)": ((1.0, -2.0, 0.4), (1.0, 2.0, 0.4), 1.4, 0.15),
}


def accuracy(cells, limiter="mc"):
    rows = []
    for name, (left, right, gamma, end_time) in PROBLEMS.items():
        errors = []
        for n in cells:
            config = solver.SolverConfig(
                gamma=gamma,
                shear_viscosity=0.0,
                bulk_viscosity=0.0,
                num_cells=n,
                x_min=0.0,
                x_max=1.0,
                end_time=end_time,
                num_outputs=1,
                limiter=limiter,
            )
            x = config.cell_centers()
            with jax.enable_x64():
                state = jnp.asarray(np.where(x[:, None] < 0.5, left, right), jnp.float64)
                final = np.asarray(solver.solve(state, config)[-1])
            rho, _, _ = exact_riemann.sample(x, end_time, left, right, gamma, 0.5)
            errors.append(float(np.mean(np.abs(final[:, 0] - rho))))
        orders = [None] + [
            float(np.log(errors[i - 1] / errors[i]) / np.log(cells[i] / cells[i - 1]))
            for i in range(1, len(cells))
        ]
        rows.append(
            {
                "problem": name,
                "limiter": limiter,
                "cells": list(cells),
                "density_l1": errors,
                "order": orders,
            }
        )
    return rows


def throughput(batch, end_time, num_cells=1024):
    config = solver.SolverConfig(num_cells=num_cells, end_time=end_time, num_outputs=100)
    states = initial_states.random_initial_states(jax.random.key(0), batch, config)
    run = jax.jit(jax.vmap(lambda s: solver.solve(s, config, return_steps=True)))
    start = time.perf_counter()
    jax.block_until_ready(run(states))
    first = time.perf_counter() - start
    start = time.perf_counter()
    trajectories, steps = jax.block_until_ready(run(states))
    seconds = time.perf_counter() - start
    trajectories = np.asarray(trajectories)
    return {
        "cells": num_cells,
        "batch": batch,
        "end_time": end_time,
        "outputs": config.num_outputs,
        "seconds": seconds,
        "compile_and_first_run_seconds": first,
        "trajectories_per_second": batch / seconds,
        "steps_per_trajectory_mean": float(np.mean(np.sum(np.asarray(steps), axis=1))),
        "finite": bool(np.all(np.isfinite(trajectories))),
        "min_density": float(trajectories[..., 0].min()),
        "min_pressure": float(trajectories[..., 2].min()),
        "config": dataclasses.asdict(config),
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=8, help="trajectories per timed batch")
    parser.add_argument("--end-time", type=float, default=1.0, help="timed integration window")
    parser.add_argument("--cells", type=int, nargs="+", default=[128, 256, 512, 1024])
    parser.add_argument("--json", default=None, help="also write the results to this JSON file")
    args = parser.parse_args(argv)

    speed = throughput(args.batch, args.end_time)
    rows = accuracy(args.cells) + accuracy(args.cells[:2], limiter="minmod")

    device = jax.devices()[0].platform
    print(
        f"Compressible NS solver, {speed['cells']} cells, batch {speed['batch']}, t in "
        f"[0, {speed['end_time']}] with {speed['outputs']} outputs, float32, {device}"
    )
    print(
        f"  {speed['trajectories_per_second']:.3f} trajectories/s ({speed['seconds']:.2f} s per "
        f"batch; compile + first run {speed['compile_and_first_run_seconds']:.2f} s), "
        f"{speed['steps_per_trajectory_mean']:.0f} SSP-RK3 steps per trajectory, "
        f"finite={speed['finite']}, min rho={speed['min_density']:.3g}, "
        f"min p={speed['min_pressure']:.3g}"
    )
    print("Density L1 against the exact Riemann solution (float64, inviscid):")
    print(f"  {'problem':<18} {'limiter':<7} {'cells':>6} {'L1(rho)':>10} {'order':>6}")
    for row in rows:
        for n, error, order in zip(row["cells"], row["density_l1"], row["order"], strict=True):
            shown = "" if order is None else f"{order:.2f}"
            print(f"  {row['problem']:<18} {row['limiter']:<7} {n:>6} {error:>10.3e} {shown:>6}")
    if args.json:
        result = {
            "throughput": speed,
            "accuracy": rows,
            "machine": platform.platform(),
            "device": str(jax.devices()[0]),
        }
        with open(args.json, "w") as file:
            json.dump(result, file, indent=2)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
