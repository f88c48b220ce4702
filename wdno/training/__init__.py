"""Training: the configuration (``config``), the optax loop with EMA and checkpoints (``loop``),
resumable minibatches (``batches``), data parallelism over devices and processes (``parallel``)
and compiled sampling of an NNX denoiser (``sampling``)."""

from wdno.training.config import (
    TrainConfig,
    ema_decay_schedule,
    learning_rate_schedule,
    make_optimizer,
)
from wdno.training.loop import (
    NonFiniteLossError,
    TrainingInterrupted,
    TrainResult,
    TrainState,
    make_train_step,
    train,
)
from wdno.training.sampling import sample_model

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
