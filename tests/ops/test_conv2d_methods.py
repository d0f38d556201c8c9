"""Conv2D's routine choice (box / separable / general) never changes the result beyond rounding.

Evidence: each fast routine is compared with plain ``cv2.filter2D`` and with the naive loop on
the same input, for every border, for uint8 (within one rounding step) and float (1e-4).
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from streamconv.ops import kernels
from streamconv.ops.conv2d import BORDERS, Conv2D, conv2d
from tests._reference import naive_conv2d

CASES = [
    ("box", kernels.get("box", size=5)),
    ("box", kernels.get("blur")),
    ("separable", kernels.get("gaussian", size=7, sigma=1.3)),
    ("separable", kernels.get("sobel_x")),
    ("separable", kernels.get("sobel_y")),
    ("separable", np.outer([1.0, 3.0, -2.0], [0.5, 0.25, 2.0])),
    ("general", kernels.get("sharpen")),
    ("general", kernels.get("edge_detect")),
    ("separable", np.ones((2, 2)) / 4),  # even number of taps: ties possible, so not the box routine
]


@pytest.mark.parametrize(("method", "kernel"), CASES)
def test_method_choice(method, kernel):
    assert Conv2D(kernel).method == method


@pytest.mark.parametrize(("method", "kernel"), [c for c in CASES if c[1].shape[0] % 2 == 1])
@pytest.mark.parametrize("border", sorted(BORDERS))
def test_fast_routines_agree_with_filter2d_and_naive(method, kernel, border):
    rng = np.random.default_rng(7)
    image = rng.integers(0, 256, (37, 53, 3), dtype=np.uint8)
    cvb = BORDERS[border]["cv2"]
    for img, tol in ((image, 1), (image.astype(np.float32), 1e-3)):
        out = conv2d(img, kernel, padding="same", border=border)
        ddepth = -1 if out.dtype == img.dtype else cv2.CV_32F
        ref = cv2.filter2D(img, ddepth, kernel.astype(np.float32), borderType=cvb)
        assert out.dtype == ref.dtype
        assert np.abs(out.astype(np.float64) - ref.astype(np.float64)).max() <= tol, (method, border)
        naive = naive_conv2d(img.astype(np.float64), kernel, padding=kernel.shape[0] // 2, stride=1,
                             border=border)
        if out.dtype == np.uint8:
            naive = np.clip(np.rint(naive), 0, 255)
        assert np.abs(out.astype(np.float64) - naive).max() <= tol


def test_integer_kernel_splits_into_exact_factors():
    # Sobel on uint8 gives exact integers through the separable routine (dyadic factors)
    image = np.random.default_rng(3).integers(0, 256, (20, 30), dtype=np.uint8)
    out = conv2d(image, kernels.get("sobel_x"), padding="same", border="replicate")
    naive = naive_conv2d(image.astype(np.float64), kernels.get("sobel_x"), padding=1, stride=1,
                         border="replicate")
    np.testing.assert_array_equal(out, naive)


@pytest.mark.parametrize("name", kernels.names())
@pytest.mark.parametrize(("padding", "stride", "border"), [("same", 1, "zero"), (0, 2, "reflect"),
                                                           (4, 1, "replicate"), (1, 3, "zero")])
def test_row_strips_give_the_same_result_as_one_piece(name, padding, stride, border):
    rng = np.random.default_rng(11)
    image = rng.integers(0, 256, (203, 97, 3), dtype=np.uint8)
    k = kernels.get(name)
    one = Conv2D(k, padding=padding, stride=stride, border=border, threads=1)(image)
    for n in (2, 3, 6):
        np.testing.assert_array_equal(Conv2D(k, padding=padding, stride=stride, border=border,
                                             threads=n)(image), one)


def test_threads_is_validated():
    with pytest.raises(ValueError, match="invalid threads 0"):
        Conv2D(kernels.get("blur"), threads=0)


@pytest.mark.parametrize("shape", [(40, 50, 3), (9, 8), (5, 7, 2)])
@pytest.mark.parametrize("border", sorted(BORDERS))
@pytest.mark.parametrize(("padding", "stride"), [(0, 1), (1, 1), (2, 2), (4, 3), ("same", 1), ("same", 2)])
def test_kernels_with_zero_edges_are_trimmed_exactly(shape, border, padding, stride):
    rng = np.random.default_rng(5)
    image = rng.standard_normal(shape)
    for kernel in (
        np.pad(rng.standard_normal((1, 2)), ((2, 2), (0, 3))),  # taps in one row, off-centre
        np.pad(rng.standard_normal((2, 1)), ((0, 3), (1, 1))),
        np.pad(rng.standard_normal((3, 3)), ((1, 1), (1, 1))),  # a 3x3 inside a 5x5 of zeros
        kernels.get("identity", size=5),
        kernels.get("edge_enhance"),
    ):
        h2 = (shape[0] + 2 * (kernel.shape[0] // 2 if padding == "same" else padding) - kernel.shape[0])
        w2 = (shape[1] + 2 * (kernel.shape[1] // 2 if padding == "same" else padding) - kernel.shape[1])
        if padding == "same" and (kernel.shape[0] % 2 == 0 or kernel.shape[1] % 2 == 0):
            continue
        if h2 < 0 or w2 < 0:
            continue
        p = kernel.shape[0] // 2 if padding == "same" else padding
        if padding == "same" and kernel.shape[0] != kernel.shape[1]:
            continue
        out = conv2d(image, kernel, padding=padding, stride=stride, border=border)
        ref = naive_conv2d(image, kernel, padding=p, stride=stride, border=border)
        np.testing.assert_allclose(out, ref, rtol=0, atol=1e-9)


def test_identity_is_a_copy_and_edge_enhance_a_difference():
    assert Conv2D(kernels.get("identity")).method == "copy"
    assert Conv2D(kernels.get("edge_enhance")).method == "general"  # trimmed to the 1x2 [-1, 1]
    image = np.random.default_rng(1).integers(0, 256, (30, 40, 3), dtype=np.uint8)
    np.testing.assert_array_equal(conv2d(image, kernels.get("identity"), padding="same"), image)
    d = conv2d(image, kernels.get("edge_enhance"), padding="same")
    np.testing.assert_array_equal(d[:, 1:], image[:, 1:].astype(np.float32) - image[:, :-1])
    np.testing.assert_array_equal(d[:, 0], image[:, 0].astype(np.float32))  # zero border on the left
