"""learn.fir against independent references: lstsq/KKT/scipy solutions written here, a textbook Kalman."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import minimize, nnls

from streamconv.errors import StreamconvError
from streamconv.learn import fir
from tests.learn.conftest import laser


def windows_by_loop(x: np.ndarray, m: int) -> np.ndarray:
    """Row t: x[t-m+1 .. t], oldest to newest (explicit loop, no stride tricks)."""
    return np.array([[x[t - m + 1 + j] for j in range(m)] for t in range(m - 1, len(x))])


@pytest.fixture(scope="module")
def data():
    return laser(2000, seed=3)


@pytest.mark.parametrize("m", [1, 4, 7, 16])
def test_fit_equals_lstsq_written_here(data, m):
    raw, truth = data
    a = windows_by_loop(raw, m)
    ref = np.linalg.lstsq(a, truth[m - 1 :], rcond=None)[0]
    np.testing.assert_allclose(fir.fit_fir(raw, truth, m), ref, rtol=0, atol=1e-9)


def test_sum_to_one_equals_kkt_solution(data):
    raw, truth = data
    m = 5
    # centre the data (exact under sum(w) = 1) so the KKT system on the normal equations is well posed
    c = raw.mean()
    a = windows_by_loop(raw - c, m)
    y = truth[m - 1 :] - c
    kkt = np.block([[2 * a.T @ a, np.ones((m, 1))], [np.ones((1, m)), np.zeros((1, 1))]])
    ref = np.linalg.solve(kkt, np.r_[2 * a.T @ y, 1.0])[:m]
    w = fir.fit_fir(raw, truth, m, sum_to_one=True)
    assert w.sum() == pytest.approx(1.0, abs=1e-12)
    np.testing.assert_allclose(w, ref, atol=1e-7)


def test_nonneg_equals_scipy_nnls(data):
    raw, truth = data
    for m in (3, 8, 16):
        ref = nnls(windows_by_loop(raw, m), truth[m - 1 :])[0]
        w = fir.fit_fir(raw, truth, m, nonneg=True)
        assert np.all(w >= 0)
        np.testing.assert_allclose(w, ref, atol=1e-7)


def test_nonneg_sum_to_one_equals_slsqp():
    rng = np.random.default_rng(5)
    x = rng.normal(size=400)
    y = np.convolve(x, [0.5, 0.3, -0.2], "full")[:400] + rng.normal(0, 0.1, 400)
    m = 6
    a = windows_by_loop(x, m)
    t = y[m - 1 :]
    ref = minimize(lambda w: np.sum((a @ w - t) ** 2), np.full(m, 1 / m), jac=lambda w: 2 * a.T @ (a @ w - t),
                   bounds=[(0, None)] * m, constraints=[{"type": "eq", "fun": lambda w: w.sum() - 1}],
                   method="SLSQP", options={"ftol": 1e-15, "maxiter": 500}).x
    w = fir.fit_fir(x, y, m, sum_to_one=True, nonneg=True)
    assert np.all(w >= 0) and w.sum() == pytest.approx(1.0, abs=1e-9)
    np.testing.assert_allclose(w, ref, atol=1e-6)
    assert np.sum((a @ w - t) ** 2) <= np.sum((a @ ref - t) ** 2) + 1e-9


def test_apply_is_the_daemon_op_and_the_naive_window(data):
    raw, _ = data
    w = fir.fit_fir(*data, 7)
    out = fir.apply_fir(raw, w)
    naive = windows_by_loop(raw, 7) @ w
    np.testing.assert_allclose(out[6:], naive, atol=1e-9)


def textbook_kalman(z, dt, q, r):
    """Constant-velocity Kalman filter written with matrices (Bar-Shalom's white-noise acceleration)."""
    f = np.array([[1.0, dt], [0.0, 1.0]])
    qm = q * np.array([[dt**3 / 3, dt**2 / 2], [dt**2 / 2, dt]])
    h = np.array([[1.0, 0.0]])
    x = np.array([z[0], 0.0])
    p = np.diag([r, 1e6])
    out = []
    for t, zt in enumerate(z):
        if t:
            x = f @ x
            p = f @ p @ f.T + qm
        s = h @ p @ h.T + r
        k = p @ h.T / s
        x = x + (k * (zt - h @ x)).ravel()
        p = (np.eye(2) - k @ h) @ p
        out.append(x[0])
    return np.array(out)


def test_kalman_equals_textbook_loop(data):
    raw, _ = data
    for q in (0.1, 30.0, 1e4):
        np.testing.assert_allclose(fir.cv_kalman(raw[:500], 0.01, q, 0.25),
                                   textbook_kalman(raw[:500], 0.01, q, 0.25), rtol=0, atol=1e-8)
    both = fir.cv_kalman(raw[:300], 0.01, [0.1, 30.0], 0.25)
    np.testing.assert_allclose(both[1], fir.cv_kalman(raw[:300], 0.01, 30.0, 0.25))


def test_kalman_is_tuned_not_a_strawman(data):
    raw, truth = data
    k = fir.tune_kalman(raw, truth, 0.01)
    assert k.r == pytest.approx(np.var(raw - truth))
    assert k.q == k.grid[np.argmin(k.grid_rmse)]
    best = np.sqrt(np.mean((k(raw) - truth) ** 2))
    assert best == pytest.approx(k.grid_rmse.min())
    for q in (k.q / 10, k.q * 10):  # a decade either way is worse
        assert np.sqrt(np.mean((fir.cv_kalman(raw, 0.01, q, k.r) - truth) ** 2)) > best
    assert best < 0.6 * np.sqrt(np.mean((raw - truth) ** 2))


def test_lag_of_a_delayed_copy():
    t = np.sin(np.arange(500) / 20.0)
    assert fir.lag_samples(np.r_[np.zeros(5), t[:-5]], t) == pytest.approx(5.0, abs=1e-3)


def test_compare_filters_scores_the_held_out_part(data):
    raw, truth = data
    c = fir.compare_filters(raw, truth, [4, 16], dt=0.01, configured=[0.2, 0.3, 0.5], test_fraction=0.25)
    assert (c.n_train, c.n_test) == (1500, 500)
    np.testing.assert_allclose(c.weights[16], fir.fit_fir(raw[:1500], truth[:1500], 16))
    out = fir.apply_fir(raw, c.weights[16])
    assert c.scores["fitted"].rmse == pytest.approx(np.sqrt(np.mean((out[1500:] - truth[1500:]) ** 2)))
    assert c.scores["raw"].rmse == pytest.approx(np.sqrt(np.mean((raw[1500:] - truth[1500:]) ** 2)))
    assert c.scores["fitted"].rmse < c.scores["configured"].rmse < c.scores["raw"].rmse
    assert set(c.scores) == {"raw", "configured", "fitted", "kalman"}


def test_deterministic(data):
    a = fir.compare_filters(*data, [7], dt=0.01)
    b = fir.compare_filters(*data, [7], dt=0.01)
    np.testing.assert_array_equal(a.fitted, b.fitted)
    assert a.scores == b.scores


@pytest.mark.parametrize(
    ("raw", "truth", "taps", "needle"),
    [
        (np.ones(100), np.ones(100), 11, "fewer than 10 x taps = 110"),
        (np.r_[np.ones(99), np.nan], np.ones(100), 2, "sample 99 is nan"),
        (np.ones(100), np.ones(90), 2, "equal lengths"),
        (np.ones(100), np.ones(100), 0, "invalid taps 0"),
    ],
)
def test_bad_input(raw, truth, taps, needle):
    with pytest.raises(StreamconvError, match=needle):
        fir.fit_fir(raw, truth, taps)
