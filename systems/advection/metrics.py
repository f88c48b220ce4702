"""PDEBench's normalised RMSE (Takamoto et al. 2022, ``pdebench/models/metrics.py``).

    nRMSE = mean_{n, t, f} ||pred[n, t, :, f] - true[n, t, :, f]||_2 / ||true[n, t, :, f]||_2

the spatial L2 error of every sample, time level and field relative to the truth's norm, averaged
(PDEBench's ``err_nRMSE`` with ``if_mean``): :func:`wdno.evaluation.metrics.nrmse`, which the
driver's results table reports for every system; here, the same for a run's ``predictions.nc``.
"""

from __future__ import annotations

import pathlib

from wdno.evaluation.metrics import nrmse

__all__ = ["nrmse", "run_nrmse"]


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
