"""Conditional simulation: the trajectory from its initial state and control (paper Sec. 3.3).

WDNO samples ``p(W_u | W_u0, W_f)``: the encoded tensor (:mod:`wdno.encoding`) holds the unknown
state coefficients together with the known control and initial-state coefficients, and the known
entries (and the zero padding) are imposed by replacement at every DDIM step (inpainting,
:func:`wdno.diffusion.ddim_sample`). The sample is denormalised and inverse-transformed. The
same function runs the physical-space DDPM baseline (``transform="identity"``), where the known
part is the control and the state's first time level.

Because the imposed values are the exact (normalised) coefficients of the given control, the
decoded control equals the given one up to float32 round-off. The initial state is not a subset
of the joint space-time coefficients, so the decoded ``u(t=0)`` is a model output; the returned
state carries the given ``u0`` at ``t = 0`` (what a user of a simulator expects, and what the
metrics skip anyway, paper Sec. 4), and ``initial_state_error`` reports how far the model's own
``u(t=0)`` was from it.
"""

from __future__ import annotations

import dataclasses
import functools

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx
from tqdm.auto import tqdm

from wdno import diffusion
from wdno.simulators import base
from wdno.training import batches
from wdno.transforms import encoding, normalization

__all__ = ["SamplerConfig", "Simulation", "simulate"]


@dataclasses.dataclass(frozen=True)
class SamplerConfig:
    """How samples are drawn (spec §4.1: DDIM, 50 steps, eta = 1, x0 clipped to [-1, 1]).

    Attributes:
        method: ``"ddim"`` or ``"ddpm"`` (ancestral, all schedule steps).
        num_steps: DDIM steps.
        eta: DDIM stochasticity (1: the original's setting).
        clip: clip the predicted clean sample to [-1, 1] (the normalisation makes data fit).
    """

    method: str = "ddim"
    num_steps: int = 50
    eta: float = 1.0
    clip: bool = True

    def __post_init__(self):
        if self.method not in ("ddim", "ddpm"):
            raise ValueError(
                f"SamplerConfig.method: expected 'ddim' or 'ddpm', got {self.method!r}"
            )
        if self.num_steps < 1:
            raise ValueError(f"SamplerConfig.num_steps: expected >= 1, got {self.num_steps}")


@dataclasses.dataclass(frozen=True)
class Simulation:
    """Result of :func:`simulate` (numpy arrays).

    Attributes:
        state: ``(N, T, *spatial, Fs)``, ``state[:, 0]`` equal to the given initial state.
        control: ``(N, T - 1, *spatial, Fc)`` decoded from the samples (equals the given control
            up to round-off, because it was imposed), or None without control.
        initial_state_error: ``(N,)`` max |decoded u(t=0) - given u0| before it was replaced.
    """

    state: np.ndarray
    control: np.ndarray | None
    initial_state_error: np.ndarray


@functools.partial(jax.jit, static_argnames=("graphdef", "layout", "sampler", "clip", "prediction"))
def _sample_batch(
    weights,
    scale,
    schedule,
    key,
    initial_state,
    control,
    *,
    graphdef,
    layout,
    sampler,
    clip,
    prediction="eps",
):
    """One batch of conditional samples, decoded: ``(state, control)``.

    Jitted with the model structure, layout and sampler as static arguments, so repeated calls
    (more batches, another test set, another notebook cell) reuse one compilation.
    """
    batch_size = initial_state.shape[0]
    normalizer = normalization.Normalizer(scale)
    known_mask = jnp.asarray(layout.known_mask(initial_state=True, control=True))  # simulation
    shape = (batch_size, *layout.shape)
    clip_range = (-1.0, 1.0) if clip else None
    state = jnp.zeros((batch_size, *layout.grid_shape, layout.num_state_fields))
    if layout.past_frames == 1:
        state = state.at[:, 0].set(initial_state)
    else:  # a forecast: the known leading frames
        state = state.at[:, : layout.past_frames].set(initial_state)
    known_values = normalizer.normalize(encoding.encode(layout, state, control))
    denoise = diffusion.noise_predictor(nnx.merge(graphdef, weights), schedule, prediction)
    options = dict(known_mask=known_mask, known_values=known_values, clip_range=clip_range)
    if sampler.method == "ddim":
        sample = diffusion.ddim_sample(
            denoise, shape, key, schedule, num_steps=sampler.num_steps, eta=sampler.eta, **options
        )
    else:
        sample = diffusion.ddpm_sample(denoise, shape, key, schedule, **options)
    return encoding.decode(layout, normalizer.denormalize(sample))


def simulate(
    model,
    layout: encoding.TrajectoryLayout,
    normalizer: normalization.Normalizer,
    schedule: diffusion.Schedule,
    initial_state,
    control=None,
    *,
    key: jax.Array | int = 0,
    sampler: SamplerConfig | None = None,
    batch_size: int = 64,
    prediction: str = "eps",
    progress: bool = True,
) -> Simulation:
    """Generate trajectories conditioned on their initial state (and control), in batches.

    Args:
        model: the trained noise predictor ``model(x_t, t)`` (an NNX module).
        layout: the encoding the model was trained on.
        normalizer: its channel scales.
        schedule: its diffusion schedule.
        initial_state: ``(N, *spatial, Fs)``, or the ``P`` known leading frames
            ``(N, P, *spatial, Fs)`` for a layout with ``past_frames = P > 1`` (a forecast).
        control: ``(N, T - 1, *spatial, Fc)`` or None when the layout has no control.
        key: PRNG key or seed; batch ``b`` uses ``fold_in(key, b)``.
        sampler: sampler settings.
        batch_size: samples per compiled batch (the last batch is padded, one compilation).
        prediction: what the model predicts (``"eps"``, ``"x0"``, ``"v"``), as trained.
        progress: progress bar over batches.

    Returns:
        :class:`Simulation`.
    """
    initial_state, control = base.check_conditions(layout, initial_state, control, "simulate")
    num = len(initial_state)
    key = jax.random.key(int(key)) if isinstance(key, (int, np.integer)) else key
    sampler = sampler or SamplerConfig()
    graphdef, weights = nnx.split(model)
    scale = jnp.asarray(normalizer.scale, jnp.float32)
    static = dict(
        graphdef=graphdef, layout=layout, sampler=sampler, clip=sampler.clip, prediction=prediction
    )
    states, controls = [], []
    padded = list(batches.padded_batches(num, batch_size))
    for number, (rows, index) in enumerate(tqdm(padded, desc="simulate", disable=not progress)):
        f = None if control is None else control[index]
        batch_key = jax.random.fold_in(key, number)
        state, decoded = _sample_batch(
            weights, scale, schedule, batch_key, initial_state[index], f, **static
        )
        states.append(np.asarray(state)[rows])
        if decoded is not None:
            controls.append(np.asarray(decoded)[rows])
    state = np.concatenate(states)
    known = state[:, 0] if layout.past_frames == 1 else state[:, : layout.past_frames]
    error = np.abs(known - initial_state).reshape(num, -1).max(axis=1)
    if layout.past_frames == 1:
        state[:, 0] = initial_state
    else:
        state[:, : layout.past_frames] = initial_state
    return Simulation(
        state=state,
        control=np.concatenate(controls) if controls else None,
        initial_state_error=error,
    )
