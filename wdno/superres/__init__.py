"""Multi-resolution training and zero-shot super-resolution (paper Sec. 3.4, spec §7).

One conditional model, the super-resolution model (SRM), learns ``p(W^(2r) | up(W^(r)))``: the
joint space-time wavelet coefficients of a trajectory at resolution ``2r`` given those at ``r``
repeated 2x along time and space, plus the known conditions at ``2r`` (``u0`` and the control).
Because a 2x sub-sampling is a change of coordinates under which the PDE keeps its form, the same
model is trained on several resolution pairs and applied repeatedly beyond the finest one.

* :mod:`~wdno.superres.pairs`: a trajectory's sub-sampled levels (``[::2]`` in time and space,
  end times kept) and the ``(coarse, fine)`` pairs.
* :mod:`~wdno.superres.layout`: the SRM tensor (the fine encoding of
  :mod:`wdno.transforms.encoding` plus always-known "low" channels), its masks, encode/decode.
  Odd coefficient counts are handled by cropping the repeated low input to the fine extent, not
  by the original's repeated target row.
* :mod:`~wdno.superres.batches`: SRM tensors of every pair with one shared set of channel scales,
  and a resumable stream that draws a random pair per step (one compiled shape per pair).
* :mod:`~wdno.superres.cascade`: base trajectories refined level by level with a denoiser
  callable, conditioned on the known conditions at every level.
* :mod:`~wdno.superres.simulator`: the trained SRM (fit on every pair, save, load, upscale).
  ``transform="identity"`` trains the same scheme on the physical fields (the paper's
  multi-resolution DDPM ablation).
* :mod:`~wdno.superres.zero_shot`: a trained FNO on finer grids (its zero-shot baseline).

Nothing here knows a particular system; ``systems/<name>/superres.py`` adds grid checks.
"""

from wdno.superres.batches import (
    MultiResolutionData,
    MultiResolutionMinibatches,
    multiresolution_minibatches,
    prepare,
)
from wdno.superres.cascade import Level, refine, super_resolve
from wdno.superres.layout import SuperResLayout, make_layout
from wdno.superres.pairs import downsample, resolution_levels, resolution_pairs
from wdno.superres.simulator import SuperResolutionModel

__all__ = [
    "Level",
    "MultiResolutionData",
    "MultiResolutionMinibatches",
    "SuperResLayout",
    "SuperResolutionModel",
    "downsample",
    "make_layout",
    "multiresolution_minibatches",
    "prepare",
    "refine",
    "resolution_levels",
    "resolution_pairs",
    "super_resolve",
]
