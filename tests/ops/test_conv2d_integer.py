"""The exact integer routine for uint8 frames and small integer kernels.

Evidence: the routine is compared bit for bit with ``cv2.filter2D`` (which sums in float32,
exact for these integers) and with the naive loop; with the routine disabled
(``STREAMCONV_NO_JIT=1``) the OpenCV routines give the same arrays; the int16 accumulator is
driven to its documented bound; and the routine is chosen exactly where it applies.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from streamconv.ops import _intconv, kernels
from streamconv.ops.conv2d import BORDERS, Conv2D, conv2d
from tests._reference import naive_conv2d

INTEGER_KERNELS = ["sharpen", "edge_detect", "laplacian", "emboss", "edge_enhance"]
PROPERTY = settings(max_examples=80, deadline=None)


@pytest.fixture(autouse=True)
def _jit_on(monkeypatch):
    monkeypatch.delenv("STREAMCONV_NO_JIT", raising=False)


def _expected(image, kernel, padding, stride, border):
    """The naive loop, saturated like OpenCV when the output is uint8 (sums are integers)."""
    return naive_conv2d(image.astype(np.float64), kernel, padding=padding, stride=stride, border=border)


@pytest.mark.parametrize("name", INTEGER_KERNELS)
def test_catalogue_integer_kernels_take_the_integer_routine_on_uint8_only(name):
    op = Conv2D(kernels.get(name), padding="same")
    assert op.method_for(np.uint8) == "integer"
    assert op.method_for(np.float32) == op.method != "integer"
    assert op.method_for(np.uint16) == op.method


@pytest.mark.parametrize(
    ("kernel", "dtype"),
    [
        (kernels.get("blur"), None),  # not integer weights
        (kernels.get("gaussian"), None),
        (np.array([[0, -1, 0], [-1, 130, -1], [0, -1, 0]], float), None),  # sum |k| = 134 > 128
        (np.ones((7, 7)), None),  # 49 non-zero taps > 25
        (kernels.get("sharpen"), np.float64),  # an output dtype the routine does not write
        (kernels.get("sharpen"), np.int16),
    ],
)
def test_integer_routine_is_not_used_outside_its_bounds(kernel, dtype):
    assert Conv2D(kernel, dtype=dtype).method_for(np.uint8) != "integer"


def test_disabling_the_jit_falls_back_to_opencv(monkeypatch):
    op = Conv2D(kernels.get("sharpen"), padding="same")
    image = np.random.default_rng(0).integers(0, 256, (50, 60, 3), dtype=np.uint8)
    fast = op(image)
    monkeypatch.setenv("STREAMCONV_NO_JIT", "1")
    assert op.method_for(np.uint8) == "general"
    np.testing.assert_array_equal(op(image), fast)


@pytest.mark.parametrize("name", INTEGER_KERNELS)
@pytest.mark.parametrize("border", sorted(BORDERS))
@pytest.mark.parametrize("shape", [(37, 53, 3), (29, 31), (20, 24, 1), (16, 18, 4)])
def test_bit_identical_to_filter2d(name, border, shape):
    rng = np.random.default_rng(5)
    image = rng.integers(0, 256, shape, dtype=np.uint8)
    k = kernels.get(name)
    out = conv2d(image, k, padding="same", border=border)
    ddepth = -1 if out.dtype == np.uint8 else cv2.CV_32F
    ref = cv2.filter2D(image, ddepth, k.astype(np.float32), borderType=BORDERS[border]["cv2"])
    if ref.ndim == 2 and image.ndim == 3:
        ref = ref[:, :, None]
    assert out.dtype == ref.dtype and out.shape == ref.shape
    np.testing.assert_array_equal(out, ref)


@pytest.mark.parametrize(("padding", "stride"), [(0, 1), (1, 1), (2, 1), (5, 1), (0, 2), (1, 3), (3, 2)])
@pytest.mark.parametrize("border", sorted(BORDERS))
def test_padding_and_stride_match_the_naive_loop(padding, stride, border):
    rng = np.random.default_rng(9)
    image = rng.integers(0, 256, (23, 27, 3), dtype=np.uint8)
    for name in ("sharpen", "edge_detect", "edge_enhance"):
        k = kernels.get(name)
        out = conv2d(image, k, padding=padding, stride=stride, border=border)
        ref = _expected(image, k, padding, stride, border)
        if out.dtype == np.uint8:
            ref = np.clip(ref, 0, 255)
        assert out.shape == ref.shape
        np.testing.assert_array_equal(out.astype(np.float64), ref)


def test_the_int16_accumulator_bound_is_exact():
    # sum |k| = 128 exactly, on the worst-case pixels: every partial sum reaches +-32640
    kernel = np.array([[64.0, -64.0]])
    image = np.zeros((8, 10), dtype=np.uint8)
    image[:, ::2] = 255
    op = Conv2D(kernel)
    assert op.method_for(np.uint8) == "integer"
    out = op(image)
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, naive_conv2d(image.astype(np.float64), kernel))
    assert {float(out.min()), float(out.max())} == {-16320.0, 16320.0}
    big = np.array([[100.0, 28.0]])
    np.testing.assert_array_equal(Conv2D(big)(np.full((3, 4), 255, np.uint8)),
                                  np.full((3, 3), 32640.0, np.float32))


@PROPERTY
@given(
    kernel=arrays(np.int64, st.tuples(st.integers(1, 5), st.integers(1, 5)), elements=st.integers(-6, 6)),
    image=arrays(np.uint8, st.tuples(st.integers(5, 14), st.integers(5, 14), st.sampled_from([1, 3]))),
    padding=st.integers(0, 3),
    stride=st.integers(1, 3),
    border=st.sampled_from(sorted(BORDERS)),
    threads=st.integers(1, 3),
)
def test_random_integer_kernels_match_the_naive_loop(kernel, image, padding, stride, border, threads):
    k = kernel.astype(np.float64)
    if not k.any():
        k[0, 0] = 1.0
    if k.shape[0] > image.shape[0] + 2 * padding or k.shape[1] > image.shape[1] + 2 * padding:
        return
    op = Conv2D(k, padding=padding, stride=stride, border=border, threads=threads)
    out = op(image)
    ref = _expected(image, k, padding, stride, border)
    if out.dtype == np.uint8:
        ref = np.clip(ref, 0, 255)
    np.testing.assert_array_equal(out.astype(np.float64), ref)


@pytest.mark.parametrize("threads", [2, 3, 5])
def test_strips_write_disjoint_rows_of_one_output(threads):
    image = np.random.default_rng(2).integers(0, 256, (301, 127, 3), dtype=np.uint8)
    for name in INTEGER_KERNELS:
        one = Conv2D(kernels.get(name), padding="same", threads=1)(image)
        many = Conv2D(kernels.get(name), padding="same", threads=threads)(image)
        np.testing.assert_array_equal(many, one)


def test_non_contiguous_input_is_read_correctly():
    base = np.random.default_rng(4).integers(0, 256, (40, 90, 3), dtype=np.uint8)
    view = base[::2, 10:70]  # strided rows, offset columns
    k = kernels.get("sharpen")
    for padding in (0, "same"):
        np.testing.assert_array_equal(conv2d(view, k, padding=padding),
                                      conv2d(np.ascontiguousarray(view), k, padding=padding))
        p = 1 if padding == "same" else 0
        np.testing.assert_array_equal(
            conv2d(view, k, padding=padding).astype(np.float64),
            np.clip(naive_conv2d(view.astype(np.float64), k, padding=p), 0, 255),
        )


def test_correlate_rows_computes_only_the_rows_asked_for():
    src = np.arange(5 * 6, dtype=np.uint8).reshape(5, 6)
    taps = _intconv.IntTaps(np.array([[1.0], [-1.0]]))  # this row minus the next: -6 everywhere
    out = np.full((4, 6), 99.0, dtype=np.float32)
    _intconv.correlate_rows(src, taps, 1, (0, 0), BORDERS["zero"]["jit"], out, 1, 3)
    np.testing.assert_array_equal(out[1:3], -6.0)
    np.testing.assert_array_equal(out[[0, 3]], 99.0)


@pytest.mark.parametrize("border", sorted(BORDERS))
@pytest.mark.parametrize("shape", [(3, 4, 3), (1, 5), (4, 1)])
def test_padding_wider_than_the_frame_follows_the_border_rule(border, shape):
    image = np.random.default_rng(8).integers(0, 256, shape, dtype=np.uint8)
    k = kernels.get("edge_detect")
    out = conv2d(image, k, padding=6, border=border)
    np.testing.assert_array_equal(out.astype(np.float64), _expected(image, k, 6, 1, border))


def test_identity_stays_a_copy():
    op = Conv2D(kernels.get("identity"), padding="same")
    assert op.method_for(np.uint8) == "copy"


def test_without_numba_opencv_computes_the_same(tmp_path):
    # a fresh interpreter where ``import numba`` fails: the routine reports itself unavailable
    import subprocess
    import sys

    script = (
        "import sys; sys.modules['numba'] = None\n"
        "import numpy as np, cv2\n"
        "from streamconv.ops import kernels\n"
        "from streamconv.ops.conv2d import Conv2D\n"
        "img = np.random.default_rng(3).integers(0, 256, (30, 40, 3), dtype=np.uint8)\n"
        "op = Conv2D(kernels.get('sharpen'), padding='same', border='reflect')\n"
        "print(op.method_for(np.uint8))\n"
        "ref = cv2.filter2D(img, -1, kernels.get('sharpen'))\n"
        "print(bool(np.array_equal(op(img), ref)))\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["general", "True"]
    assert "integer conv2d routine unavailable" in out.stderr
