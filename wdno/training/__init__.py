"""Training: the optax loop with EMA and checkpoints (``loop``), resumable minibatches
(``batches``), data parallelism over devices and processes (``parallel``)."""

from wdno.training.loop import (
    NonFiniteLossError,
    TrainConfig,
    TrainingInterrupted,
    TrainResult,
    TrainState,
    ema_decay_schedule,
    learning_rate_schedule,
    make_optimizer,
    make_train_step,
    sample_model,
    train,
)

__all__ = [
    "NonFiniteLossError",
    "TrainConfig",
    "TrainResult",
    "TrainState",
    "TrainingInterrupted",
    "ema_decay_schedule",
    "learning_rate_schedule",
    "make_optimizer",
    "make_train_step",
    "sample_model",
    "train",
]
