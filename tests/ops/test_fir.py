"""CausalFIR, with all four kinds of evidence.

* Golden values: the lecture's 7-tap laser example, expected values written as the explicit sum
  ``s_t = sum_{a=0}^{6} x_{t-a} w_{-a}`` and the two values the issue prints.
* Independent references: ``scipy.signal.lfilter``, ``np.convolve`` and the plain loops in
  ``tests/_reference.py`` (property tests over random weights, series and chunkings).
* Invariants: chunked == whole == step by step, causality, impulse response, DC gain, the lag
  of a ramp.
* Error cases: exception type (ValueError and StreamconvError) and message content.
"""

from __future__ import annotations

import re

import numpy as np
import pytest
import scipy.signal
from hypothesis import given, settings
from hypothesis import strategies as st

from streamconv.errors import StreamconvError
from streamconv.ops.fir import NONFINITE_POLICIES, WARMUPS, CausalFIR
from tests._reference import forward_fill, naive_fir, naive_renormalized_fir

PROPERTY = settings(max_examples=60, deadline=None)
SEEDS = st.integers(0, 2**32 - 1)
TAPS = st.integers(1, 8)
LENGTHS = st.integers(0, 60)
# Written out rather than imported: adding or renaming a policy must show up here.
ALL_WARMUPS = ("renormalize", "zeros", "first")
ALL_NONFINITE = ("hold", "zero", "propagate")


# -- helpers ------------------------------------------------------------------------------------
def reference(x, weights, warmup):
    """The policy's definition, by naive loops: what the output must be for a finite series."""
    x = [float(v) for v in x]
    m = len(weights)
    if warmup == "zeros":
        return naive_fir(x, weights, before=0.0)
    if warmup == "first":
        if not x:
            return np.empty(0)
        return naive_fir([x[0]] * (m - 1) + x, weights)[m - 1 :]
    return naive_renormalized_fir(x, weights)


def error_scale(x, weights):
    """Size of the terms a window sums, times the largest renormalisation factor.

    Two correct implementations that sum in a different order differ by a few ulps of this.
    """
    w = np.asarray(weights, dtype=np.float64)
    finite = np.asarray(x, dtype=np.float64)
    finite = finite[np.isfinite(finite)]
    xmax = max(1.0, float(np.abs(finite).max())) if finite.size else 1.0
    gains = np.cumsum(w[::-1])
    ratios = [abs(w.sum() / g) for g in gains if g != 0.0]
    return xmax * float(np.abs(w).sum()) * max([1.0, *ratios])


def assert_close(actual, expected, scale):
    np.testing.assert_allclose(actual, expected, rtol=1e-12, atol=1e-12 * scale)


def random_series(rng, n, *, nonfinite_rate=0.0, allow_inf=True):
    x = rng.normal(scale=10.0, size=n)
    if nonfinite_rate:
        bad = rng.random(n) < nonfinite_rate
        choices = np.array([np.nan, np.inf, -np.inf] if allow_inf else [np.nan])
        x[bad] = rng.choice(choices, size=int(bad.sum()))
    return x


def random_chunks(rng, x):
    cuts = np.sort(rng.integers(0, len(x) + 1, size=int(rng.integers(0, 6))))
    return np.split(x, cuts)  # empty chunks included on purpose


def assert_same_outputs(a, b, scale):
    """Equal where finite (to 1e-12 of ``scale``) and non-finite at the same places."""
    a, b = np.asarray(a), np.asarray(b)
    assert a.shape == b.shape
    np.testing.assert_array_equal(np.isfinite(a), np.isfinite(b))
    fin = np.isfinite(a)
    assert_close(a[fin], b[fin], scale)


# -- golden values: the lecture's laser example -------------------------------------------------
# Lecture (1D causal window on the spaceship laser): weights oldest -> newest, and the series.
LECTURE_W = [0.01, 0.01, 0.02, 0.02, 0.04, 0.4, 0.5]
LECTURE_X = [1.00, 1.10, 1.20, 1.40, 1.70, 1.80, 1.90, 2.10, 2.20, 2.40, 2.50, 2.70]


def lecture_formula(t):
    # s_t = sum_{a=0}^{6} x_{t-a} w_{-a}, with w_{-a} = LECTURE_W[6 - a]; written out term by term.
    x, w = LECTURE_X, LECTURE_W
    return (
        x[t] * w[6]
        + x[t - 1] * w[5]
        + x[t - 2] * w[4]
        + x[t - 3] * w[3]
        + x[t - 4] * w[2]
        + x[t - 5] * w[1]
        + x[t - 6] * w[0]
    )


@pytest.mark.parametrize("warmup", ALL_WARMUPS)
def test_lecture_example_matches_the_formula_once_the_window_is_full(warmup):
    out = CausalFIR(LECTURE_W, warmup=warmup).process(LECTURE_X)
    assert out.shape == (12,)
    for t in range(6, 12):
        assert out[t] == pytest.approx(lecture_formula(t), abs=1e-12), t


def test_lecture_printed_values():
    # The issue quotes these two (the lecture's printed table had slips elsewhere; the formula wins).
    out = CausalFIR(LECTURE_W).process(LECTURE_X)
    assert out[9] == pytest.approx(2.269, abs=1e-3)
    assert out[10] == pytest.approx(2.413, abs=1e-3)
    # By hand: 2.4*.5 + 2.2*.4 + 2.1*.04 + 1.9*.02 + 1.8*.02 + 1.7*.01 + 1.4*.01 = 2.269 exactly.
    assert out[9] == pytest.approx(2.269, abs=1e-12)
    assert out[10] == pytest.approx(2.413, abs=1e-12)


def test_lecture_example_step_by_step_equals_batch():
    fir = CausalFIR(LECTURE_W)
    stepped = [fir.step(v) for v in LECTURE_X]
    assert_close(stepped, CausalFIR(LECTURE_W).process(LECTURE_X), 10.0)


def test_docstring_example_by_hand():
    # weights oldest -> newest [0.25, 0.75]: s_t = 0.75 x_t + 0.25 x_{t-1}, zeros before the start.
    fir = CausalFIR([0.25, 0.75], warmup="zeros")
    out = fir.process([1.0, 2.0, 3.0, 4.0, 5.0])
    np.testing.assert_allclose(out, [0.75, 0.25 + 1.5, 0.5 + 2.25, 0.75 + 3.0, 1.0 + 3.75])
    assert fir.step(6.0) == pytest.approx(0.25 * 5 + 0.75 * 6)


def test_vocabularies_are_the_documented_ones():
    assert set(WARMUPS) == set(ALL_WARMUPS)
    assert set(NONFINITE_POLICIES) == set(ALL_NONFINITE)


# -- independent references -------------------------------------------------------------------
@PROPERTY
@given(seed=SEEDS, m=TAPS, n=LENGTHS)
def test_zeros_warmup_equals_lfilter_and_convolve(seed, m, n):
    rng = np.random.default_rng(seed)
    w, x = rng.normal(size=m), random_series(rng, n)
    out = CausalFIR(w, warmup="zeros").process(x)
    if n == 0:  # lfilter and np.convolve refuse an empty series
        assert out.shape == (0,)
        return
    scale = error_scale(x, w)
    # lfilter's b is newest-first (b[0] multiplies x_t), hence the reversal.
    assert_close(out, scipy.signal.lfilter(w[::-1], [1.0], x), scale)
    assert_close(out, np.convolve(x, w[::-1])[:n], scale)
    assert_close(out, naive_fir(x, w), scale)


@PROPERTY
@given(seed=SEEDS, m=TAPS, n=LENGTHS, warmup=st.sampled_from(ALL_WARMUPS))
def test_each_warmup_policy_equals_its_naive_definition(seed, m, n, warmup):
    rng = np.random.default_rng(seed)
    # Positive weights keep the renormalisation well conditioned; signed weights are below.
    w, x = rng.uniform(0.01, 1.0, size=m), random_series(rng, n)
    assert_close(CausalFIR(w, warmup=warmup).process(x), reference(x, w, warmup), error_scale(x, w))


@PROPERTY
@given(seed=SEEDS, m=TAPS, n=LENGTHS, warmup=st.sampled_from(ALL_WARMUPS))
def test_signed_weights_equal_the_naive_definition(seed, m, n, warmup):
    rng = np.random.default_rng(seed)
    w, x = rng.normal(size=m), random_series(rng, n)
    assert_close(CausalFIR(w, warmup=warmup).process(x), reference(x, w, warmup), error_scale(x, w))


def test_renormalize_warmup_by_hand():
    # weights oldest -> newest [1, 2, 3] (sum 6): the first output sees only w_0 = 3, so it is
    # x_0 * 3 * 6/3; the second sees 2 and 3, so (2 x_0 + 3 x_1) * 6/5.
    out = CausalFIR([1.0, 2.0, 3.0], warmup="renormalize").process([1.0, 10.0, 100.0])
    np.testing.assert_allclose(out, [6.0, (2 + 30) * 6 / 5, 1 + 20 + 300])


def test_first_warmup_by_hand():
    # 'first': as if x_0 = 4 had been seen forever before the stream.
    out = CausalFIR([1.0, 2.0, 3.0], warmup="first").process([4.0, 5.0, 6.0])
    np.testing.assert_allclose(out, [24.0, 4 + 8 + 15, 4 + 10 + 18])


# -- invariants: chunking, causality, impulse, DC gain ----------------------------------------
@PROPERTY
@given(
    seed=SEEDS,
    m=TAPS,
    n=LENGTHS,
    warmup=st.sampled_from(ALL_WARMUPS),
    nonfinite=st.sampled_from(ALL_NONFINITE),
)
def test_chunked_equals_whole_equals_step_by_step(seed, m, n, warmup, nonfinite):
    rng = np.random.default_rng(seed)
    w = rng.normal(size=m)
    x = random_series(rng, n, nonfinite_rate=0.15)
    whole_fir = CausalFIR(w, warmup=warmup, nonfinite=nonfinite)
    whole = whole_fir.process(x)
    chunk_fir = CausalFIR(w, warmup=warmup, nonfinite=nonfinite)
    chunked = np.concatenate([chunk_fir.process(c) for c in random_chunks(rng, x)] + [np.empty(0)])
    step_fir = CausalFIR(w, warmup=warmup, nonfinite=nonfinite)
    stepped = np.array([step_fir.step(v) for v in x], dtype=np.float64)
    scale = error_scale(x, w)
    assert_same_outputs(chunked, whole, scale)
    assert_same_outputs(stepped, whole, scale)
    # The carried state ends the same whichever way the series went in.
    # (compared as arrays: NaN samples under 'propagate' are kept in the history)
    np.testing.assert_array_equal(np.array(chunk_fir.history), np.array(whole_fir.history))
    np.testing.assert_array_equal(np.array(step_fir.history), np.array(whole_fir.history))
    assert chunk_fir.samples_seen == whole_fir.samples_seen == step_fir.samples_seen == n
    assert chunk_fir.nonfinite_count == whole_fir.nonfinite_count == step_fir.nonfinite_count


@PROPERTY
@given(
    seed=SEEDS,
    m=TAPS,
    n=st.integers(1, 60),
    warmup=st.sampled_from(ALL_WARMUPS),
    nonfinite=st.sampled_from(ALL_NONFINITE),
    data=st.data(),
)
def test_changing_a_sample_never_changes_an_earlier_output(seed, m, n, warmup, nonfinite, data):
    k = data.draw(st.integers(0, n - 1), label="k")
    rng = np.random.default_rng(seed)
    w = rng.normal(size=m)
    x = random_series(rng, n, nonfinite_rate=0.1)
    y = x.copy()
    y[k] = data.draw(st.sampled_from([np.nan, np.inf, 1e6, -3.5, 0.0]), label="new x[k]")
    out_x = CausalFIR(w, warmup=warmup, nonfinite=nonfinite).process(x)
    out_y = CausalFIR(w, warmup=warmup, nonfinite=nonfinite).process(y)
    np.testing.assert_array_equal(out_x[:k], out_y[:k])


@PROPERTY
@given(seed=SEEDS, m=TAPS, n=st.integers(1, 40), data=st.data())
def test_changing_a_sample_does_change_the_output_it_meets(seed, m, n, data):
    # The other side of causality (so the test above is not vacuous): x_k reaches s_k via w_0.
    k = data.draw(st.integers(0, n - 1), label="k")
    rng = np.random.default_rng(seed)
    w = rng.uniform(0.1, 1.0, size=m)
    x = random_series(rng, n)
    y = x.copy()
    y[k] += 1.0
    out_x = CausalFIR(w, warmup="zeros").process(x)
    out_y = CausalFIR(w, warmup="zeros").process(y)
    # s_t moves by exactly w_{-(t-k)} for t = k .. k+m-1, and not at all afterwards.
    moved = out_y[k:] - out_x[k:]
    expected = np.zeros(n - k)
    expected[: min(m, n - k)] = w[::-1][: n - k]
    np.testing.assert_allclose(moved, expected, atol=1e-9)


@pytest.mark.parametrize("warmup", ALL_WARMUPS)
@pytest.mark.parametrize("m", [1, 2, 3, 7])
def test_impulse_returns_the_weights_newest_first(warmup, m):
    rng = np.random.default_rng(m)
    w = rng.normal(size=m)
    k = m - 1 + 2  # after the warm-up, so every policy sees zeros before the impulse
    x = np.zeros(k + m + 3)
    x[k] = 1.0
    out = CausalFIR(w, warmup=warmup).process(x)
    np.testing.assert_array_equal(out[:k], 0.0)
    np.testing.assert_array_equal(out[k : k + m], w[::-1])  # s_{k+a} = w_{-a}: newest weight first
    np.testing.assert_array_equal(out[k + m :], 0.0)


def test_impulse_from_rest_step_by_step():
    w = np.array([0.1, -0.2, 0.3, 0.9])
    fir = CausalFIR(w, warmup="zeros")
    out = [fir.step(v) for v in [1.0, 0.0, 0.0, 0.0, 0.0, 0.0]]
    assert out == [0.9, 0.3, -0.2, 0.1, 0.0, 0.0]


@PROPERTY
@given(seed=SEEDS, m=TAPS, n=LENGTHS, warmup=st.sampled_from(ALL_WARMUPS), c=st.floats(-100, 100))
def test_constant_input_gives_dc_gain_times_level(seed, m, n, warmup, c):
    rng = np.random.default_rng(seed)
    w = rng.uniform(0.01, 1.0, size=m)
    out = CausalFIR(w, warmup=warmup).process(np.full(n, c))
    tol = 1e-12 * max(1.0, abs(c)) * w.sum() * m
    full = out[m - 1 :]
    np.testing.assert_allclose(full, w.sum() * c, rtol=1e-12, atol=tol)
    if warmup in ("renormalize", "first"):
        # These two policies hold the level from the very first sample.
        np.testing.assert_allclose(out, w.sum() * c, rtol=1e-12, atol=tol)
    else:
        # From rest, the window fills up: output t sees the newest t+1 weights.
        partial = [c * sum(w[m - 1 - a] for a in range(t + 1)) for t in range(min(n, m - 1))]
        np.testing.assert_allclose(out[: m - 1], partial, rtol=1e-12, atol=tol)


@PROPERTY
@given(seed=SEEDS, m=TAPS, n=st.integers(1, 60))
def test_normalize_divides_by_the_sum(seed, m, n):
    rng = np.random.default_rng(seed)
    w = rng.uniform(0.01, 1.0, size=m)
    x = random_series(rng, n)
    fir = CausalFIR(w, normalize=True, warmup="zeros")
    np.testing.assert_allclose(fir.weights, w / sum(w), rtol=1e-14)
    assert fir.weights.sum() == pytest.approx(1.0, abs=1e-14)
    assert_close(fir.process(x), naive_fir(x, w) / sum(w), error_scale(x, w))
    # DC gain 1 from the first sample with the default warm-up.
    np.testing.assert_allclose(CausalFIR(w, normalize=True).process(np.full(n, 7.5)), 7.5, rtol=1e-12)


def test_normalize_with_negative_weights_keeps_signs():
    fir = CausalFIR([-1.0, 3.0], normalize=True)
    np.testing.assert_allclose(fir.weights, [-0.5, 1.5])
    assert fir.normalize is True


# -- non-finite samples -------------------------------------------------------------------------
@PROPERTY
@given(seed=SEEDS, m=TAPS, n=LENGTHS, warmup=st.sampled_from(ALL_WARMUPS))
def test_hold_equals_a_forward_filled_series(seed, m, n, warmup):
    rng = np.random.default_rng(seed)
    w = rng.uniform(0.01, 1.0, size=m)
    x = random_series(rng, n, nonfinite_rate=0.2)
    fir = CausalFIR(w, warmup=warmup, nonfinite="hold")
    out = fir.process(x)
    assert np.all(np.isfinite(out))
    assert_close(out, reference(forward_fill(x, before=0.0), w, warmup), error_scale(x, w))
    assert fir.nonfinite_count == int((~np.isfinite(x)).sum())


def test_hold_carries_the_last_finite_sample_across_chunks():
    fir = CausalFIR([1.0], nonfinite="hold")
    assert fir.process([np.nan]).tolist() == [0.0]  # nothing finite seen yet: 0.0
    assert fir.process([3.0, np.nan]).tolist() == [3.0, 3.0]
    assert fir.process([np.inf, -np.inf, 5.0]).tolist() == [3.0, 3.0, 5.0]
    assert fir.step(np.nan) == 5.0
    assert fir.nonfinite_count == 5


@PROPERTY
@given(seed=SEEDS, m=TAPS, n=LENGTHS, warmup=st.sampled_from(ALL_WARMUPS))
def test_zero_policy_equals_nonfinite_replaced_by_zero(seed, m, n, warmup):
    rng = np.random.default_rng(seed)
    w = rng.uniform(0.01, 1.0, size=m)
    x = random_series(rng, n, nonfinite_rate=0.2)
    fir = CausalFIR(w, warmup=warmup, nonfinite="zero")
    out = fir.process(x)
    zeroed = np.where(np.isfinite(x), x, 0.0)
    assert_close(out, reference(zeroed, w, warmup), error_scale(x, w))
    assert fir.nonfinite_count == int((~np.isfinite(x)).sum())


@PROPERTY
@given(seed=SEEDS, m=TAPS, n=LENGTHS, warmup=st.sampled_from(ALL_WARMUPS))
def test_propagate_spoils_exactly_the_m_outputs_that_see_the_nan(seed, m, n, warmup):
    rng = np.random.default_rng(seed)
    w = rng.uniform(0.01, 1.0, size=m)  # includes no zero weight, but NaN * 0 is NaN anyway
    x = random_series(rng, n, nonfinite_rate=0.1, allow_inf=False)
    fir = CausalFIR(w, warmup=warmup, nonfinite="propagate")
    out = fir.process(x)
    spoiled = np.zeros(n, dtype=bool)
    for k in np.flatnonzero(np.isnan(x)):
        spoiled[k : k + m] = True  # s_k .. s_{k+m-1} have x_k in their window
    np.testing.assert_array_equal(np.isnan(out), spoiled)
    assert_close(out[~spoiled], reference(x, w, warmup)[~spoiled], error_scale(x, w))
    assert fir.nonfinite_count == 0  # nothing was replaced


def test_propagate_with_a_zero_weight_still_spoils_the_window():
    out = CausalFIR([0.0, 1.0, 0.0], warmup="zeros", nonfinite="propagate").process(
        [1.0, np.nan, 1.0, 1.0, 1.0, 1.0]
    )
    np.testing.assert_array_equal(np.isnan(out), [False, True, True, True, False, False])


# -- state: reset, initial history, properties ----------------------------------------------
@pytest.mark.parametrize("warmup", ALL_WARMUPS)
@pytest.mark.parametrize("nonfinite", ALL_NONFINITE)
def test_reset_forgets_everything(warmup, nonfinite):
    rng = np.random.default_rng(5)
    w = rng.normal(size=5)
    x = random_series(rng, 30, nonfinite_rate=0.2)
    fresh = CausalFIR(w, warmup=warmup, nonfinite=nonfinite)
    fir = CausalFIR(w, warmup=warmup, nonfinite=nonfinite)
    first = fir.process(x)
    fir.process(random_series(rng, 17, nonfinite_rate=0.5))
    fir.reset()
    assert fir.history == fresh.history
    assert fir.samples_seen == 0
    assert fir.nonfinite_count == 0
    np.testing.assert_array_equal(fir.process(x), first)


@PROPERTY
@given(seed=SEEDS, m=st.integers(2, 8), n=LENGTHS, warmup=st.sampled_from(ALL_WARMUPS))
def test_full_initial_history_makes_outputs_exact_from_the_first_sample(seed, m, n, warmup):
    rng = np.random.default_rng(seed)
    w = rng.normal(size=m)
    history = rng.normal(scale=10.0, size=m - 1)
    x = random_series(rng, n)
    fir = CausalFIR(w, warmup=warmup, initial=history)
    assert fir.history == tuple(history)
    out = fir.process(x)
    # The warm-up policy no longer matters: every window is full.
    whole = naive_fir(np.concatenate([history, x]), w)
    assert_close(out, whole[m - 1 :], error_scale(np.concatenate([history, x]), w))


@PROPERTY
@given(
    seed=SEEDS,
    m=TAPS,
    n=LENGTHS,
    n_hist=st.integers(1, 12),
    warmup=st.sampled_from(ALL_WARMUPS),
    nonfinite=st.sampled_from(ALL_NONFINITE),
)
def test_initial_history_equals_processing_it_first(seed, m, n, n_hist, warmup, nonfinite):
    # Shorter or longer than m - 1: the same as if the history had gone through the filter,
    # warm-up policy and the 'hold' value included.
    rng = np.random.default_rng(seed)
    w = rng.uniform(0.01, 1.0, size=m)
    history = rng.normal(scale=10.0, size=n_hist)
    x = random_series(rng, n, nonfinite_rate=0.1)
    fir = CausalFIR(w, warmup=warmup, nonfinite=nonfinite, initial=history)
    assert fir.samples_seen == min(n_hist, m - 1)
    out = fir.process(x)
    primed = CausalFIR(w, warmup=warmup, nonfinite=nonfinite)
    primed.process(history)
    expected = primed.process(x)
    both = np.concatenate([history, x])
    assert_same_outputs(out, expected, error_scale(both, w))
    np.testing.assert_array_equal(np.array(fir.history), np.array(primed.history))
    if n_hist <= m - 1 and np.all(np.isfinite(x)):
        # The history is all there is: the warm-up policy applies before it.
        assert_close(out, reference(both, w, warmup)[n_hist:], error_scale(both, w))


@pytest.mark.parametrize(
    ("warmup", "expected"),
    [
        # weights oldest -> newest [1, 2, 3, 4]; two past samples 5, 6; then 1, 2, 3.
        ("zeros", [0 * 1 + 5 * 2 + 6 * 3 + 1 * 4, 5 * 1 + 6 * 2 + 1 * 3 + 2 * 4, 6 + 2 + 6 + 12]),
        ("first", [5 * 1 + 5 * 2 + 6 * 3 + 1 * 4, 5 * 1 + 6 * 2 + 1 * 3 + 2 * 4, 6 + 2 + 6 + 12]),
        ("renormalize", [(5 * 2 + 6 * 3 + 1 * 4) * 10 / 9, 5 * 1 + 6 * 2 + 1 * 3 + 2 * 4, 6 + 2 + 6 + 12]),
    ],
)
def test_short_initial_history_keeps_the_warmup_policy(warmup, expected):
    # A history shorter than m - 1 is still a warm-up: 'zeros' assumes zeros before it,
    # 'first' its first sample, 'renormalize' rescales the partial window.
    out = CausalFIR([1.0, 2.0, 3.0, 4.0], warmup=warmup, initial=[5.0, 6.0]).process([1.0, 2.0, 3.0])
    np.testing.assert_allclose(out, expected, rtol=1e-12)


def test_initial_history_longer_than_the_window_keeps_the_newest():
    fir = CausalFIR([1.0, 10.0, 100.0], initial=[7.0, 8.0, 1.0, 2.0])
    assert fir.history == (1.0, 2.0)
    assert fir.process([3.0]).tolist() == [1.0 + 20.0 + 300.0]


def test_reset_returns_to_the_initial_history():
    fir = CausalFIR([1.0, 1.0, 1.0], initial=[1.0, 2.0])
    fir.process([5.0, 6.0, 7.0])
    fir.reset()
    assert fir.history == (1.0, 2.0)
    assert fir.samples_seen == 2
    assert fir.process([3.0]).tolist() == [6.0]


@pytest.mark.parametrize("weights", [[1.0], [0.0, 1.0]])
def test_hold_starts_from_the_initial_history(weights):
    # Even a single tap (no history kept) holds the newest past sample.
    fir = CausalFIR(weights, nonfinite="hold", initial=[9.0, 4.0])
    assert fir.process([np.nan]).tolist() == [4.0]
    fir.reset()
    assert fir.step(np.nan) == 4.0


def test_repr_lists_every_parameter():
    fir = CausalFIR([0.25, 0.75], warmup="zeros", nonfinite="zero")
    text = repr(fir)
    assert text.startswith("CausalFIR(")
    for part in ("weights=[0.25, 0.75]", "normalize=False", "warmup='zeros'", "nonfinite='zero'"):
        assert part in text
    # ... and is enough to rebuild an equivalent filter.
    rebuilt = eval(text, {"CausalFIR": CausalFIR})
    x = np.random.default_rng(1).normal(size=20)
    np.testing.assert_array_equal(rebuilt.process(x), CausalFIR([0.25, 0.75], warmup="zeros").process(x))


def test_repr_of_a_normalized_filter_shows_the_normalized_weights():
    text = repr(CausalFIR([1.0, 3.0], normalize=True, warmup="first", nonfinite="propagate"))
    assert "weights=[0.25, 0.75]" in text
    assert "normalize=True" in text and "warmup='first'" in text and "nonfinite='propagate'" in text


@PROPERTY
@given(seed=SEEDS, m=TAPS)
def test_lag_is_the_weighted_mean_age(seed, m):
    rng = np.random.default_rng(seed)
    w = rng.uniform(0.01, 1.0, size=m)
    # lag = sum_a a w_{-a} / sum_a w_{-a}; w_{-a} is weights[m - 1 - a].
    num = sum(a * w[m - 1 - a] for a in range(m))
    den = sum(w[m - 1 - a] for a in range(m))
    fir = CausalFIR(w)
    assert fir.lag == pytest.approx(num / den, rel=1e-12)
    # Its meaning: a ramp x_t = t comes out (normalised weights) as t - lag once the window is full.
    t = np.arange(m + 10, dtype=np.float64)
    out = CausalFIR(w, normalize=True).process(t)
    np.testing.assert_allclose(out[m - 1 :], t[m - 1 :] - fir.lag, atol=1e-9)


@pytest.mark.parametrize(
    ("weights", "lag"),
    [([1.0], 0.0), ([0.0, 0.0, 1.0], 0.0), ([1.0, 0.0, 0.0], 2.0), ([1.0] * 5, 2.0), ([1.0, -1.0], 0.0)],
)
def test_lag_by_hand(weights, lag):
    assert CausalFIR(weights).lag == pytest.approx(lag)


def test_lecture_lag():
    # ages 6..0 against the lecture's weights oldest -> newest (sum 1.0)
    expected = 6 * 0.01 + 5 * 0.01 + 4 * 0.02 + 3 * 0.02 + 2 * 0.04 + 1 * 0.4 + 0 * 0.5
    assert CausalFIR(LECTURE_W).lag == pytest.approx(expected, rel=1e-12)


def test_weights_are_a_read_only_copy():
    w = np.array([1.0, 2.0, 3.0])
    fir = CausalFIR(w)
    w[0] = 100.0
    np.testing.assert_array_equal(fir.weights, [1.0, 2.0, 3.0])
    assert fir.weights.dtype == np.float64
    with pytest.raises(ValueError, match="read-only"):
        fir.weights[0] = 5.0
    assert len(fir) == 3


def test_step_returns_a_float_and_process_a_float64_array():
    fir = CausalFIR([1, 2], warmup="zeros")
    out = fir.process([1, 2, 3])  # ints are accepted and computed as float64
    assert out.dtype == np.float64
    np.testing.assert_array_equal(out, [2.0, 5.0, 8.0])
    value = fir.step(4)
    assert type(value) is float and value == 11.0
    np.testing.assert_array_equal(fir([5]), [14.0])  # __call__ is process


def test_empty_chunk_changes_nothing():
    fir = CausalFIR([1.0, 2.0, 3.0], warmup="first")
    out = fir.process([])
    assert out.shape == (0,) and out.dtype == np.float64
    assert fir.samples_seen == 0 and fir.history == ()
    np.testing.assert_array_equal(fir.process([2.0]), [12.0])  # 'first' still applies to sample 0


def test_single_tap_is_a_gain():
    fir = CausalFIR([2.5])
    np.testing.assert_array_equal(fir.process([1.0, -2.0, 4.0]), [2.5, -5.0, 10.0])
    assert fir.history == ()


# -- error cases ----------------------------------------------------------------------------------
def _raises(match, fn, *args, **kwargs):
    with pytest.raises(StreamconvError, match=match) as info:
        fn(*args, **kwargs)
    assert isinstance(info.value, ValueError)
    return str(info.value)


@pytest.mark.parametrize(
    ("weights", "pattern"),
    [
        ([], r"weights.*empty"),
        ([1.0, float("nan")], r"weights.*nan"),
        ([1.0, float("inf")], r"weights.*inf"),
        ([[1.0, 2.0], [3.0, 4.0]], r"weights.*2D.*\(2, 2\).*expected 1D"),
        (5.0, r"weights.*0D.*expected 1D"),
        (["a", "b"], r"weights.*'a'"),
    ],
)
def test_bad_weights(weights, pattern):
    _raises(pattern, CausalFIR, weights)


def test_normalize_with_zero_sum_weights():
    msg = _raises(r"weights", CausalFIR, [1.0, -1.0], normalize=True)
    assert "[1.0, -1.0]" in msg and "sum to 0" in msg and "normalize" in msg
    CausalFIR([1.0, -1.0])  # without normalize a zero-sum (derivative) window is fine


@pytest.mark.parametrize(
    ("kwargs", "name", "allowed"),
    [
        ({"warmup": "bogus"}, "warmup", ALL_WARMUPS),
        ({"warmup": None}, "warmup", ALL_WARMUPS),
        ({"nonfinite": "ignore"}, "nonfinite", ALL_NONFINITE),
    ],
)
def test_invalid_policy_words(kwargs, name, allowed):
    msg = _raises(name, CausalFIR, [1.0], **kwargs)
    assert repr(next(iter(kwargs.values()))) in msg
    assert str(sorted(allowed)) in msg


@pytest.mark.parametrize("samples", [np.zeros((2, 3)), [[1.0], [2.0]], np.float64(1.0)])
def test_process_rejects_anything_but_1d(samples):
    fir = CausalFIR([1.0, 1.0])
    ndim = np.ndim(samples)
    msg = _raises(r"samples", fir.process, samples)
    assert f"{ndim}D" in msg and str(np.shape(samples)) in msg and "expected 1D" in msg
    assert fir.samples_seen == 0  # a rejected chunk leaves the state alone


def test_bad_initial_history():
    _raises(r"initial.*nan", CausalFIR, [1.0, 1.0], initial=[np.nan])
    _raises(r"initial.*2D", CausalFIR, [1.0, 1.0], initial=[[1.0]])


def test_error_messages_quote_values_not_just_names():
    msg = _raises("warmup", CausalFIR, [1.0], warmup="Zeros")
    assert re.search(r"'Zeros'", msg)
