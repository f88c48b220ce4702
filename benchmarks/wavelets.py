"""Benchmark: jitted ``wdno.wavelets`` forward + inverse against PyWavelets on WDNO-shaped data.

Cases follow the paper's data (spec Sec. 3.1, 3.3): a Burgers batch ``(256, 81, 120, 2)``
transformed over (t, x) with bior2.4/periodization, and a smoke batch ``(16, 32, 64, 64, 6)``
over (t, y, x) with bior1.3/zero, one level each. Both sides use float32 on the same data.

Run from the repository root::

    .venv/bin/python benchmarks/wavelets.py [--repeats 20] [--json results.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time

import jax
import numpy as np
import pywt

from wdno.transforms import wavelets

CASES = (
    ("burgers", (256, 81, 120, 2), (1, 2), "bior2.4", "periodization", 1),
    ("smoke", (16, 32, 64, 64, 6), (1, 2, 3), "bior1.3", "zero", 1),
)


def _median_ms(functions, repeats: int, *, interleave: bool = False) -> list[float]:
    """Median wall time of each function in ms (warm-up call excluded).

    By default each function runs its ``repeats`` back to back, as ``timeit`` does (the
    steady state of a training loop, which calls the transform again and again). With
    ``interleave`` the functions take turns within every repeat, which exposes them to the same
    background load on a shared machine, but also makes each one pay for the memory the other
    just freed (page faults on fresh buffers), which penalises the side that runs second.
    """
    for function in functions:
        function()
    times = [[] for _ in functions]
    if interleave:
        for _ in range(repeats):
            for function, samples in zip(functions, times, strict=True):
                start = time.perf_counter()
                function()
                samples.append(time.perf_counter() - start)
    else:
        for function, samples in zip(functions, times, strict=True):
            for _ in range(repeats):
                start = time.perf_counter()
                function()
                samples.append(time.perf_counter() - start)
    return [1e3 * statistics.median(samples) for samples in times]


def _run_case(name, shape, axes, wavelet, mode, level, repeats: int, interleave: bool) -> dict:
    data = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    device_data = jax.device_put(data)

    # Forward and inverse are jitted separately, as WDNO uses them (encode the data; decode
    # samples): one jit around both lets XLA fuse the inverse into the forward and recompute.
    forward = jax.jit(lambda x: wavelets.wavedec(x, wavelet, level=level, mode=mode, axes=axes))
    inverse = jax.jit(wavelets.waverec)

    def round_trip(x):
        coeffs = forward(x)
        return coeffs, inverse(coeffs)

    def pywt_round_trip():
        coeffs = pywt.wavedecn(data, wavelet, level=level, mode=mode, axes=axes)
        crop = tuple(slice(0, size) for size in shape)
        return coeffs, pywt.waverecn(coeffs, wavelet, mode=mode, axes=axes)[crop]

    jax_ms, pywt_ms = _median_ms(
        [lambda: jax.block_until_ready(round_trip(device_data)), pywt_round_trip],
        repeats,
        interleave=interleave,
    )

    coeffs, reconstruction = round_trip(device_data)
    reference_coeffs, reference_reconstruction = pywt_round_trip()
    differences = [np.abs(np.asarray(coeffs.approx) - reference_coeffs[0]).max()]
    for ours, theirs in zip(coeffs.details, reference_coeffs[1:], strict=False):
        differences += [np.abs(np.asarray(ours[key]) - theirs[key]).max() for key in theirs]
    differences.append(np.abs(np.asarray(reconstruction) - reference_reconstruction).max())
    return {
        "case": name,
        "shape": list(shape),
        "axes": list(axes),
        "wavelet": wavelet,
        "mode": mode,
        "level": level,
        "dtype": "float32",
        "jax_ms": jax_ms,
        "pywt_ms": pywt_ms,
        "speedup": pywt_ms / jax_ms,
        "max_abs_diff_vs_pywt": float(max(differences)),
        "max_abs_reconstruction_error": float(np.abs(np.asarray(reconstruction) - data).max()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=20, help="timed repeats per case")
    parser.add_argument("--json", metavar="PATH", help="write the results to this JSON file")
    parser.add_argument(
        "--interleave",
        action="store_true",
        help="alternate JAX and PyWavelets within each repeat (for a loaded, shared machine)",
    )
    arguments = parser.parse_args()

    load_average = os.getloadavg()  # before our own runs: the background load
    results = [
        _run_case(*case, repeats=arguments.repeats, interleave=arguments.interleave)
        for case in CASES
    ]
    header = (
        f"{'case':8} {'shape':20} {'wavelet':8} {'mode':13} {'jax ms':>9} {'pywt ms':>9} "
        f"{'speed-up':>9} {'max|diff|':>10}"
    )
    print(header)
    print("-" * len(header))
    for row in results:
        print(
            f"{row['case']:8} {str(tuple(row['shape'])):20} {row['wavelet']:8} {row['mode']:13} "
            f"{row['jax_ms']:9.2f} {row['pywt_ms']:9.2f} {row['speedup']:8.1f}x "
            f"{row['max_abs_diff_vs_pywt']:10.2e}"
        )
    environment = {
        "jax_version": jax.__version__,
        "pywt_version": pywt.__version__,
        "device": str(jax.devices()[0]),
        "device_kind": jax.devices()[0].device_kind,
        "cpu_count": os.cpu_count(),
        "platform": platform.platform(),
        "repeats": arguments.repeats,
        "interleaved": arguments.interleave,
        "load_average_before": load_average,  # other work slows the 2-thread JAX side most
    }
    print(
        f"jax {environment['jax_version']} on {environment['device_kind']}, "
        f"{environment['cpu_count']} CPUs; median of {arguments.repeats} "
        f"{'interleaved' if arguments.interleave else 'back-to-back'} repeats, "
        f"float32; load average before {' '.join(f'{load:.2f}' for load in load_average)}"
    )
    if arguments.json:
        with open(arguments.json, "w") as handle:
            json.dump({"environment": environment, "results": results}, handle, indent=2)
        print(f"wrote {arguments.json}")


if __name__ == "__main__":
    main()
