"""Fourier neural operator baseline (Li et al., ICLR 2021) in Flax NNX; spec §10 baselines.

The paper compares WDNO with FNO on every simulation task. This is the standard architecture for
1, 2 or 3 spatial axes, channels-last:

    v_0 = P(x [, grid])                      lifting, pointwise dense
    v_{l+1} = sigma(K_l v_l + W_l v_l)       L Fourier layers; sigma = GELU except after the last
    y = Q(v_L)                               projection MLP, pointwise

with the spectral convolution ``K v = irfftn(R * rfftn(v))`` restricted to the lowest ``modes``
frequencies per axis (both signs on every axis but the last, which the rfft halves). Non-periodic
data are zero-padded at the end of each spatial axis (domain padding) after the lifting and cropped
before the projection. For time-dependent problems the time axis is treated as a spatial axis
(e.g. Burgers ``(t, x) = (81, 120)``, with the initial state broadcast along time as input).
"""

from __future__ import annotations

import dataclasses
import string

import jax
import jax.numpy as jnp
from flax import nnx

__all__ = [
    "FNO",
    "FNOConfig",
    "SpectralConvolution",
    "broadcast_initial_state",
    "fno_loss",
]


@dataclasses.dataclass(frozen=True)
class FNOConfig:
    """Static configuration of an `FNO`.

    Attributes:
        in_channels: input channels ``C_in`` (before any appended grid channels).
        out_channels: output channels ``C_out``.
        width: hidden channels of the Fourier layers.
        modes: Fourier modes kept per spatial axis, one entry per axis (1 to 3 axes). On every axis
            but the last, frequencies ``0..m-1`` and ``-m..-1`` are kept (needs ``2m <= size``);
            on the last, rfft bins ``0..m-1`` (needs ``m <= size // 2 + 1``), sizes after padding.
        num_layers: number of Fourier layers ``L``.
        padding: zero padding appended to each spatial axis (an int for all axes or one per axis);
            use 0 for periodic data.
        append_grid: append normalised coordinates ``linspace(0, 1, size)`` per spatial axis as
            extra input channels.
        projection_width: hidden channels of the projection MLP.
    """

    in_channels: int
    out_channels: int
    width: int = 32
    modes: tuple[int, ...] = (12,)
    num_layers: int = 4
    padding: int | tuple[int, ...] = 8
    append_grid: bool = True
    projection_width: int = 128

    def __post_init__(self):
        modes = tuple(int(m) for m in self.modes)
        if not 1 <= len(modes) <= 3 or any(m < 1 for m in modes):
            raise ValueError(
                f"FNOConfig.modes must hold 1 to 3 positive ints (one per spatial axis), "
                f"got {self.modes}."
            )
        object.__setattr__(self, "modes", modes)
        padding = self.padding
        padding = (int(padding),) * len(modes) if isinstance(padding, int) else tuple(padding)
        if len(padding) != len(modes) or any(p < 0 for p in padding):
            raise ValueError(
                f"FNOConfig.padding must be a non-negative int or one per spatial axis "
                f"({len(modes)}), got {self.padding}."
            )
        object.__setattr__(self, "padding", padding)
        for name in ("in_channels", "out_channels", "width", "num_layers", "projection_width"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"FNOConfig.{name} must be >= 1, got {getattr(self, name)}.")

    @property
    def num_spatial_axes(self) -> int:
        return len(self.modes)


def _check_modes_fit(spatial_shape: tuple[int, ...], modes: tuple[int, ...], where: str):
    """Raises if a grid cannot hold the requested Fourier modes."""
    for axis, (size, mode) in enumerate(zip(spatial_shape, modes, strict=True)):
        last = axis == len(modes) - 1
        capacity = size // 2 + 1 if last else size // 2
        if mode > capacity:
            rule = "modes <= size // 2 + 1 (rfft axis)" if last else "2 * modes <= size"
            raise ValueError(
                f"{where}: spatial axis {axis} has size {size}, too small for modes={mode}; "
                f"expected {rule}. Spatial shape {spatial_shape}, modes {modes}."
            )


class SpectralConvolution(nnx.Module):
    """Fourier layer kernel ``K v = irfftn(R * rfftn(v))`` on the lowest modes.

    The complex weights ``R`` have shape ``(2 m_1, ..., 2 m_{d-1}, m_d, C_in, C_out)``; on each
    non-last axis the first ``m`` entries act on frequencies ``0..m-1`` and the next ``m`` on
    ``-m..-1``. They are stored as two real parameters, initialised uniformly in
    ``[0, 1 / (C_in C_out))`` as in Li et al.
    """

    def __init__(
        self, in_channels: int, out_channels: int, modes: tuple[int, ...], *, rngs: nnx.Rngs
    ):
        self.modes = tuple(int(m) for m in modes)
        self.in_channels = in_channels
        self.out_channels = out_channels
        shape = tuple(2 * m for m in self.modes[:-1]) + (self.modes[-1], in_channels, out_channels)
        scale = 1.0 / (in_channels * out_channels)
        self.weight_real = nnx.Param(scale * jax.random.uniform(rngs.params(), shape))
        self.weight_imag = nnx.Param(scale * jax.random.uniform(rngs.params(), shape))

    def __call__(self, x: jax.Array) -> jax.Array:
        """Applies the kernel to ``x`` of shape ``(B, *spatial, C_in)``; returns ``(B, *spatial,
        C_out)``."""
        num_axes = len(self.modes)
        spatial_shape = x.shape[1:-1]
        if x.ndim != num_axes + 2 or x.shape[-1] != self.in_channels:
            raise ValueError(
                f"SpectralConvolution: expected input (B, {num_axes} spatial axes, "
                f"{self.in_channels}), got shape {x.shape}."
            )
        _check_modes_fit(spatial_shape, self.modes, "SpectralConvolution")
        axes = tuple(range(1, num_axes + 1))
        spectrum = jnp.fft.rfftn(x, axes=axes)
        # Gather the kept low-frequency block.
        low = spectrum[(slice(None),) * num_axes + (slice(0, self.modes[-1]),)]
        for axis, mode in zip(axes[:-1], self.modes[:-1], strict=True):
            size = low.shape[axis]
            low = jnp.concatenate(
                [
                    jax.lax.slice_in_dim(low, 0, mode, axis=axis),
                    jax.lax.slice_in_dim(low, size - mode, size, axis=axis),
                ],
                axis=axis,
            )
        weight = jax.lax.complex(self.weight_real[...], self.weight_imag[...])
        letters = string.ascii_lowercase[:num_axes]
        mixed = jnp.einsum(f"z{letters}i,{letters}io->z{letters}o", low, weight.astype(low.dtype))
        # Scatter back into a zero spectrum of the full rfft size.
        for axis, mode, size in zip(axes[:-1], self.modes[:-1], spatial_shape[:-1], strict=True):
            zeros_shape = list(mixed.shape)
            zeros_shape[axis] = size - 2 * mode
            mixed = jnp.concatenate(
                [
                    jax.lax.slice_in_dim(mixed, 0, mode, axis=axis),
                    jnp.zeros(zeros_shape, mixed.dtype),
                    jax.lax.slice_in_dim(mixed, mode, 2 * mode, axis=axis),
                ],
                axis=axis,
            )
        pad = [(0, 0)] * mixed.ndim
        pad[num_axes] = (0, spatial_shape[-1] // 2 + 1 - self.modes[-1])
        mixed = jnp.pad(mixed, pad)
        return jnp.fft.irfftn(mixed, s=spatial_shape, axes=axes).astype(x.dtype)


def _coordinate_grid(batch: int, spatial_shape: tuple[int, ...], dtype) -> jax.Array:
    """``(B, *spatial, d)`` normalised coordinates ``linspace(0, 1, size)`` per axis."""
    axes = [jnp.linspace(0.0, 1.0, size, dtype=dtype) for size in spatial_shape]
    grid = jnp.stack(jnp.meshgrid(*axes, indexing="ij"), axis=-1)
    return jnp.broadcast_to(grid, (batch, *grid.shape))


class FNO(nnx.Module):
    """Fourier neural operator: ``model(x)`` maps ``(B, *spatial, C_in)`` to ``(B, *spatial,
    C_out)``.

    Works at any spatial size that holds ``config.modes`` after padding, including odd sizes, so
    the same weights evaluate at several resolutions.
    """

    def __init__(self, config: FNOConfig, *, rngs: nnx.Rngs):
        self.config = config
        lifted_in = config.in_channels + (config.num_spatial_axes if config.append_grid else 0)
        self.lifting = nnx.Linear(lifted_in, config.width, rngs=rngs)
        self.spectral_layers = nnx.List(
            [
                SpectralConvolution(config.width, config.width, config.modes, rngs=rngs)
                for _ in range(config.num_layers)
            ]
        )
        self.pointwise_layers = nnx.List(
            [nnx.Linear(config.width, config.width, rngs=rngs) for _ in range(config.num_layers)]
        )
        self.projection_hidden = nnx.Linear(config.width, config.projection_width, rngs=rngs)
        self.projection_out = nnx.Linear(config.projection_width, config.out_channels, rngs=rngs)

    def __call__(self, x: jax.Array) -> jax.Array:
        config = self.config
        num_axes = config.num_spatial_axes
        if x.ndim != num_axes + 2 or x.shape[-1] != config.in_channels:
            raise ValueError(
                f"FNO: expected input of shape (B, {num_axes} spatial axes, "
                f"{config.in_channels} channels), got {x.shape}."
            )
        spatial_shape = x.shape[1:-1]
        padded_shape = tuple(s + p for s, p in zip(spatial_shape, config.padding, strict=True))
        _check_modes_fit(padded_shape, config.modes, "FNO (size after padding)")
        if config.append_grid:
            x = jnp.concatenate([x, _coordinate_grid(x.shape[0], spatial_shape, x.dtype)], -1)
        v = self.lifting(x)
        v = jnp.pad(v, [(0, 0)] + [(0, p) for p in config.padding] + [(0, 0)])
        for index, (spectral, pointwise) in enumerate(
            zip(self.spectral_layers, self.pointwise_layers, strict=True)
        ):
            v = spectral(v) + pointwise(v)
            if index < config.num_layers - 1:
                v = jax.nn.gelu(v)
        v = v[(slice(None),) + tuple(slice(0, s) for s in spatial_shape)]
        return self.projection_out(jax.nn.gelu(self.projection_hidden(v)))


def broadcast_initial_state(initial_state: jax.Array, num_times: int) -> jax.Array:
    """Repeats an initial state along a new time axis, the usual FNO input for rollouts.

    Args:
        initial_state: ``(N, X[, C])`` (any trailing axes).
        num_times: number of time levels ``T``.

    Returns:
        ``(N, T, X[, C])`` with every time level equal to ``initial_state``.
    """
    initial_state = jnp.asarray(initial_state)
    if initial_state.ndim < 2:
        raise ValueError(
            f"broadcast_initial_state: expected (N, X[, C]), got shape {initial_state.shape}."
        )
    return jnp.broadcast_to(
        initial_state[:, None], (initial_state.shape[0], num_times, *initial_state.shape[1:])
    )


def fno_loss(
    model: FNO, inputs: jax.Array, targets: jax.Array, mask: jax.Array | None = None
) -> jax.Array:
    """Masked mean squared error of ``model(inputs)`` against ``targets``.

    Args:
        model: the network.
        inputs: ``(B, *spatial, C_in)``.
        targets: ``(B, *spatial, C_out)``.
        mask: optional boolean/0-1 array broadcastable to ``targets``; only entries where it is
            nonzero count (e.g. to drop the given initial state).

    Returns:
        Scalar ``sum(mask * (model(inputs) - targets)**2) / sum(mask)``.
    """
    predictions = model(inputs)
    if predictions.shape != targets.shape:
        raise ValueError(
            f"fno_loss: model output {predictions.shape} does not match targets {targets.shape}."
        )
    squared = jnp.square(predictions - targets)
    if mask is None:
        return jnp.mean(squared)
    try:
        weights = jnp.broadcast_to(jnp.asarray(mask, squared.dtype), squared.shape)
    except ValueError as error:
        raise ValueError(
            f"fno_loss: mask of shape {jnp.shape(mask)} is not broadcastable to targets "
            f"{targets.shape}."
        ) from error
    return jnp.sum(weights * squared) / jnp.sum(weights)
