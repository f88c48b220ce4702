"""XLA:CPU settings that wdno applies before JAX starts (issue 10, "a faster training step").

With jaxlib 0.10, XLA:CPU hands convolutions to YNNPACK fusions by default; on the U-Net's
shapes YNNPACK's convolutions run at about 60 % of the speed of XLA's own (Eigen) convolutions
(measured on a 2-core AVX-512 machine: a 3x3 32->32 convolution on 16 x 64 x 64 takes 12.2 ms
forward against 7.3 ms, the 7x7 9->32 input convolution 37 ms against 14 ms). Keeping YNNPACK for
matrix products only made the U-Net's gradient step (batch 16, 64 x 64 x 9, side by side in one
process) 1.15x faster for the current network and 1.28-1.31x for its original formulation. The
flag only concerns CPU compilation; GPU and TPU ignore it.

It goes into ``XLA_FLAGS`` when ``wdno`` is imported, so it takes effect only if JAX has not yet
created its CPU backend (the command line imports ``wdno`` first). It is not set when
``XLA_FLAGS`` already names it, when ``WDNO_XLA_CPU_DEFAULTS=0``, or for a jaxlib other than the
tested 0.10 series (XLA refuses unknown flags, and the experimental flag may change name).
"""

from __future__ import annotations

import importlib.metadata
import os

FLAG = "xla_cpu_experimental_ynn_fusion_type"
VALUE = "LIBRARY_FUSION_TYPE_DOT"
TESTED_JAXLIB = ("0.10.",)


def set_defaults(environ=os.environ) -> bool:
    """Add ``--xla_cpu_experimental_ynn_fusion_type=LIBRARY_FUSION_TYPE_DOT`` to ``XLA_FLAGS``
    unless the user chose otherwise (see the module docstring); returns whether it was added."""
    if environ.get("WDNO_XLA_CPU_DEFAULTS", "1").strip().lower() in ("0", "false", "no", "off"):
        return False
    flags = environ.get("XLA_FLAGS", "")
    if FLAG in flags:
        return False
    try:
        version = importlib.metadata.version("jaxlib")
    except importlib.metadata.PackageNotFoundError:
        return False
    if not version.startswith(TESTED_JAXLIB):
        return False
    environ["XLA_FLAGS"] = f"{flags} --{FLAG}={VALUE}".strip()
    return True
