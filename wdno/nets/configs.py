"""U-Net configurations for a 2-D canvas, shared by the 1-D systems' presets (Burgers,
advection, compressible NS: a (t, x) coefficient or field canvas).

``in_channels`` (9 here) is a placeholder: a model sets it from its encoding when it is built.
"""

from __future__ import annotations

from wdno.nets.unet import UNetConfig

__all__ = ["CPU_UNET_2D", "PAPER_UNET_2D", "TINY_UNET_2D"]

# The released Burgers network (spec §5.1).
PAPER_UNET_2D = UNetConfig(9, dim=128, dim_mults=(1, 2, 4, 8), num_spatial_dims=2, num_groups=1)
# The CPU network: dim 8 with 4 GroupNorm groups (one channel per group, i.e. instance norm,
# trained much worse), full attention in the middle block only.
CPU_UNET_2D = UNetConfig(
    9,
    dim=8,
    dim_mults=(1, 2, 4),
    num_spatial_dims=2,
    num_groups=4,
    attention_heads=2,
    attention_head_dim=16,
    linear_attention=False,
)
# Tests: seconds per run.
TINY_UNET_2D = UNetConfig(
    9,
    dim=16,
    dim_mults=(1, 2),
    num_spatial_dims=2,
    num_groups=4,
    attention_heads=2,
    attention_head_dim=8,
    linear_attention=False,
    init_kernel_size=3,
)
