"""Denoiser U-Net in Flax NNX over 1, 2 or 3 spatial axes; spec §5.1 (and §5.2 in spirit).

The network ``epsilon_theta(x_t, t)`` of the diffusion model (spec §4): it maps a noisy array of
wavelet coefficients ``(B, *spatial, C_in)`` and the diffusion step ``t`` of every sample to the
predicted noise ``(B, *spatial, C_out)``. For a 1-D PDE the spatial axes are the (t, x) coefficient
image (2-D convolutions, the Burgers ``Unet2D`` of spec §5.1); for a 2-D PDE the (t, y, x) volume
(3-D convolutions, the smoke network of spec §5.2, here with the same generic blocks).

Architecture (lucidrains' denoising-diffusion style, spec §5.1)::

    temb = MLP(sinusoidal(t))                                  dim -> 4 dim -> 4 dim, GELU
    h = init_conv(x)                                           7^n kernel
    per level (d_in, d_out): 2 x ResBlock(d_in), [linear attention], downsample (none at the last)
    mid: ResBlock, [full self-attention], ResBlock             coarsest level
    per level, reversed: 2 x ResBlock(concat skip), [linear attention], upsample
    out = Conv1(ResBlock(concat(h, init)))

``ResBlock``: conv3 -> GroupNorm -> ``x (1 + scale) + shift`` from ``temb`` -> SiLU -> conv3 ->
GroupNorm -> SiLU, plus a 1x1 residual projection. The network is fully convolutional (attention
acts on any number of positions), so one parameter set runs at several input sizes; only the
downsampled axes must be divisible by ``2 ** (len(dim_mults) - 1)``.
"""

from __future__ import annotations

import dataclasses
import math

import jax
import jax.numpy as jnp
from flax import nnx

__all__ = ["UNet", "UNetConfig", "sinusoidal_embedding"]


@dataclasses.dataclass(frozen=True)
class UNetConfig:
    """Static configuration of a `UNet`.

    Attributes:
        in_channels: input channels ``C_in``.
        out_channels: output channels ``C_out`` (``None``: same as ``in_channels``).
        dim: base width; level ``i`` has ``dim * dim_mults[i]`` channels.
        dim_mults: width multipliers, one per resolution level.
        num_spatial_dims: number of spatial axes (1, 2 or 3).
        attention: full multi-head self-attention in the middle (coarsest) block.
        linear_attention: linear attention (Shen et al.) after the residual blocks of every level.
        num_groups: GroupNorm groups (the Burgers original uses 1); must divide every width.
        attention_heads: heads of both attention kinds.
        attention_head_dim: channels per head.
        init_kernel_size: kernel size of the first convolution.
        downsample_axes: which spatial axes are halved between levels (default: all). The smoke
            original never downsamples time, i.e. ``(False, True, True)``.
        embedding_theta: base period of the sinusoidal noise-level embedding.
    """

    in_channels: int
    out_channels: int | None = None
    dim: int = 64
    dim_mults: tuple[int, ...] = (1, 2, 4)
    num_spatial_dims: int = 2
    attention: bool = True
    linear_attention: bool = True
    num_groups: int = 8
    attention_heads: int = 4
    attention_head_dim: int = 32
    init_kernel_size: int = 7
    downsample_axes: tuple[bool, ...] | None = None
    embedding_theta: float = 10000.0

    def __post_init__(self):
        object.__setattr__(self, "dim_mults", tuple(int(m) for m in self.dim_mults))
        if self.out_channels is None:
            object.__setattr__(self, "out_channels", self.in_channels)
        if self.num_spatial_dims not in (1, 2, 3):
            raise ValueError(
                f"UNetConfig.num_spatial_dims must be 1, 2 or 3, got {self.num_spatial_dims}."
            )
        if self.downsample_axes is None:
            object.__setattr__(self, "downsample_axes", (True,) * self.num_spatial_dims)
        axes = tuple(bool(a) for a in self.downsample_axes)
        if len(axes) != self.num_spatial_dims:
            raise ValueError(
                f"UNetConfig.downsample_axes needs one entry per spatial axis "
                f"({self.num_spatial_dims}), got {self.downsample_axes}."
            )
        object.__setattr__(self, "downsample_axes", axes)
        if not self.dim_mults or any(m < 1 for m in self.dim_mults):
            raise ValueError(f"UNetConfig.dim_mults must be positive ints, got {self.dim_mults}.")
        for name in ("in_channels", "out_channels", "dim", "num_groups"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"UNetConfig.{name} must be >= 1, got {getattr(self, name)}.")
        if self.dim % 2:
            raise ValueError(f"UNetConfig.dim must be even (sin/cos halves), got {self.dim}.")
        for width in self.widths:
            if width % self.num_groups:
                raise ValueError(
                    f"UNetConfig.num_groups={self.num_groups} must divide every level width "
                    f"{self.widths}."
                )

    @property
    def widths(self) -> tuple[int, ...]:
        """Channels per level, ``dim * dim_mults[i]``."""
        return tuple(self.dim * m for m in self.dim_mults)

    @property
    def size_multiple(self) -> int:
        """Every downsampled spatial size must be a multiple of this."""
        return 2 ** (len(self.dim_mults) - 1)

    @classmethod
    def cpu(cls, in_channels: int, num_spatial_dims: int = 2, **overrides) -> UNetConfig:
        """A small generic model for CPU experiments: dim 32, mults (1, 2, 4), both attentions.

        The networks of particular systems (the paper's Burgers U-Net, ...) are in their
        ``systems/<name>/presets.py``.
        """
        settings = dict(
            dim=32,
            dim_mults=(1, 2, 4),
            num_spatial_dims=num_spatial_dims,
            num_groups=8,
            attention_heads=2,
            attention_head_dim=16,
        )
        return cls(in_channels=in_channels, **{**settings, **overrides})

    @classmethod
    def tiny(cls, in_channels: int, num_spatial_dims: int = 2, **overrides) -> UNetConfig:
        """Tiny model for tests: dim 16, mults (1, 2), mid attention only, 3x3 first conv."""
        settings = dict(
            dim=16,
            dim_mults=(1, 2),
            num_spatial_dims=num_spatial_dims,
            num_groups=4,
            attention_heads=2,
            attention_head_dim=8,
            linear_attention=False,
            init_kernel_size=3,
        )
        return cls(in_channels=in_channels, **{**settings, **overrides})


def sinusoidal_embedding(t: jax.Array, dim: int, theta: float = 10000.0) -> jax.Array:
    """Transformer position embedding of the diffusion step (DDPM, Ho et al. 2020, App. B).

    ``emb = [sin(t w_i), cos(t w_i)]`` with ``w_i = exp(-ln(theta) i / (dim/2 - 1))``.

    Args:
        t: diffusion steps, shape ``(B,)``, int or float.
        dim: embedding size (even).
        theta: base period.

    Returns:
        ``(B, dim)`` float32 embedding.
    """
    half = dim // 2
    frequencies = jnp.exp(-math.log(theta) * jnp.arange(half) / max(half - 1, 1))
    angles = jnp.asarray(t, jnp.float32)[:, None] * frequencies[None, :]
    return jnp.concatenate([jnp.sin(angles), jnp.cos(angles)], axis=-1)


class Conv(nnx.Module):
    """Stride-1 ``SAME`` convolution over the spatial axes of channels-last ``(B, *spatial, C)``.

    Parameters, names, shapes and initialisation as ``nnx.Conv`` (``kernel`` of shape
    ``(k,) * n + (C_in, C_out)``, LeCun-normal; ``bias`` zeros), so checkpoints and seeds carry
    over. A 1x1 kernel is applied as a matrix product over the channel axis: on XLA:CPU a 1x1
    ``conv_general_dilated`` takes its filter gradient through transposed copies and a slow
    convolution (about 20x slower than the equivalent ``dot``).
    """

    def __init__(self, c_in, c_out, kernel_size, n, *, use_bias=True, rngs: nnx.Rngs):
        shape = (kernel_size,) * n + (c_in, c_out)
        self.kernel = nnx.Param(nnx.initializers.lecun_normal()(rngs.params(), shape))
        self.bias = nnx.Param(jnp.zeros((c_out,))) if use_bias else None
        if use_bias:
            rngs.params()  # nnx.Conv draws a key for its bias too: keep the same stream

    def __call__(self, x: jax.Array) -> jax.Array:
        kernel = self.kernel[...]
        if all(k == 1 for k in kernel.shape[:-2]):
            y = jnp.dot(x, kernel.reshape(kernel.shape[-2:]))
        else:
            n = kernel.ndim - 2
            spatial = "".join("DHW"[3 - n :])
            y = jax.lax.conv_general_dilated(
                x,
                kernel,
                (1,) * n,
                "SAME",
                dimension_numbers=(f"N{spatial}C", f"{spatial}IO", f"N{spatial}C"),
            )
        return y if self.bias is None else y + self.bias[...]


def _conv(c_in, c_out, kernel, n, *, rngs, use_bias=True):
    return Conv(c_in, c_out, kernel, n, use_bias=use_bias, rngs=rngs)


class ResidualBlock(nnx.Module):
    """Two conv-GroupNorm-SiLU layers with a FiLM scale/shift from the noise-level embedding."""

    def __init__(self, c_in, c_out, embedding_dim, config: UNetConfig, *, rngs: nnx.Rngs):
        n = config.num_spatial_dims
        self.embedding_projection = nnx.Linear(embedding_dim, 2 * c_out, rngs=rngs)
        self.conv1 = _conv(c_in, c_out, 3, n, rngs=rngs)
        self.norm1 = nnx.GroupNorm(c_out, num_groups=config.num_groups, epsilon=1e-5, rngs=rngs)
        self.conv2 = _conv(c_out, c_out, 3, n, rngs=rngs)
        self.norm2 = nnx.GroupNorm(c_out, num_groups=config.num_groups, epsilon=1e-5, rngs=rngs)
        self.residual = _conv(c_in, c_out, 1, n, rngs=rngs) if c_in != c_out else None

    def __call__(self, x, embedding):
        scale_shift = self.embedding_projection(nnx.silu(embedding))
        scale, shift = jnp.split(scale_shift, 2, axis=-1)
        expand = (slice(None),) + (None,) * (x.ndim - 2) + (slice(None),)
        h = self.norm1(self.conv1(x))
        h = nnx.silu(h * (1.0 + scale[expand]) + shift[expand])
        h = nnx.silu(self.norm2(self.conv2(h)))
        return h + (x if self.residual is None else self.residual(x))


class ChannelNorm(nnx.Module):
    """Per-position layer norm over channels with a gain only (the original's ``LayerNorm``)."""

    def __init__(self, channels, *, rngs: nnx.Rngs):
        self.norm = nnx.LayerNorm(channels, use_bias=False, epsilon=1e-5, rngs=rngs)

    def __call__(self, x):
        return self.norm(x)


class Attention(nnx.Module):
    """Pre-normed residual multi-head attention over all positions, full or linear.

    Full: ``softmax(q k^T / sqrt(d)) v``. Linear (Shen et al. 2021): ``q`` softmaxed over the
    channels of a head, ``k`` over positions, ``out = q (k^T v) / sqrt(d)``; its output projection
    is followed by a channel norm, as in the original.
    """

    def __init__(self, channels, config: UNetConfig, *, linear: bool, rngs: nnx.Rngs):
        n = config.num_spatial_dims
        self.heads, self.head_dim = config.attention_heads, config.attention_head_dim
        self.linear = linear
        hidden = self.heads * self.head_dim
        self.prenorm = ChannelNorm(channels, rngs=rngs)
        self.qkv = _conv(channels, 3 * hidden, 1, n, rngs=rngs, use_bias=False)
        self.out = _conv(hidden, channels, 1, n, rngs=rngs)
        self.out_norm = ChannelNorm(channels, rngs=rngs) if linear else None

    def __call__(self, x):
        batch, *spatial, _ = x.shape
        qkv = self.qkv(self.prenorm(x)).reshape(batch, -1, 3, self.heads, self.head_dim)
        q, k, v = qkv[:, :, 0], qkv[:, :, 1], qkv[:, :, 2]  # (B, N, heads, head_dim)
        if self.linear:
            q = jax.nn.softmax(q, axis=-1) * self.head_dim**-0.5
            k = jax.nn.softmax(k, axis=1)
            context = jnp.einsum("bnhd,bnhe->bhde", k, v)
            h = jnp.einsum("bhde,bnhd->bnhe", context, q)
        else:
            h = jax.nn.dot_product_attention(q, k, v)
        h = self.out(h.reshape(batch, *spatial, self.heads * self.head_dim))
        if self.out_norm is not None:
            h = self.out_norm(h)
        return x + h


def _pixel_unshuffle(x, axes):
    """Fold 2x blocks of the chosen axes into channels, channel index ``c * 2^k + offsets`` (as the
    original's einops ``b c (h p1) (w p2) -> b (c p1 p2) h w``)."""
    for axis in axes:
        axis = axis + 1
        shape = x.shape
        x = x.reshape(*shape[:axis], shape[axis] // 2, 2, *shape[axis + 1 :])
        x = jnp.moveaxis(x, axis + 1, -1)
        x = x.reshape(*x.shape[:-2], x.shape[-2] * x.shape[-1])
    return x


class Downsample(nnx.Module):
    """Pixel-unshuffle by 2 on the downsampled axes, then a 1x1 convolution."""

    def __init__(self, c_in, c_out, config: UNetConfig, *, rngs: nnx.Rngs):
        self.axes = tuple(i for i, a in enumerate(config.downsample_axes) if a)
        factor = 2 ** len(self.axes)
        self.conv = _conv(c_in * factor, c_out, 1, config.num_spatial_dims, rngs=rngs)

    def __call__(self, x):
        return self.conv(_pixel_unshuffle(x, self.axes))


class Upsample(nnx.Module):
    """Nearest-neighbour x2 on the downsampled axes, then a 3x3 convolution."""

    def __init__(self, c_in, c_out, config: UNetConfig, *, rngs: nnx.Rngs):
        self.axes = tuple(i for i, a in enumerate(config.downsample_axes) if a)
        self.conv = _conv(c_in, c_out, 3, config.num_spatial_dims, rngs=rngs)

    def __call__(self, x):
        for axis in self.axes:
            x = jnp.repeat(x, 2, axis=axis + 1)
        return self.conv(x)


class Level(nnx.Module):
    """One resolution level of either path: two residual blocks, optional linear attention,
    and a resampling (or same-size 3x3) convolution."""

    def __init__(
        self,
        block_in,
        block_out,
        resample_in,
        resample_out,
        embedding_dim,
        config: UNetConfig,
        *,
        resample,
        rngs: nnx.Rngs,
    ):
        self.block1 = ResidualBlock(block_in[0], block_out, embedding_dim, config, rngs=rngs)
        self.block2 = ResidualBlock(block_in[1], block_out, embedding_dim, config, rngs=rngs)
        self.attention = (
            Attention(block_out, config, linear=True, rngs=rngs)
            if config.linear_attention
            else None
        )
        if resample is None:
            self.resample = _conv(resample_in, resample_out, 3, config.num_spatial_dims, rngs=rngs)
        else:
            self.resample = resample(resample_in, resample_out, config, rngs=rngs)


class UNet(nnx.Module):
    """Noise predictor ``epsilon_theta(x_t, t)``: ``model(x, t)`` with ``x`` of shape
    ``(B, *spatial, C_in)`` and ``t`` of shape ``(B,)`` (or a scalar), returns
    ``(B, *spatial, C_out)``."""

    def __init__(self, config: UNetConfig, *, rngs: nnx.Rngs):
        self.config = config
        dim, n, widths = config.dim, config.num_spatial_dims, config.widths
        embedding_dim = 4 * dim
        self.embedding_in = nnx.Linear(dim, embedding_dim, rngs=rngs)
        self.embedding_out = nnx.Linear(embedding_dim, embedding_dim, rngs=rngs)
        self.init_conv = _conv(config.in_channels, dim, config.init_kernel_size, n, rngs=rngs)
        level_widths = list(zip((dim,) + widths[:-1], widths, strict=True))
        last = len(level_widths) - 1
        self.down = nnx.List(
            [
                Level(
                    (d_in, d_in),
                    d_in,
                    d_in,
                    d_out,
                    embedding_dim,
                    config,
                    resample=None if i == last else Downsample,
                    rngs=rngs,
                )
                for i, (d_in, d_out) in enumerate(level_widths)
            ]
        )
        mid = widths[-1]
        self.mid_block1 = ResidualBlock(mid, mid, embedding_dim, config, rngs=rngs)
        self.mid_attention = (
            Attention(mid, config, linear=False, rngs=rngs) if config.attention else None
        )
        self.mid_block2 = ResidualBlock(mid, mid, embedding_dim, config, rngs=rngs)
        self.up = nnx.List(
            [
                Level(
                    (d_out + d_in, d_out + d_in),
                    d_out,
                    d_out,
                    d_in,
                    embedding_dim,
                    config,
                    resample=None if i == last else Upsample,
                    rngs=rngs,
                )
                for i, (d_in, d_out) in enumerate(reversed(level_widths))
            ]
        )
        self.final_block = ResidualBlock(2 * dim, dim, embedding_dim, config, rngs=rngs)
        self.final_conv = _conv(dim, config.out_channels, 1, n, rngs=rngs)

    def _check_input(self, x, t):
        config = self.config
        if x.ndim != config.num_spatial_dims + 2 or x.shape[-1] != config.in_channels:
            raise ValueError(
                f"UNet expects x of shape (B, {', '.join(['size'] * config.num_spatial_dims)}, "
                f"{config.in_channels}) (num_spatial_dims={config.num_spatial_dims}, "
                f"in_channels={config.in_channels}), got {x.shape}."
            )
        multiple = config.size_multiple
        sizes = zip(x.shape[1:-1], config.downsample_axes, strict=True)
        for axis, (size, down) in enumerate(sizes):
            if down and size % multiple:
                raise ValueError(
                    f"UNet spatial axis {axis} has size {size}, which is not divisible by "
                    f"2**(len(dim_mults)-1) = {multiple}; pad the input (spatial shape "
                    f"{x.shape[1:-1]})."
                )
        t = jnp.asarray(t)
        if t.ndim == 0:
            t = jnp.broadcast_to(t, x.shape[:1])
        if t.shape != x.shape[:1]:
            raise ValueError(f"UNet expects t of shape (B,) = {x.shape[:1]} or (), got {t.shape}.")
        return t

    def __call__(self, x: jax.Array, t: jax.Array) -> jax.Array:
        t = self._check_input(x, t)
        embedding = sinusoidal_embedding(t, self.config.dim, self.config.embedding_theta)
        embedding = self.embedding_out(nnx.gelu(self.embedding_in(embedding), approximate=False))
        x = self.init_conv(x)
        initial = x
        skips = []
        for level in self.down:
            x = level.block1(x, embedding)
            skips.append(x)
            x = level.block2(x, embedding)
            if level.attention is not None:
                x = level.attention(x)
            skips.append(x)
            x = level.resample(x)
        x = self.mid_block1(x, embedding)
        if self.mid_attention is not None:
            x = self.mid_attention(x)
        x = self.mid_block2(x, embedding)
        for level in self.up:
            x = level.block1(jnp.concatenate([x, skips.pop()], axis=-1), embedding)
            x = level.block2(jnp.concatenate([x, skips.pop()], axis=-1), embedding)
            if level.attention is not None:
                x = level.attention(x)
            x = level.resample(x)
        x = self.final_block(jnp.concatenate([x, initial], axis=-1), embedding)
        return self.final_conv(x)
