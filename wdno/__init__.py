"""wdno: the Wavelet Diffusion Neural Operator (Hu et al., ICLR 2025) in JAX.

The package holds the method only (wavelets, networks, diffusion, training,
multi-resolution, control). Physical systems live in ``systems`` and are handed
to the method as arrays and plain callables; ``wdno`` never imports them.
"""

__version__ = "0.1.0"

from wdno import _xla_cpu

_xla_cpu.set_defaults()  # before JAX creates its CPU backend; see wdno/_xla_cpu.py
