"""The wdno denoiser U-Net rebuilt in PyTorch, for side-by-side timing in `benchmarks/unet.py`.

Written from the description of `wdno.nets.unet` (itself lucidrains' denoising-diffusion U-Net,
as used by the original WDNO code, spec §5.1): the same widths, kernels, GroupNorm groups,
gain-only channel LayerNorms, attention heads and FiLM scale/shift, in PyTorch's default NCHW
layout. It has exactly as many parameters as the JAX network of the same `UNetConfig` (checked by
the benchmark), so both do the same work. Only 2-D networks (one spatial pair of axes) are built.

PyTorch is an optional, benchmark-only dependency (``pip install -e .[bench]``); nothing in
``wdno`` imports this module.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


def _sinusoidal(t, dim, theta):
    half = dim // 2
    frequencies = torch.exp(-math.log(theta) * torch.arange(half) / max(half - 1, 1))
    angles = t.float()[:, None] * frequencies[None, :]
    return torch.cat([angles.sin(), angles.cos()], dim=-1)


class ChannelNorm(nn.Module):
    """LayerNorm over the channels of every position, gain only (the original's ``LayerNorm``)."""

    def __init__(self, channels):
        super().__init__()
        self.gain = nn.Parameter(torch.ones(1, channels, 1, 1))

    def forward(self, x):
        variance = torch.var(x, dim=1, unbiased=False, keepdim=True)
        mean = torch.mean(x, dim=1, keepdim=True)
        return (x - mean) * (variance + 1e-5).rsqrt() * self.gain


class ResidualBlock(nn.Module):
    def __init__(self, c_in, c_out, embedding_dim, groups):
        super().__init__()
        self.embedding_projection = nn.Linear(embedding_dim, 2 * c_out)
        self.conv1 = nn.Conv2d(c_in, c_out, 3, padding=1)
        self.norm1 = nn.GroupNorm(groups, c_out, eps=1e-5)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1)
        self.norm2 = nn.GroupNorm(groups, c_out, eps=1e-5)
        self.residual = nn.Conv2d(c_in, c_out, 1) if c_in != c_out else nn.Identity()

    def forward(self, x, embedding):
        scale, shift = self.embedding_projection(F.silu(embedding))[:, :, None, None].chunk(2, 1)
        h = F.silu(self.norm1(self.conv1(x)) * (1 + scale) + shift)
        h = F.silu(self.norm2(self.conv2(h)))
        return h + self.residual(x)


class Attention(nn.Module):
    def __init__(self, channels, heads, head_dim, linear):
        super().__init__()
        self.heads, self.head_dim, self.linear = heads, head_dim, linear
        hidden = heads * head_dim
        self.prenorm = ChannelNorm(channels)
        self.qkv = nn.Conv2d(channels, 3 * hidden, 1, bias=False)
        self.out = nn.Conv2d(hidden, channels, 1)
        self.out_norm = ChannelNorm(channels) if linear else None

    def forward(self, x):
        b, _, h, w = x.shape
        q, k, v = (
            z.reshape(b, self.heads, self.head_dim, h * w)
            for z in self.qkv(self.prenorm(x)).chunk(3, dim=1)
        )
        if self.linear:
            q = q.softmax(dim=-2) * self.head_dim**-0.5
            k = k.softmax(dim=-1)
            context = torch.einsum("bhdn,bhen->bhde", k, v)
            out = torch.einsum("bhde,bhdn->bhen", context, q)
        else:
            weights = torch.einsum("bhdi,bhdj->bhij", q * self.head_dim**-0.5, k).softmax(-1)
            out = torch.einsum("bhij,bhdj->bhdi", weights, v)
        out = self.out(out.reshape(b, -1, h, w))
        if self.out_norm is not None:
            out = self.out_norm(out)
        return x + out


class Downsample(nn.Module):
    def __init__(self, c_in, c_out):
        super().__init__()
        self.conv = nn.Conv2d(4 * c_in, c_out, 1)

    def forward(self, x):
        return self.conv(F.pixel_unshuffle(x, 2))


class Upsample(nn.Module):
    def __init__(self, c_in, c_out):
        super().__init__()
        self.conv = nn.Conv2d(c_in, c_out, 3, padding=1)

    def forward(self, x):
        return self.conv(F.interpolate(x, scale_factor=2, mode="nearest"))


class Level(nn.Module):
    def __init__(self, block_in, block_out, resample, config, embedding_dim):
        super().__init__()
        groups = config.num_groups
        self.block1 = ResidualBlock(block_in, block_out, embedding_dim, groups)
        self.block2 = ResidualBlock(block_in, block_out, embedding_dim, groups)
        self.attention = (
            Attention(block_out, config.attention_heads, config.attention_head_dim, True)
            if config.linear_attention
            else None
        )
        self.resample = resample


class UNet(nn.Module):
    """``model(x, t)``: ``x`` of shape ``(B, C_in, H, W)``, ``t`` of shape ``(B,)``."""

    def __init__(self, config):
        super().__init__()
        if config.num_spatial_dims != 2 or not all(config.downsample_axes):
            raise ValueError("The PyTorch benchmark network is 2-D, downsampling both axes.")
        self.config = config
        dim, widths = config.dim, config.widths
        embedding_dim = 4 * dim
        self.embedding = nn.Sequential(
            nn.Linear(dim, embedding_dim), nn.GELU(), nn.Linear(embedding_dim, embedding_dim)
        )
        k = config.init_kernel_size
        self.init_conv = nn.Conv2d(config.in_channels, dim, k, padding=k // 2)
        level_widths = list(zip((dim,) + widths[:-1], widths, strict=True))
        last = len(level_widths) - 1
        self.down = nn.ModuleList(
            Level(
                d_in,
                d_in,
                Downsample(d_in, d_out) if i < last else nn.Conv2d(d_in, d_out, 3, padding=1),
                config,
                embedding_dim,
            )
            for i, (d_in, d_out) in enumerate(level_widths)
        )
        mid = widths[-1]
        self.mid_block1 = ResidualBlock(mid, mid, embedding_dim, config.num_groups)
        self.mid_attention = (
            Attention(mid, config.attention_heads, config.attention_head_dim, False)
            if config.attention
            else None
        )
        self.mid_block2 = ResidualBlock(mid, mid, embedding_dim, config.num_groups)
        self.up = nn.ModuleList(
            Level(
                d_out + d_in,
                d_out,
                Upsample(d_out, d_in) if i < last else nn.Conv2d(d_out, d_in, 3, padding=1),
                config,
                embedding_dim,
            )
            for i, (d_in, d_out) in enumerate(reversed(level_widths))
        )
        self.final_block = ResidualBlock(2 * dim, dim, embedding_dim, config.num_groups)
        self.final_conv = nn.Conv2d(dim, config.out_channels, 1)

    def forward(self, x, t):
        embedding = self.embedding(
            _sinusoidal(t, self.config.dim, self.config.embedding_theta).to(x.dtype)
        )
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
            x = level.block1(torch.cat([x, skips.pop()], dim=1), embedding)
            x = level.block2(torch.cat([x, skips.pop()], dim=1), embedding)
            if level.attention is not None:
                x = level.attention(x)
            x = level.resample(x)
        x = self.final_block(torch.cat([x, initial], dim=1), embedding)
        return self.final_conv(x)


def make_train_step(model, alphas_cumprod, learning_rate=1e-4, clip_norm=1.0, ema_decay=0.995):
    """One diffusion training step as in our `wdno.training.make_train_step`: epsilon loss,
    backward, global-norm clipping, Adam and an EMA update of the weights."""
    optimizer = torch.optim.Adam(model.parameters(), lr=learning_rate)
    ema = [p.detach().clone() for p in model.parameters()]
    alphas_cumprod = torch.as_tensor(alphas_cumprod, dtype=torch.float32)

    def step(x0):
        t = torch.randint(0, len(alphas_cumprod), (x0.shape[0],))
        noise = torch.randn_like(x0)
        alpha_bar = alphas_cumprod[t].reshape(-1, 1, 1, 1)
        x_t = alpha_bar.sqrt() * x0 + (1 - alpha_bar).sqrt() * noise
        loss = F.mse_loss(model(x_t, t), noise)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), clip_norm)
        optimizer.step()
        with torch.no_grad():
            torch._foreach_lerp_(ema, list(model.parameters()), 1.0 - ema_decay)
        return loss.detach()

    return step
