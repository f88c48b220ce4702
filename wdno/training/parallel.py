"""Data-parallel scale-out with ``jax.sharding`` and multi-process ``jax.distributed``.

Not part of the paper (the original trains on 1-2 GPUs with PyTorch DDP, spec §11); this is the
engine-level equivalent: a 1-D device mesh with axis ``"data"``, the batch data split along its
leading axis over the mesh, parameters, optimiser state and batch constants replicated. The
gradient of the global-batch loss is then reduced across devices by XLA, so the same code runs on
one CPU, several GPUs or several hosts and gives the same result (up to floating-point summation
order).

Multi-process: call `initialize_distributed` (or set ``WDNO_DISTRIBUTED=1``) before anything else
touches JAX. Each process then feeds its own share of the global batch (`shard_batch`); the mesh
of `data_mesh` spans the devices of every process. See ``docs/scaling.md``.
"""

from __future__ import annotations

import os
from collections.abc import Collection

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

__all__ = [
    "DATA_AXIS",
    "batch_sharding",
    "data_mesh",
    "initialize_distributed",
    "is_main_process",
    "replicate",
    "replicated",
    "shard_batch",
]

DATA_AXIS = "data"


def _environment_int(name: str) -> int | None:
    value = os.environ.get(name)
    return None if value in (None, "") else int(value)


def initialize_distributed(
    enable: bool | None = None,
    *,
    coordinator_address: str | None = None,
    num_processes: int | None = None,
    process_id: int | None = None,
) -> bool:
    """Start multi-process JAX if asked (``enable``, else env ``WDNO_DISTRIBUTED`` in 1/true/yes).

    Arguments left out are read from ``JAX_COORDINATOR_ADDRESS``, ``JAX_NUM_PROCESSES`` and
    ``JAX_PROCESS_ID``, else detected by ``jax.distributed.initialize`` (SLURM, Open MPI, TPU).
    Cross-process collectives on CPU use gloo. Must run before any other JAX computation;
    idempotent.

    Args:
        enable: start ``jax.distributed`` (default: env ``WDNO_DISTRIBUTED``).
        coordinator_address: ``host:port`` of process 0's coordination service.
        num_processes: number of processes.
        process_id: index of this process in ``[0, num_processes)``.

    Returns:
        Whether ``jax.distributed`` is active.
    """
    if jax.distributed.is_initialized():
        return True
    if enable is None:
        enable = os.environ.get("WDNO_DISTRIBUTED", "").lower() in ("1", "true", "yes")
    if not enable:
        return False
    # The option concerns the CPU backend only; older JAX leaves it unset (no cross-process
    # collectives on CPU), newer JAX defaults to gloo. An explicit choice (e.g. "mpi") is kept.
    if not getattr(jax.config, "jax_cpu_collectives_implementation", "gloo"):
        jax.config.update("jax_cpu_collectives_implementation", "gloo")
    if num_processes is None:
        num_processes = _environment_int("JAX_NUM_PROCESSES")
    if process_id is None:
        process_id = _environment_int("JAX_PROCESS_ID")
    jax.distributed.initialize(coordinator_address, num_processes, process_id)
    return True


def is_main_process() -> bool:
    """True on process 0 (the one that logs and shows progress bars)."""
    return jax.process_index() == 0


def data_mesh(devices=None) -> Mesh:
    """1-D mesh ``("data",)`` over ``devices`` (default: every device of every process)."""
    devices = jax.devices() if devices is None else list(devices)
    return Mesh(np.asarray(devices), (DATA_AXIS,))


def replicated(mesh: Mesh) -> NamedSharding:
    """Sharding that keeps a full copy on every device."""
    return NamedSharding(mesh, PartitionSpec())


def batch_sharding(mesh: Mesh) -> NamedSharding:
    """Sharding that splits the leading (batch) axis over the ``"data"`` axis."""
    return NamedSharding(mesh, PartitionSpec(DATA_AXIS))


def replicate(tree, mesh: Mesh):
    """Copy every array leaf of ``tree`` replicated onto ``mesh`` (never aliasing the input, so
    the result may be donated)."""
    return jax.device_put(tree, replicated(mesh), may_alias=False)


def _local_batch_size(batch: dict, constants: Collection[str] | None) -> int:
    """Leading size of ``"x0"`` (or of the first batch-data array), checking the batch data."""
    names = [name for name in batch if constants is None or name not in constants]
    if constants is not None and not names:
        raise ValueError(f"shard_batch: every entry of the batch is a constant: {list(batch)}.")
    first = "x0" if "x0" in names else None
    leaves = jax.tree.leaves(batch[first] if first else {name: batch[name] for name in names})
    sizes = [np.shape(leaf)[0] for leaf in leaves if np.ndim(leaf) >= 1]
    if not sizes:
        raise ValueError("shard_batch: the batch holds no array with a leading batch axis.")
    if constants is not None:
        for name in names:
            shapes = [np.shape(leaf) for leaf in jax.tree.leaves(batch[name])]
            if any(len(shape) < 1 or shape[0] != sizes[0] for shape in shapes):
                raise ValueError(
                    f"shard_batch: batch entry {name!r} has shape {shapes}, but batch data must "
                    f"lead with the local batch size {sizes[0]}; name it in `constants` if it is "
                    f"the same for every sample."
                )
    return sizes[0]


def shard_batch(batch: dict, mesh: Mesh, *, constants: Collection[str] | None = None) -> dict:
    """Turn this process's share of a batch into global arrays on ``mesh``.

    Batch data is split along its leading axis over the ``"data"`` mesh axis; with several
    processes, each passes its local share and the global batch is their concatenation in
    process order. Constants (broadcastable masks, channel weights) must be equal on every
    process and are replicated.

    Args:
        batch: dict of arrays (or of pytrees of arrays).
        mesh: data mesh (`data_mesh`).
        constants: names of the constant entries; every other entry is batch data and must lead
            with the local batch size. ``None``: inferred, arrays whose leading size equals that
            of ``batch["x0"]`` (else of the first array) are batch data and the rest constants,
            which misreads a constant whose leading size happens to equal the batch size.

    Raises:
        ValueError: if the global batch size is not divisible by the number of devices, or a
            batch entry lacks the leading batch axis, or there is no batch data.
    """
    local_size = _local_batch_size(batch, constants)
    num_devices = mesh.devices.size
    global_size = local_size * jax.process_count()
    if global_size % num_devices:
        raise ValueError(
            f"Global batch size {global_size} ({local_size} per process x "
            f"{jax.process_count()} processes) is not divisible by the {num_devices} devices of "
            f"the data mesh."
        )
    split, copy = batch_sharding(mesh), replicated(mesh)

    def place(leaf, is_data: bool):
        leaf = leaf if isinstance(leaf, jax.Array) else np.asarray(leaf)
        if is_data:
            return jax.make_array_from_process_local_data(split, leaf)
        return jax.make_array_from_process_local_data(copy, leaf, leaf.shape)

    def place_entry(name, value):
        if constants is not None:
            return jax.tree.map(lambda leaf: place(leaf, name not in constants), value)
        return jax.tree.map(
            lambda leaf: place(leaf, np.ndim(leaf) >= 1 and np.shape(leaf)[0] == local_size), value
        )

    return {name: place_entry(name, value) for name, value in batch.items()}
