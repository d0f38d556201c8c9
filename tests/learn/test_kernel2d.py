"""learn.kernel2d: known kernels and a known bank recovered from noiseless pairs (naive references)."""

from __future__ import annotations

import numpy as np
import pytest

from streamconv.errors import StreamconvError
from streamconv.learn.kernel2d import fit_bank3d, fit_kernel2d
from streamconv.ops import kernels
from tests._reference import naive_conv2d, naive_conv3d

RNG = np.random.default_rng(14)
RANDOM_5X5 = RNG.normal(size=(5, 5))


@pytest.mark.parametrize("border", ["zero", "replicate", "reflect"])
@pytest.mark.parametrize(("name", "kernel"), [("edge_detect", kernels.get("edge_detect")),
                                              ("random 5x5", RANDOM_5X5),
                                              ("sobel_y", kernels.get("sobel_y"))])
def test_known_kernel_recovered(name, kernel, border):
    images = [RNG.random((24, 30)), RNG.random((17, 19))]
    targets = [naive_conv2d(im, kernel, padding="same", border=border) for im in images]
    fit = fit_kernel2d(images, targets, kernel.shape[0])
    np.testing.assert_allclose(fit.kernel, kernel, rtol=0, atol=1e-6)
    assert fit.residual_rms < 1e-9 * fit.target_rms + 1e-12


def test_colour_frames_share_one_kernel_and_asymmetry_pins_correlation():
    k = np.arange(9.0).reshape(3, 3)  # asymmetric: a flipped fit would be [[8, 7, 6], ...]
    image = RNG.random((20, 20, 3))
    target = np.dstack([naive_conv2d(image[..., c], k, padding="same") for c in range(3)])
    fit = fit_kernel2d([image], [target], 3)
    np.testing.assert_allclose(fit.kernel, k, atol=1e-6)
    assert fit.windows == 18 * 18 * 3


def test_noisy_target_gives_the_residual():
    image = RNG.random((64, 64))
    target = naive_conv2d(image, kernels.get("blur"), padding="same") + RNG.normal(0, 0.01, (64, 64))
    fit = fit_kernel2d([image], [target], 3)
    np.testing.assert_allclose(fit.kernel, kernels.get("blur"), atol=0.01)
    assert fit.residual_rms == pytest.approx(0.01, rel=0.1)


def test_known_bank_recovered():
    bank = RNG.normal(size=(4, 3, 3, 3))
    frames = [RNG.random((16, 18, 3)) for _ in range(3)]
    maps = [naive_conv3d(f, bank, padding="same") for f in frames]
    fit = fit_bank3d(frames, maps, 3)
    assert fit.bank.shape == (4, 3, 3, 3)
    np.testing.assert_allclose(fit.bank, bank, rtol=0, atol=1e-6)
    assert fit.residual_rms < 1e-9


@pytest.mark.parametrize(
    ("inputs", "targets", "size", "needle"),
    [
        ([np.zeros((10, 10))], [np.zeros((10, 10))], 4, "invalid kernel size 4"),
        ([np.zeros((10, 10))], [np.zeros((10, 12))], 3, "expected the same size"),
        ([np.zeros((10, 10))], [np.zeros((10, 10))] * 2, 3, "expected pairs"),
        ([np.full((10, 10), np.nan)], [np.zeros((10, 10))], 3, "NaN"),
        ([np.zeros((4, 4))], [np.zeros((4, 4))], 5, "smaller than the 5x5"),
    ],
)
def test_bad_input(inputs, targets, size, needle):
    with pytest.raises(StreamconvError, match=needle):
        fit_kernel2d(inputs, targets, size)
