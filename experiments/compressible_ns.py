"""``wdno compressible-ns``: 1-D compressible Navier-Stokes, PDEBench's CFD shock case (spec
§8.3). The module is ``compressible_ns`` (a Python name); the command is ``compressible-ns``."""

from __future__ import annotations

from experiments import _options


def _task():
    from systems.compressible_ns.task import TASK

    return TASK


def add_parser(subparsers):
    return _options.add_system(
        subparsers,
        "compressible-ns",
        _task,
        help="1-D compressible Navier-Stokes (PDEBench CFD shocks), simulation only",
        description="1-D compressible Navier-Stokes for density, velocity and pressure from "
        "random Riemann-type initial states (PDEBench's 1-D CFD shock data, eta = zeta = 1e-8; "
        "WDNO paper, Sec. 4). --data may name a PDEBench 1D_CFD_Shock_*.hdf5 file (train: its "
        "first 90%%, test: the rest).",
        generate_options={
            "batch_size": dict(
                type=_options.number(), default=None, help="solver batch (default: preset)"
            ),
            "boundary": dict(
                choices=("outgoing", "periodic"),
                default=None,
                help="boundary condition (default: the preset's, outgoing)",
            ),
        },
    )
