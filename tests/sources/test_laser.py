import itertools
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streamconv.errors import StreamconvError
from streamconv.sources import PHASE_KINDS, LaserSimulator, SampleSource

LONG = 100_000  # 1000 s at 100 Hz: a few hundred phases


def read_in_chunks(sim, sizes):
    chunks = [sim.read(n, t_capture_ns=i) for i, n in enumerate(sizes)]
    return np.concatenate([c.values for c in chunks]), np.concatenate([c.truth for c in chunks])


# -- the protocol and chunking invariance ---------------------------------------------------------


def test_is_a_sample_source_and_stamps_the_first_sample():
    sim = LaserSimulator(rate_hz=250.0)
    assert isinstance(sim, SampleSource)
    chunk = sim.read(7, t_capture_ns=123_456)
    assert chunk.t_capture_ns == 123_456
    assert chunk.period_ns == 4_000_000
    assert chunk.values.dtype == np.float64 and chunk.values.shape == (7,)
    assert chunk.truth is not None and chunk.truth.shape == (7,)
    assert sim.samples_read == 7
    assert len(sim.read(0, t_capture_ns=0)) == 0


def test_ten_chunks_of_ten_equal_one_read_of_a_hundred():
    whole = LaserSimulator(outlier_prob=0.1, dropout_prob=0.1, seed=4).read(100, t_capture_ns=0)
    values, truth = read_in_chunks(LaserSimulator(outlier_prob=0.1, dropout_prob=0.1, seed=4), [10] * 10)
    np.testing.assert_array_equal(values, whole.values)  # NaN == NaN here
    np.testing.assert_array_equal(truth, whole.truth)
    assert values.tobytes() == whole.values.tobytes() and truth.tobytes() == whole.truth.tobytes()


@settings(max_examples=25, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=3000), min_size=1, max_size=12))
def test_any_chunking_is_bit_identical(sizes):
    kwargs = {"outlier_prob": 0.05, "dropout_prob": 0.05, "seed": 11}
    values, truth = read_in_chunks(LaserSimulator(**kwargs), sizes)
    whole = LaserSimulator(**kwargs).read(sum(sizes), t_capture_ns=0)
    assert values.tobytes() == whole.values.tobytes()
    assert truth.tobytes() == whole.truth.tobytes()


def test_truth_at_matches_read_and_random_access_order_does_not_matter():
    sim = LaserSimulator(seed=2)
    idx = np.array([9000, 5, 4095, 4096, 12_345, 0])
    late_first = sim.truth_at(idx)
    chunk = LaserSimulator(seed=2).read(12_346, t_capture_ns=0)
    assert late_first.tobytes() == chunk.truth[idx].tobytes()


def test_reset_replays_the_same_samples():
    sim = LaserSimulator(dropout_prob=0.2, seed=3)
    first = sim.read(500, t_capture_ns=0)
    sim.reset()
    assert sim.samples_read == 0
    again = sim.read(500, t_capture_ns=0)
    assert first.values.tobytes() == again.values.tobytes()


def test_returned_arrays_are_independent_of_the_cache():
    sim = LaserSimulator(seed=1)
    chunk = sim.read(10, t_capture_ns=0)
    chunk.truth[:] = -1.0
    assert np.all(sim.truth_at(np.arange(10)) > 0)


# -- determinism ----------------------------------------------------------------------------------


def test_same_seed_same_stream_different_seed_different_stream():
    a = LaserSimulator(seed=7).read(2000, t_capture_ns=0)
    b = LaserSimulator(seed=7).read(2000, t_capture_ns=0)
    c = LaserSimulator(seed=8).read(2000, t_capture_ns=0)
    assert a.values.tobytes() == b.values.tobytes() and a.truth.tobytes() == b.truth.tobytes()
    assert not np.allclose(a.truth, c.truth)
    assert not np.allclose(a.values - a.truth, c.values - c.truth)


def test_the_trajectory_is_a_function_of_time_not_of_the_rate():
    # Sample 2k at 100 Hz and sample 4k at 200 Hz are both captured at t = k / 50 s.
    k = np.arange(0, 5000, 7)
    slow = LaserSimulator(rate_hz=100.0, seed=5).truth_at(2 * k)
    fast = LaserSimulator(rate_hz=200.0, seed=5).truth_at(4 * k)
    np.testing.assert_array_equal(slow, fast)


# -- the measurement model -------------------------------------------------------------------------


def test_noise_std_matches_noise_std():
    chunk = LaserSimulator(noise_std=0.5, seed=1).read(20_000, t_capture_ns=0)
    resid = chunk.values - chunk.truth
    # The sample std of N normal draws has relative standard error 1/sqrt(2N) = 0.5 %.
    assert resid.std() == pytest.approx(0.5, rel=0.03)
    assert abs(resid.mean()) < 4 * 0.5 / math.sqrt(resid.size)


def test_zero_noise_measures_the_truth_exactly():
    chunk = LaserSimulator(noise_std=0.0, seed=1).read(5000, t_capture_ns=0)
    np.testing.assert_array_equal(chunk.values, chunk.truth)


def test_outlier_rate_and_spike_size():
    n, p = 40_000, 0.05
    sim = LaserSimulator(noise_std=0.5, outlier_prob=p, outlier_scale=20.0, seed=9)
    chunk = sim.read(n, t_capture_ns=0)
    mask = sim.outlier_at(np.arange(n))
    sigma = math.sqrt(p * (1 - p) / n)  # binomial standard error
    assert abs(mask.mean() - p) < 5 * sigma
    resid = chunk.values - chunk.truth
    assert resid[~mask].std() == pytest.approx(0.5, rel=0.03)
    assert resid[mask].std() == pytest.approx(math.hypot(0.5, 20.0), rel=0.1)


def test_dropouts_are_nan_exactly_where_flagged_at_the_expected_rate():
    n, p = 40_000, 0.1
    sim = LaserSimulator(dropout_prob=p, seed=2)
    chunk = sim.read(n, t_capture_ns=0)
    flags = sim.dropout_at(np.arange(n))
    np.testing.assert_array_equal(np.isnan(chunk.values), flags)
    assert abs(flags.mean() - p) < 5 * math.sqrt(p * (1 - p) / n)
    assert np.all(np.isfinite(chunk.truth))


@pytest.mark.parametrize("prob", [0.0, 1.0])
def test_extreme_probabilities(prob):
    sim = LaserSimulator(dropout_prob=prob, outlier_prob=prob, seed=1)
    chunk = sim.read(1000, t_capture_ns=0)
    assert np.isnan(chunk.values).mean() == prob
    assert sim.outlier_at(np.arange(1000)).mean() == prob


# -- the trajectory -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def long_run():
    sim = LaserSimulator(noise_std=0.0, seed=0)
    truth = sim.read(LONG, t_capture_ns=0).truth
    return sim, truth


@pytest.mark.parametrize("rate_hz", [10.0, 100.0, 1000.0])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_truth_and_its_velocity_are_continuous(rate_hz, seed):
    # Physical bounds: |dr| <= v_max dt; |d2r| <= a_max dt^2 (velocity continuous); and
    # |d3r| <= j_max dt^3 (acceleration continuous, jerk-limited ramps).
    sim = LaserSimulator(rate_hz=rate_hz, noise_std=0.0, seed=seed)
    truth = sim.read(LONG, t_capture_ns=0).truth
    dt = 1.0 / rate_hz
    eps = 1e-9 * np.abs(truth).max()  # float rounding of ranges around 1e3
    assert np.abs(np.diff(truth)).max() <= sim.max_speed * dt * (1 + 1e-9) + eps
    assert np.abs(np.diff(truth, 2)).max() <= sim.max_accel * dt**2 * (1 + 1e-9) + eps
    assert np.abs(np.diff(truth, 3)).max() <= sim.max_jerk * dt**3 * (1 + 1e-9) + 2 * eps


def test_velocity_at_is_the_derivative_of_truth(long_run):
    sim, truth = long_run
    dt = 1.0 / sim.rate_hz
    v = sim.velocity_at(np.arange(LONG))
    # Trapezoid rule: r[i+1] - r[i] = dt (v[i] + v[i+1]) / 2 + O(j_max dt^3).
    err = np.diff(truth) - dt * 0.5 * (v[1:] + v[:-1])
    assert np.abs(err).max() < sim.max_jerk * dt**3
    assert np.abs(v).max() <= sim.max_speed * (1 + 1e-12)


def test_range_stays_positive_within_the_band(long_run):
    sim, truth = long_run
    low, high = sim.range_band
    assert 0 < low and truth.min() >= low and truth.max() <= high
    # And it actually moves around in the band.
    assert truth.max() - truth.min() > 0.3 * (high - low)


def test_small_start_range_scales_the_kinematics():
    sim = LaserSimulator(start_range=10.0, noise_std=0.0, seed=3)
    truth = sim.read(30_000, t_capture_ns=0).truth
    assert truth[0] == 10.0
    assert 4.0 <= truth.min() and truth.max() <= 25.0
    assert sim.max_speed == pytest.approx(0.5)


def test_every_phase_occurs_and_labels_match_the_log(long_run):
    sim, _ = long_run
    labels = sim.phase_at(np.arange(LONG))
    assert set(labels.tolist()) == set(PHASE_KINDS)
    log = sim.phases
    assert {p.kind for p in log} == set(PHASE_KINDS)
    for prev, nxt in itertools.pairwise(log):
        assert nxt.start_s == pytest.approx(prev.start_s + prev.duration_s, abs=1e-9)
        assert nxt.range_start == prev.range_end and nxt.velocity_start == prev.velocity_end
    for p in log[1:-1]:
        inside = np.arange(math.ceil((p.start_s + 1e-6) * 100), math.floor((p.start_s + p.duration_s) * 100))
        inside = inside[inside < LONG]
        assert np.all(sim.phase_at(inside) == p.kind)


def test_phases_behave_as_labelled(long_run):
    sim, _ = long_run
    for p in sim.phases:
        if p.kind == "cruise":
            assert p.velocity_end == pytest.approx(p.velocity_start, abs=1e-9)
        elif p.kind == "accelerate":
            assert abs(p.velocity_end) >= abs(p.velocity_start)
        elif p.kind == "decelerate":
            assert abs(p.velocity_end) < abs(p.velocity_start)
        else:  # a U-turn flips the radial velocity, a loop restores it; the range comes back
            assert abs(p.velocity_end) == pytest.approx(abs(p.velocity_start), rel=1e-9)
            assert p.range_end == pytest.approx(p.range_start, abs=1e-6)


# -- validation -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"rate_hz": 0}, "invalid rate_hz 0; expected a number > 0"),
        ({"rate_hz": float("nan")}, "invalid rate_hz nan; expected a number > 0"),
        ({"rate_hz": "fast"}, "invalid rate_hz 'fast'; expected a number > 0"),
        ({"noise_std": -0.1}, "invalid noise_std -0.1; expected a number >= 0"),
        ({"outlier_prob": 1.5}, "invalid outlier_prob 1.5; expected a number in [0, 1]"),
        ({"dropout_prob": -0.01}, "invalid dropout_prob -0.01; expected a number in [0, 1]"),
        ({"outlier_scale": -1}, "invalid outlier_scale -1; expected a number >= 0"),
        ({"seed": -1}, "invalid seed -1; expected an integer >= 0"),
        ({"start_range": 0.0}, "invalid start_range 0.0; expected a number > 0"),
    ],
)
def test_invalid_parameters_name_the_parameter_value_and_range(kwargs, message):
    with pytest.raises(StreamconvError) as info:
        LaserSimulator(**kwargs)
    assert str(info.value) == message
    assert isinstance(info.value, ValueError)


def test_invalid_read_size_and_index():
    sim = LaserSimulator()
    with pytest.raises(StreamconvError, match="invalid n -1; expected an integer >= 0"):
        sim.read(-1, t_capture_ns=0)
    with pytest.raises(StreamconvError, match="invalid index"):
        sim.truth_at([-1])
    with pytest.raises(StreamconvError, match="invalid index"):
        sim.truth_at([0.5])


def test_repr_lists_the_parameters():
    assert repr(LaserSimulator(seed=3, noise_std=0.1)) == (
        "LaserSimulator(rate_hz=100.0, noise_std=0.1, outlier_prob=0.0, outlier_scale=20.0, "
        "dropout_prob=0.0, seed=3, start_range=1000.0)"
    )
