"""The one dtype policy (float_type, is_integer, saturate), checked against OpenCV and by hand.

* Golden values: the policy table (8/16-bit and float16/32 compute in float32, the rest in
  float64) and hand-picked rounding cases (half to even) and saturation at the type's limits.
* Independent reference: OpenCV's own ``saturate_cast`` (through ``cv2.add`` with an integer
  output depth) on random floats.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from streamconv.ops._dtype import float_type, is_integer, saturate

POLICY = {
    np.bool_: np.float32,
    np.uint8: np.float32,
    np.int8: np.float32,
    np.uint16: np.float32,
    np.int16: np.float32,
    np.float16: np.float32,
    np.float32: np.float32,
    np.int32: np.float64,
    np.uint32: np.float64,
    np.int64: np.float64,
    np.uint64: np.float64,
    np.float64: np.float64,
}


@pytest.mark.parametrize(("dtype", "expected"), list(POLICY.items()), ids=lambda v: np.dtype(v).name)
def test_float_type(dtype, expected):
    assert float_type(dtype) == np.dtype(expected)
    assert float_type(np.dtype(dtype)) == np.dtype(expected)
    assert float_type(np.dtype(dtype).name) == np.dtype(expected)


@pytest.mark.parametrize("dtype", [np.uint8, np.int16, np.uint16, np.float16])
def test_float32_holds_every_value_of_the_float32_types(dtype):
    # The reason for the policy: these types round-trip through float32 exactly.
    if np.dtype(dtype).kind == "f":
        values = np.array([np.finfo(dtype).min, -1.5, 0.0, np.finfo(dtype).tiny, np.finfo(dtype).max], dtype)
    else:
        info = np.iinfo(dtype)
        values = np.arange(info.min, info.max + 1, dtype=np.int64).astype(dtype)
    assert np.array_equal(values.astype(np.float32).astype(dtype), values)


def test_int32_does_not_fit_float32_so_it_gets_float64():
    big = np.array([2**24 + 1], dtype=np.int32)
    assert big.astype(np.float32).astype(np.int32)[0] != big[0]
    assert big.astype(float_type(np.int32)).astype(np.int32)[0] == big[0]


@pytest.mark.parametrize("byteorder", [">", "<"])
@pytest.mark.parametrize(
    ("char", "expected"),
    [("u2", np.float32), ("i2", np.float32), ("f4", np.float32), ("i4", np.float64), ("f8", np.float64)],
)
def test_float_type_ignores_byte_order(byteorder, char, expected):
    assert float_type(np.dtype(byteorder + char)) == np.dtype(expected)


@pytest.mark.parametrize(
    ("dtype", "expected"),
    [
        (np.bool_, True),
        (np.uint8, True),
        (np.int64, True),
        (np.float16, False),
        (np.float64, False),
        (np.complex128, False),
    ],
)
def test_is_integer(dtype, expected):
    assert is_integer(dtype) is expected


def test_saturate_rounds_half_to_even():
    values = np.array([0.5, 1.5, 2.5, 3.5, -0.5, 0.49, 0.51, 254.5, 253.5])
    np.testing.assert_array_equal(saturate(values, np.uint8), [0, 2, 2, 4, 0, 0, 1, 254, 254])
    np.testing.assert_array_equal(saturate(np.array([-1.5, -2.5]), np.int16), [-2, -2])


@pytest.mark.parametrize("dtype", [np.uint8, np.int8, np.uint16, np.int16, np.int32])
def test_saturate_clips_to_the_type_range(dtype):
    info = np.iinfo(dtype)
    values = np.array([-1e12, info.min - 0.6, info.min, 0.0, info.max, info.max + 0.6, 1e12])
    out = saturate(values, dtype)
    assert out.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(out, [info.min, info.min, info.min, 0, info.max, info.max, info.max])


@pytest.mark.parametrize(
    ("dtype", "cv_depth"),
    [(np.uint8, cv2.CV_8U), (np.int16, cv2.CV_16S), (np.uint16, cv2.CV_16U), (np.int8, cv2.CV_8S)],
)
def test_saturate_matches_opencv_saturate_cast(dtype, cv_depth):
    rng = np.random.default_rng(0)
    info = np.iinfo(dtype)
    values = rng.uniform(info.min - 300.0, info.max + 300.0, size=(64, 64)).astype(np.float32)
    values.ravel()[:200] = np.round(values.ravel()[:200]) + 0.5  # exact ties
    ref = cv2.add(values, np.zeros_like(values), dtype=cv_depth)
    np.testing.assert_array_equal(saturate(values, dtype), ref)


def test_saturate_passes_floats_through():
    values = np.array([0.5, -3.25, 1e10])
    np.testing.assert_array_equal(saturate(values, np.float64), values)
    out = saturate(values, np.float32)
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, values.astype(np.float32))


def test_saturate_to_bool_is_nonzero():
    np.testing.assert_array_equal(saturate(np.array([0.0, 0.2, -1.0]), np.bool_), [False, True, True])
