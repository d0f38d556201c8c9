"""conv3d filter banks, with independent references, invariants and error cases.

* Independent references: the plain loops of ``tests/_reference.naive_conv3d`` (property tests
  over bank shapes, padding, stride, bias and borders) and, when torch happens to be installed,
  ``torch.nn.functional.conv2d`` (which is a correlation with the same (K, D, F, F) layout).
* Invariants: a bank is the sum over depth of per-channel conv2d, K=1 included; a 2D frame is
  depth 1; bias shifts each map; the output shape is (H2, W2, K) with output_size per axis.
* Error cases: a depth mismatch is an error (never a silent broadcast), bias of the wrong
  length, and the shared padding/stride/border validation; type and message asserted.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from streamconv.errors import StreamconvError
from streamconv.ops.conv2d import conv2d, output_size
from streamconv.ops.conv3d import Bank3D, conv3d
from tests._reference import naive_conv3d, padding_amounts

PROPERTY = settings(max_examples=50, deadline=None)
SEEDS = st.integers(0, 2**32 - 1)
BORDER_NAMES = ("zero", "replicate", "reflect")


def assert_close(actual, expected, frame, bank, *, rel=1e-10):
    scale = max(1.0, float(np.abs(frame).max())) * float(np.abs(bank).sum(axis=(1, 2, 3)).max())
    np.testing.assert_allclose(actual, expected, rtol=rel, atol=rel * scale)


@PROPERTY
@given(
    seed=SEEDS,
    h=st.integers(1, 9),
    w=st.integers(1, 9),
    depth=st.integers(1, 4),
    k_count=st.integers(1, 3),
    fh=st.integers(1, 4),
    fw=st.integers(1, 4),
    padding=st.one_of(st.integers(0, 3), st.sampled_from(["same", "valid"])),
    stride=st.integers(1, 3),
    border=st.sampled_from(BORDER_NAMES),
    with_bias=st.booleans(),
)
def test_matches_the_naive_loop(seed, h, w, depth, k_count, fh, fw, padding, stride, border, with_bias):
    if padding == "same":
        assume(fh % 2 == 1 and fw % 2 == 1)
    ph, pw = padding_amounts(padding, (fh, fw))
    assume(fh <= h + 2 * ph and fw <= w + 2 * pw)
    rng = np.random.default_rng(seed)
    frame = rng.normal(scale=10.0, size=(h, w, depth))
    bank = rng.normal(size=(k_count, depth, fh, fw))
    bias = rng.normal(size=k_count) if with_bias else None
    out = conv3d(frame, bank, padding=padding, stride=stride, bias=bias, border=border)
    expected = naive_conv3d(frame, bank, padding, stride, bias, border)
    assert (
        out.shape
        == expected.shape
        == (
            output_size(h, fh, ph, stride),
            output_size(w, fw, pw, stride),
            k_count,
        )
    )
    assert out.dtype == np.float64
    assert_close(out, expected, frame, bank)


@PROPERTY
@given(
    seed=SEEDS,
    depth=st.integers(1, 4),
    k_count=st.integers(1, 4),
    f=st.sampled_from([1, 3, 5]),
    stride=st.integers(1, 3),
    border=st.sampled_from(BORDER_NAMES),
)
def test_each_map_is_the_sum_of_per_channel_conv2d(seed, depth, k_count, f, stride, border):
    rng = np.random.default_rng(seed)
    frame = rng.normal(size=(11, 13, depth))
    bank = rng.normal(size=(k_count, depth, f, f))
    bias = rng.normal(size=k_count)
    out = conv3d(frame, bank, padding="same", stride=stride, bias=bias, border=border)
    for k in range(k_count):
        expected = bias[k] + sum(
            conv2d(frame[:, :, d], bank[k, d], padding="same", stride=stride, border=border)
            for d in range(depth)
        )
        assert_close(out[:, :, k], expected, frame, bank)


def test_k1_equals_the_sum_of_per_channel_conv2d():
    rng = np.random.default_rng(1)
    frame = rng.integers(0, 256, (10, 12, 3)).astype(np.float64)
    bank = rng.normal(size=(1, 3, 3, 3))
    out = conv3d(frame, bank, padding=1)
    assert out.shape == (10, 12, 1)
    expected = sum(conv2d(frame[:, :, d], bank[0, d], padding=1) for d in range(3))
    assert_close(out[:, :, 0], expected, frame, bank)


def test_2d_frame_is_depth_one():
    rng = np.random.default_rng(2)
    frame = rng.normal(size=(8, 9))
    bank = rng.normal(size=(3, 1, 3, 3))
    out = conv3d(frame, bank, padding="same")
    np.testing.assert_array_equal(out, conv3d(frame[:, :, None], bank, padding="same"))
    for k in range(3):
        assert_close(out[:, :, k], conv2d(frame, bank[k, 0], padding="same"), frame, bank)


def test_docstring_example_ones():
    # 27 ones under each 3x3x3 filter of ones; bias 0 and 1.
    out = conv3d(np.ones((4, 4, 3)), np.ones((2, 3, 3, 3)), bias=[0, 1])
    assert out.shape == (2, 2, 2)
    np.testing.assert_array_equal(out[..., 0], 27.0)
    np.testing.assert_array_equal(out[..., 1], 28.0)


def test_bias_shifts_each_map_by_its_own_constant():
    rng = np.random.default_rng(3)
    frame = rng.normal(size=(7, 7, 2))
    bank = rng.normal(size=(3, 2, 3, 3))
    bias = np.array([0.5, -2.0, 10.0])
    plain = conv3d(frame, bank, padding=1)
    shifted = conv3d(frame, bank, padding=1, bias=bias)
    np.testing.assert_allclose(shifted - plain, np.broadcast_to(bias, plain.shape), atol=1e-12)
    np.testing.assert_array_equal(conv3d(frame, bank, padding=1, bias=[0, 0, 0]), plain)


def test_a_bank_that_picks_one_channel():
    # Filter k is an identity on channel k and zero elsewhere: the maps are the channels.
    rng = np.random.default_rng(4)
    frame = rng.normal(size=(6, 5, 3))
    bank = np.zeros((3, 3, 3, 3))
    for k in range(3):
        bank[k, k, 1, 1] = 1.0
    np.testing.assert_array_equal(conv3d(frame, bank, padding="same"), frame)


def test_rgb_to_grey_as_a_1x1_bank():
    # A 1x1 bank is a per-pixel linear map across depth: the Rec. 601 luma weights.
    rng = np.random.default_rng(5)
    frame = rng.integers(0, 256, (4, 6, 3), dtype=np.uint8)
    luma = np.array([0.299, 0.587, 0.114])
    out = conv3d(frame, luma.reshape(1, 3, 1, 1))
    np.testing.assert_allclose(out[:, :, 0], frame.astype(np.float64) @ luma, rtol=1e-6)


@pytest.mark.parametrize(
    ("dtype", "expected"),
    [
        (np.uint8, np.float32),
        (np.int8, np.float32),
        (np.uint16, np.float32),
        (np.int16, np.float32),
        (np.float16, np.float32),
        (np.float32, np.float32),
        (np.int32, np.float64),
        (np.int64, np.float64),
        (np.float64, np.float64),
        (np.bool_, np.float32),
    ],
    ids=lambda v: np.dtype(v).name,
)
def test_dtype_policy(dtype, expected):
    rng = np.random.default_rng(6)
    values = rng.random((6, 7, 2)) < 0.5 if dtype == np.bool_ else rng.integers(0, 100, (6, 7, 2))
    frame = values.astype(dtype)
    bank = rng.normal(size=(2, 2, 3, 3))
    out = conv3d(frame, bank, padding=1, bias=[1.0, -1.0])
    assert out.dtype == np.dtype(expected)  # feature maps are float: signed, never saturated
    rel = 1e-5 if expected == np.float32 else 1e-10
    assert_close(out, naive_conv3d(frame, bank, 1, 1, [1.0, -1.0]), frame.astype(float), bank, rel=rel)


def test_frame_and_bank_are_not_modified():
    rng = np.random.default_rng(7)
    frame, bank = rng.normal(size=(5, 5, 2)), rng.normal(size=(2, 2, 3, 3))
    f0, b0 = frame.copy(), bank.copy()
    conv3d(frame, bank, padding=2, stride=2, bias=[1, 2], border="reflect")
    np.testing.assert_array_equal(frame, f0)
    np.testing.assert_array_equal(bank, b0)


def test_matches_torch_conv2d():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(8)
    frame = rng.normal(size=(12, 10, 3))
    bank = rng.normal(size=(4, 3, 3, 3))
    bias = rng.normal(size=4)
    for padding, stride in ((0, 1), (1, 1), (1, 2), (2, 3)):
        out = conv3d(frame, bank, padding=padding, stride=stride, bias=bias)
        ref = (
            torch.nn.functional.conv2d(
                torch.from_numpy(frame.transpose(2, 0, 1)[None].copy()),
                torch.from_numpy(bank),
                torch.from_numpy(bias),
                stride=stride,
                padding=padding,
            )[0]
            .numpy()
            .transpose(1, 2, 0)
        )
        assert_close(out, ref, frame, bank)


# -- error cases ------------------------------------------------------------------------------
def _raises(fn, *args, **kwargs):
    with pytest.raises(StreamconvError) as info:
        fn(*args, **kwargs)
    assert isinstance(info.value, ValueError)
    return str(info.value)


FRAME = np.zeros((6, 6, 3))
BANK = np.ones((2, 3, 3, 3))


@pytest.mark.parametrize(
    ("frame_shape", "bank_shape", "depths"),
    [
        ((6, 6, 3), (2, 1, 3, 3), ("depth 1", "depth 3")),  # would broadcast: must not
        ((6, 6, 1), (2, 3, 3, 3), ("depth 3", "depth 1")),
        ((6, 6), (2, 3, 3, 3), ("depth 3", "depth 1")),
        ((6, 6, 4), (1, 3, 3, 3), ("depth 3", "depth 4")),
    ],
)
def test_depth_mismatch_is_an_error(frame_shape, bank_shape, depths):
    msg = _raises(conv3d, np.zeros(frame_shape), np.ones(bank_shape))
    assert str(bank_shape) in msg
    assert f"{depths[0]} does not match the frame's {depths[1]}" in msg


@pytest.mark.parametrize("bias", [[1.0], [1.0, 2.0, 3.0], [[1.0, 2.0]], 1.0])
def test_bias_of_the_wrong_shape(bias):
    msg = _raises(conv3d, FRAME, BANK, bias=bias)
    assert "bias" in msg


def test_bias_of_the_wrong_length_names_both_lengths():
    msg = _raises(conv3d, FRAME, BANK, bias=[1.0, 2.0, 3.0])
    assert "invalid bias shape (3,)" in msg and "(2,)" in msg


@pytest.mark.parametrize(("bias", "bad"), [([1.0, np.nan], "nan"), ([np.inf, 0.0], "inf")])
def test_nonfinite_bias(bias, bad):
    msg = _raises(conv3d, FRAME, BANK, bias=bias)
    assert "bias" in msg and bad in msg


@pytest.mark.parametrize(
    ("bank", "pattern"),
    [
        (np.ones((3, 3, 3)), "3D"),
        (np.ones((3, 3)), "2D"),
        (np.full((1, 3, 3, 3), np.nan), "nan"),
        (np.zeros((0, 3, 3, 3)), "empty"),
    ],
)
def test_bad_bank(bank, pattern):
    msg = _raises(conv3d, FRAME, bank)
    assert "bank" in msg and pattern in msg


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"stride": 0}, "invalid stride 0"),
        ({"stride": 1.5}, "invalid stride 1.5"),
        ({"padding": -1}, "invalid padding -1"),
        ({"padding": "bogus"}, "invalid padding 'bogus'"),
        ({"border": "mirror"}, "invalid border 'mirror'; expected one of ['reflect', 'replicate', 'zero']"),
    ],
)
def test_shared_validation(kwargs, fragment):
    assert fragment in _raises(conv3d, FRAME, BANK, **kwargs)


def test_same_with_an_even_bank():
    msg = _raises(conv3d, FRAME, np.ones((1, 3, 2, 2)), padding="same")
    assert "'same'" in msg and "(2, 2)" in msg


def test_filters_larger_than_the_padded_frame():
    msg = _raises(conv3d, np.zeros((4, 4, 3)), np.ones((1, 3, 5, 5)))
    assert "(1, 3, 5, 5)" in msg and "5x5" in msg and "4x4" in msg


@pytest.mark.parametrize(
    "frame",
    [np.zeros((2, 3, 4, 5)), np.zeros(5), np.zeros((4, 4, 3), dtype=complex), np.zeros((0, 4, 3))],
    ids=["4D", "1D", "complex", "empty"],
)
def test_bad_frame(frame):
    msg = _raises(conv3d, frame, BANK)
    assert "frame" in msg and (str(frame.shape) in msg or f"{frame.ndim}D" in msg)


# -- Bank3D: conv3d with the checks done once ------------------------------------------------------
@pytest.mark.parametrize("dtype", [None, np.float32])
def test_bank3d_object_equals_conv3d(dtype):
    rng = np.random.default_rng(11)
    frame = rng.integers(0, 256, (9, 10, 3)).astype(np.float64)
    bank = rng.normal(size=(2, 3, 3, 3))
    op = Bank3D(bank, padding="same", stride=2, bias=[0.5, -1.0], border="reflect", dtype=dtype)
    expected = conv3d(frame, bank, padding="same", stride=2, bias=[0.5, -1.0], border="reflect")
    out = op(frame)
    assert out.dtype == (np.float64 if dtype is None else np.float32)
    np.testing.assert_array_equal(out, expected.astype(out.dtype))
    np.testing.assert_allclose(out, naive_conv3d(frame, bank, "same", 2, [0.5, -1.0], "reflect"), rtol=1e-6)
    assert op.shape == (2, 3, 3, 3) and not op.bank.flags.writeable


def test_bank3d_repr_lists_every_parameter():
    op = Bank3D(np.ones((1, 3, 1, 1)), bias=[2.0], dtype=np.float32)
    assert repr(op) == (
        "Bank3D(shape=(1, 3, 1, 1), padding=0, stride=1, border='zero', bias=[2.0], dtype=float32)"
    )


@pytest.mark.parametrize(
    ("kwargs", "pattern"),
    [
        ({"bias": [1.0, 2.0]}, r"invalid bias shape \(2,\); expected \(1,\)"),
        ({"stride": 0}, "invalid stride 0"),
        ({"border": "mirror"},
         r"invalid border 'mirror'; expected one of \['reflect', 'replicate', 'zero'\]"),
        ({"padding": "full"}, "full"),
    ],
)
def test_bank3d_validates_once_at_construction(kwargs, pattern):
    with pytest.raises(StreamconvError, match=pattern) as info:
        Bank3D(np.ones((1, 3, 3, 3)), **kwargs)
    assert isinstance(info.value, ValueError)
