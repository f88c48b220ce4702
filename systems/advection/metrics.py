"""PDEBench's normalised RMSE (Takamoto et al. 2022, ``pdebench/models/metrics.py``).

    nRMSE = mean_{n, t, f} ||pred[n, t, :, f] - true[n, t, :, f]||_2 / ||true[n, t, :, f]||_2

the spatial L2 error of every sample, time level and field relative to the truth's norm, averaged
(PDEBench's ``err_nRMSE`` with ``if_mean``). Not in :mod:`wdno.evaluation.metrics` yet, which has
``relative_l2`` over a whole trajectory; it lives here until it moves there.
"""

from __future__ import annotations

import pathlib

import jax.numpy as jnp

__all__ = ["nrmse", "run_nrmse"]


def nrmse(pred, true, *, skip_initial: bool = True):
    """PDEBench's nRMSE of ``(N, T, *spatial, F)`` arrays (a scalar); ``skip_initial`` drops
    ``t = 0`` (given in simulation, the paper's convention; PDEBench scores the rollout too)."""
    pred, true = jnp.asarray(pred, jnp.float32), jnp.asarray(true, jnp.float32)
    if pred.shape != true.shape or pred.ndim < 4:
        raise ValueError(
            f"nrmse: expected equal shapes (N, T, *spatial, F), got {pred.shape}, {true.shape}"
        )
    if skip_initial:
        pred, true = pred[:, 1:], true[:, 1:]
    spatial = tuple(range(2, pred.ndim - 1))
    error = jnp.sqrt(jnp.mean(jnp.square(pred - true), axis=spatial))
    norm = jnp.sqrt(jnp.mean(jnp.square(true), axis=spatial))
    return jnp.mean(error / norm)


def run_nrmse(task, run_dir) -> dict[str, float]:
    """``{model: nRMSE}`` of a simulated run (its ``predictions.nc``)."""
    import numpy as np
    import xarray as xr

    path = pathlib.Path(run_dir) / "predictions.nc"
    if not path.exists():
        raise FileNotFoundError(f"{path} not found: run `wdno {task.name} simulate` first")
    with xr.open_dataset(path) as dataset:
        models = [m for m in dataset.attrs["models"].split(",") if m]

        def stacked(suffix):
            return np.stack([dataset[f"{f.name}_{suffix}"].values for f in task.state_fields], -1)

        truth = stacked("true")
        return {
            name: float(nrmse(stacked(name), truth, skip_initial=task.skip_initial))
            for name in models
        }
