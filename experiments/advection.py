"""``wdno advection``: 1-D periodic advection u_t + beta u_x = 0 (PDEBench; spec §8.4)."""

from __future__ import annotations

from experiments import _options


def _task():
    from systems.advection.task import TASK

    return TASK


def add_parser(subparsers):
    return _options.add_system(
        subparsers,
        "advection",
        _task,
        help="1-D periodic advection (PDEBench), simulation only",
        description="1-D periodic advection u_t + beta u_x = 0 (PDEBench; WDNO paper, Sec. 4). "
        "--data may name a PDEBench 1D_Advection_Sols_beta*.hdf5 file (train: its first 90%%, "
        "test: the rest).",
        generate_options={
            "batch_size": dict(
                type=_options.number(), default=None, help="solver batch (default: preset)"
            ),
            "beta": dict(
                type=_options.number(float, 0, strict=True),
                default=None,
                help="advection speed (default: the preset's, 0.1)",
            ),
        },
    )
