"""A trained Fourier neural operator evaluated zero-shot on finer grids (the FNO baseline of the
paper's super-resolution comparison, Sec. 3.4 and Fig. 4a; spec §7.2).

The FNO (:mod:`wdno.nets.fno`, :class:`wdno.simulators.FNOSimulator`) maps the initial state
broadcast over time and the control to the whole trajectory on one ``(t, *space)`` grid: time is a
grid axis like space (Burgers: ``(81, 120)``). Its weights act on Fourier modes and pointwise, so
the same weights take a finer grid; :func:`fno_at_resolution` returns the simulator on the grid
``factor`` times finer **in time and in space** (the nested grids of :mod:`wdno.superres.pairs`:
``(T - 1) F + 1`` time levels, ``n F`` points per spatial axis; Burgers 81x120 at ``F = 8``:
641x960), i.e. zero-shot super-resolution in both, from ``u0`` and the control given at that grid.

What has to change with the grid, and what does not:

* **Domain padding.** The FNO pads every axis with zeros after the lifting and treats the padded
  axis as periodic, so its Fourier mode ``k`` has the physical frequency ``k / ((n + p) h)``
  (``h`` the spacing). Keeping ``p`` grid points at a finer grid would shorten the padded period
  and move every mode to another frequency: another operator. The padding is therefore rescaled so
  the padded extent is the same length: ``p' = (n + p) F - n'`` (space: ``p F``; time, with
  ``n' = (n - 1) F + 1``: ``(p + 1) F - 1``). The kept modes then act on the same frequencies, at
  every resolution.
* **Coordinate channels** (``append_grid``): ``linspace(0, 1, n)`` over the grid's own points,
  fixed by the network. For nested grids whose first and last points are the coarse grid's (the
  time axis) they give the same coordinate to the same instant; where the finer grid has points
  beyond the coarse grid's last one (Burgers ``x``: the factor-8 grid ends 7 finest spacings
  after the base grid's last point) the coordinate of a point differs by up to
  ``(F - 1) / (F n)`` of the range (Burgers: 7/952, 0.7 %). Kept as is (it is the standard FNO's
  convention for zero-shot super-resolution).
* **Modes, weights, normalisation**: unchanged.

This is the evaluation the paper's comparison needs: the FNO learns at the base resolution only
(no multi-resolution training) and is asked for the fine trajectory directly.
"""

from __future__ import annotations

import dataclasses

from flax import nnx

from wdno.nets import fno
from wdno.simulators.fno import FNOSimulator
from wdno.superres import pairs

__all__ = ["fno_at_resolution", "rescaled_padding"]


def rescaled_padding(
    grid_shape: tuple[int, ...], padding: tuple[int, ...], factor: int
) -> tuple[int, ...]:
    """Per-axis padding at the grid ``factor`` times finer that keeps the padded extent's length
    (module docstring): ``(n + p) F - n'`` with ``n'`` from :func:`wdno.superres.pairs.
    refine_shape`."""
    fine = pairs.refine_shape(grid_shape, factor)
    return tuple((n + p) * factor - m for n, p, m in zip(grid_shape, padding, fine, strict=True))


def fno_at_resolution(simulator: FNOSimulator, factor: int) -> FNOSimulator:
    """The same trained FNO on the grid ``factor`` (a power of two) times finer in time and space.

    Args:
        simulator: a trained :class:`wdno.simulators.FNOSimulator` (initial state given).
        factor: refinement; 1 returns the simulator as it is.

    Returns:
        A simulator whose ``predict(u0, f)`` takes ``u0 (N, *n F, Fs)`` and ``f ((T - 1) F,
        *n F, Fc)`` and returns ``((T - 1) F + 1, *n F, Fs)`` trajectories (Burgers at 8:
        ``(N, 960, 1)``, ``(N, 640, 960, 1)`` -> ``(N, 641, 960, 1)``).
    """
    layout = simulator.layout
    if layout.past_frames != 1:
        raise ValueError(
            f"fno_at_resolution: only the initial-state task is supported (past_frames 1), got "
            f"{layout.past_frames}"
        )
    grid = layout.grid_shape
    fine = pairs.refine_shape(grid, factor)
    if factor == 1:
        return simulator
    config = simulator.model.config
    network = dataclasses.replace(config, padding=rescaled_padding(grid, config.padding, factor))
    model = fno.FNO(network, rngs=nnx.Rngs(0))  # the structure only; the weights follow
    graphdef, _ = nnx.split(model)
    model = nnx.merge(graphdef, nnx.state(simulator.model))
    fine_layout = dataclasses.replace(layout, num_times=fine[0], spatial_shape=fine[1:])
    return dataclasses.replace(simulator, model=model, layout=fine_layout)
