"""``wdno burgers``: 1-D viscous Burgers with a control force (paper Sec. 4.1, spec §8.1)."""

from __future__ import annotations

from experiments import _options


def _task():
    from systems.burgers.task import TASK

    return TASK


def add_parser(subparsers):
    return _options.add_system(
        subparsers,
        "burgers",
        _task,
        help="1-D viscous Burgers with a control force",
        description="1-D viscous Burgers with a control force (WDNO paper, Sec. 4.1).",
        generate_options={
            "batch_size": dict(
                type=_options.number(), default=None, help="solver batch (default: preset)"
            ),
            "resolution": dict(
                type=int,
                choices=(1, 2, 4, 8),
                default=1,
                help="stored grid factor k: u (80k+1) x 120k, f 80k x 120k",
            ),
        },
    )
