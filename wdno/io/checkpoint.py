"""Orbax checkpoints of a training run, with the configuration saved as JSON beside the arrays.

Not a part of the paper; the engineering around spec §6 (the original saves ``model``, ``ema``,
``opt`` and ``step`` with ``torch.save``). A checkpoint ``workdir/checkpoints/<step>/`` holds the
items ``params``, ``ema_params``, ``opt_state``, ``meta`` (step and PRNG key) and ``config``
(JSON: the network kind of :mod:`wdno.nets.registry`, its frozen config and the training config).
The model is rebuilt from that JSON through the registry, so ``restore(workdir)`` needs nothing
but the directory.
"""

from __future__ import annotations

import dataclasses
import pathlib

import jax
import numpy as np
import orbax.checkpoint as ocp
from flax import nnx

from wdno.io import atomic
from wdno.nets import registry

__all__ = [
    "Restored",
    "build_model",
    "checkpoint_manager",
    "latest_step",
    "model_description",
    "restore",
    "restore_items",
    "save",
]

CHECKPOINT_DIRECTORY = "checkpoints"
ARRAY_ITEMS = ("params", "ema_params", "opt_state", "meta")


def model_description(model: nnx.Module) -> dict:
    """JSON-able ``{"kind", "config"}`` of a registered network (:mod:`wdno.nets.registry`)."""
    return registry.describe(model)


def build_model(description: dict, *, abstract: bool = False, seed: int = 0) -> nnx.Module:
    """Build the network of a `model_description` (``abstract``: shapes only, no weights)."""
    return registry.build(description, abstract=abstract, seed=seed)


def checkpoint_manager(workdir, *, max_to_keep: int | None = None) -> ocp.CheckpointManager:
    """Orbax manager over ``workdir/checkpoints`` with the items of this module."""
    directory = pathlib.Path(workdir).absolute() / CHECKPOINT_DIRECTORY
    options = ocp.CheckpointManagerOptions(max_to_keep=max_to_keep, create=True)
    return ocp.CheckpointManager(directory, options=options, item_names=(*ARRAY_ITEMS, "config"))


def latest_step(workdir) -> int | None:
    """Step of the newest checkpoint under ``workdir``, or ``None``."""
    if not (pathlib.Path(workdir) / CHECKPOINT_DIRECTORY).exists():
        return None
    with checkpoint_manager(workdir) as manager:
        return manager.latest_step()


def save(
    workdir,
    step: int,
    *,
    params,
    ema_params,
    opt_state,
    meta: dict,
    config: dict,
    manager: ocp.CheckpointManager | None = None,
) -> None:
    """Save one checkpoint (all processes must call this) and ``workdir/config.json``.

    Args:
        workdir: run directory.
        step: training step.
        params, ema_params, opt_state: pytrees of arrays.
        meta: small arrays (step, PRNG key data).
        config: JSON-able dict (`model_description` under ``"model"``, the training config...).
        manager: an open manager to reuse (default: a new one, closed afterwards).
    """
    own = manager is None
    manager = checkpoint_manager(workdir) if own else manager
    manager.save(
        step,
        args=ocp.args.Composite(
            params=ocp.args.StandardSave(params),
            ema_params=ocp.args.StandardSave(ema_params),
            opt_state=ocp.args.StandardSave(opt_state),
            meta=ocp.args.StandardSave(meta),
            config=ocp.args.JsonSave(config),
        ),
        force=True,
    )
    manager.wait_until_finished()
    if jax.process_index() == 0:
        path = pathlib.Path(workdir) / "config.json"
        atomic.write_json(path, config)
    if own:
        manager.close()


def _abstract(tree, sharding):
    return jax.tree.map(
        lambda x: jax.ShapeDtypeStruct(np.shape(x), x.dtype, sharding=sharding), tree
    )


def restore_items(workdir, targets: dict, *, step: int | None = None, sharding=None):
    """Restore the named array items onto ``sharding`` (default: the first local device).

    Args:
        workdir: run directory.
        targets: item name -> pytree with the saved structure (arrays or shape structs).
        step: checkpoint step (default: latest).
        sharding: sharding of every restored array.

    Returns:
        ``(step, items, config)``: the restored pytrees by name and the JSON config.
    """
    sharding = sharding or jax.sharding.SingleDeviceSharding(jax.local_devices()[0])
    with checkpoint_manager(workdir) as manager:
        step = manager.latest_step() if step is None else step
        if step is None:
            raise FileNotFoundError(
                f"No checkpoint under {pathlib.Path(workdir).absolute()}/{CHECKPOINT_DIRECTORY}."
            )
        args = {
            name: ocp.args.StandardRestore(_abstract(tree, sharding))
            for name, tree in targets.items()
        }
        restored = manager.restore(
            step, args=ocp.args.Composite(config=ocp.args.JsonRestore(), **args)
        )
    return step, {name: restored[name] for name in targets}, restored["config"]


@dataclasses.dataclass(frozen=True)
class Restored:
    """A model rebuilt from a checkpoint.

    Attributes:
        model: raw weights.
        ema_model: exponential moving average of the weights.
        step: training step of the checkpoint.
        config: the saved JSON config (``"model"``, ``"train"``).
    """

    model: nnx.Module
    ema_model: nnx.Module
    step: int
    config: dict

    @property
    def sampling_model(self) -> nnx.Module:
        """The model that the saved training config says to sample with (EMA or raw)."""
        use_ema = self.config.get("train", {}).get("use_ema_for_sampling", True)
        return self.ema_model if use_ema else self.model


def restore(workdir, *, step: int | None = None) -> Restored:
    """Rebuild the model from the JSON config of a checkpoint and load raw and EMA weights."""
    with checkpoint_manager(workdir) as manager:
        step = manager.latest_step() if step is None else step
        if step is None:
            raise FileNotFoundError(
                f"No checkpoint under {pathlib.Path(workdir).absolute()}/{CHECKPOINT_DIRECTORY}."
            )
        config = manager.restore(step, args=ocp.args.Composite(config=ocp.args.JsonRestore()))
    config = config["config"]
    abstract = build_model(config["model"], abstract=True)
    graphdef, params, rest = nnx.split(abstract, nnx.Param, ...)
    _, items, _ = restore_items(workdir, {"params": params, "ema_params": params}, step=step)
    model = nnx.merge(graphdef, items["params"], _materialise(rest))
    ema_model = nnx.merge(graphdef, items["ema_params"], _materialise(rest))
    return Restored(model=model, ema_model=ema_model, step=step, config=config)


def _materialise(state):
    """Non-parameter state of an abstract model (none in our networks) as zeros."""
    return jax.tree.map(lambda x: np.zeros(x.shape, x.dtype), state)
