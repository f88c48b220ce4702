"""The 1-D compressible Navier-Stokes system (spec Sec. 8.3, PDEBench 1-D CFD shock data).

Modules: ``solver`` (single-sample finite-volume JAX solver), ``initial_states`` (seeded random
piecewise-constant states), ``exact_riemann`` (numpy exact Riemann solver, a test reference).
"""
