"""Data-parallel scale-out with ``jax.sharding`` and multi-host ``jax.distributed``.

Not part of the paper (the original trains on 1-2 GPUs with PyTorch DDP, spec §11); this is the
engine-level equivalent: a 1-D device mesh with axis ``"data"``, every batch split along its
leading axis over the mesh, parameters and optimiser state replicated. The gradient of the
global-batch loss is then reduced across devices by XLA, so the same code runs on one CPU, several
GPUs or several hosts and gives the same result (up to floating-point summation order).

Multi-host: call `initialize_distributed` (or set ``WDNO_DISTRIBUTED=1``) before anything else
touches JAX; ``jax.distributed.initialize`` reads the cluster from SLURM/Open MPI/TPU metadata or
from ``JAX_COORDINATOR_ADDRESS``, ``JAX_NUM_PROCESSES`` and ``JAX_PROCESS_ID``. Each process then
feeds its own share of the global batch (`shard_batch`).
"""

from __future__ import annotations

import os

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
_INITIALIZED = False


def initialize_distributed(enable: bool | None = None) -> bool:
    """Start multi-host JAX if asked (argument, or env ``WDNO_DISTRIBUTED`` in 1/true/yes).

    Idempotent; returns whether ``jax.distributed`` is active.
    """
    global _INITIALIZED
    if enable is None:
        enable = os.environ.get("WDNO_DISTRIBUTED", "").lower() in ("1", "true", "yes")
    if enable and not _INITIALIZED:
        jax.distributed.initialize()
        _INITIALIZED = True
    return _INITIALIZED


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


def _batch_size(batch: dict) -> int:
    leaves = [batch["x0"]] if "x0" in batch else jax.tree.leaves(batch)
    shapes = [np.shape(leaf) for leaf in leaves if np.ndim(leaf) >= 1]
    if not shapes:
        raise ValueError("shard_batch: the batch holds no array with a leading batch axis.")
    return shapes[0][0]


def shard_batch(batch: dict, mesh: Mesh) -> dict:
    """Turn this process's share of a batch into global arrays sharded along the batch axis.

    The batch size is the leading size of ``batch["x0"]`` (or of the first array). Leaves with that
    leading size are split over the mesh; other leaves (broadcastable masks, channel weights)
    are replicated. With several processes, each passes its local share and the global batch is
    their concatenation.

    Raises:
        ValueError: if the global batch size is not divisible by the number of devices.
    """
    local_size = _batch_size(batch)
    num_devices = mesh.devices.size
    global_size = local_size * jax.process_count()
    if global_size % num_devices:
        raise ValueError(
            f"Global batch size {global_size} ({local_size} per process x "
            f"{jax.process_count()} processes) is not divisible by the {num_devices} devices of "
            f"the data mesh."
        )
    split, copy = batch_sharding(mesh), replicated(mesh)

    def place(leaf):
        leaf = np.asarray(leaf) if not isinstance(leaf, jax.Array) else leaf
        if leaf.ndim >= 1 and leaf.shape[0] == local_size:
            return jax.make_array_from_process_local_data(split, leaf)
        return jax.make_array_from_process_local_data(copy, leaf, leaf.shape)

    return jax.tree.map(place, batch)
