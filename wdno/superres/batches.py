"""Multi-resolution training data: SRM tensors of every pair and a stream that mixes them (§7.2).

:func:`prepare` encodes every ``(coarse, fine)`` pair of :func:`wdno.superres.pairs.
resolution_levels` into SRM tensors (:mod:`wdno.superres.layout`) and fits **one** set of
per-channel scales for all of them: each band's scale is its max |value| over every level in the
training data (as target and as low input) and ``u0`` bands likewise, with the usual headroom /
round-up rules (:func:`wdno.transforms.normalization.scales_from_max`). One set, not one per
level, because the model is applied beyond the training resolutions (zero-shot), where no data
exist to fit scales, and because it must see a band on the same scale as target and as low input
one level up. Approximation bands of smooth fields keep their size across resolutions (the
filters are normalised), detail bands shrink as the grid is refined, so the coarsest level sets
their scale and the finer levels lie well inside [-1, 1], which is what the sampler's clipping
needs (spec pitfall 7). This is the original's choice (one ``RESCALER`` for all levels, §3.5).

:func:`multiresolution_minibatches` draws the pair of each step at random (uniform by default,
like the original's ``SuperDataLoader``) and a minibatch from that pair's data, with the pair's
masks as constants: one array shape per pair, so a training step compiles once per pair. The
stream is a callable ``start_step -> iterator`` like :func:`wdno.training.batches.minibatches`
and is resumable: the pair of step ``s`` depends only on ``(seed, s)``, and each pair's minibatch
stream continues at the number of steps that drew it before ``s``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import jax
import numpy as np

from wdno.superres import layout as sr_layout
from wdno.superres import pairs
from wdno.training import batches
from wdno.transforms import encoding, normalization

__all__ = [
    "MultiResolutionData",
    "MultiResolutionMinibatches",
    "multiresolution_minibatches",
    "prepare",
]

CHOICE_BLOCK = 4096  # steps whose pair choices come from one generator call


@dataclasses.dataclass(frozen=True)
class MultiResolutionData:
    """Normalised SRM tensors of every training pair, finest pair first.

    Attributes:
        layouts: one :class:`~wdno.superres.layout.SuperResLayout` per pair.
        encoded: ``(N, *layout.shape)`` normalised tensors, one array per pair.
        normalizer: the shared per-channel scales (module docstring).
    """

    layouts: tuple[sr_layout.SuperResLayout, ...]
    encoded: tuple[np.ndarray, ...]
    normalizer: normalization.Normalizer


def prepare(
    config: encoding.EncodingConfig,
    state,
    control=None,
    *,
    num_levels: int = 4,
    headroom: float = 1.0,
    round_up: bool = False,
    batch_size: int = encoding.DATASET_BATCH,
) -> MultiResolutionData:
    """Pairs, SRM tensors and shared scales of a training set at its finest resolution.

    Args:
        config: the encoding (wavelet, mode, level, pad multiple).
        state, control: ``(N, T, *spatial, Fs)`` and ``(N, T - 1, *spatial, Fc)`` (or None) at
            the finest training resolution (Burgers: 81x120, the base resolution).
        num_levels: levels including the finest; ``num_levels - 1`` pairs (Burgers: 4 levels,
            pairs 41x60 -> 81x120, 21x30 -> 41x60, 11x15 -> 21x30).
        headroom, round_up: scale rules of :func:`~wdno.transforms.normalization.scales_from_max`.
        batch_size: trajectories encoded per call.
    """
    if num_levels < 2:
        raise ValueError(f"prepare: need num_levels >= 2 (one pair), got {num_levels}")
    levels = pairs.resolution_levels(state, control, num_levels)
    layouts, encoded = [], []
    for coarse_index, fine_index in pairs.resolution_pairs(num_levels):
        fine_state, fine_control = levels[fine_index]
        layout = sr_layout.make_layout(
            config, fine_state.shape[1:], None if fine_control is None else fine_control.shape[1:]
        )
        layouts.append(layout)
        encoded.append(_encode_pairs(layout, levels[fine_index], levels[coarse_index], batch_size))
    max_abs = np.max([normalization.channel_max_abs(e) for e in encoded], axis=0)
    scale = normalization.scales_from_max(
        sr_layout.superres_scale(layouts[0], max_abs), headroom=headroom, round_up=round_up
    )
    normalizer = normalization.Normalizer(scale)
    encoded = tuple((e / scale).astype(np.float32) for e in encoded)
    return MultiResolutionData(tuple(layouts), encoded, normalizer)


def _encode_pairs(layout, fine, coarse, batch_size) -> np.ndarray:
    encode = jax.jit(sr_layout.encode_pair, static_argnums=0)
    parts = []
    for start in range(0, len(fine[0]), batch_size):
        rows = slice(start, start + batch_size)
        fine_control = None if fine[1] is None else fine[1][rows]
        coarse_control = None if coarse[1] is None else coarse[1][rows]
        parts.append(
            np.asarray(encode(layout, fine[0][rows], fine_control, coarse[0][rows], coarse_control))
        )
    return np.concatenate(parts)


@dataclasses.dataclass(frozen=True, eq=False)
class MultiResolutionMinibatches:
    """A resumable stream mixing per-pair minibatch streams (module docstring).

    Attributes:
        streams: one :class:`wdno.training.batches.Minibatches` per pair (with its masks).
        seed: seed of the pair choices.
        probabilities: probability of each pair per step (uniform when None).
    """

    streams: tuple[batches.Minibatches, ...]
    seed: int = 0
    probabilities: tuple[float, ...] | None = None

    @property
    def constant_keys(self) -> tuple[str, ...]:
        return self.streams[0].constant_keys

    def pairs_at(self, start: int, stop: int) -> np.ndarray:
        """The pair index of every step in ``[start, stop)``."""
        first, last = start // CHOICE_BLOCK, max(start, stop - 1) // CHOICE_BLOCK
        blocks = [self._block(b) for b in range(first, last + 1)]
        offset = first * CHOICE_BLOCK
        return np.concatenate(blocks)[start - offset : stop - offset]

    def _block(self, block: int) -> np.ndarray:
        rng = np.random.default_rng([self.seed, 0x5352, block])  # 0x5352: "SR", not an epoch
        return rng.choice(len(self.streams), size=CHOICE_BLOCK, p=self.probabilities)

    def __call__(self, start_step: int = 0):
        drawn = np.bincount(self.pairs_at(0, start_step), minlength=len(self.streams))
        iterators = [stream(int(n)) for stream, n in zip(self.streams, drawn, strict=True)]
        step = start_step
        while True:
            block_end = (step // CHOICE_BLOCK + 1) * CHOICE_BLOCK
            for pair in self.pairs_at(step, block_end):
                yield next(iterators[pair])
            step = block_end


def multiresolution_minibatches(
    data: MultiResolutionData,
    batch_size: int,
    *,
    seed: int = 0,
    weight_channels: bool = True,
    probabilities: Sequence[float] | None = None,
    process_index: int | None = None,
    process_count: int | None = None,
) -> MultiResolutionMinibatches:
    """The training stream for :func:`wdno.training.train`: batches ``{"x0", "known_mask",
    "loss_mask", "channel_weights"}`` of a random pair at every step.

    Args:
        data: from :func:`prepare`.
        batch_size: samples per batch (every pair has the same trajectories, so the same count).
        seed: seed of the pair choices and of each pair's permutations.
        weight_channels: weigh each channel's loss by its relative scale (as
            :class:`wdno.simulators.diffusion.DiffusionSimulator` does).
        probabilities: per-pair probabilities (default uniform, the original's rule).
        process_index, process_count: as in :func:`wdno.training.batches.minibatches`.
    """
    if probabilities is not None:
        probabilities = tuple(float(p) for p in probabilities)
        if len(probabilities) != len(data.layouts) or not np.isclose(sum(probabilities), 1.0):
            raise ValueError(
                f"multiresolution_minibatches: need {len(data.layouts)} probabilities summing "
                f"to 1, got {probabilities}"
            )
    scale = data.normalizer.scale
    streams = []
    for index, (layout, encoded) in enumerate(zip(data.layouts, data.encoded, strict=True)):
        constants = {
            "known_mask": layout.known_mask()[None],
            "loss_mask": ~layout.pad_mask()[None],
        }
        if weight_channels:
            constants["channel_weights"] = (scale / scale.mean()).astype(np.float32)
        pair_seed = int(np.random.SeedSequence([seed, index]).generate_state(1)[0])
        streams.append(
            batches.minibatches(
                encoded,
                batch_size,
                seed=pair_seed,
                constants=constants,
                process_index=process_index,
                process_count=process_count,
            )
        )
    return MultiResolutionMinibatches(tuple(streams), seed, probabilities)
