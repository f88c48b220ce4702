"""Random minibatches of an in-memory training set, resumable at any step.

Batch ``s`` is drawn from epoch ``s // steps_per_epoch``'s permutation, which depends only on
``(seed, epoch)``: a run resumed at step ``s`` sees exactly the batches it would have seen, and
two models trained with the same seed see the same samples in the same order (the fair
comparison of paper Table 1 needs "same data, same budget"). With several processes, each yields
its own contiguous share of the same global batch, so the global batches do not depend on the
number of processes.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping

import jax
import numpy as np

__all__ = ["Minibatches", "minibatches", "padded_batches"]


@dataclasses.dataclass(frozen=True, eq=False)
class Minibatches:
    """A resumable stream ``start_step -> iterator of batch dicts`` (built by `minibatches`).

    Process ``p`` of ``P`` yields rows ``[p L, (p + 1) L)`` of every global batch of
    ``batch_size`` samples, ``L = batch_size / P``, followed by the constants.

    Attributes:
        arrays: batch data by name, sharing the sample axis 0.
        batch_size: global samples per batch (all processes together).
        seed: seed of the permutations.
        constants: entries added unchanged to every batch (the same for every sample).
        process_index: this process (default: ``jax.process_index()`` when iterated).
        process_count: number of processes (default: ``jax.process_count()`` when iterated).
    """

    arrays: Mapping[str, np.ndarray]
    batch_size: int
    seed: int = 0
    constants: Mapping[str, np.ndarray] = dataclasses.field(default_factory=dict)
    process_index: int | None = None
    process_count: int | None = None

    @property
    def constant_keys(self) -> tuple[str, ...]:
        """Names of the constant entries (replicated by `wdno.training.parallel.shard_batch`)."""
        return tuple(self.constants)

    def __call__(self, start_step: int = 0) -> Iterator[dict]:
        index = jax.process_index() if self.process_index is None else self.process_index
        count = jax.process_count() if self.process_count is None else self.process_count
        if self.batch_size % count:
            raise ValueError(
                f"minibatches: batch_size {self.batch_size} is not divisible by the {count} "
                "processes"
            )
        local = self.batch_size // count
        num = len(next(iter(self.arrays.values())))
        steps_per_epoch = num // self.batch_size
        step = start_step
        while True:
            epoch, position = divmod(step, steps_per_epoch)
            order = np.random.default_rng([self.seed, epoch]).permutation(num)
            rows = np.sort(order[position * self.batch_size : (position + 1) * self.batch_size])
            rows = rows[index * local : (index + 1) * local]
            yield {**{name: a[rows] for name, a in self.arrays.items()}, **self.constants}
            step += 1


def minibatches(
    data: np.ndarray | Mapping[str, np.ndarray],
    batch_size: int,
    *,
    seed: int = 0,
    constants: Mapping[str, np.ndarray] | None = None,
    process_index: int | None = None,
    process_count: int | None = None,
) -> Minibatches:
    """A callable ``start_step -> iterator of batch dicts`` for :func:`wdno.train.train`.

    Args:
        data: ``(N, ...)`` array (yielded as ``"x0"``) or a dict of arrays sharing axis 0.
        batch_size: global samples per batch; the last incomplete batch of an epoch is dropped.
        seed: seed of the permutations.
        constants: extra entries added to every batch unchanged (e.g. ``known_mask``); the
            stream names them in ``constant_keys`` so they are replicated, never split.
        process_index, process_count: this process's share of each batch (default: JAX's
            process index and count, read when the stream is iterated).

    Raises:
        ValueError: fewer samples than ``batch_size``, or arrays of unequal length.
    """
    arrays = {"x0": data} if isinstance(data, np.ndarray) else dict(data)
    lengths = {name: len(a) for name, a in arrays.items()}
    num = next(iter(lengths.values()))
    if len(set(lengths.values())) != 1:
        raise ValueError(f"minibatches: arrays must share axis 0, got lengths {lengths}")
    if num < batch_size:
        raise ValueError(
            f"minibatches: batch_size {batch_size} exceeds the {num} training samples; "
            "use a smaller batch or more data"
        )
    return Minibatches(
        arrays, batch_size, seed, dict(constants or {}), process_index, process_count
    )


def padded_batches(num: int, batch_size: int) -> Iterator[tuple[slice, np.ndarray]]:
    """``(rows, index)`` per batch: ``index`` has exactly ``batch_size`` entries (the last batch
    repeats sample 0), so every batch has one shape and compiles once; keep ``rows`` of the
    output."""
    batch_size = max(1, min(batch_size, num))
    for start in range(0, num, batch_size):
        stop = min(start + batch_size, num)
        index = np.concatenate([np.arange(start, stop), np.zeros(batch_size - (stop - start), int)])
        yield slice(0, stop - start), index
