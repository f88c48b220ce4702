"""Random minibatches of an in-memory training set, resumable at any step.

Batch ``s`` is drawn from epoch ``s // steps_per_epoch``'s permutation, which depends only on
``(seed, epoch)``: a run resumed at step ``s`` sees exactly the batches it would have seen, and
two models trained with the same seed see the same samples in the same order (the fair
comparison of paper Table 1 needs "same data, same budget").
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

import numpy as np

__all__ = ["minibatches"]


def minibatches(
    data: np.ndarray | Mapping[str, np.ndarray],
    batch_size: int,
    *,
    seed: int = 0,
    constants: Mapping[str, np.ndarray] | None = None,
):
    """A callable ``start_step -> iterator of batch dicts`` for :func:`wdno.train.train`.

    Args:
        data: ``(N, ...)`` array (yielded as ``"x0"``) or a dict of arrays sharing axis 0.
        batch_size: samples per batch; the last incomplete batch of an epoch is dropped.
        seed: seed of the permutations.
        constants: extra entries added to every batch unchanged (e.g. ``known_mask``).

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
    steps_per_epoch = num // batch_size
    constants = dict(constants or {})

    def stream(start_step: int = 0) -> Iterator[dict]:
        step = start_step
        while True:
            epoch, position = divmod(step, steps_per_epoch)
            order = np.random.default_rng([seed, epoch]).permutation(num)
            index = np.sort(order[position * batch_size : (position + 1) * batch_size])
            yield {**{name: a[index] for name, a in arrays.items()}, **constants}
            step += 1

    return stream
