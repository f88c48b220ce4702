"""Tests for wdno.wavelets against PyWavelets (the independent reference), plus invariants."""

import itertools

import hypothesis
import hypothesis.strategies as st
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import pywt

from wdno.transforms import dwt, wavelets

# PyWavelets warns (we do not) when a level exceeds pywt.dwt_max_level, e.g. for 11 x 15.
pytestmark = pytest.mark.filterwarnings("ignore:Level value of:UserWarning")

WAVELETS = ("haar", "db2", "bior1.3", "bior2.4")
# Per dimensionality: array shape and transformed axes (leading batch axes, trailing fields,
# odd and even sizes).
CASES = {
    1: ((2, 81), (-1,)),
    2: ((2, 9, 12, 2), (1, 2)),
    3: ((1, 5, 8, 7, 2), (1, 2, 3)),
}


def _round_trip(wavelet, mode, level, axes):
    @jax.jit
    def function(x):
        coeffs = wavelets.wavedec(x, wavelet, level=level, mode=mode, axes=axes)
        return coeffs, wavelets.waverec(coeffs)

    return function


def _assert_matches_wavedecn(coeffs, reference, scale):
    np.testing.assert_allclose(coeffs.approx, reference[0], atol=1e-5 * scale)
    assert len(coeffs.details) == len(reference) - 1
    for ours, theirs in zip(coeffs.details, reference[1:], strict=False):
        assert sorted(ours) == sorted(theirs)
        for key in theirs:
            np.testing.assert_allclose(ours[key], theirs[key], atol=1e-5 * scale)


@pytest.mark.parametrize("level", [1, 2])
@pytest.mark.parametrize("ndim", [1, 2, 3])
@pytest.mark.parametrize("mode", wavelets.MODES)
@pytest.mark.parametrize("wavelet", WAVELETS)
def test_matches_pywavelets_and_reconstructs(wavelet, mode, ndim, level):
    shape, axes = CASES[ndim]
    x = np.random.default_rng(ndim + 10 * level).standard_normal(shape).astype(np.float32)
    coeffs, reconstruction = _round_trip(wavelet, mode, level, axes)(x)
    scale = np.abs(x).max()

    reference = pywt.wavedecn(x, wavelet, mode=mode, level=level, axes=axes)
    _assert_matches_wavedecn(coeffs, reference, scale)
    if ndim == 1:  # the 1-D and 2-D conveniences agree too (cH = 'da', cV = 'ad', cD = 'dd')
        for ours, theirs in zip(
            [coeffs.approx] + [d["d"] for d in coeffs.details],
            pywt.wavedec(x, wavelet, mode=mode, level=level),
            strict=False,
        ):
            np.testing.assert_allclose(ours, theirs, atol=1e-5 * scale)
    if ndim == 2:
        reference2 = pywt.wavedec2(x, wavelet, mode=mode, level=level, axes=axes)
        for ours, (horizontal, vertical, diagonal) in zip(
            coeffs.details, reference2[1:], strict=False
        ):
            np.testing.assert_allclose(ours["da"], horizontal, atol=1e-5 * scale)
            np.testing.assert_allclose(ours["ad"], vertical, atol=1e-5 * scale)
            np.testing.assert_allclose(ours["dd"], diagonal, atol=1e-5 * scale)

    # Inverse of pywt's own coefficients, cropped to the original shape, and reconstruction.
    expected = pywt.waverecn(reference, wavelet, mode=mode, axes=axes)
    expected = expected[tuple(slice(0, n) for n in shape)]
    assert reconstruction.shape == x.shape and reconstruction.dtype == jnp.float32
    np.testing.assert_allclose(reconstruction, expected, atol=1e-5 * scale)
    np.testing.assert_allclose(reconstruction, x, atol=1e-5 * scale)


@pytest.mark.parametrize(
    ("shape", "axes", "wavelet", "mode"),
    [
        ((1, 81, 120, 2), (1, 2), "bior2.4", "periodization"),  # Burgers (t, x), u and f
        ((1, 32, 16, 16, 2), (1, 2, 3), "bior1.3", "zero"),  # smoke (t, y, x), reduced grid
        ((2, 3, 11, 15), (2, 3), "bior2.4", "symmetric"),  # 11 x 15 > pywt max level
    ],
)
def test_wdno_shapes_unjitted(shape, axes, wavelet, mode):
    x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    coeffs = wavelets.wavedec(x, wavelet, level=1, mode=mode, axes=axes)
    reference = pywt.wavedecn(x, wavelet, mode=mode, level=1, axes=axes)
    _assert_matches_wavedecn(coeffs, reference, np.abs(x).max())
    np.testing.assert_allclose(wavelets.waverec(coeffs), x, atol=1e-5 * np.abs(x).max())


def test_pack_unpack_is_exact_with_unequal_bands():
    x = np.random.default_rng(1).standard_normal((2, 13, 10, 3)).astype(np.float32)
    coeffs = wavelets.wavedec(x, "bior2.4", level=2, mode="zero", axes=(1, 2))
    layout = coeffs.layout
    assert len(set(layout.band_shapes)) > 1  # bands really differ in size
    packed = wavelets.pack(coeffs)
    assert packed.shape == (2, *layout.canvas_shape, layout.num_channels)
    assert layout.num_channels == 3 * (1 + 3 * 2)
    unpacked = wavelets.unpack(packed, layout)
    assert jax.tree_util.tree_structure(unpacked) == jax.tree_util.tree_structure(coeffs)
    for ours, theirs in zip(
        jax.tree_util.tree_leaves(unpacked), jax.tree_util.tree_leaves(coeffs), strict=False
    ):
        np.testing.assert_array_equal(ours, theirs)
    assert layout == wavelets.coeff_layout(x.shape, "bior2.4", level=2, mode="zero", axes=(1, 2))
    assert hash(layout) == hash(unpacked.layout)


def test_pack_channel_order_matches_documented_layout():
    # (batch, t, x, field) with fields u, f; one level over (t, x): channel = field * 4 + band.
    x = np.random.default_rng(2).standard_normal((3, 9, 8, 2)).astype(np.float32)
    coeffs = wavelets.wavedec(x, "db2", level=1, mode="periodization", axes=(1, 2))
    packed = np.asarray(wavelets.pack(coeffs))
    assert coeffs.layout.channel_names(["u", "f"]) == [
        "u:aa",
        "u:ad",
        "u:da",
        "u:dd",
        "f:aa",
        "f:ad",
        "f:da",
        "f:dd",
    ]
    for field in range(2):
        bands = pywt.dwtn(x[..., field], "db2", mode="periodization", axes=(1, 2))
        for band, key in enumerate(["aa", "ad", "da", "dd"]):
            np.testing.assert_allclose(packed[..., field * 4 + band], bands[key], atol=1e-5)
    # 'ad' is the detail along x (pywt cV), 'da' the detail along t (pywt cH).
    _, (horizontal, vertical, _) = pywt.dwt2(x[..., 0], "db2", mode="periodization", axes=(1, 2))
    np.testing.assert_allclose(packed[..., 1], vertical, atol=1e-5)
    np.testing.assert_allclose(packed[..., 2], horizontal, atol=1e-5)


def test_pack_multilevel_padding_is_zero_and_bands_sit_at_origin():
    x = np.random.default_rng(3).standard_normal((2, 11)).astype(np.float32)
    coeffs = wavelets.wavedec(x, "haar", level=2, mode="symmetric", axes=-1)
    packed = np.asarray(wavelets.pack(coeffs))
    reference = pywt.wavedec(x, "haar", mode="symmetric", level=2)  # [a2 (3), d2 (3), d1 (6)]
    assert coeffs.layout.band_names == ("a", "d2", "d1")
    assert packed.shape == (2, 6, 3)
    for channel, band in enumerate(reference):
        np.testing.assert_allclose(packed[:, : band.shape[-1], channel], band, atol=1e-5)
        np.testing.assert_array_equal(packed[:, band.shape[-1] :, channel], 0.0)


def test_haar_periodization_preserves_energy():
    x = np.random.default_rng(4).standard_normal((4, 16, 32)).astype(np.float32)
    coeffs = wavelets.wavedec(x, "haar", level=3, mode="periodization", axes=(1, 2))
    energy = sum(float(jnp.sum(leaf**2)) for leaf in jax.tree_util.tree_leaves(coeffs))
    np.testing.assert_allclose(energy, float(np.sum(x.astype(np.float64) ** 2)), rtol=1e-5)


def test_gradients_match_finite_differences():
    with jax.enable_x64(True):
        rng = np.random.default_rng(5)
        x = rng.standard_normal((7, 9))
        weights = rng.standard_normal((7, 9))
        direction = rng.standard_normal((7, 9))

        def forward_objective(signal):
            coeffs = wavelets.wavedec(signal, "bior2.4", level=1, mode="periodization", axes=(0, 1))
            return sum(jnp.sum(jnp.sin(leaf)) for leaf in jax.tree_util.tree_leaves(coeffs))

        coeffs = wavelets.wavedec(x, "bior1.3", level=2, mode="zero", axes=(0, 1))
        coeff_direction = jax.tree_util.tree_map(
            lambda leaf: jnp.asarray(rng.standard_normal(leaf.shape)), coeffs
        )

        def inverse_objective(c):
            return jnp.sum(weights * jnp.tanh(wavelets.waverec(c)))

        step = 1e-6
        gradient = jax.jit(jax.grad(forward_objective))(x)
        numeric = (
            forward_objective(x + step * direction) - forward_objective(x - step * direction)
        ) / (2 * step)
        np.testing.assert_allclose(jnp.sum(gradient * direction), numeric, rtol=1e-6)

        gradient = jax.grad(inverse_objective)(coeffs)
        analytic = sum(
            jnp.sum(g * d)
            for g, d in zip(
                jax.tree_util.tree_leaves(gradient),
                jax.tree_util.tree_leaves(coeff_direction),
                strict=False,
            )
        )
        plus = jax.tree_util.tree_map(lambda c, d: c + step * d, coeffs, coeff_direction)
        minus = jax.tree_util.tree_map(lambda c, d: c - step * d, coeffs, coeff_direction)
        numeric = (inverse_objective(plus) - inverse_objective(minus)) / (2 * step)
        np.testing.assert_allclose(analytic, numeric, rtol=1e-6)


def test_vmap_and_jit_agree_with_batched_call():
    x = np.random.default_rng(6).standard_normal((3, 10, 9)).astype(np.float32)
    options = dict(level=1, mode="symmetric", axes=(0, 1))
    mapped = jax.jit(jax.vmap(lambda sample: wavelets.wavedec(sample, "db2", **options)))(x)
    batched = wavelets.wavedec(x, "db2", level=1, mode="symmetric", axes=(1, 2))
    assert mapped.axes == batched.axes == (-2, -1)  # negative axes survive the vmap
    for ours, theirs in zip(
        jax.tree_util.tree_leaves(mapped), jax.tree_util.tree_leaves(batched), strict=False
    ):
        np.testing.assert_allclose(ours, theirs, atol=1e-6)
    np.testing.assert_allclose(jax.vmap(wavelets.waverec)(mapped), x, atol=1e-5)


@pytest.mark.parametrize("chunk_bytes", [1, 2 * 9 * 8 * 2 * 4])  # one or two elements
def test_chunked_batches_match_pywavelets_and_gradients(monkeypatch, chunk_bytes):
    # Large batches are transformed in chunks (lax.map); force it on a small input, with two
    # batch axes (6 = 3 x 2 elements) and a level that shrinks the chunks' bands unequally.
    monkeypatch.setattr(dwt, "_CHUNK_BYTES", chunk_bytes)
    monkeypatch.setattr(dwt, "_CHUNK_ABOVE_BYTES", 0)
    x = np.random.default_rng(8).standard_normal((3, 2, 9, 8, 2)).astype(np.float32)
    options = dict(level=2, mode="zero", axes=(2, 3))
    coeffs, reconstruction = _round_trip("bior1.3", "zero", 2, (2, 3))(x)
    _assert_matches_wavedecn(coeffs, pywt.wavedecn(x, "bior1.3", **options), np.abs(x).max())
    np.testing.assert_allclose(reconstruction, x, atol=1e-5 * np.abs(x).max())

    def objective(signal):
        coeffs = wavelets.wavedec(signal, "bior1.3", **options)
        return jnp.sum(wavelets.waverec(coeffs) ** 2)

    gradient = jax.jit(jax.grad(objective))(x)  # perfect reconstruction: d/dx |x|^2 = 2x
    np.testing.assert_allclose(gradient, 2 * x, atol=1e-4 * np.abs(x).max())


@hypothesis.settings(max_examples=8, deadline=None)
@hypothesis.given(
    sizes=st.lists(st.integers(2, 12), min_size=1, max_size=2),
    wavelet=st.sampled_from(WAVELETS),
    mode=st.sampled_from(wavelets.MODES),
    seed=st.integers(0, 2**16),
)
def test_round_trip_property(sizes, wavelet, mode, seed):
    x = np.random.default_rng(seed).standard_normal((2, *sizes)).astype(np.float32)
    axes = tuple(range(1, 1 + len(sizes)))
    level = 1 + seed % int(np.log2(min(sizes)))
    coeffs = wavelets.wavedec(x, wavelet, level=level, mode=mode, axes=axes)
    np.testing.assert_allclose(wavelets.waverec(coeffs), x, atol=1e-5 * np.abs(x).max())
    unpacked = wavelets.unpack(wavelets.pack(coeffs), coeffs.layout)
    for ours, theirs in zip(
        jax.tree_util.tree_leaves(unpacked), jax.tree_util.tree_leaves(coeffs), strict=False
    ):
        np.testing.assert_array_equal(ours, theirs)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda x: wavelets.wavedec(x, "haar", level=4, axes=(0, 1)), "level 4 is impossible"),
        (lambda x: wavelets.wavedec(x, "haar", level=0, axes=0), "1 <= level"),
        (lambda x: wavelets.wavedec(x[:3, :3], "bior2.4", axes=(0, 1)), "pass level=1"),
        (lambda x: wavelets.wavedec(x, "db99"), "pywt.wavelist(kind='discrete')"),
        (lambda x: wavelets.wavedec(x, "morl"), "unknown wavelet 'morl'"),
        (lambda x: wavelets.wavedec(x, "haar", mode="reflect"), "supported modes are"),
        (lambda x: wavelets.wavedec(x, "haar", axes=(0, 0)), "same axis twice"),
        (lambda x: wavelets.wavedec(x, "haar", axes=(3,)), "axis 3 is out of range"),
        (lambda x: wavelets.wavedec(x, "haar", axes=()), "axes is empty"),
        (
            lambda x: wavelets.pack(wavelets.wavedec(x[None, :, None], "haar", axes=(1, 3))),
            "contiguous",
        ),
        (
            lambda x: wavelets.unpack(x, wavelets.coeff_layout(x.shape, "haar", level=1)),
            "expected (*batch, 8, 2)",
        ),
    ],
)
def test_errors_are_clear(call, message):
    x = np.zeros((8, 16), np.float32)
    with pytest.raises(ValueError) as info:
        call(x)
    assert message in str(info.value)


def test_layout_without_data_matches_coefficients():
    shape = (4, 81, 120, 2)
    layout = wavelets.coeff_layout(shape, "bior2.4", level=1, mode="periodization", axes=(1, 2))
    assert layout.canvas_shape == (41, 60)
    assert layout.num_bands == 4 and layout.num_fields == 2 and layout.num_channels == 8
    assert layout.band_names == ("aa", "ad", "da", "dd")
    smoke = wavelets.coeff_layout(
        (1, 32, 64, 64, 5), "bior1.3", level=1, mode="zero", axes=(1, 2, 3)
    )
    assert smoke.canvas_shape == (18, 34, 34) and smoke.num_channels == 40
    assert smoke.band_names == tuple("".join(k) for k in itertools.product("ad", repeat=3))
