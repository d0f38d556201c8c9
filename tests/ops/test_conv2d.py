"""conv2d and output_size, with all four kinds of evidence.

* Golden values: the lecture's 3x4 image of symbols with a 2x2 kernel (valid padding), and its
  output-size examples (28x28 with F=3, the AlexNet first layer, ...).
* Independent references: ``scipy.signal.correlate2d`` / ``convolve2d`` on an ``np.pad``-ed
  image, ``scipy.ndimage.correlate`` for ``padding='same'``, and the plain loops of
  ``tests/_reference.naive_conv2d`` for strides (property tests).
* Invariants: correlation vs convolution pinned on an impulse, per-channel colour, output shape
  == output_size, the uint8 fast path == the float path up to rounding, the dtype policy.
* Error cases: exception type (ValueError and StreamconvError) and message content.
"""

from __future__ import annotations

import re

import numpy as np
import pytest
import scipy.ndimage
import scipy.signal
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from streamconv.errors import StreamconvError
from streamconv.ops import kernels
from streamconv.ops.conv2d import conv2d, output_size
from tests._reference import NDIMAGE_MODE, naive_conv2d, pad_image, padding_amounts

PROPERTY = settings(max_examples=60, deadline=None)
SEEDS = st.integers(0, 2**32 - 1)
BORDER_NAMES = ("zero", "replicate", "reflect")
ODD = st.sampled_from([1, 3, 5, 7])


def error_scale(image, kernel):
    return max(1.0, float(np.abs(image).max())) * float(np.abs(kernel).sum())


def assert_close64(actual, expected, image, kernel):
    np.testing.assert_allclose(actual, expected, rtol=1e-10, atol=1e-10 * error_scale(image, kernel))


def random_image(rng, h, w, channels=None):
    shape = (h, w) if channels is None else (h, w, channels)
    return rng.normal(scale=10.0, size=shape)


def per_channel(fn, image):
    """Apply a 2D reference to each channel of a 2D or 3D image."""
    if image.ndim == 2:
        return fn(image)
    return np.stack([fn(image[:, :, c]) for c in range(image.shape[2])], axis=-1)


# -- golden values: the lecture ---------------------------------------------------------------
def test_lecture_symbolic_3x4_image_with_2x2_kernel():
    # Distinct primes stand for the lecture's symbols, so every product is identifiable.
    a, b, c, d, e, f, g, h, i, j, k, l = 2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37  # noqa: E741
    w, x, y, z = 41, 43, 47, 53
    image = np.array([[a, b, c, d], [e, f, g, h], [i, j, k, l]], dtype=np.float64)
    kernel = np.array([[w, x], [y, z]], dtype=np.float64)
    expected = [
        [a * w + b * x + e * y + f * z, b * w + c * x + f * y + g * z, c * w + d * x + g * y + h * z],
        [e * w + f * x + i * y + j * z, f * w + g * x + j * y + k * z, g * w + h * x + k * y + l * z],
    ]
    out = conv2d(image, kernel, padding="valid")
    assert out.shape == (2, 3)
    np.testing.assert_array_equal(out, expected)
    # flip=True is the mathematical convolution: the kernel turned by 180 degrees (z y; x w).
    flipped = [
        [a * z + b * y + e * x + f * w, b * z + c * y + f * x + g * w, c * z + d * y + g * x + h * w],
        [e * z + f * y + i * x + j * w, f * z + g * y + j * x + k * w, g * z + h * y + k * x + l * w],
    ]
    np.testing.assert_array_equal(conv2d(image, kernel, padding="valid", flip=True), flipped)


@pytest.mark.parametrize(
    ("w1", "f", "p", "s", "expected"),
    [
        (28, 3, 0, 1, 26),  # lecture: 28x28 input, 3x3 filter -> 26x26
        (28, 3, 1, 1, 28),  # ... with P=1 the size is kept
        (7, 3, 0, 2, 3),  # CS231n: 7x7 input, 3x3 filter, stride 2 -> 3x3
        (32, 5, 2, 1, 32),  # 'same' for F=5
        (227, 11, 0, 4, 55),  # AlexNet conv1
        (5, 3, 1, 2, 3),
        (5, 5, 0, 1, 1),  # the kernel covers the whole input
        (1, 3, 1, 1, 1),
        (10, 4, 0, 3, 3),  # floor((10 - 4) / 3) + 1
        (6, 2, 0, 2, 3),
    ],
)
def test_output_size_golden(w1, f, p, s, expected):
    assert output_size(w1, f, p, s) == expected
    # and conv2d really produces that size
    out = conv2d(np.zeros((w1, w1)), np.ones((f, f)), padding=p, stride=s)
    assert out.shape == (expected, expected)


@PROPERTY
@given(
    h=st.integers(1, 20),
    w=st.integers(1, 20),
    fh=st.integers(1, 7),
    fw=st.integers(1, 7),
    p=st.integers(0, 4),
    s=st.integers(1, 5),
)
def test_conv2d_shape_equals_output_size_per_axis(h, w, fh, fw, p, s):
    assume(fh <= h + 2 * p and fw <= w + 2 * p)
    out = conv2d(np.ones((h, w, 2)), np.ones((fh, fw)), padding=p, stride=s)
    assert out.shape == (output_size(h, fh, p, s), output_size(w, fw, p, s), 2)
    # and output_size is the floor formula
    assert output_size(h, fh, p, s) == (h - fh + 2 * p) // s + 1


def test_docstring_impulse_example():
    impulse = np.zeros((3, 3))
    impulse[1, 1] = 1
    out = conv2d(impulse, [[1, 2, 3], [4, 5, 6], [7, 8, 9]], padding="same")
    np.testing.assert_array_equal(out, [[9, 8, 7], [6, 5, 4], [3, 2, 1]])


# -- correlation vs convolution, pinned on an impulse -----------------------------------------
@pytest.mark.parametrize("border", BORDER_NAMES)
def test_asymmetric_kernel_on_an_impulse_pins_correlation_vs_convolution(border):
    kernel = np.arange(1.0, 10.0).reshape(3, 3)  # no symmetry at all
    impulse = np.zeros((7, 7))
    impulse[3, 3] = 1.0
    corr = conv2d(impulse, kernel, padding="same", border=border)
    conv = conv2d(impulse, kernel, padding="same", border=border, flip=True)
    # S_ij = sum I_{i+a,j+b} K_ab: the impulse meets K_ab at output (3-a+1, 3-b+1): K flipped.
    np.testing.assert_array_equal(corr[2:5, 2:5], kernel[::-1, ::-1])
    # convolution returns the kernel itself: the impulse response of a convolution is its kernel.
    np.testing.assert_array_equal(conv[2:5, 2:5], kernel)
    for out in (corr, conv):
        rest = out.copy()
        rest[2:5, 2:5] = 0
        np.testing.assert_array_equal(rest, 0.0)


def test_rectangular_asymmetric_kernel_on_an_impulse():
    kernel = np.array([[1.0, 2.0, 3.0, 4.0, 5.0], [6.0, 7.0, 8.0, 9.0, 10.0], [11, 12, 13, 14, 15]])
    impulse = np.zeros((5, 9))
    impulse[2, 4] = 1.0
    np.testing.assert_array_equal(conv2d(impulse, kernel, padding="same")[1:4, 2:7], kernel[::-1, ::-1])
    np.testing.assert_array_equal(conv2d(impulse, kernel, padding="same", flip=True)[1:4, 2:7], kernel)


# -- independent references -------------------------------------------------------------------
@PROPERTY
@given(
    seed=SEEDS,
    h=st.integers(1, 12),
    w=st.integers(1, 12),
    fh=st.integers(1, 7),
    fw=st.integers(1, 7),
    p=st.integers(0, 4),
    border=st.sampled_from(BORDER_NAMES),
    channels=st.sampled_from([None, 1, 3]),
)
def test_matches_scipy_correlate2d_on_a_padded_image(seed, h, w, fh, fw, p, border, channels):
    # Odd and even, square and rectangular kernels; kernels larger than the image but not the
    # padded image; 'zero', 'replicate' and 'reflect' borders by np.pad.
    assume(fh <= h + 2 * p and fw <= w + 2 * p)
    rng = np.random.default_rng(seed)
    image, kernel = random_image(rng, h, w, channels), rng.normal(size=(fh, fw))
    out = conv2d(image, kernel, padding=p, border=border)
    padded = pad_image(image, p, p, border)
    expected = per_channel(lambda im: scipy.signal.correlate2d(im, kernel, mode="valid"), padded)
    assert out.shape == expected.shape
    assert out.dtype == np.float64
    assert_close64(out, expected, image, kernel)


@pytest.mark.parametrize("kernel_shape", [(2, 2), (2, 4), (4, 3), (1, 2), (6, 1)])
@pytest.mark.parametrize("padding", ["valid", 1, 2])
@pytest.mark.parametrize("border", BORDER_NAMES)
def test_even_kernels_with_valid_and_int_padding(kernel_shape, padding, border):
    # An even window has no centre: it starts at the padded top-left, as in the lecture's 2x2.
    rng = np.random.default_rng(12)
    image, kernel = rng.normal(size=(7, 9)), rng.normal(size=kernel_shape)
    p = 0 if padding == "valid" else padding
    out = conv2d(image, kernel, padding=padding, border=border)
    expected = scipy.signal.correlate2d(pad_image(image, p, p, border), kernel, mode="valid")
    assert out.shape == (output_size(7, kernel_shape[0], p, 1), output_size(9, kernel_shape[1], p, 1))
    assert_close64(out, expected, image, kernel)


@PROPERTY
@given(
    seed=SEEDS,
    h=st.integers(1, 12),
    w=st.integers(1, 12),
    fh=ODD,
    fw=ODD,
    border=st.sampled_from(BORDER_NAMES),
    channels=st.sampled_from([None, 3]),
)
def test_same_padding_matches_scipy_ndimage_correlate(seed, h, w, fh, fw, border, channels):
    rng = np.random.default_rng(seed)
    image, kernel = random_image(rng, h, w, channels), rng.normal(size=(fh, fw))
    out = conv2d(image, kernel, padding="same", border=border)
    expected = per_channel(
        lambda im: scipy.ndimage.correlate(im, kernel, mode=NDIMAGE_MODE[border], cval=0.0), image
    )
    assert out.shape == image.shape
    assert_close64(out, expected, image, kernel)


@PROPERTY
@given(
    seed=SEEDS,
    h=st.integers(1, 10),
    w=st.integers(1, 10),
    fh=st.integers(1, 5),
    fw=st.integers(1, 5),
    padding=st.one_of(st.integers(0, 3), st.sampled_from(["same", "valid"])),
    stride=st.integers(1, 4),
    border=st.sampled_from(BORDER_NAMES),
    channels=st.sampled_from([None, 2]),
)
def test_stride_and_padding_match_the_naive_loop(seed, h, w, fh, fw, padding, stride, border, channels):
    if padding == "same":
        assume(fh % 2 == 1 and fw % 2 == 1)
    ph, pw = padding_amounts(padding, (fh, fw))
    assume(fh <= h + 2 * ph and fw <= w + 2 * pw)
    rng = np.random.default_rng(seed)
    image, kernel = random_image(rng, h, w, channels), rng.normal(size=(fh, fw))
    out = conv2d(image, kernel, padding=padding, stride=stride, border=border)
    expected = naive_conv2d(image, kernel, padding, stride, border)
    assert out.shape == expected.shape
    assert_close64(out, expected, image, kernel)


@PROPERTY
@given(
    seed=SEEDS,
    h=st.integers(1, 12),
    w=st.integers(1, 12),
    fh=st.integers(1, 6),
    fw=st.integers(1, 6),
    p=st.integers(0, 3),
    border=st.sampled_from(BORDER_NAMES),
)
def test_flip_matches_scipy_convolve2d(seed, h, w, fh, fw, p, border):
    assume(fh <= h + 2 * p and fw <= w + 2 * p)
    rng = np.random.default_rng(seed)
    image, kernel = random_image(rng, h, w), rng.normal(size=(fh, fw))
    out = conv2d(image, kernel, padding=p, border=border, flip=True)
    expected = scipy.signal.convolve2d(pad_image(image, p, p, border), kernel, mode="valid")
    assert_close64(out, expected, image, kernel)


@pytest.mark.parametrize("size", [11, 15])
@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.uint8])
def test_large_kernels_match_the_reference(size, dtype):
    # OpenCV switches to a DFT-based algorithm for large kernels: it must give the same answer.
    rng = np.random.default_rng(size)
    image = rng.integers(0, 256, (40, 37)).astype(dtype)
    kernel = rng.uniform(0.0, 1.0, size=(size, size))
    kernel /= kernel.sum()  # a display kernel, so uint8 stays uint8
    out = conv2d(image, kernel, padding="same", border="reflect")
    expected = scipy.ndimage.correlate(image.astype(np.float64), kernel, mode="mirror")
    if dtype == np.uint8:
        assert out.dtype == np.uint8
        assert np.abs(out.astype(int) - np.rint(expected)).max() <= 1
    else:
        assert out.dtype == dtype
        np.testing.assert_allclose(out, expected, atol=1e-3 if dtype == np.float32 else 1e-9)


# -- colour, views, inputs --------------------------------------------------------------------
@pytest.mark.parametrize("channels", [1, 2, 3, 4, 5])
@pytest.mark.parametrize("dtype", [np.uint8, np.float32, np.float64])
def test_colour_is_filtered_per_channel(channels, dtype):
    rng = np.random.default_rng(channels)
    image = rng.integers(0, 256, (9, 11, channels)).astype(dtype)
    for kernel in (kernels.get("sharpen"), kernels.get("sobel_x")):
        out = conv2d(image, kernel, padding="same", border="replicate")
        assert out.shape == image.shape
        for c in range(channels):
            np.testing.assert_array_equal(
                out[:, :, c], conv2d(image[:, :, c], kernel, padding="same", border="replicate")
            )


def test_views_are_filtered_like_copies_and_never_read_outside():
    # A view into a bigger array must not see the pixels around it (no ROI leakage into borders).
    rng = np.random.default_rng(3)
    big = rng.normal(size=(30, 30, 3)) * 1000.0
    lap = kernels.get("laplacian")
    for view in (big[5:15, 5:20], big[5:15], big[::2, ::3], big[:, :, ::-1], big[5:15, 5:20, 1]):
        for border in BORDER_NAMES:
            out = conv2d(view, lap, padding="same", border=border)
            copy = np.ascontiguousarray(view)
            np.testing.assert_array_equal(out, conv2d(copy, lap, padding="same", border=border))
            assert_close64(out, naive_conv2d(copy, lap, "same", 1, border), view, lap)


def test_input_image_and_kernel_are_not_modified():
    rng = np.random.default_rng(4)
    image = rng.normal(size=(8, 8))
    kernel = rng.normal(size=(3, 3))
    image_copy, kernel_copy = image.copy(), kernel.copy()
    conv2d(image, kernel, padding=3, border="reflect", flip=True, stride=2)
    np.testing.assert_array_equal(image, image_copy)
    np.testing.assert_array_equal(kernel, kernel_copy)


def test_nested_lists_are_accepted():
    out = conv2d([[1, 2], [3, 4]], [[1]], padding=0)
    np.testing.assert_array_equal(out, [[1, 2], [3, 4]])


# -- fast path (uint8) vs float path ----------------------------------------------------------
DISPLAY_KERNELS = {
    "sharpen": kernels.get("sharpen"),
    "blur": kernels.get("blur"),
    "gaussian": kernels.get("gaussian"),
    "gaussian7": kernels.gaussian(7, 1.5),
    "emboss": kernels.get("emboss"),
    "identity": kernels.get("identity"),
    "box5": kernels.box(5),
}


@pytest.mark.parametrize("name", sorted(DISPLAY_KERNELS))
@pytest.mark.parametrize("border", BORDER_NAMES)
@pytest.mark.parametrize(("padding", "stride"), [("same", 1), ("valid", 1), (2, 2), ("same", 3)])
def test_uint8_display_kernel_stays_uint8_and_agrees_with_the_float_path(name, border, padding, stride):
    kernel = DISPLAY_KERNELS[name]
    assert kernel.sum() == pytest.approx(1.0)
    rng = np.random.default_rng(7)
    image = rng.integers(0, 256, (23, 31, 3), dtype=np.uint8)
    image[5:9, 5:9] = 255  # saturating blocks: sharpen overshoots past 255 and below 0 here
    image[12:16, 20:26] = 0
    out = conv2d(image, kernel, padding=padding, stride=stride, border=border)
    assert out.dtype == np.uint8
    float_path = conv2d(image.astype(np.float32), kernel, padding=padding, stride=stride, border=border)
    assert float_path.dtype == np.float32
    naive = naive_conv2d(image, kernel, padding, stride, border)
    for expected in (np.clip(np.rint(float_path), 0, 255), np.clip(np.rint(naive), 0, 255)):
        diff = np.abs(out.astype(np.int64) - expected.astype(np.int64))
        assert diff.max() <= 1  # rounding only
        assert (diff == 0).mean() >= 0.99  # rounds, does not truncate


def test_uint8_saturates_instead_of_wrapping():
    image = np.zeros((5, 5), dtype=np.uint8)
    image[2, 2] = 255
    out = conv2d(image, kernels.get("sharpen"), padding="same")
    assert out.dtype == np.uint8
    assert out[2, 2] == 255  # 5 * 255 saturates at 255
    assert out[1, 2] == out[2, 1] == out[3, 2] == out[2, 3] == 0  # -255 saturates at 0
    assert out.sum() == 255


def test_uint8_rounds_half_to_even():
    # A 1x2 mean of 0 and 1 is 0.5 -> 0; of 1 and 2 is 1.5 -> 2; of 2 and 3 is 2.5 -> 2.
    image = np.array([[0, 1, 2, 3]], dtype=np.uint8)
    out = conv2d(image, [[0.5, 0.5]], padding="valid")
    assert out.dtype == np.uint8
    np.testing.assert_array_equal(out, [[0, 2, 2]])


@pytest.mark.parametrize("name", ["edge_detect", "laplacian", "sobel_x", "sobel_y", "edge_enhance"])
@pytest.mark.parametrize("border", BORDER_NAMES)
def test_uint8_derivative_kernel_returns_float32_with_negative_values(name, border):
    rng = np.random.default_rng(8)
    image = rng.integers(0, 256, (20, 24), dtype=np.uint8)
    kernel = kernels.get(name)
    out = conv2d(image, kernel, padding="same", border=border)
    assert out.dtype == np.float32
    assert out.min() < 0  # signed values survive (no saturation at 0)
    np.testing.assert_allclose(out, naive_conv2d(image, kernel, "same", 1, border), atol=1e-3)
    np.testing.assert_allclose(
        out, conv2d(image.astype(np.float64), kernel, padding="same", border=border), atol=1e-3
    )


# -- the dtype policy -------------------------------------------------------------------------
# input dtype -> (output for a kernel summing to 1, output for any other kernel)
DTYPE_POLICY = {
    np.uint8: (np.uint8, np.float32),
    np.int8: (np.int8, np.float32),
    np.int16: (np.int16, np.float32),
    np.uint16: (np.uint16, np.float32),
    np.int32: (np.int32, np.float64),
    np.int64: (np.int64, np.float64),
    np.float16: (np.float32, np.float32),
    np.float32: (np.float32, np.float32),
    np.float64: (np.float64, np.float64),
    np.bool_: (np.float32, np.float32),
}


def _sample(rng, dtype, shape):
    dt = np.dtype(dtype)
    if dt == np.bool_:
        return rng.random(shape) < 0.5
    if dt.kind in "iu":
        info = np.iinfo(dt)
        lo, hi = max(info.min, -100_000), min(info.max, 100_000)
        return rng.integers(lo, hi, shape, endpoint=True).astype(dt)
    return rng.normal(scale=50.0, size=shape).astype(dt)


@pytest.mark.parametrize("dtype", list(DTYPE_POLICY), ids=lambda t: np.dtype(t).name)
@pytest.mark.parametrize("kernel_name", ["gaussian", "sharpen", "edge_detect", "sobel_y"])
def test_dtype_policy(dtype, kernel_name):
    kernel = kernels.get(kernel_name)
    sums_to_one = abs(kernel.sum() - 1.0) < 1e-9
    expected_dtype = np.dtype(DTYPE_POLICY[dtype][0 if sums_to_one else 1])
    rng = np.random.default_rng(9)
    image = _sample(rng, dtype, (12, 14))
    out = conv2d(image, kernel, padding="same", border="replicate")
    assert out.dtype == expected_dtype
    ref = naive_conv2d(image.astype(np.float64), kernel, "same", 1, "replicate")
    if expected_dtype.kind in "iu":
        info = np.iinfo(expected_dtype)
        # saturate_cast: round, then clip into the type's range
        assert np.abs(out.astype(np.float64) - np.clip(np.rint(ref), info.min, info.max)).max() <= 1
    else:
        rtol = 1e-5 if expected_dtype == np.float32 else 1e-10
        np.testing.assert_allclose(out, ref, rtol=rtol, atol=rtol * error_scale(image.astype(float), kernel))


@pytest.mark.parametrize(
    ("kernel_sum", "expected"),
    [
        (1.0, np.uint8),
        (1.0 - 1e-15, np.uint8),  # a gaussian's sum is 1 only up to rounding
        (0.99, np.float32),
        (1.01, np.float32),
        (0.9, np.float32),
        (2.0, np.float32),
        (0.0, np.float32),
        (-1.0, np.float32),
    ],
)
def test_only_a_kernel_summing_to_one_keeps_an_integer_dtype(kernel_sum, expected):
    kernel = np.full((3, 3), 0.1)
    kernel[1, 1] = kernel_sum - 0.8
    image = np.full((5, 5), 100, dtype=np.uint8)
    out = conv2d(image, kernel, padding="same", border="replicate")
    assert out.dtype == np.dtype(expected)
    level = 100 * kernel.sum()  # a flat image comes out flat, scaled by the kernel's sum
    np.testing.assert_allclose(out, np.rint(level) if expected == np.uint8 else level, rtol=1e-6, atol=1e-4)


@pytest.mark.parametrize(
    ("image_dtype", "kernel_name", "out_dtype"),
    [
        (np.uint8, "edge_detect", np.int16),
        (np.uint8, "blur", np.float64),
        (np.uint8, "sharpen", np.float32),
        (np.float64, "sharpen", np.uint8),
        (np.float32, "edge_detect", np.float64),
        (np.int32, "blur", np.float32),
        (np.uint16, "gaussian", np.uint8),
    ],
)
def test_explicit_dtype_overrides_the_policy(image_dtype, kernel_name, out_dtype):
    rng = np.random.default_rng(10)
    image = rng.uniform(0, 255, (15, 13)).astype(image_dtype)
    kernel = kernels.get(kernel_name)
    out = conv2d(image, kernel, padding="same", dtype=out_dtype)
    assert out.dtype == np.dtype(out_dtype)
    ref = naive_conv2d(image, kernel, "same", 1, "zero")
    if np.dtype(out_dtype).kind in "iu":
        info = np.iinfo(out_dtype)
        expected = np.clip(np.rint(ref), info.min, info.max)
        diff = np.abs(out.astype(np.float64) - expected)
        assert diff.max() <= 1 and (diff == 0).mean() >= 0.99
        if out_dtype == np.int16:
            assert out.min() < 0  # the override keeps the signed values
    else:
        np.testing.assert_allclose(out, ref, rtol=1e-5, atol=1e-3)


def test_dtype_given_as_a_string():
    out = conv2d(np.ones((4, 4), dtype=np.uint8), kernels.get("blur"), padding="same", dtype="float64")
    assert out.dtype == np.float64


def test_big_endian_input_follows_the_same_policy():
    # e.g. a '>u2' frame decoded off the wire: still a 16-bit integer frame.
    rng = np.random.default_rng(11)
    native = rng.integers(0, 60000, (9, 9)).astype(np.uint16)
    swapped = native.astype(">u2")
    out = conv2d(swapped, kernels.get("edge_detect"), padding="same")
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, conv2d(native, kernels.get("edge_detect"), padding="same"))
    out = conv2d(swapped, kernels.get("blur"), padding="same")
    assert out.dtype.kind == "u" and out.dtype.itemsize == 2
    np.testing.assert_array_equal(out.astype(np.uint16), conv2d(native, kernels.get("blur"), padding="same"))


# -- error cases ------------------------------------------------------------------------------
def _raises(fn, *args, **kwargs):
    with pytest.raises(StreamconvError) as info:
        fn(*args, **kwargs)
    assert isinstance(info.value, ValueError)
    return str(info.value)


IMG = np.zeros((6, 6))
K3 = np.ones((3, 3))


@pytest.mark.parametrize("stride", [0, -1, 1.5, True, "2", None])
def test_bad_stride(stride):
    msg = _raises(conv2d, IMG, K3, stride=stride)
    assert f"invalid stride {stride!r}" in msg
    assert "expected an integer >= 1" in msg


@pytest.mark.parametrize("padding", [-1, -3, 1.5, True, None])
def test_bad_padding_number(padding):
    msg = _raises(conv2d, IMG, K3, padding=padding)
    assert "padding" in msg and repr(padding) in msg
    assert "'same'" in msg and "'valid'" in msg


def test_bad_padding_word():
    msg = _raises(conv2d, IMG, K3, padding="bogus")
    assert "invalid padding 'bogus'" in msg and "['same', 'valid']" in msg


@pytest.mark.parametrize("border", ["mirror", "constant", "Zero", None])
def test_bad_border_lists_the_vocabulary(border):
    msg = _raises(conv2d, IMG, K3, border=border)
    assert f"invalid border {border!r}" in msg
    assert "['reflect', 'replicate', 'zero']" in msg


def test_border_mirror_exact_message():
    msg = _raises(conv2d, IMG, K3, border="mirror")
    assert msg == "invalid border 'mirror'; expected one of ['reflect', 'replicate', 'zero']"


@pytest.mark.parametrize(
    ("kernel", "pattern"),
    [
        ([[1.0, np.nan], [0.0, 1.0]], r"kernel.*nan"),
        ([[1.0, np.inf]], r"kernel.*inf"),
        ([[1.0, -np.inf]], r"kernel.*-inf"),
        (np.zeros((0, 3)), r"kernel.*empty.*\(0, 3\)"),
        ([[]], r"kernel.*empty"),
        ([1.0, 2.0, 3.0], r"kernel.*1D.*expected 2D"),
        (np.ones((3, 3, 3)), r"kernel.*3D.*expected 2D"),
        ([["a"]], r"kernel.*'a'"),
    ],
)
def test_bad_kernel(kernel, pattern):
    msg = _raises(conv2d, IMG, kernel)
    assert re.search(pattern, msg), msg


@pytest.mark.parametrize(
    ("image_shape", "kernel_shape", "padding", "numbers"),
    [
        ((4, 10), (5, 3), 0, "height 5 is larger than the padded image height 4 + 2*0 = 4"),
        ((10, 4), (3, 7), 1, "width 7 is larger than the padded image width 4 + 2*1 = 6"),
        ((3, 3), (4, 4), "valid", "height 4 is larger than the padded image height 3 + 2*0 = 3"),
    ],
)
def test_kernel_larger_than_the_padded_image(image_shape, kernel_shape, padding, numbers):
    msg = _raises(conv2d, np.ones(image_shape), np.ones(kernel_shape), padding=padding)
    assert f"invalid kernel {kernel_shape}" in msg and numbers in msg


def test_same_padding_always_fits_a_larger_odd_kernel():
    # 'same' pads (F-1)/2 per side, so F <= H + F - 1 always holds: a 2x2 image takes a 7x7 kernel.
    image = np.arange(4.0).reshape(2, 2)
    for border in BORDER_NAMES:
        out = conv2d(image, np.ones((7, 7)), padding="same", border=border)
        assert out.shape == (2, 2)
        np.testing.assert_allclose(out, naive_conv2d(image, np.ones((7, 7)), "same", 1, border))


@pytest.mark.parametrize("kernel_shape", [(2, 2), (3, 4), (4, 3)])
def test_same_with_an_even_kernel(kernel_shape):
    msg = _raises(conv2d, IMG, np.ones(kernel_shape), padding="same")
    assert "'same'" in msg and str(kernel_shape) in msg and "odd" in msg
    # ... while 'valid' and int padding accept even kernels
    conv2d(IMG, np.ones(kernel_shape), padding="valid")
    conv2d(IMG, np.ones(kernel_shape), padding=1)


@pytest.mark.parametrize("shape", [(2, 3, 4, 5), (5,), ()])
def test_image_of_wrong_ndim(shape):
    msg = _raises(conv2d, np.zeros(shape), K3)
    assert "image" in msg and f"{len(shape)}D" in msg and str(shape) in msg and "2D or 3D" in msg


@pytest.mark.parametrize("dtype", [np.complex128, np.complex64, object, "U3", "datetime64[s]"])
def test_image_of_wrong_dtype(dtype):
    msg = _raises(conv2d, np.zeros((4, 4), dtype=dtype), K3)
    assert "image dtype" in msg and str(np.dtype(dtype)) in msg


def test_empty_image():
    msg = _raises(conv2d, np.zeros((0, 5)), [[1.0]])
    assert "image" in msg and "empty" in msg and "(0, 5)" in msg


@pytest.mark.parametrize(
    ("args", "name", "value"),
    [
        ((28, 3, 0, 0), "stride", "0"),
        ((28, 3, 0, -1), "stride", "-1"),
        ((28, 3, -1, 1), "padding", "-1"),
        ((0, 3, 0, 1), "input size", "0"),
        ((28, 0, 0, 1), "kernel size", "0"),
        ((28, 3, 0, 1.5), "stride", "1.5"),
        ((3, 7, 1, 1), "kernel size", "7"),
    ],
)
def test_output_size_errors(args, name, value):
    msg = _raises(output_size, *args)
    assert f"invalid {name} {value}" in msg
