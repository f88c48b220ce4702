"""Tests for wdno.encoding against independent references (PyWavelets, numpy) plus invariants.

The reference for every wavelet channel is computed by PyWavelets from the raw trajectory; our
own ``wavelets``/``encoding`` output is never used as the expected value. Band order (from
``wdno.wavelets.pack``): one level over (t, x) is ``[aa, ad, da, dd]`` which, in
``pywt.dwt2(x, axes=(t, x))`` terms ``(cA, (cH, cV, cD))``, is ``[cA, cV, cH, cD]``.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import pywt

from wdno.transforms import encoding, normalization

# PyWavelets warns when a level exceeds pywt.dwt_max_level (small grids); we do not.
pytestmark = pytest.mark.filterwarnings("ignore:Level value of:UserWarning")

BURGERS = encoding.EncodingConfig(wavelet="bior2.4", mode="periodization", level=1, pad_multiple=8)
SMOKE = encoding.EncodingConfig(wavelet="bior1.3", mode="zero", level=1, pad_multiple=8)
HAAR2 = encoding.EncodingConfig(wavelet="haar", mode="symmetric", level=2, pad_multiple=4)
IDENTITY = encoding.EncodingConfig(transform="identity", pad_multiple=8)

# Jitted once per layout (a frozen, hashable dataclass): much faster than eager op-by-op dispatch.
# test_encode_and_decode_jit checks that eager and jitted results agree.
_encode = jax.jit(encoding.encode, static_argnums=0)
_decode = jax.jit(encoding.decode, static_argnums=0)

BATCH = 3  # one batch size everywhere, so eager-op compilations are shared between tests

# (config, state shape, control shape) per sample; batch sizes are added by _random_trajectory.
CASES = {
    "burgers": (BURGERS, (81, 120, 1), (80, 120, 1)),
    "smoke2d": (SMOKE, (9, 10, 12, 2), (8, 10, 12, 3)),
    "haar_level2": (HAAR2, (9, 12, 2), (8, 12, 1)),
    "identity_1d": (IDENTITY, (81, 120, 1), (80, 120, 1)),
    "identity_2d": (
        encoding.EncodingConfig(transform="identity", pad_multiple=4),
        (9, 10, 12, 2),
        (8, 10, 12, 3),
    ),
}


def _random_trajectory(state_shape, control_shape, batch, seed=0):
    rng = np.random.default_rng(seed)
    state = rng.standard_normal((batch, *state_shape)).astype(np.float32)
    control = None
    if control_shape is not None:
        control = rng.standard_normal((batch, *control_shape)).astype(np.float32)
    return state, control


@pytest.fixture(scope="module")
def burgers():
    layout = encoding.make_layout(BURGERS, (81, 120, 1), (80, 120, 1))
    state, control = _random_trajectory((81, 120, 1), (80, 120, 1), batch=BATCH)
    encoded = np.asarray(_encode(layout, jnp.asarray(state), jnp.asarray(control)))
    return layout, state, control, encoded


# ---- layout and reference values -------------------------------------------------------------


def test_burgers_layout_shape_and_channel_names(burgers):
    layout, _, _, encoded = burgers
    # Joint (t, x) DWT with periodization: ceil(81 / 2) x 120 / 2 = 41 x 60, padded to 48 x 64.
    # Channels: 4 state bands + 4 control bands + 2 bands of u0's 1-D spatial DWT.
    assert layout.shape == (48, 64, 10)
    assert encoded.shape == (3, 48, 64, 10)
    assert encoded.dtype == np.float32
    assert layout.channel_names(["u"], ["f"]) == [
        "u:aa", "u:ad", "u:da", "u:dd",
        "f:aa", "f:ad", "f:da", "f:dd",
        "u(t=0):a", "u(t=0):d",
    ]  # fmt: skip


def _dwt2_bands(x):
    """pywt.dwt2 over (t, x) of ``(N, T, X)`` in pack order [aa, ad, da, dd] = [cA, cV, cH, cD]."""
    approx, (horizontal, vertical, diagonal) = pywt.dwt2(
        x.astype(np.float64), "bior2.4", mode="periodization", axes=(1, 2)
    )
    return [approx, vertical, horizontal, diagonal]


def test_burgers_state_channels_match_pywt_dwt2(burgers):
    _, state, _, encoded = burgers
    for band, reference in enumerate(_dwt2_bands(state[..., 0])):
        assert reference.shape == (3, 41, 60)
        np.testing.assert_allclose(encoded[:, :41, :60, band], reference, atol=1e-5)


def test_burgers_control_channels_match_pywt_dwt2_of_edge_repeated_control(burgers):
    _, _, control, encoded = burgers
    # The 81/80 rule: the control is extended to 81 frames by repeating its last frame.
    extended = np.concatenate([control, control[:, -1:]], axis=1)[..., 0]
    for band, reference in enumerate(_dwt2_bands(extended)):
        np.testing.assert_allclose(encoded[:, :41, :60, 4 + band], reference, atol=1e-5)


def test_burgers_condition_channels_are_pywt_dwt_of_u0_broadcast_in_time(burgers):
    _, state, _, encoded = burgers
    approx, detail = pywt.dwt(
        state[:, 0, :, 0].astype(np.float64), "bior2.4", mode="periodization", axis=-1
    )
    for channel, reference in ((8, approx), (9, detail)):
        # Broadcast along the (whole) time-coefficient axis.
        expected = np.broadcast_to(reference[:, None, :], (3, 48, 60))
        np.testing.assert_allclose(encoded[:, :, :60, channel], expected, atol=1e-5)


def test_burgers_padding_is_exactly_zero(burgers):
    _, _, _, encoded = burgers
    assert np.all(encoded[:, 41:, :, :8] == 0)  # time padding of the trajectory bands
    assert np.all(encoded[:, :, 60:, :] == 0)  # space padding of every channel
    assert np.all(encoded[:, :41, :60, :] != 0)  # valid region carries data (random input)


def test_smoke_2d_channels_match_pywt_dwtn():
    config, state_shape, control_shape = CASES["smoke2d"]
    layout = encoding.make_layout(config, state_shape, control_shape)
    state, control = _random_trajectory(state_shape, control_shape, batch=BATCH, seed=1)
    encoded = np.asarray(_encode(layout, jnp.asarray(state), jnp.asarray(control)))
    # zero mode, bior1.3 (filter length 6): floor((n + 5) / 2): 9 -> 7, 10 -> 7, 12 -> 8.
    assert layout.shape == (8, 8, 8, 8 * 5 + 4 * 2)
    keys = ["aaa", "aad", "ada", "add", "daa", "dad", "dda", "ddd"]
    extended = np.concatenate([control, control[:, -1:]], axis=1)
    fields = np.concatenate([state, extended], axis=-1).astype(np.float64)
    reference = pywt.dwtn(fields, "bior1.3", mode="zero", axes=(1, 2, 3))
    for field in range(5):
        for band, key in enumerate(keys):
            np.testing.assert_allclose(
                encoded[:, :7, :7, :8, field * 8 + band], reference[key][..., field], atol=1e-5
            )
    initial = pywt.dwtn(state[:, 0].astype(np.float64), "bior1.3", mode="zero", axes=(1, 2))
    for field in range(2):
        for band, key in enumerate(["aa", "ad", "da", "dd"]):
            expected = np.broadcast_to(initial[key][:, None, ..., field], (BATCH, 8, 7, 8))
            np.testing.assert_allclose(
                encoded[:, :, :7, :8, 40 + field * 4 + band], expected, atol=1e-5
            )


def test_haar_level2_channels_match_pywt_wavedecn():
    config, state_shape, control_shape = CASES["haar_level2"]
    layout = encoding.make_layout(config, state_shape, control_shape)
    state, control = _random_trajectory(state_shape, control_shape, batch=BATCH, seed=2)
    encoded = np.asarray(_encode(layout, jnp.asarray(state), jnp.asarray(control)))
    extended = np.concatenate([control, control[:, -1:]], axis=1)
    fields = np.concatenate([state, extended], axis=-1).astype(np.float64)
    approx, coarse, fine = pywt.wavedecn(fields, "haar", mode="symmetric", level=2, axes=(1, 2))
    # Pack order: approximation, then coarsest details, then finest, each [ad, da, dd].
    bands = [approx] + [level[key] for level in (coarse, fine) for key in ("ad", "da", "dd")]
    for field in range(3):
        for band, reference in enumerate(bands):
            t, x = reference.shape[1:3]
            np.testing.assert_allclose(
                encoded[:, :t, :x, field * 7 + band], reference[..., field], atol=1e-5
            )


def test_identity_encoding_is_padded_physical_fields():
    config, state_shape, control_shape = CASES["identity_1d"]
    layout = encoding.make_layout(config, state_shape, control_shape)
    state, control = _random_trajectory(state_shape, control_shape, batch=BATCH, seed=3)
    encoded = np.asarray(_encode(layout, jnp.asarray(state), jnp.asarray(control)))
    assert layout.shape == (88, 120, 2)
    extended = np.concatenate([control, control[:, -1:]], axis=1)
    expected = np.zeros((BATCH, 88, 120, 2), np.float32)
    expected[:, :81] = np.concatenate([state, extended], axis=-1)
    np.testing.assert_array_equal(encoded, expected)


# ---- round trip ------------------------------------------------------------------------------


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("with_control", [True, False])
def test_decode_inverts_encode(case, with_control):
    config, state_shape, control_shape = CASES[case]
    control_shape = control_shape if with_control else None
    layout = encoding.make_layout(config, state_shape, control_shape)
    state, control = _random_trajectory(state_shape, control_shape, batch=BATCH, seed=4)
    encoded = _encode(layout, jnp.asarray(state), None if control is None else jnp.asarray(control))
    assert encoded.shape == (BATCH, *layout.shape)
    decoded_state, decoded_control = _decode(layout, encoded)
    assert decoded_state.dtype == jnp.float32
    np.testing.assert_allclose(decoded_state, state, atol=1e-5)
    if control is None:
        assert decoded_control is None
    else:
        assert decoded_control.shape == control.shape  # exactly T - 1 frames
        np.testing.assert_allclose(decoded_control, control, atol=1e-5)


def test_last_control_frame_is_used_and_survives_round_trip(burgers):
    layout, state, control, encoded = burgers
    changed = control.copy()
    changed[:, -1] += 1.0 + np.arange(120, dtype=np.float32)[None, :, None] / 120
    encoded_changed = np.asarray(_encode(layout, jnp.asarray(state), jnp.asarray(changed)))
    # Only the control channels move; the state and condition channels do not.
    assert not np.allclose(encoded_changed[..., 4:8], encoded[..., 4:8])
    np.testing.assert_array_equal(encoded_changed[..., :4], encoded[..., :4])
    np.testing.assert_array_equal(encoded_changed[..., 8:], encoded[..., 8:])
    _, decoded = _decode(layout, jnp.asarray(encoded_changed))
    assert decoded.shape == (3, 80, 120, 1)
    np.testing.assert_allclose(decoded, changed, atol=1e-5)
    # The decoded last frame is the input's 80th frame, not a repeat of frame 79.
    assert not np.allclose(decoded[:, -1], decoded[:, -2])


# ---- masks -----------------------------------------------------------------------------------


def _expected_pad_mask(layout, config, state_shape, control_shape):
    """Pad mask from PyWavelets' band shapes: each band sits at the canvas origin."""
    mask = np.ones(layout.shape, bool)
    if config.transform == "identity":
        mask[tuple(slice(0, n) for n in state_shape[:-1])] = False
        return mask
    num_fields = state_shape[-1] + control_shape[-1]

    def band_shapes(grid):
        coeffs = pywt.wavedecn(np.zeros(grid), config.wavelet, config.mode, config.level)
        return [coeffs[0].shape] + [d[k].shape for d in coeffs[1:] for k in sorted(d)]

    trajectory_bands = band_shapes(state_shape[:-1])
    channel = 0
    for _ in range(num_fields):
        for shape in trajectory_bands:
            mask[(*(slice(0, n) for n in shape), channel)] = False
            channel += 1
    for _ in range(state_shape[-1]):
        for shape in band_shapes(state_shape[1:-1]):
            mask[(slice(None), *(slice(0, n) for n in shape), channel)] = False
            channel += 1
    assert channel == layout.shape[-1]
    return mask


@pytest.mark.parametrize("case", sorted(CASES))
def test_pad_mask_is_exactly_where_encode_gives_zeros(case):
    config, state_shape, control_shape = CASES[case]
    layout = encoding.make_layout(config, state_shape, control_shape)
    state, control = _random_trajectory(state_shape, control_shape, batch=BATCH, seed=5)
    encoded = np.asarray(_encode(layout, jnp.asarray(state), jnp.asarray(control)))
    pad = layout.pad_mask()
    assert pad.shape == layout.shape and pad.dtype == bool
    np.testing.assert_array_equal(
        pad, _expected_pad_mask(layout, config, state_shape, control_shape)
    )
    structural_zero = np.all(encoded == 0, axis=0)  # zero in every sample of random data
    assert np.all(structural_zero[pad])
    if case in ("smoke2d", "haar_level2"):
        # Here some genuine coefficients are always zero too: bior1.3's high-pass taps start and
        # end with zeros (zero mode), and an odd length gets a copy of its last sample (the haar
        # detail of that pair vanishes). They are coefficients, not padding; their values are
        # checked against PyWavelets in the tests above.
        return
    np.testing.assert_array_equal(pad, structural_zero)


def test_known_mask_wavelet(burgers):
    layout = burgers[0]
    pad = layout.pad_mask()
    state_ch, control_ch, condition_ch = slice(0, 4), slice(4, 8), slice(8, 10)

    simulation = layout.known_mask(initial_state=True, control=True)
    assert simulation.shape == layout.shape
    assert np.all(simulation[..., control_ch]) and np.all(simulation[..., condition_ch])
    np.testing.assert_array_equal(simulation[..., state_ch], pad[..., state_ch])
    assert not np.any(simulation[:41, :60, state_ch])  # valid state coefficients unknown

    control_task = layout.known_mask(initial_state=True, control=False)
    np.testing.assert_array_equal(control_task[..., control_ch], pad[..., control_ch])
    assert not np.any(control_task[:41, :60, control_ch])
    assert np.all(control_task[..., condition_ch])

    unconditional = layout.known_mask(initial_state=False, control=False)
    np.testing.assert_array_equal(unconditional, pad)


def test_known_mask_identity():
    layout = encoding.make_layout(IDENTITY, (81, 120, 2), (80, 120, 1))
    assert layout.shape == (88, 120, 3)
    known = layout.known_mask(initial_state=True, control=True)
    expected = np.zeros((88, 120, 3), bool)
    expected[81:] = True  # time padding
    expected[0, :, :2] = True  # u0 = first time row of the state channels
    expected[..., 2] = True  # control
    np.testing.assert_array_equal(known, expected)
    expected[:81, :, 2] = False
    np.testing.assert_array_equal(layout.known_mask(initial_state=True, control=False), expected)


# ---- normalisation ---------------------------------------------------------------------------


def test_fit_channel_scales_is_max_abs_per_channel(burgers):
    layout = burgers[0]
    rng = np.random.default_rng(6)
    batches = [
        rng.standard_normal((BATCH, *layout.shape)).astype(np.float32) * (k + 1) for k in range(3)
    ]
    batches[1][..., 3] *= 50.0  # the maximum of channel 3 lives in the second batch
    for batch in batches:
        batch[..., 5] = 0.0  # an all-zero channel gets the floor
    scale = normalization.fit_channel_scales(layout, (jnp.asarray(b) for b in batches))
    expected = np.abs(np.concatenate(batches)).max(axis=(0, 1, 2))
    expected[5] = normalization.SCALE_FLOOR
    assert scale.shape == (10,) and scale.dtype == np.float32
    np.testing.assert_allclose(scale, expected, rtol=1e-6)
    # Headroom multiplies the maximum; the original's rule int(max) + 1 applies after it.
    headroom = normalization.fit_channel_scales(layout, batches, headroom=1.25)
    np.testing.assert_allclose(headroom[:5], 1.25 * expected[:5], rtol=1e-6)
    rounded = normalization.fit_channel_scales(layout, batches, round_up=True)
    np.testing.assert_array_equal(rounded, np.floor(expected) + 1.0)
    assert rounded[5] == 1.0  # an all-zero channel: int(0) + 1
    with pytest.raises(ValueError, match="headroom"):
        normalization.fit_channel_scales(layout, batches, headroom=0.5)


def test_normalizer_inverse_and_save_load(burgers, tmp_path):
    layout, _, _, encoded = burgers
    scale = normalization.fit_channel_scales(layout, [jnp.asarray(encoded)])
    normalizer = normalization.Normalizer(scale=scale)
    normalized = normalizer.normalize(jnp.asarray(encoded))
    assert float(jnp.max(jnp.abs(normalized))) <= 1.0 + 1e-6  # training data lie in [-1, 1]
    np.testing.assert_allclose(normalized, encoded / scale.astype(np.float64), rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(normalizer.denormalize(normalized), encoded, rtol=1e-6, atol=1e-6)

    path = tmp_path / "normalizer.json"
    normalizer.save(path)
    loaded = normalization.Normalizer.load(path)
    assert loaded.scale.dtype == np.float32
    np.testing.assert_array_equal(loaded.scale, normalizer.scale)


# ---- errors ----------------------------------------------------------------------------------


def test_errors_are_clear_value_errors(burgers):
    layout, state, control, encoded = burgers
    with pytest.raises(ValueError, match="one frame fewer"):
        encoding.make_layout(BURGERS, (81, 120, 1), (81, 120, 1))
    with pytest.raises(ValueError, match="state shape"):
        encoding.make_layout(BURGERS, (81, 120))
    with pytest.raises(ValueError, match="transform"):
        encoding.EncodingConfig(transform="fourier")
    with pytest.raises(ValueError, match="pad_multiple"):
        encoding.EncodingConfig(pad_multiple=0)
    with pytest.raises(ValueError, match="encode: state shape"):
        encoding.encode(layout, jnp.asarray(state[0]), jnp.asarray(control))
    with pytest.raises(ValueError, match="encode: control shape"):
        encoding.encode(layout, jnp.asarray(state), jnp.zeros((3, 81, 120, 1)))
    with pytest.raises(ValueError, match="encode: control shape"):
        encoding.encode(layout, jnp.asarray(state), jnp.zeros((3, 80, 120, 2)))
    with pytest.raises(ValueError, match="batch size"):
        encoding.encode(layout, jnp.asarray(state), jnp.asarray(control[:2]))
    with pytest.raises(ValueError, match="control=None"):
        encoding.encode(layout, jnp.asarray(state))
    no_control = encoding.make_layout(BURGERS, (81, 120, 1))
    with pytest.raises(ValueError, match="no control fields"):
        encoding.encode(no_control, jnp.asarray(state), jnp.asarray(control))
    with pytest.raises(ValueError, match="decode: encoded shape"):
        encoding.decode(layout, jnp.asarray(encoded[..., :9]))


# ---- jit -------------------------------------------------------------------------------------


def test_encode_and_decode_jit(burgers):
    layout, state, control, encoded = burgers
    eager = encoding.encode(layout, jnp.asarray(state), jnp.asarray(control))
    np.testing.assert_allclose(eager, encoded, atol=1e-6)
    # Layout static via closure.
    encode_jit = jax.jit(lambda s, c: encoding.encode(layout, s, c))
    decode_jit = jax.jit(lambda e: encoding.decode(layout, e))
    jitted = encode_jit(jnp.asarray(state), jnp.asarray(control))
    np.testing.assert_allclose(jitted, eager, atol=1e-6)
    decoded_state, decoded_control = decode_jit(jitted)
    eager_state, eager_control = encoding.decode(layout, eager)
    np.testing.assert_allclose(decoded_state, eager_state, atol=1e-6)
    np.testing.assert_allclose(decoded_control, eager_control, atol=1e-6)
    np.testing.assert_allclose(decoded_state, state, atol=1e-5)
    np.testing.assert_allclose(decoded_control, control, atol=1e-5)


def test_past_frames_channels_are_the_dwt_of_the_extended_past():
    # A forecast layout (P = 5 of 12 frames known): the condition channels are the joint DWT of
    # the past extended by repeating its last frame, checked against PyWavelets' dwt2.
    config = encoding.EncodingConfig(wavelet="bior2.4", mode="periodization", level=1)
    layout = encoding.make_layout(config, (12, 16, 1), None, past_frames=5)
    rng = np.random.default_rng(3)
    state = rng.normal(size=(2, 12, 16, 1)).astype(np.float32)
    encoded = np.asarray(encoding.encode(layout, jnp.asarray(state)))
    extended = np.concatenate([state[:, :5], np.repeat(state[:, 4:5], 7, axis=1)], axis=1)
    s = layout.num_state_channels
    assert layout.num_initial_channels == s == 4
    for n in range(2):
        approx, (horizontal, vertical, diagonal) = pywt.dwt2(
            extended[n, ..., 0], "bior2.4", mode="periodization"
        )
        for band, expected in enumerate([approx, vertical, horizontal, diagonal]):
            rows, cols = expected.shape
            np.testing.assert_allclose(encoded[n, :rows, :cols, s + band], expected, atol=1e-5)
    # Only the first 5 frames matter: changing the future changes no condition channel.
    future = state.copy()
    future[:, 5:] += 1.0
    changed = np.asarray(encoding.encode(layout, jnp.asarray(future)))
    np.testing.assert_array_equal(changed[..., s:], encoded[..., s:])
    decoded, _ = encoding.decode(layout, jnp.asarray(encoded))
    np.testing.assert_allclose(decoded, state, atol=1e-5)
    known = layout.task_known_mask()
    assert known[..., s:].all() and not known[..., :s].all()
    identity = encoding.make_layout(
        encoding.EncodingConfig(transform="identity"), (12, 16, 1), None, past_frames=5
    )
    rows = identity.task_known_mask()[:12, 0, 0]
    np.testing.assert_array_equal(rows, np.arange(12) < 5)
    with pytest.raises(ValueError, match="past_frames"):
        encoding.make_layout(config, (12, 16, 1), None, past_frames=12)
