"""Multi-resolution pairs, the super-resolution tensor, the mixed-resolution stream and the cascade
(wdno.superres, spec §7).

The cascade runs an untrained tiny U-Net: these tests check shapes and preserved conditions, not
what a trained model learns.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from systems.burgers import generate, grid, solver
from systems.burgers import superres as burgers_superres
from wdno import diffusion
from wdno.nets import fno
from wdno.nets.unet import UNet, UNetConfig
from wdno.simulators.fno import FNOSimulator
from wdno.simulators.sampling import SamplerConfig
from wdno.superres import batches as sr_batches
from wdno.superres import cascade as sr_cascade
from wdno.superres import layout as sr_layout
from wdno.superres import pairs, zero_shot
from wdno.transforms import encoding, normalization

CONFIG = encoding.EncodingConfig(wavelet="bior2.4", mode="periodization", level=1, pad_multiple=8)
# jitted once per layout: eager wavelet code dispatches (and compiles) every small op separately
encode_pair = jax.jit(sr_layout.encode_pair, static_argnums=0)
encode_superres = jax.jit(sr_layout.encode, static_argnums=0)
decode_superres = jax.jit(sr_layout.decode, static_argnums=0)
encode = jax.jit(encoding.encode, static_argnums=0)


def _smooth(rng, num, shape):
    """Smooth random fields on [0, 1]^d: a few low Fourier modes (float32)."""
    axes = [np.linspace(0.0, 1.0, n) for n in shape]
    grids = np.meshgrid(*axes, indexing="ij")
    out = np.zeros((num, *shape), np.float64)
    for i in range(num):
        for _ in range(3):
            phase = sum(rng.uniform(0.5, 3.0) * g for g in grids)
            out[i] += rng.normal() * np.sin(2 * np.pi * phase + rng.uniform(0, 2 * np.pi))
    return out.astype(np.float32)


def _trajectory(rng, num, num_times, num_points):
    state = _smooth(rng, num, (num_times, num_points))[..., None]
    control = _smooth(rng, num, (num_times - 1, num_points))[..., None]
    return state, control


# ---- pairs and Burgers grids ------------------------------------------------------------------


def test_downsampling_reproduces_data_generated_at_the_coarser_factor():
    fast = solver.SolverConfig(end_time=0.8, steps_per_interval=2)
    keys = generate.sample_keys(3, "train", np.arange(2))
    fine = generate.generate_batch(keys, generate.SamplingConfig(), fast, 2)
    coarse = generate.generate_batch(keys, generate.SamplingConfig(), fast, 1)
    (state, control), (down_state, down_control) = burgers_superres.training_levels(
        fine["u"], fine["f"], num_levels=2
    )
    assert state.shape == (2, 161, 240, 1) and down_state.shape == (2, 81, 120, 1)
    np.testing.assert_array_equal(down_state[..., 0], np.asarray(coarse["u"]))
    np.testing.assert_array_equal(down_control[..., 0], np.asarray(coarse["f"]))


def test_subsampled_burgers_grids_are_the_coarser_stored_grids():
    for factor in (2, 4, 8):
        finer, coarser = burgers_superres.level_grids(factor, num_levels=2)
        np.testing.assert_array_equal(finer["x"][::2], grid.stored_x(factor // 2))
        np.testing.assert_array_equal(coarser["x"], grid.stored_x(factor // 2))
        np.testing.assert_allclose(coarser["t"], grid.stored_times(factor // 2), rtol=0, atol=1e-12)
        np.testing.assert_allclose(
            coarser["t_force"], grid.force_times(factor // 2), rtol=0, atol=1e-12
        )
    base = burgers_superres.level_grids(1, num_levels=4)
    assert [(len(g["t"]), len(g["t_force"]), len(g["x"])) for g in base] == [
        (81, 80, 120),
        (41, 40, 60),
        (21, 20, 30),
        (11, 10, 15),
    ]


def test_resolution_levels_follow_index_arithmetic():
    rng = np.random.default_rng(0)
    state, control = _trajectory(rng, 2, 81, 120)
    levels = pairs.resolution_levels(state, control, num_levels=4)
    shapes = [(s.shape[1:3], c.shape[1:3]) for s, c in levels]
    assert shapes == [
        ((81, 120), (80, 120)),
        ((41, 60), (40, 60)),
        ((21, 30), (20, 30)),
        ((11, 15), (10, 15)),
    ]
    for i, (s, c) in enumerate(levels):
        stride = 2**i
        for j, m in [(0, 0), (s.shape[1] - 1, s.shape[2] - 1), (3 % s.shape[1], 5 % s.shape[2])]:
            np.testing.assert_array_equal(s[:, j, m], state[:, stride * j, stride * m])
        np.testing.assert_array_equal(
            c[:, -1, -1], control[:, stride * (c.shape[1] - 1), stride * (c.shape[2] - 1)]
        )
    np.testing.assert_array_equal(levels[3][0][:, -1], state[:, -1, ::8])  # end time kept
    assert pairs.resolution_pairs(4) == [(1, 0), (2, 1), (3, 2)]
    with pytest.raises(ValueError, match="odd number"):
        pairs.downsample(state[:, :80])
    with pytest.raises(ValueError, match="even"):
        pairs.downsample(levels[3][0])


# ---- the super-resolution tensor --------------------------------------------------------------


@pytest.mark.parametrize(
    "num_times, num_points, fine_extent, coarse_extent, canvas",
    [
        (81, 120, (41, 60), (21, 30), (48, 64)),
        (41, 60, (21, 30), (11, 15), (24, 32)),
        (21, 30, (11, 15), (6, 8), (16, 16)),
        (641, 960, (321, 480), (161, 240), (328, 480)),
    ],
)
def test_layout_shapes(num_times, num_points, fine_extent, coarse_extent, canvas):
    layout = sr_layout.make_layout(
        CONFIG, (num_times, num_points, 1), (num_times - 1, num_points, 1)
    )
    assert layout.fine_extent == fine_extent and layout.coarse_extent == coarse_extent
    assert layout.shape == (*canvas, 8 + 2 + 8)  # u, f bands, u0 bands, low u, f bands
    names = layout.channel_names(["u"], ["f"])
    assert names[:8] == ["u:aa", "u:ad", "u:da", "u:dd", "f:aa", "f:ad", "f:da", "f:dd"]
    assert names[8:10] == ["u(t=0):a", "u(t=0):d"] and names[10] == "low u:aa"


def _pair(seed=0, num=3, num_times=41, num_points=60):
    rng = np.random.default_rng(seed)
    state, control = _trajectory(rng, num, num_times, num_points)
    layout = sr_layout.make_layout(CONFIG, state.shape[1:], control.shape[1:])
    coarse = pairs.downsample(state, control)
    return layout, (state, control), coarse


def test_encode_decode_round_trip_and_lossless_low_channels():
    layout, (state, control), (coarse_state, coarse_control) = _pair()
    encoded = encode_pair(layout, state, control, coarse_state, coarse_control)
    assert encoded.shape == (3, *layout.shape)
    decoded_state, decoded_control = decode_superres(layout, encoded)
    np.testing.assert_allclose(decoded_state, state, atol=1e-5)
    np.testing.assert_allclose(decoded_control, control, atol=1e-5)
    # The low channels hold every coarse coefficient (the crop drops only second copies) ...
    coarse_encoded = encode(layout.coarse, coarse_state, coarse_control)
    coarse_coefficients = sr_layout.trajectory_coefficients(layout.coarse, coarse_encoded)
    np.testing.assert_array_equal(sr_layout.low_coefficients(layout, encoded), coarse_coefficients)
    # ... each repeated 2x2: the fine entry (i, m) holds coarse entry (i // 2, m // 2).
    low = np.asarray(encoded[..., layout.low_channels])
    i, m = np.meshgrid(np.arange(21), np.arange(30), indexing="ij")
    np.testing.assert_array_equal(low[:, i, m], np.asarray(coarse_coefficients)[:, i // 2, m // 2])
    # Masks: padded entries are zero; low channels and the control are known; u0 known.
    pad = layout.pad_mask()
    assert not np.any(np.asarray(encoded)[:, pad])
    assert (
        pad[:, :, layout.low_channels][21:].all() and not pad[:21, :30, layout.low_channels].any()
    )
    known = layout.known_mask()
    assert (
        known[..., layout.low_channels].all() and known[..., 4:8].all() and known[..., 8:10].all()
    )
    assert not known[:21, :30, :4].any()  # the fine state is generated


def test_repetition_aligns_coarse_and_fine_coefficients():
    # bior2.4/periodization puts approximation coefficient k at sample 2k, so for a smooth field
    # the fine approximation band is close to the repeated coarse one; a one-row shift is not.
    layout, (state, control), coarse = _pair(seed=1, num=2, num_times=81, num_points=120)
    encoded = np.asarray(encode_pair(layout, state, control, *coarse))
    fine_band, low_band = (
        encoded[:, 2:38, 2:58, 0],
        encoded[:, 2:38, 2:58, layout.low_channels][..., 0],
    )
    shifted = encoded[:, 4:40, 2:58, layout.low_channels][..., 0]
    aligned_error = np.abs(fine_band[:, ::2, ::2] - low_band[:, ::2, ::2]).max()
    shifted_error = np.abs(fine_band[:, ::2, ::2] - shifted[:, ::2, ::2]).max()
    assert aligned_error < 0.05 * np.abs(fine_band).max()
    assert aligned_error < 0.3 * shifted_error


# ---- training data ------------------------------------------------------------------------------


def test_prepare_shares_scales_and_stream_mixes_pairs_resumably():
    config = encoding.EncodingConfig(pad_multiple=4)
    rng = np.random.default_rng(2)
    state, control = _trajectory(rng, 6, 33, 32)
    data = sr_batches.prepare(config, state, control, num_levels=3)
    assert [layout.fine.grid_shape for layout in data.layouts] == [(33, 32), (17, 16)]
    scale = data.normalizer.scale
    layout = data.layouts[0]
    np.testing.assert_array_equal(scale[:8], scale[layout.low_channels])
    maxima = np.max([normalization.channel_max_abs(e) for e in data.encoded], axis=0)
    assert np.all(maxima <= 1.0 + 1e-6)
    np.testing.assert_allclose(maxima[:10].max(), 1.0, rtol=1e-6)  # scales are the shared max
    # the coarsest level counts: the second pair's low input is the 9x8 level
    third = pairs.resolution_levels(state, control, 3)[2]
    third_max = normalization.channel_max_abs(encode(data.layouts[1].coarse, *third)[..., :8])
    assert np.all(third_max <= scale[:8] + 1e-5)

    stream = sr_batches.multiresolution_minibatches(data, batch_size=2, seed=5)
    assert set(stream.constant_keys) == {"known_mask", "loss_mask", "channel_weights"}
    first = [b for b, _ in zip(stream(0), range(40), strict=False)]
    shapes = {b["x0"].shape for b in first}
    assert shapes == {(2, *layout.shape) for layout in data.layouts}
    for b in first:
        assert b["known_mask"].shape == (1, *b["x0"].shape[1:]) == b["loss_mask"].shape
        assert b["channel_weights"].shape == (b["x0"].shape[-1],)
    chosen = stream.pairs_at(0, 40)
    assert [b["x0"].shape for b in first] == [(2, *data.layouts[p].shape) for p in chosen]
    resumed = [b for b, _ in zip(stream(17), range(23), strict=False)]
    for a, b in zip(first[17:], resumed, strict=True):
        np.testing.assert_array_equal(a["x0"], b["x0"])
    assert np.array_equal(
        stream.pairs_at(4090, 4100),
        np.concatenate([stream.pairs_at(4090, 4096), stream.pairs_at(4096, 4100)]),
    )


# ---- cascade ------------------------------------------------------------------------------------


@functools.cache
def _denoiser(channels, seed=0):
    """An untrained tiny U-Net (built once: construction dominates these tests' time)."""
    network = UNetConfig(
        channels,
        dim=4,
        dim_mults=(1, 2),
        num_groups=2,
        attention=False,
        linear_attention=False,
        init_kernel_size=3,
    )
    return UNet(network, rngs=nnx.Rngs(seed))


def test_refine_imposes_known_channels():
    layout, (state, control), (coarse_state, coarse_control) = _pair(num=2)
    coarse = sr_layout.trajectory_coefficients(
        layout.coarse, encode(layout.coarse, coarse_state, coarse_control)
    )
    scale = jnp.full((layout.num_channels,), 3.0)
    model = _denoiser(layout.num_channels)
    refine = jax.jit(
        lambda scale, schedule, coarse, u0, f: sr_cascade.refine(
            model,
            layout,
            scale,
            schedule,
            coarse,
            u0,
            f,
            key=jax.random.key(0),
            sampler=SamplerConfig(num_steps=2),
        )
    )
    sample = refine(scale, diffusion.make_schedule("cosine", 1000), coarse, state[:, 0], control)
    expected = encode_superres(layout, jnp.asarray(state), control, coarse)
    known = layout.known_mask()
    np.testing.assert_allclose(
        np.asarray(sample)[:, known], np.asarray(expected)[:, known], atol=1e-5
    )
    assert np.isfinite(np.asarray(sample)).all()


def test_cascade_shapes_and_preserved_conditions():
    rng = np.random.default_rng(3)
    base_state, base_control = _trajectory(rng, 1, 81, 120)
    conditions = []
    for k in (1, 2, 3):
        s, c = _trajectory(rng, 1, 80 * 2**k + 1, 120 * 2**k)
        conditions.append((s[:, 0], c))
    channels = 18
    levels = sr_cascade.super_resolve(
        _denoiser(channels),
        CONFIG,
        normalization.Normalizer(np.full(channels, 4.0, np.float32)),
        diffusion.make_schedule("cosine", 1000),
        base_state,
        base_control,
        conditions,
        key=0,
        sampler=SamplerConfig(num_steps=1),
    )
    assert [lv.state.shape for lv in levels] == [
        (1, 81, 120, 1),
        (1, 161, 240, 1),
        (1, 321, 480, 1),
        (1, 641, 960, 1),
    ]
    assert [lv.control.shape for lv in levels] == [
        (1, 80, 120, 1),
        (1, 160, 240, 1),
        (1, 320, 480, 1),
        (1, 640, 960, 1),
    ]
    assert [lv.coefficients.shape for lv in levels] == [
        (1, 41, 60, 8),
        (1, 81, 120, 8),
        (1, 161, 240, 8),
        (1, 321, 480, 8),
    ]
    for lv, (u0, f) in zip(levels[1:], conditions, strict=True):
        np.testing.assert_allclose(lv.control, f, atol=2e-5)  # imposed force, decoded
        np.testing.assert_array_equal(lv.state[:, 0], u0)
        assert np.isfinite(lv.state).all() and np.isfinite(lv.initial_state_error).all()
        # the control bands of the generated coefficients are the given force's coefficients
        fine = encoding.make_layout(CONFIG, lv.state.shape[1:], f.shape[1:])
        given = sr_layout.trajectory_coefficients(fine, encode(fine, lv.state, f))
        np.testing.assert_allclose(lv.coefficients[..., 4:], given[..., 4:], atol=1e-5)
    np.testing.assert_array_equal(levels[0].state, base_state)


# ---- the physical-space DDPM's multi-resolution scheme (transform="identity") -----------------

IDENTITY = encoding.EncodingConfig(transform="identity", pad_multiple=8)


def test_physical_space_pairs_are_consistent_levels():
    # In physical space the SRM tensor holds the fields themselves: [u, f | low u, low f]. The low
    # input of a pair is the coarser level, so its entries at even fine indices are the fine
    # target sub-sampled ([::2] in t and x, numpy below) and the odd ones repeat them; and the
    # low input of one pair is the target of the next pair down, through the shared scales.
    rng = np.random.default_rng(4)
    state, control = _trajectory(rng, 3, 33, 32)
    data = sr_batches.prepare(IDENTITY, state, control, num_levels=3)
    layout = data.layouts[0]
    assert [lv.fine.grid_shape for lv in data.layouts] == [(33, 32), (17, 16)]
    assert layout.shape == (40, 32, 4) and layout.fine_extent == (33, 32)
    assert layout.coarse_extent == (17, 16)

    tensors = [np.asarray(e, np.float64) * data.normalizer.scale for e in data.encoded]
    target_u, target_f = tensors[0][:, :33, :, 0], tensors[0][:, :33, :, 1]
    np.testing.assert_allclose(target_u, state[..., 0], rtol=1e-6)
    np.testing.assert_allclose(target_f[:, :32], control[..., 0], rtol=1e-6)
    low_u, low_f = tensors[0][:, :33, :, 2], tensors[0][:, :33, :, 3]
    np.testing.assert_allclose(low_u[:, ::2, ::2], state[:, ::2, ::2, 0], rtol=1e-6)
    np.testing.assert_allclose(low_u[:, 1::2, 1::2], state[:, :-1:2, ::2, 0], rtol=1e-6)
    # the control's frame m starts at state time m: frame 2m of the fine is frame m of the coarse
    # (the last row is each level's own extension by its last frame, so it is left out)
    np.testing.assert_allclose(low_f[:, :32:2, ::2], control[:, ::2, ::2, 0], rtol=1e-6)
    # pair 0's low input is pair 1's target: level 1 = level 0 [::2]
    np.testing.assert_allclose(tensors[0][:, :33:2, ::2, 2:], tensors[1][:, :17, :, :2], rtol=1e-6)
    down_state, down_control = pairs.downsample(state, control)
    np.testing.assert_allclose(tensors[1][:, :17, :, 0], down_state[..., 0], rtol=1e-6)
    np.testing.assert_allclose(tensors[1][:, :16, :, 1], down_control[..., 0], rtol=1e-6)
    # one scale per field, the same for the target and the low input (as in wavelet space)
    np.testing.assert_array_equal(data.normalizer.scale[:2], data.normalizer.scale[2:])
    assert not np.any(tensors[0][:, 33:])  # time padding 33 -> 40 is zero


def test_single_pair_stream_draws_only_the_finest_pair():
    # num_levels=2 (the driver's single-pair ablation) leaves one pair: every batch of the
    # training stream is that pair's tensor and every row one of its trajectories.
    rng = np.random.default_rng(5)
    state, control = _trajectory(rng, 5, 33, 32)
    data = sr_batches.prepare(encoding.EncodingConfig(pad_multiple=4), state, control, num_levels=2)
    assert [lv.fine.grid_shape for lv in data.layouts] == [(33, 32)]
    stream = sr_batches.multiresolution_minibatches(data, batch_size=2, seed=3)
    assert not stream.pairs_at(0, 5000).any()
    rows = {row.tobytes() for row in data.encoded[0]}
    for batch, _ in zip(stream(0), range(30), strict=False):
        assert batch["x0"].shape == (2, *data.layouts[0].shape)
        assert all(np.asarray(row).tobytes() in rows for row in batch["x0"])
        np.testing.assert_array_equal(batch["known_mask"][0], data.layouts[0].known_mask())


def test_cascade_preserves_conditions_in_physical_space():
    # The multi-resolution DDPM's cascade: u0 and f are grid entries here, imposed exactly in
    # normalised space, so they come back up to the scale's round-off and the model's own
    # u(t=0) equals the given one (unlike wavelet space, where u0 is not a subset of the
    # coefficients).
    rng = np.random.default_rng(6)
    base_state, base_control = _trajectory(rng, 2, 21, 30)
    conditions = []
    for k in (1, 2):
        s, c = _trajectory(rng, 2, 20 * 2**k + 1, 30 * 2**k)
        conditions.append((s[:, 0], c))
    channels = 4
    scale = np.array([3.0, 2.0, 3.0, 2.0], np.float32)
    levels = sr_cascade.super_resolve(
        _denoiser(channels),
        IDENTITY,
        normalization.Normalizer(scale),
        diffusion.make_schedule("cosine", 1000),
        base_state,
        base_control,
        conditions,
        key=0,
        sampler=SamplerConfig(num_steps=1),
        batch_size=2,
    )
    assert [lv.state.shape for lv in levels] == [(2, 21, 30, 1), (2, 41, 60, 1), (2, 81, 120, 1)]
    assert [lv.coefficients.shape for lv in levels] == [
        (2, 21, 30, 2),
        (2, 41, 60, 2),
        (2, 81, 120, 2),
    ]
    np.testing.assert_array_equal(levels[0].state, base_state)
    for lv, (u0, f) in zip(levels[1:], conditions, strict=True):
        np.testing.assert_array_equal(lv.state[:, 0], u0)
        np.testing.assert_allclose(lv.control, f, rtol=1e-6, atol=1e-6)
        assert lv.initial_state_error.max() < 1e-6  # u(t=0) is a known grid row
        # the "coefficients" are the fields: the state, then the control extended by its last
        # frame (the next level's low input)
        np.testing.assert_allclose(lv.coefficients[..., 0], lv.state[..., 0], atol=1e-6)
        np.testing.assert_allclose(lv.coefficients[:, :-1, :, 1], f[..., 0], rtol=1e-6, atol=1e-6)
        np.testing.assert_allclose(lv.coefficients[:, -1, :, 1], f[:, -1, :, 0], atol=1e-6)
        assert np.isfinite(lv.state).all()


# ---- the FNO zero-shot on finer grids ----------------------------------------------------------


def test_rescaled_padding_keeps_the_padded_extent():
    # Burgers at 8x: t (81 + 8) 8 - 641 = 71, x (120 + 8) 8 - 960 = 64 (by hand); in units of
    # the coarse spacing the padded extent (n' + p') / F stays n + p on every axis.
    assert pairs.refine_shape((81, 120), 8) == (641, 960)
    assert zero_shot.rescaled_padding((81, 120), (8, 8), 8) == (71, 64)
    for factor in (1, 2, 4):
        fine = pairs.refine_shape((81, 120), factor)
        padding = zero_shot.rescaled_padding((81, 120), (8, 8), factor)
        assert [(n + p) / factor for n, p in zip(fine, padding, strict=True)] == [89, 128]
    assert zero_shot.rescaled_padding((81, 120), (0, 0), 2) == (1, 0)  # periodic x stays 0
    with pytest.raises(ValueError, match="power of two"):
        pairs.refine_shape((81, 120), 3)


def test_fno_zero_shot_returns_the_documented_shapes():
    num_times, num_points = 9, 16
    layout = encoding.make_layout(
        encoding.EncodingConfig(transform="identity"),
        (num_times, num_points, 1),
        (num_times - 1, num_points, 1),
    )
    network = fno.FNOConfig(2, 1, width=4, modes=(3, 4), num_layers=2, projection_width=8)
    simulator = FNOSimulator(
        fno.FNO(network, rngs=nnx.Rngs(0)),
        layout,
        normalization.Normalizer(np.array([2.0, 3.0], np.float32)),
        step=7,
    )
    assert zero_shot.fno_at_resolution(simulator, 1) is simulator
    rng = np.random.default_rng(7)
    for factor in (2, 4):
        fine = zero_shot.fno_at_resolution(simulator, factor)
        times, points = (num_times - 1) * factor + 1, num_points * factor
        assert fine.layout.grid_shape == (times, points) and fine.step == 7
        assert fine.model.config.padding == ((8 + 1) * factor - 1, 8 * factor)
        assert fine.model.config.modes == network.modes
        for a, b in zip(
            jax.tree.leaves(nnx.state(fine.model)),
            jax.tree.leaves(nnx.state(simulator.model)),
            strict=True,
        ):
            np.testing.assert_array_equal(a, b)  # the same weights
        u0 = rng.normal(size=(3, points, 1)).astype(np.float32)
        f = rng.normal(size=(3, times - 1, points, 1)).astype(np.float32)
        state = fine.predict(u0, f, batch_size=2, progress=False)
        assert state.shape == (3, times, points, 1) and np.isfinite(state).all()
        np.testing.assert_array_equal(state[:, 0], u0)
        with pytest.raises(ValueError, match="initial_state"):
            fine.predict(u0[:, ::2], f[:, ::2, ::2], progress=False)  # the base grid's shapes
