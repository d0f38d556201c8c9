"""The kernel catalogue: golden matrices, independent references and invariants, error cases.

* Golden values: the lecture's edge-detect ring, Sobel as the outer product [1 2 1]^T [-1 0 1].
* Independent references: ``cv2.Sobel`` on an image, ``cv2.getGaussianKernel``, and
  ``numpy.linalg.matrix_rank`` for separability.
* Invariants: every kernel is read-only float64; smoothing kernels sum to 1 and are
  non-negative, derivative kernels sum to 0, sharpen and emboss sum to 1.
* Error cases: bad names and parameters raise with the bad value and the allowed set.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streamconv.errors import StreamconvError
from streamconv.ops import kernels
from streamconv.ops.conv2d import conv2d

PROPERTY = settings(max_examples=50, deadline=None)

CATALOGUE_NAMES = [
    "identity",
    "box",
    "blur",
    "gaussian",
    "sharpen",
    "edge_enhance",
    "edge_detect",
    "laplacian",
    "sobel_x",
    "sobel_y",
    "emboss",
]
SMOOTHING = ["identity", "box", "blur", "gaussian"]
DERIVATIVE = ["edge_detect", "laplacian", "sobel_x", "sobel_y", "edge_enhance"]
DISPLAY = ["sharpen", "emboss"]


def test_the_catalogue_is_the_documented_one():
    assert sorted(kernels.names()) == sorted(CATALOGUE_NAMES)
    assert set(SMOOTHING) | set(DERIVATIVE) | set(DISPLAY) == set(CATALOGUE_NAMES)


@pytest.mark.parametrize("name", CATALOGUE_NAMES)
def test_every_kernel_builds_read_only_float64(name):
    k = kernels.get(name)
    assert isinstance(k, np.ndarray)
    assert k.dtype == np.float64
    assert k.ndim == 2 and k.shape[0] % 2 == 1 and k.shape[1] % 2 == 1  # centred: odd sizes
    assert np.all(np.isfinite(k))
    assert not k.flags.writeable
    with pytest.raises(ValueError, match="read-only"):
        k[0, 0] = 42.0
    # the catalogue() view gives the same kernels, and a second get() is unharmed
    np.testing.assert_array_equal(kernels.catalogue()[name], k)
    np.testing.assert_array_equal(kernels.get(name), k)


@pytest.mark.parametrize("name", CATALOGUE_NAMES)
def test_every_kernel_has_a_description(name):
    entry = kernels.info(name)
    assert entry.name == name
    assert entry.description.strip()


@pytest.mark.parametrize("name", SMOOTHING)
def test_smoothing_kernels_sum_to_one_and_are_non_negative(name):
    k = kernels.get(name)
    assert k.sum() == pytest.approx(1.0, abs=1e-12)
    assert np.all(k >= 0)


@pytest.mark.parametrize("name", DERIVATIVE)
def test_derivative_kernels_sum_to_zero(name):
    k = kernels.get(name)
    assert k.sum() == 0.0
    # ... so they ignore a constant image (away from the zero border)
    out = conv2d(np.full((9, 9), 7.0), k, padding="same", border="replicate")
    np.testing.assert_array_equal(out, 0.0)


@pytest.mark.parametrize("name", DISPLAY)
def test_sharpen_and_emboss_sum_to_one(name):
    assert kernels.get(name).sum() == 1.0
    assert kernels.get(name).min() < 0  # not smoothing: they overshoot


@pytest.mark.parametrize("size", [1, 3, 5, 7, 9])
def test_box_and_identity_sizes(size):
    box = kernels.box(size)
    assert box.shape == (size, size)
    np.testing.assert_allclose(box, 1.0 / size**2, rtol=1e-15)
    ident = kernels.get("identity", size=size)
    expected = np.zeros((size, size))
    expected[size // 2, size // 2] = 1.0
    np.testing.assert_array_equal(ident, expected)
    assert kernels.get("box", size=size).shape == (size, size)


def test_blur_is_the_3x3_mean():
    np.testing.assert_array_equal(kernels.get("blur"), np.full((3, 3), 1.0 / 3) * (1.0 / 3))


# -- golden matrices ---------------------------------------------------------------------------
def test_edge_detect_is_the_lecture_ring():
    np.testing.assert_array_equal(kernels.get("edge_detect"), [[1, 1, 1], [1, -8, 1], [1, 1, 1]])


def test_the_other_fixed_matrices():
    np.testing.assert_array_equal(kernels.get("sharpen"), [[0, -1, 0], [-1, 5, -1], [0, -1, 0]])
    np.testing.assert_array_equal(kernels.get("laplacian"), [[0, 1, 0], [1, -4, 1], [0, 1, 0]])
    # sharpen = identity - laplacian
    np.testing.assert_array_equal(kernels.get("sharpen"), kernels.get("identity") - kernels.get("laplacian"))


def test_sobel_is_the_outer_product_of_smoothing_and_difference():
    smooth, diff = np.array([1.0, 2.0, 1.0]), np.array([-1.0, 0.0, 1.0])
    np.testing.assert_array_equal(kernels.get("sobel_x"), np.outer(smooth, diff))
    np.testing.assert_array_equal(kernels.get("sobel_x"), [[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]])
    np.testing.assert_array_equal(kernels.get("sobel_y"), np.outer(diff, smooth))
    np.testing.assert_array_equal(kernels.get("sobel_y"), kernels.get("sobel_x").T)


@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.uint8])
def test_sobel_matches_cv2_sobel(dtype):
    # cv2.Sobel(dx=1) is a correlation with [[-1,0,1],[-2,0,2],[-1,0,1]]: positive on a rising ramp.
    rng = np.random.default_rng(1)
    image = (rng.random((24, 31)) * 255).astype(dtype)
    for name, (dx, dy) in (("sobel_x", (1, 0)), ("sobel_y", (0, 1))):
        ours = conv2d(image, kernels.get(name), padding="same", border="reflect")
        ref = cv2.Sobel(image, cv2.CV_64F, dx, dy, ksize=3, borderType=cv2.BORDER_REFLECT_101)
        np.testing.assert_allclose(ours, ref, rtol=1e-5, atol=1e-3)


def test_sobel_x_responds_positively_to_a_rising_ramp():
    ramp = np.tile(np.arange(8.0), (6, 1))  # brightness rises to the right
    out = conv2d(ramp, kernels.get("sobel_x"), padding="valid")
    np.testing.assert_array_equal(out, 8.0)  # (1 + 2 + 1) * (x+1 - (x-1))
    np.testing.assert_array_equal(conv2d(ramp, kernels.get("sobel_y"), padding="valid"), 0.0)


# -- gaussian vs OpenCV -----------------------------------------------------------------------
@pytest.mark.parametrize("size", [1, 3, 5, 7, 9, 11, 21])
@pytest.mark.parametrize("sigma", [0.5, 1.0, 1.7, 3.0])
def test_gaussian_matches_cv2_get_gaussian_kernel(size, sigma):
    g1 = cv2.getGaussianKernel(size, sigma, ktype=cv2.CV_64F).ravel()
    np.testing.assert_allclose(kernels.gaussian_1d(size, sigma), g1, atol=1e-15)
    np.testing.assert_allclose(kernels.gaussian(size, sigma), np.outer(g1, g1), atol=1e-15)
    assert kernels.get("gaussian", size=size, sigma=sigma).sum() == pytest.approx(1.0, abs=1e-14)


@pytest.mark.parametrize("size", [1, 3, 5, 7, 9, 11, 15])
def test_gaussian_default_sigma_is_opencvs_rule(size):
    # sigma = 0.3 * ((size - 1) * 0.5 - 1) + 0.8, OpenCV's formula for sigma <= 0.  (OpenCV
    # itself returns fixed binomial tables for sizes <= 9 with sigma <= 0, so cv2 is given the
    # computed sigma explicitly here.)
    sigma = 0.3 * ((size - 1) * 0.5 - 1) + 0.8
    g1 = cv2.getGaussianKernel(size, sigma, ktype=cv2.CV_64F).ravel()
    np.testing.assert_allclose(kernels.gaussian(size), np.outer(g1, g1), atol=1e-15)


def test_gaussian_is_symmetric_and_peaks_at_the_centre():
    g = kernels.gaussian(7, 1.3)
    np.testing.assert_array_equal(g, g.T)
    np.testing.assert_array_equal(g, g[::-1, ::-1])
    assert np.unravel_index(np.argmax(g), g.shape) == (3, 3)


def test_gaussian_of_a_uint8_image_matches_cv2_gaussian_blur():
    rng = np.random.default_rng(2)
    image = rng.integers(0, 256, (30, 40), dtype=np.uint8).astype(np.float64)
    ours = conv2d(image, kernels.gaussian(5, 1.2), padding="same", border="reflect")
    ref = cv2.GaussianBlur(image, (5, 5), 1.2, borderType=cv2.BORDER_REFLECT_101)
    np.testing.assert_allclose(ours, ref, atol=1e-9)


# -- separability -----------------------------------------------------------------------------
@pytest.mark.parametrize("name", CATALOGUE_NAMES)
def test_separable_factors_agree_with_the_rank(name):
    k = kernels.get(name)
    factors = kernels.separable_factors(k)
    if np.linalg.matrix_rank(k) == 1:
        assert factors is not None, name
        col, row = factors
        assert col.shape == (k.shape[0],) and row.shape == (k.shape[1],)
        np.testing.assert_allclose(np.outer(col, row), k, atol=1e-12)
        assert not col.flags.writeable and not row.flags.writeable
    else:
        assert factors is None, name


def test_separable_kernels_in_the_catalogue():
    for name in ("box", "blur", "gaussian", "sobel_x", "sobel_y", "identity"):
        assert kernels.separable_factors(kernels.get(name)) is not None, name
    for name in ("sharpen", "edge_detect", "laplacian", "emboss"):
        assert kernels.separable_factors(kernels.get(name)) is None, name


@PROPERTY
@given(seed=st.integers(0, 2**32 - 1), h=st.integers(1, 7), w=st.integers(1, 7))
def test_separable_factors_reconstruct_random_outer_products(seed, h, w):
    rng = np.random.default_rng(seed)
    col, row = rng.normal(size=h), rng.normal(size=w)
    k = np.outer(col, row)
    factors = kernels.separable_factors(k)
    assert factors is not None  # rank 1, including 1xN and Nx1 kernels
    np.testing.assert_allclose(np.outer(*factors), k, atol=1e-12 * np.abs(k).max())


@PROPERTY
@given(seed=st.integers(0, 2**32 - 1), h=st.integers(2, 7), w=st.integers(2, 7))
def test_separable_factors_refuse_rank_two(seed, h, w):
    rng = np.random.default_rng(seed)
    k = np.outer(rng.normal(size=h), rng.normal(size=w)) + np.outer(rng.normal(size=h), rng.normal(size=w))
    assert np.linalg.matrix_rank(k) == 2
    assert kernels.separable_factors(k) is None


def test_separable_factors_of_degenerate_input():
    assert kernels.separable_factors(np.zeros((3, 3))) is None  # rank 0
    assert kernels.separable_factors(np.ones(3)) is None  # not 2D
    col, row = kernels.separable_factors(np.array([[2.0]]))
    assert float(col[0] * row[0]) == pytest.approx(2.0)


# -- from_matrix ------------------------------------------------------------------------------
def test_from_matrix_is_a_read_only_copy():
    source = np.array([[1.0, 2.0], [3.0, 4.0]])
    k = kernels.from_matrix(source)
    source[0, 0] = 100.0
    np.testing.assert_array_equal(k, [[1.0, 2.0], [3.0, 4.0]])
    assert k.dtype == np.float64 and not k.flags.writeable
    assert source.flags.writeable  # the caller's array is left alone
    np.testing.assert_array_equal(kernels.from_matrix([[1, 2, 3]]), [[1.0, 2.0, 3.0]])


# -- error cases ------------------------------------------------------------------------------
def _raises(fn, *args, **kwargs):
    with pytest.raises(StreamconvError) as info:
        fn(*args, **kwargs)
    assert isinstance(info.value, ValueError)
    return str(info.value)


@pytest.mark.parametrize("name", ["bogus", "Sobel_x", "", "gauss"])
def test_unknown_name_lists_the_catalogue(name):
    for fn in (kernels.get, kernels.info):
        msg = _raises(fn, name)
        assert f"invalid kernel name {name!r}" in msg
        assert str(sorted(CATALOGUE_NAMES)) in msg


@pytest.mark.parametrize(
    ("name", "params", "bad", "allowed"),
    [
        ("sharpen", {"size": 5}, "'size'", "[]"),
        ("blur", {"size": 5}, "'size'", "[]"),
        ("box", {"sigma": 1.0}, "'sigma'", "['size']"),
        ("gaussian", {"radius": 2}, "'radius'", "['size', 'sigma']"),
    ],
)
def test_unknown_parameter_lists_the_allowed_ones(name, params, bad, allowed):
    msg = _raises(kernels.get, name, **params)
    assert f"invalid parameter {bad} for kernel {name!r}" in msg
    assert f"expected one of {allowed}" in msg


@pytest.mark.parametrize(
    ("name", "params", "fragment"),
    [
        ("gaussian", {"size": 4}, "invalid size 4; expected an odd integer >= 1"),
        ("box", {"size": 0}, "invalid size 0; expected an integer >= 1"),
        ("identity", {"size": -3}, "invalid size -3"),
        ("box", {"size": 2.5}, "invalid size 2.5"),
        ("gaussian", {"sigma": -1.0}, "invalid sigma -1.0; expected a number within [0.001, 10000.0]"),
        ("gaussian", {"sigma": 0}, "invalid sigma 0"),
        ("gaussian", {"sigma": float("nan")}, "invalid sigma nan"),
        ("gaussian", {"sigma": float("inf")}, "invalid sigma inf"),
        ("gaussian", {"sigma": "1"}, "invalid sigma '1'"),
    ],
)
def test_bad_parameter_values_are_quoted(name, params, fragment):
    assert fragment in _raises(kernels.get, name, **params)


@pytest.mark.parametrize(
    ("matrix", "fragment"),
    [([[1.0, np.nan]], "nan"), ([1.0, 2.0], "1D"), ([[]], "empty"), (np.ones((2, 2, 2)), "3D")],
)
def test_from_matrix_errors(matrix, fragment):
    msg = _raises(kernels.from_matrix, matrix)
    assert "kernel" in msg and fragment in msg
