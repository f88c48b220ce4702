"""A toy system for docs/adding_a_system.md: the 1-D periodic heat equation with a control force.

    u_t = nu u_xx + f(t, x),   x in [0, 1) periodic,   f piecewise constant in time.

Each Fourier mode k obeys a linear ODE, so one interval of length dt is solved exactly:
``u_k <- exp(-nu q^2 dt) u_k + (1 - exp(-nu q^2 dt)) / (nu q^2) f_k`` with ``q = 2 pi k``
(``u_0 <- u_0 + dt f_0`` for the mean). Everything a system needs is here: the solver (one sample;
callers vmap), seeded data generation written atomically, a split reader, presets and the
:class:`wdno.task.Task` that hands it all to the method. ``tests/test_architecture.py`` runs it
through the generic driver and the shared CLI builders.
"""

from __future__ import annotations

import pathlib

import jax
import jax.numpy as jnp
import numpy as np

from wdno.io import atomic
from wdno.nets.fno import FNOConfig
from wdno.nets.unet import UNetConfig
from wdno.preset import RunPreset
from wdno.task import FieldSpec, Task, Trajectories
from wdno.transforms.encoding import EncodingConfig

NUM_INTERVALS, NUM_POINTS, VISCOSITY, INTERVAL = 8, 16, 0.02, 0.25
SPLIT_IDS = {"train": 0, "test": 1}


def solve(u0: jax.Array, force: jax.Array) -> jax.Array:
    """``u (T, X)`` from ``u0 (X,)`` and ``force (T - 1, X)``, exactly (one sample)."""
    if u0.ndim != 1:
        raise ValueError(f"solve acts on one sample (X,), got {u0.shape}; use jax.vmap")
    q = 2 * jnp.pi * jnp.fft.rfftfreq(u0.shape[0], d=1.0 / u0.shape[0])
    decay = jnp.exp(-VISCOSITY * q**2 * INTERVAL)
    gain = jnp.where(q > 0, (1 - decay) / jnp.maximum(VISCOSITY * q**2, 1e-30), INTERVAL)

    def step(u_hat, f):
        u_hat = decay * u_hat + gain * jnp.fft.rfft(f)
        return u_hat, jnp.fft.irfft(u_hat, n=u0.shape[0])

    _, states = jax.lax.scan(step, jnp.fft.rfft(u0), force)
    return jnp.concatenate([u0[None], states])


def rollout(initial_state: jax.Array, control: jax.Array) -> jax.Array:
    """The batched, channels-last solver the control module scores controls with:
    ``(N, X, 1)`` and ``(N, T - 1, X, 1)`` to ``(N, T, X, 1)``."""
    return jax.vmap(solve)(initial_state[..., 0], control[..., 0])[..., None]


class DataPreset:
    def __init__(self, num_train: int, num_test: int):
        self.sizes = {"train": num_train, "test": num_test}

    def num_samples(self, split: str) -> int:
        return self.sizes[split]


DATA_PRESETS = {"tiny": DataPreset(16, 4)}


def data_file(data_dir, split: str) -> pathlib.Path:
    return pathlib.Path(data_dir) / f"{split}.npz"


def generate(data_dir, split, data_preset, *, num=None, seed=0, overwrite=False, progress=True):
    """Random smooth ``u0`` and forces, per-sample keys ``fold_in(fold_in(key(seed), split),
    i)``, solved and written atomically to ``<data_dir>/<split>.npz``."""
    num = DATA_PRESETS[data_preset].num_samples(split) if num is None else num
    key = jax.random.fold_in(jax.random.key(seed), SPLIT_IDS[split])
    keys = jax.vmap(lambda i: jax.random.fold_in(key, i))(jnp.arange(num))
    x = jnp.arange(NUM_POINTS) / NUM_POINTS

    def sample(key):
        a, b, c = jax.random.normal(key, (3, 3))
        u0 = sum(a[k] * jnp.sin(2 * jnp.pi * (k + 1) * x + b[k]) for k in range(3))
        force = c[0] * jnp.sin(2 * jnp.pi * x + c[1]) * jnp.ones((NUM_INTERVALS, 1))
        return solve(u0, force), force

    state, force = jax.vmap(sample)(keys)
    path = data_file(data_dir, split)
    with atomic.atomic_path(path.with_suffix(".npz"), overwrite=overwrite) as temporary:
        with open(temporary, "wb") as handle:
            np.savez(handle, u=np.asarray(state), f=np.asarray(force))
    return path


def read_split(data_dir, split: str, limit: int | None = None) -> Trajectories:
    path = data_file(data_dir, split)
    if not path.exists():
        raise FileNotFoundError(f"{path} not found: run `wdno heat generate --split {split}`")
    with np.load(path) as stored:
        u, f = stored["u"][:limit], stored["f"][:limit]
    times = np.arange(NUM_INTERVALS + 1) * INTERVAL
    return Trajectories(
        state=u[..., None].astype(np.float32),
        control=f[..., None].astype(np.float32),
        coords={"t": times, "x": np.arange(NUM_POINTS) / NUM_POINTS},
    )


PRESETS = {
    "tiny": RunPreset(
        "tiny",
        data="tiny",
        num_test=4,
        unet=UNetConfig(
            1,
            dim=8,
            dim_mults=(1, 2),
            num_groups=2,
            attention=False,
            linear_attention=False,
            init_kernel_size=3,
        ),
        fno=FNOConfig(1, 1, width=8, modes=(4, 4), padding=(0, 0)),
        steps=4,
        batch_size=4,
        warmup_steps=0,
        sampling_steps=3,
        sim_batch_size=4,
    )
}

TASK = Task(
    name="heat",
    title="Heat (toy)",
    state_fields=(FieldSpec("u", "1", "temperature"),),
    control_fields=(FieldSpec("f", "1", "heat source"),),
    dims=("t", "x"),
    data_file=data_file,
    generate=generate,
    read_split=read_split,
    data_presets=DATA_PRESETS,
    presets=PRESETS,
    default_preset="tiny",
    transform=EncodingConfig(wavelet="bior2.4", mode="periodization", level=1),
    spectral_axis=2,
    rollout=rollout,
)
