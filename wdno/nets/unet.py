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

Written for XLA:CPU's training step (issue 10; ``benchmarks/unet.py`` times it beside PyTorch),
the same network computed differently: 1x1 convolutions and attention projections are `pointwise`
matrix products with a hand-written gradient, attention runs one head at a time on
``(B, N, head_dim)`` arrays (full attention over very many positions, as at zero-shot
super-resolution grids, in blocks of queries: `full_attention`), and `Upsample` is a
sub-pixel convolution on the coarse grid. The parameters (names, shapes, initial values) are
those of the plain formulation, which ``tests/test_unet.py`` checks these against, gradients
included.
"""

from __future__ import annotations

import dataclasses
import functools
import math

import jax
import jax.numpy as jnp
from flax import nnx

__all__ = [
    "ATTENTION_BLOCK_SCORES",
    "MAX_ATTENTION_SCORES",
    "UNet",
    "UNetConfig",
    "full_attention",
    "sinusoidal_embedding",
]


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


@jax.custom_vjp
def pointwise(x: jax.Array, kernel: jax.Array) -> jax.Array:
    """``x @ kernel`` over the last axis: ``(..., C_in) x (C_in, C_out) -> (..., C_out)``.

    A 1x1 convolution, or a linear layer on every position. Its gradient is written out so that
    XLA:CPU computes ``dkernel = x^T dy`` well: XLA:CPU first transposes one operand of such a
    product (summing over the positions, the leading axis of both); without help it picks the
    cotangent ``dy`` and fuses the element-wise code that produced ``dy`` into that transposed
    copy, which then runs at a few hundred MB/s. Here the operands are materialised first
    (`jax.lax.optimization_barrier`) and the narrower of the two is the one transposed.
    Reverse-mode only (``jax.grad``/``vjp``, as in training and guidance).
    """
    return jnp.dot(x, kernel)


def _pointwise_fwd(x, kernel):
    return jnp.dot(x, kernel), (x, kernel)


def _pointwise_bwd(residuals, dy):
    x, kernel = residuals
    dx = jnp.dot(dy, kernel.T)
    rows = jax.lax.optimization_barrier((x.reshape(-1, x.shape[-1]), dy.reshape(-1, dy.shape[-1])))
    over_rows = (((0,), (0,)), ((), ()))
    if kernel.shape[0] <= kernel.shape[1]:
        dkernel = jax.lax.dot_general(rows[0], rows[1], over_rows)
    else:
        dkernel = jax.lax.dot_general(rows[1], rows[0], over_rows).T
    return dx, dkernel.astype(kernel.dtype)


pointwise.defvjp(_pointwise_fwd, _pointwise_bwd)


class Conv(nnx.Module):
    """Stride-1 ``SAME`` convolution over the spatial axes of channels-last ``(B, *spatial, C)``.

    Parameters, names, shapes and initialisation as ``nnx.Conv`` (``kernel`` of shape
    ``(k,) * n + (C_in, C_out)``, LeCun-normal; ``bias`` zeros), so checkpoints and seeds carry
    over. A 1x1 kernel is applied as a `pointwise` product over the channel axis (on XLA:CPU a 1x1
    ``conv_general_dilated`` takes its kernel gradient through a slow convolution).
    """

    def __init__(self, c_in, c_out, kernel_size, n, *, use_bias=True, rngs: nnx.Rngs):
        shape = (kernel_size,) * n + (c_in, c_out)
        self.kernel = nnx.Param(nnx.initializers.lecun_normal()(rngs.params(), shape))
        self.bias = nnx.Param(jnp.zeros((c_out,))) if use_bias else None
        if use_bias:
            rngs.params()  # nnx.Conv draws a key for its bias too: keep the same key stream

    def __call__(self, x: jax.Array) -> jax.Array:
        y = convolve(x, self.kernel[...])
        return y if self.bias is None else y + self.bias[...]


def convolve(x: jax.Array, kernel: jax.Array) -> jax.Array:
    """Stride-1 ``SAME`` convolution of ``(B, *spatial, C_in)`` with ``(k,) * n + (C_in, C_out)``
    (a 1x1 kernel as a `pointwise` product)."""
    if all(k == 1 for k in kernel.shape[:-2]):
        return pointwise(x, kernel.reshape(kernel.shape[-2:]))
    spatial = "DHW"[5 - kernel.ndim :]
    return jax.lax.conv_general_dilated(
        x,
        kernel,
        (1,) * (kernel.ndim - 2),
        "SAME",
        dimension_numbers=(f"N{spatial}C", f"{spatial}IO", f"N{spatial}C"),
    )


def _conv(c_in, c_out, kernel, n, *, rngs, use_bias=True):
    return Conv(c_in, c_out, kernel, n, use_bias=use_bias, rngs=rngs)


@functools.partial(jax.custom_vjp, nondiff_argnums=(5, 6))
def norm_film_silu(x, gain, bias, scale, shift, num_groups: int, epsilon: float):
    """``silu(GroupNorm(x) (1 + scale) + shift)`` in two passes over ``x`` each way.

    ``x`` is ``(B, *spatial, C)``; ``gain``, ``bias`` ``(C,)`` are the GroupNorm affine parameters;
    ``scale``, ``shift`` ``(B, C)`` the FiLM modulation. GroupNorm as ``nnx.GroupNorm`` (biased
    variance ``E[x^2] - E[x]^2``). Everything after the statistics is one affine map per sample
    and channel, ``a = x A + B``, and the gradient is written out so that the backward pass reads
    ``x`` and the cotangent twice (the per-channel sums, then ``dx``), where autodiff of the
    composition makes XLA:CPU pass over the data about three times as often.
    """
    return _norm_film_silu_fwd(x, gain, bias, scale, shift, num_groups, epsilon)[0]


def _per_channel(values, channels):
    """``(B, G)`` group values -> ``(B, C)``, every group's value repeated over its channels."""
    return jnp.repeat(values, channels // values.shape[1], axis=1)


def _norm_film_silu_fwd(x, gain, bias, scale, shift, num_groups, epsilon):
    batch, channels = x.shape[0], x.shape[-1]
    grouped = x.reshape(batch, -1, num_groups, channels // num_groups)
    mean = jnp.mean(grouped, axis=(1, 3))
    variance = jnp.maximum(jnp.mean(jnp.square(grouped), axis=(1, 3)) - jnp.square(mean), 0.0)
    mean = _per_channel(mean, channels)
    inverse_std = _per_channel(jax.lax.rsqrt(variance + epsilon), channels)
    gain_film = gain * (1.0 + scale)  # (B, C)
    a_scale = inverse_std * gain_film
    a_shift = bias * (1.0 + scale) + shift - mean * a_scale
    expand = (slice(None),) + (None,) * (x.ndim - 2) + (slice(None),)
    y = jax.nn.silu(x * a_scale[expand] + a_shift[expand])
    return y, (x, gain, bias, scale, mean, inverse_std, a_scale, a_shift)


def _norm_film_silu_bwd(num_groups, epsilon, residuals, dy):
    x, gain, bias, scale, mean, inverse_std, a_scale, a_shift = residuals
    batch, channels = x.shape[0], x.shape[-1]
    expand = (slice(None),) + (None,) * (x.ndim - 2) + (slice(None),)
    spatial_axes = tuple(range(1, x.ndim - 1))
    count = math.prod(x.shape[1:-1]) * (channels // num_groups)

    def d_pre_activation():  # recomputed in both passes instead of stored
        a = x * a_scale[expand] + a_shift[expand]
        sigmoid = jax.nn.sigmoid(a)
        return dy * sigmoid * (1.0 + a * (1.0 - sigmoid))

    da = d_pre_activation()
    sum_da = jnp.sum(da, axis=spatial_axes)  # (B, C)
    sum_da_x = jnp.sum(da * x, axis=spatial_axes)
    gain_film = gain * (1.0 + scale)
    d_gain_film = inverse_std * (sum_da_x - mean * sum_da)  # sum of da * x_hat
    d_bias_film = sum_da

    def group_mean(values):  # (B, C) -> per-channel copy of the mean over the group
        grouped = values.reshape(batch, num_groups, -1).sum(axis=2) / count
        return _per_channel(grouped, channels)

    mean_dxhat = group_mean(gain_film * sum_da)  # mean of dx_hat = da * gain_film
    mean_dxhat_xhat = group_mean(gain_film * d_gain_film)  # mean of dx_hat * x_hat
    # dx = r (dx_hat - mean_dxhat - x_hat mean_dxhat_xhat), x_hat = (x - mean) r, r = inverse_std
    coefficient_da = inverse_std * gain_film
    coefficient_x = -jnp.square(inverse_std) * mean_dxhat_xhat
    constant = -inverse_std * mean_dxhat - coefficient_x * mean
    dx = d_pre_activation() * coefficient_da[expand] + (
        x * coefficient_x[expand] + constant[expand]
    )
    d_gain = jnp.sum(d_gain_film * (1.0 + scale), axis=0)
    d_bias = jnp.sum(d_bias_film * (1.0 + scale), axis=0)
    d_scale = d_gain_film * gain + d_bias_film * bias
    return dx, d_gain, d_bias, d_scale, d_bias_film


norm_film_silu.defvjp(_norm_film_silu_fwd, _norm_film_silu_bwd)


class ResidualBlock(nnx.Module):
    """Two conv-GroupNorm-SiLU layers with a FiLM scale/shift from the noise-level embedding.

    The GroupNorm modules hold the parameters; `norm_film_silu` computes each
    normalisation-modulation-activation in one go.
    """

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
        h = self._norm(self.norm1, self.conv1(x), scale, shift)
        zeros = jnp.zeros_like(scale)
        h = self._norm(self.norm2, self.conv2(h), zeros, zeros)
        return h + (x if self.residual is None else self.residual(x))

    @staticmethod
    def _norm(norm: nnx.GroupNorm, x, scale, shift):
        return norm_film_silu(
            x, norm.scale[...], norm.bias[...], scale, shift, norm.num_groups, norm.epsilon
        )


class ChannelNorm(nnx.Module):
    """Per-position layer norm over channels with a gain only (the original's ``LayerNorm``)."""

    def __init__(self, channels, *, rngs: nnx.Rngs):
        self.norm = nnx.LayerNorm(channels, use_bias=False, epsilon=1e-5, rngs=rngs)

    def __call__(self, x):
        return self.norm(x)


# Full attention materialises one head's score matrix ``q k^T`` (batch included). Above
# MAX_ATTENTION_SCORES entries (2**26 float32: 256 MB) `full_attention` works through blocks of
# queries holding about ATTENTION_BLOCK_SCORES entries each (16 MB): the softmax of a block then
# stays in cache, which XLA:CPU runs 2-3x faster than one large matrix (9,840 and 38,880
# positions, batch 4), and memory stays bounded.
MAX_ATTENTION_SCORES = 2**26
ATTENTION_BLOCK_SCORES = 2**22


def full_attention(
    q: jax.Array,
    k: jax.Array,
    v: jax.Array,
    *,
    max_scores: int | None = None,
    block_scores: int | None = None,
) -> jax.Array:
    """``softmax(q k^T) v`` of one head, ``(B, N, d)`` queries and ``(B, M, d)`` keys and values.

    Every query row is independent, so when ``B N M`` exceeds ``max_scores`` (default
    :data:`MAX_ATTENTION_SCORES`) the queries are split into blocks of ``block_scores // (B M)``
    rows (default :data:`ATTENTION_BLOCK_SCORES`), computed one after the other (``lax.map``):
    the same numbers up to round-off with a bounded score matrix. At or below the bound it is the
    plain two products (training and base-resolution sampling stay there). The blocks matter at
    zero-shot resolutions: a physical-space U-Net's middle block at 641x960 (``cpu`` U-Net,
    162 x 240 = 38,880 positions) would otherwise hold 6 GB of scores per trajectory and head.
    """
    max_scores = MAX_ATTENTION_SCORES if max_scores is None else int(max_scores)
    block_scores = ATTENTION_BLOCK_SCORES if block_scores is None else int(block_scores)
    batch, num_queries, dim = q.shape
    num_keys = k.shape[1]

    def attend(queries):
        weights = jnp.einsum("bnd,bmd->bnm", queries, k)
        return jnp.einsum("bnm,bmd->bnd", jax.nn.softmax(weights, axis=-1), v)

    if batch * num_queries * num_keys <= max_scores:
        return attend(q)
    block = min(num_queries, max(1, block_scores // (batch * num_keys)))
    num_blocks = -(-num_queries // block)
    padded = jnp.pad(q, ((0, 0), (0, num_blocks * block - num_queries), (0, 0)))
    blocks = jnp.moveaxis(padded.reshape(batch, num_blocks, block, dim), 1, 0)
    out = jnp.moveaxis(jax.lax.map(attend, blocks), 0, 1)
    return out.reshape(batch, num_blocks * block, -1)[:, :num_queries]


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
        batch, *spatial, channels = x.shape
        heads, head_dim = self.heads, self.head_dim
        hidden = heads * head_dim
        h = self.prenorm(x).reshape(batch, -1, channels)
        qkv_kernel = self.qkv.kernel[...].reshape(channels, 3 * hidden)
        out_kernel = self.out.kernel[...].reshape(hidden, channels)
        # One head at a time, each projection its own product: every array is (B, N, head_dim)
        # and every product a plain batched matmul. (Slicing heads out of a (B, N, 3, heads, d)
        # array instead costs XLA:CPU transposed copies of it, and zero-padded gradients.)
        # qkv kernel columns: [q | k | v], each [head 0 | head 1 | ...] as in the original.
        out = 0.0
        for head in range(heads):
            q, k, v = (
                pointwise(h, qkv_kernel[:, start : start + head_dim])
                for start in (part * hidden + head * head_dim for part in range(3))
            )
            if self.linear:
                q = jax.nn.softmax(q, axis=-1) * head_dim**-0.5
                k = jax.nn.softmax(k, axis=1)
                context = jnp.einsum("bnd,bne->bde", k, v)
                o = jnp.einsum("bnd,bde->bne", q, context)
            else:
                o = full_attention(q * head_dim**-0.5, k, v)
            head_out = out_kernel[head * head_dim : (head + 1) * head_dim]
            out = out + pointwise(o, head_out)
        h = out.reshape(x.shape) + self.out.bias[...]
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


# Nearest-neighbour x2 then a 3-tap filter w, along one axis: output 2i + phase is
#   phase 0: w[0] x[i-1] + (w[1] + w[2]) x[i],    phase 1: (w[0] + w[1]) x[i] + w[2] x[i+1],
# i.e. a 3-tap filter on the coarse grid, taps = _PHASE_TAPS[phase] @ w (zero padding matches).
_PHASE_TAPS = ((1, 0, 0), (0, 1, 1), (0, 0, 0)), ((0, 0, 0), (1, 1, 0), (0, 0, 1))


def _subpixel_kernel(kernel: jax.Array, axes: tuple[int, ...]) -> jax.Array:
    """Kernel ``(3,) * n + (C_in, C_out)`` of a convolution after nearest-neighbour x2
    upsampling of ``axes`` -> the equivalent kernel on the coarse grid,
    ``(3,) * n + (C_in, 2 ** len(axes) * C_out)``, output channels ordered (phases..., C_out)."""
    n = kernel.ndim - 2
    taps = jnp.asarray(_PHASE_TAPS, kernel.dtype)  # (phase, coarse tap, fine tap)
    for axis in axes:
        kernel = jnp.tensordot(taps, kernel, axes=((2,), (axis,)))  # (phase, tap, rest...)
        kernel = jnp.moveaxis(kernel, (0, 1), (-1, axis))  # taps back in place, phase last
    # (taps..., C_in, C_out, phases...) -> (taps..., C_in, phases..., C_out)
    kernel = jnp.moveaxis(kernel, n + 1, -1)
    return kernel.reshape(*kernel.shape[: n + 1], -1)


class Upsample(nnx.Module):
    """Nearest-neighbour x2 on the downsampled axes, then a 3x3 convolution.

    Computed as a sub-pixel convolution: one 3x3 convolution on the coarse grid with
    ``2 ** len(axes)`` output phases (`_subpixel_kernel`), interleaved into the fine grid. Same
    result (up to float round-off) without the upsampled array, whose transposed copy and 2x2 sums
    dominated the backward pass on XLA:CPU.
    """

    def __init__(self, c_in, c_out, config: UNetConfig, *, rngs: nnx.Rngs):
        self.axes = tuple(i for i, a in enumerate(config.downsample_axes) if a)
        self.conv = _conv(c_in, c_out, 3, config.num_spatial_dims, rngs=rngs)

    def __call__(self, x):
        return upsample_convolve(x, self.conv.kernel[...], self.axes) + self.conv.bias[...]


def upsample_convolve(x: jax.Array, kernel: jax.Array, axes: tuple[int, ...]) -> jax.Array:
    """``convolve(x upsampled x2 (nearest) along spatial axes, kernel)`` for a 3-tap kernel, as a
    sub-pixel convolution on the coarse grid (`_subpixel_kernel`) interleaved into the fine one."""
    batch, *spatial, _ = x.shape
    n, k = len(spatial), len(axes)
    y = convolve(x, _subpixel_kernel(kernel, axes))
    y = y.reshape(batch, *spatial, *(2,) * k, -1)
    order = [0]
    for axis in range(n):
        order.append(1 + axis)
        if axis in axes:
            order.append(1 + n + axes.index(axis))
    y = y.transpose(*order, y.ndim - 1)
    fine = [size * (2 if axis in axes else 1) for axis, size in enumerate(spatial)]
    return y.reshape(batch, *fine, -1)


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
