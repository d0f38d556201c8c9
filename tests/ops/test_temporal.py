"""TemporalFIR, the causal window across frames, per pixel.

* Independent reference: ``tests/_reference.naive_temporal``, an explicit per-pixel loop over
  ``out_t = sum_a frame_{t-a} w_{-a}`` with each warm-up policy.
* Same contract as CausalFIR: on float frames whose sums are exact in float32 (small integers,
  dyadic weights and renormalization factors) the output is bit-identical to CausalFIR run on
  every pixel's series; on any frames it agrees to float32 precision.
* Invariants: an impulse frame returns the weights newest first, integer frames through weights
  summing to 1 keep their dtype (saturated), a change of shape restarts the window, reset()
  forgets, changing a later frame never changes an earlier output.
* Error cases: the weights and warm-up validation shared with CausalFIR, type and message.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streamconv.errors import StreamconvError
from streamconv.ops.fir import CausalFIR
from streamconv.ops.temporal import TemporalFIR
from tests._reference import naive_temporal

PROPERTY = settings(max_examples=30, deadline=None)
# Written out rather than imported: adding or renaming a policy must show up here.
ALL_WARMUPS = ("renormalize", "zeros", "first")


def run(op, frames):
    return np.stack([op(f) for f in frames])


def per_pixel_causal_fir(frames, weights, warmup, **kwargs):
    series = np.stack(frames).astype(np.float64)
    flat = series.reshape(len(frames), -1)
    out = np.empty_like(flat)
    for p in range(flat.shape[1]):
        out[:, p] = CausalFIR(weights, warmup=warmup, **kwargs).process(flat[:, p])
    return out.reshape(series.shape)


@pytest.mark.parametrize("warmup", ALL_WARMUPS)
@PROPERTY
@given(seed=st.integers(0, 2**32 - 1), m=st.integers(1, 5), n=st.integers(1, 8))
def test_float_frames_equal_the_per_pixel_loop(warmup, seed, m, n):
    rng = np.random.default_rng(seed)
    weights = rng.normal(size=m).tolist()
    frames = [rng.normal(scale=50.0, size=(3, 4, 2)).astype(np.float32) for _ in range(n)]
    out = run(TemporalFIR(weights, warmup=warmup), frames)
    ref = naive_temporal(frames, weights, warmup)
    assert out.dtype == np.float32
    gains = np.cumsum(np.asarray(weights)[::-1])
    factor = max([1.0, *(abs(sum(weights) / g) for g in gains if abs(g) > 1e-3)])
    scale = 50.0 * 6 * float(np.abs(weights).sum()) * factor
    np.testing.assert_allclose(out, ref, rtol=1e-5, atol=1e-5 * scale)


@pytest.mark.parametrize("warmup", ALL_WARMUPS)
def test_uint8_frames_through_unit_gain_weights_stay_uint8(warmup):
    rng = np.random.default_rng(1)
    weights = [0.1, 0.2, 0.3, 0.4]
    frames = [rng.integers(0, 256, (5, 6, 3), dtype=np.uint8) for _ in range(7)]
    out = run(TemporalFIR(weights, warmup=warmup), frames)
    ref = naive_temporal(frames, weights, warmup)
    assert out.dtype == np.uint8
    # float32 sums may round the other way at an exact .5: at most one step
    assert np.abs(out.astype(int) - np.clip(np.rint(ref), 0, 255)).max() <= 1


# Dyadic weights whose renormalization factors sum(w) / sum(newest j weights) are powers of two,
# and small integer frames: every product and sum is exact in float32 and in float64.
EXACT_WEIGHTS = ([0.5, 0.25, 0.125, 0.125], [2.0, 1.0, 1.0], [-1.0, 1.0], [1.0], [0.5, -0.25, 0.25])


@pytest.mark.parametrize("warmup", ALL_WARMUPS)
@pytest.mark.parametrize("weights", EXACT_WEIGHTS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_bit_identical_to_causal_fir_on_every_pixel(warmup, weights, dtype):
    rng = np.random.default_rng(7)
    frames = [rng.integers(-64, 65, (4, 5, 3)).astype(dtype) for _ in range(9)]
    out = run(TemporalFIR(weights, warmup=warmup), frames)
    ref = per_pixel_causal_fir(frames, weights, warmup)
    np.testing.assert_array_equal(out, ref.astype(np.float32))
    np.testing.assert_array_equal(out, naive_temporal(frames, weights, warmup).astype(np.float32))


@pytest.mark.parametrize("warmup", ALL_WARMUPS)
def test_normalize_is_causal_fir_normalize(warmup):
    rng = np.random.default_rng(3)
    frames = [rng.integers(0, 9, (2, 3)).astype(np.float64) for _ in range(6)]
    out = run(TemporalFIR([1.0, 1.0, 2.0], normalize=True, warmup=warmup), frames)
    ref = per_pixel_causal_fir(frames, [1.0, 1.0, 2.0], warmup, normalize=True)
    np.testing.assert_allclose(out, ref, rtol=1e-6)


def test_impulse_returns_the_weights_newest_first():
    w = [0.125, 0.25, 0.625]
    tf = TemporalFIR(w, warmup="zeros")
    impulse = [np.ones((2, 2))] + [np.zeros((2, 2))] * 3
    out = run(tf, impulse)[:, 0, 0]
    assert out.tolist() == [0.625, 0.25, 0.125, 0.0]


def test_a_later_frame_never_changes_an_earlier_output():
    rng = np.random.default_rng(5)
    frames = [rng.normal(size=(3, 3)) for _ in range(6)]
    a = run(TemporalFIR([0.2, 0.3, 0.5]), frames)
    frames[4] = frames[4] + 100.0
    b = run(TemporalFIR([0.2, 0.3, 0.5]), frames)
    np.testing.assert_array_equal(a[:4], b[:4])
    assert not np.array_equal(a[4], b[4])


def test_signed_weights_give_float32_and_a_shape_change_restarts():
    tf = TemporalFIR([-1.0, 1.0])  # a frame difference: sums to 0, so no integer output
    a, b = (np.full((4, 4, 3), v, np.uint8) for v in (10, 30))
    tf(a)
    d = tf(b)
    assert d.dtype == np.float32
    np.testing.assert_array_equal(d, np.full((4, 4, 3), 20.0, np.float32))
    c = np.full((6, 6, 3), 50, np.uint8)
    np.testing.assert_array_equal(tf(c), np.zeros((6, 6, 3), np.float32))  # restarted: no past
    np.testing.assert_array_equal(tf(c), np.zeros((6, 6, 3), np.float32))


def test_reset_forgets_the_frames_seen():
    tf = TemporalFIR([0.5, 0.5], warmup="first")
    first = tf(np.full((2, 2), 8.0))
    tf(np.full((2, 2), 2.0))
    tf.reset()
    np.testing.assert_array_equal(tf(np.full((2, 2), 8.0)), first)


def test_repr_and_properties_list_every_parameter():
    tf = TemporalFIR([1.0, 3.0], normalize=True, warmup="zeros")
    assert repr(tf) == "TemporalFIR(weights=[0.25, 0.75], normalize=True, warmup='zeros')"
    assert tf.weights.tolist() == [0.25, 0.75] and not tf.weights.flags.writeable
    assert tf.warmup == "zeros" and len(tf) == 2


@pytest.mark.parametrize(
    ("kwargs", "pattern"),
    [
        ({"weights": []}, "invalid weights: empty"),
        ({"weights": [1.0, np.nan]}, "invalid weights: contains .*nan"),
        ({"weights": [-1.0, 1.0], "normalize": True}, "they sum to 0"),
        ({"weights": [1.0], "warmup": "ramp"}, r"invalid warmup 'ramp'; expected one of \['first'"),
    ],
)
def test_bad_parameters_are_the_causal_fir_errors(kwargs, pattern):
    with pytest.raises(StreamconvError, match=pattern) as info:
        TemporalFIR(**kwargs)
    assert isinstance(info.value, ValueError)
    with pytest.raises(StreamconvError, match=pattern):
        CausalFIR(**kwargs)
