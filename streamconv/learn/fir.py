r"""Causal weights fitted by least squares to a truth, and a tuned constant-velocity Kalman reference.

A causal window of ``m`` taps, weights oldest to newest (the contract of
:class:`~streamconv.ops.fir.CausalFIR`), estimates ``y_t = sum_{a=0}^{m-1} x_{t-a} w_{-a}``.
Stacking the windows ``[x_{t-m+1} ... x_t]`` of the training part as the rows of ``X`` makes the
fit the linear least-squares problem ``min_w ||X w - y||^2`` (the finite-window Wiener-Hopf
solution; ``scipy.signal.wiener`` is something else, a non-causal local-variance image filter).

* unconstrained: ``numpy.linalg.lstsq(X, y)`` (SVD; never the normal equations, whose condition
  number is the square of ``X``'s, which is large: every column is ~1000 m of range);
* ``sum_to_one``: the equality-constrained problem, solved by eliminating the newest weight
  ``w_0 = 1 - sum(others)`` (the null-space form of the KKT system, which keeps ``lstsq``'s
  conditioning);
* ``nonneg``: Lawson and Hanson's active-set NNLS (1974, ch. 23), the algorithm of
  ``scipy.optimize.nnls``, here with the optional sum-to-one constraint too, each subproblem
  solved as above.

**Lag** (:func:`lag_samples`) is the definition ``streamconv plot`` uses
(:func:`streamconv.plot.estimate_lag`): the integer shift that minimises the mean squared
difference between the output and the shifted truth, refined by a parabola through its
neighbours; positive means the output follows the truth late.

**Kalman reference** (:func:`tune_kalman`): a constant-velocity model, state ``[range,
velocity]``, white-noise acceleration of spectral density ``q`` (``Q = q [[dt^3/3, dt^2/2],
[dt^2/2, dt]]``), measurement noise ``r``.  ``r`` is the measured noise variance
``var(raw - truth)`` on the training part, and ``q`` is grid-searched on the same part (a
log-spaced grid over ten decades, then a finer one around the best point) for the least RMSE
against the truth.  Only ``q / r`` changes the filter's estimate, so this tunes the whole
filter, as a library's maximum-likelihood fit would, but for the criterion we score.

Examples
--------
A ramp is followed exactly by the two-tap extrapolator ``[-1, 2]`` (``2 x_t - x_{t-1}``):

>>> x = np.arange(40.0)
>>> np.round(fit_fir(x, x + 1.0, 2), 6).tolist()
[-1.0, 2.0]
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from numpy.typing import ArrayLike, NDArray

from streamconv.errors import StreamconvError
from streamconv.ops.fir import CausalFIR
from streamconv.plot import estimate_lag, rmse
from streamconv.sinks.log import Series

__all__ = [
    "MIN_SAMPLES_PER_TAP",
    "FIRComparison",
    "KalmanFit",
    "Score",
    "apply_fir",
    "compare_filters",
    "cv_kalman",
    "fit_fir",
    "lag_samples",
    "tune_kalman",
]

#: A fit needs at least this many training samples per tap (fewer overfit the noise).
MIN_SAMPLES_PER_TAP = 10
#: The coarse grid of the Kalman tuning: q from 1e-3 to 1e7, 8 points per decade.
KALMAN_Q_GRID = tuple(float(q) for q in np.logspace(-3.0, 7.0, 81))
_LAG_MAX = 100
# A weight the active-set step brought this close to 0 is 0 (joins the bound taps).
_ZERO_WEIGHT = 1e-14


def _series_1d(name: str, values: ArrayLike) -> NDArray[np.float64]:
    arr = np.asarray(values, dtype=np.float64)
    if arr.ndim != 1:
        raise StreamconvError(f"invalid {name}: {arr.ndim}D array of shape {arr.shape}; expected 1D")
    if not np.all(np.isfinite(arr)):
        i = int(np.flatnonzero(~np.isfinite(arr))[0])
        raise StreamconvError(f"invalid {name}: sample {i} is {float(arr[i])}; expected only finite values")
    return arr


def _check_taps(taps: int) -> int:
    if isinstance(taps, bool) or not isinstance(taps, int | np.integer) or taps < 1:
        raise StreamconvError(f"invalid taps {taps!r}; expected an integer >= 1")
    return int(taps)


def _check_pair(raw: ArrayLike, truth: ArrayLike) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    x = _series_1d("raw", raw)
    y = _series_1d("truth", truth)
    if x.shape != y.shape:
        raise StreamconvError(f"raw has {x.size} samples and truth {y.size}; expected equal lengths")
    return x, y


def _check_enough(n: int, taps: int, what: str = "samples") -> None:
    need = MIN_SAMPLES_PER_TAP * taps
    if n < need:
        raise StreamconvError(
            f"{n} {what} are fewer than {MIN_SAMPLES_PER_TAP} x taps = {need}; log longer or fit fewer taps"
        )


# ----------------------------------------------------------------------------------------- fitting
def fit_fir(
    raw: ArrayLike, truth: ArrayLike, taps: int, *, sum_to_one: bool = False, nonneg: bool = False
) -> NDArray[np.float64]:
    """Return the causal weights (oldest to newest) that best map ``raw`` onto ``truth``.

    Parameters
    ----------
    raw, truth : (n,) array_like
        Finite samples on one grid; ``truth[t]`` is what the window ending at ``raw[t]`` should
        give.  Only windows inside the series are used (no warm-up rows).
    taps : int
        Window length ``m`` (``n >= 10 m``).
    sum_to_one : bool
        Constrain ``sum(w) = 1`` (DC gain 1: a constant passes unchanged).
    nonneg : bool
        Constrain ``w >= 0`` (a weighted average when combined with ``sum_to_one``).

    Returns
    -------
    (m,) ndarray of float64
        ``argmin_w sum_t (sum_a raw[t-a] w[m-1-a] - truth[t])^2`` under the constraints.

    Raises
    ------
    StreamconvError
        Non-finite or mismatched input, ``taps < 1``, or fewer than ``10 taps`` samples.

    Examples
    --------
    >>> x = np.array([0.0, 4.0, 0.0, 4.0] * 10)
    >>> np.round(fit_fir(x, np.full(40, 2.0), 2, sum_to_one=True, nonneg=True), 6).tolist()
    [0.5, 0.5]
    """
    x, y = _check_pair(raw, truth)
    m = _check_taps(taps)
    _check_enough(x.size, m)
    windows = sliding_window_view(x, m)  # row t: x[t .. t+m-1], oldest to newest
    target = y[m - 1 :]
    if nonneg:
        return _nnls(windows, target, sum_to_one=sum_to_one)
    if sum_to_one:
        return _lstsq_sum_to_one(windows, target)
    return np.linalg.lstsq(windows, target, rcond=None)[0]


def _lstsq_sum_to_one(a: NDArray[np.float64], y: NDArray[np.float64]) -> NDArray[np.float64]:
    """``argmin ||a w - y||`` subject to ``sum(w) = 1``, by eliminating the last weight."""
    last = a[:, -1]
    if a.shape[1] == 1:
        return np.ones(1)
    head = np.linalg.lstsq(a[:, :-1] - last[:, None], y - last, rcond=None)[0]
    return np.append(head, 1.0 - head.sum())


def _nnls(a: NDArray[np.float64], y: NDArray[np.float64], *, sum_to_one: bool) -> NDArray[np.float64]:
    """Lawson-Hanson active-set NNLS, optionally with ``sum(w) = 1``.

    With the equality, the start is the best single tap (``w = e_j``, feasible), and a bound is
    released when moving weight onto it from the free taps lowers the error: its gradient
    component is below the free taps' common one (their Lagrange multiplier).
    """
    n, m = a.shape
    tol = 10 * m * np.finfo(float).eps * float(np.abs(a).max(initial=1.0)) * max(1.0, float(np.abs(y).max()))
    tol *= math.sqrt(n)
    w = np.zeros(m)
    free = np.zeros(m, dtype=bool)
    if sum_to_one:
        j = int(np.argmin(((a - y[:, None]) ** 2).sum(axis=0)))
        w[j] = 1.0
        free[j] = True

    def solve(mask: NDArray[np.bool_]) -> NDArray[np.float64]:
        z = np.zeros(m)
        cols = a[:, mask]
        z[mask] = _lstsq_sum_to_one(cols, y) if sum_to_one else np.linalg.lstsq(cols, y, rcond=None)[0]
        return z

    for _ in range(3 * m + 10):
        g = a.T @ (y - a @ w)  # minus the gradient / 2: positive means increasing w_j helps
        if sum_to_one:
            g = g - (g[free].mean() if free.any() else 0.0)
        candidates = np.where(~free, g, -np.inf)
        j = int(np.argmax(candidates))
        if free.all() or candidates[j] <= tol:
            break
        free[j] = True
        for _ in range(3 * m + 10):  # inner loop: step towards the free solution, drop blocking taps
            z = solve(free)
            if np.all(z[free] > 0):
                w = z
                break
            blocking = free & (z <= 0)
            alpha = float(np.min(w[blocking] / (w[blocking] - z[blocking])))
            w = w + alpha * (z - w)
            free &= w > _ZERO_WEIGHT
            w[~free] = 0.0
            if not free.any():
                break
    return w


def apply_fir(raw: ArrayLike, weights: ArrayLike) -> NDArray[np.float64]:
    """Return :class:`~streamconv.ops.fir.CausalFIR` of ``raw`` (the daemon's op, warm-up included)."""
    return CausalFIR(weights).process(_series_1d("raw", raw))


def lag_samples(output: ArrayLike, truth: ArrayLike, *, max_lag: int = _LAG_MAX) -> float:
    """Return the delay of ``output`` behind ``truth`` in samples, as ``streamconv plot`` measures it.

    Examples
    --------
    >>> t = np.sin(np.arange(300) / 15.0)
    >>> round(lag_samples(np.r_[0.0, 0.0, 0.0, t[:-3]], t), 2)
    3.0
    """
    out = np.asarray(output, dtype=np.float64)
    ref = np.asarray(truth, dtype=np.float64)
    grid = np.arange(out.size, dtype=np.int64)
    seq = np.zeros(out.size, dtype=np.int64)
    return estimate_lag(Series("o", grid, seq, out), Series("t", grid, seq, ref), max_lag=max_lag)


# ------------------------------------------------------------------------------------------ Kalman
def cv_kalman(z: ArrayLike, dt: float, q: ArrayLike, r: float) -> NDArray[np.float64]:
    """Return the filtered range of a constant-velocity Kalman filter, for one or several ``q``.

    Parameters
    ----------
    z : (n,) array_like
        Finite measurements of the range, every ``dt`` seconds.
    dt : float
        Sample period in seconds (> 0).
    q : float or (k,) array_like
        Spectral density of the white-noise acceleration (> 0); several run side by side.
    r : float
        Measurement noise variance (> 0).

    Returns
    -------
    (n,) or (k, n) ndarray
        The posterior range after each measurement (causal: uses ``z[: t + 1]``).

    Notes
    -----
    ``F = [[1, dt], [0, 1]]``, ``H = [1, 0]``, ``Q = q [[dt^3/3, dt^2/2], [dt^2/2, dt]]``,
    ``R = r``; the state starts at ``[z_0, 0]`` with covariance ``diag(r, 1e6)``.

    Examples
    --------
    >>> est = cv_kalman(np.arange(200.0) * 0.5, 0.01, 1.0, 0.25)   # a ramp is tracked
    >>> round(float(est[-1]), 3)
    99.5
    """
    zz = _series_1d("measurements", z)
    qs = np.atleast_1d(np.asarray(q, dtype=np.float64))
    if not (dt > 0 and r > 0 and np.all(qs > 0)):
        raise StreamconvError(f"invalid Kalman parameters dt={dt!r}, q={q!r}, r={r!r}; expected > 0")
    k = qs.size
    out = np.empty((k, zz.size))
    pos = np.full(k, zz[0] if zz.size else 0.0)
    vel = np.zeros(k)
    p00 = np.full(k, float(r))
    p01 = np.zeros(k)
    p11 = np.full(k, 1e6)
    q00, q01, q11 = qs * dt**3 / 3.0, qs * dt**2 / 2.0, qs * dt
    for t in range(zz.size):
        if t:
            pos = pos + dt * vel
            p00 = p00 + 2.0 * dt * p01 + dt * dt * p11 + q00
            p01 = p01 + dt * p11 + q01
            p11 = p11 + q11
        s = p00 + r
        k0 = p00 / s
        k1 = p01 / s
        innov = zz[t] - pos
        pos = pos + k0 * innov
        vel = vel + k1 * innov
        p11 = p11 - k1 * p01
        p00 = (1.0 - k0) * p00
        p01 = (1.0 - k0) * p01
        out[:, t] = pos
    return out[0] if np.ndim(q) == 0 else out


@dataclass(frozen=True)
class KalmanFit:
    """A constant-velocity Kalman filter tuned on training data.

    Attributes
    ----------
    q : float
        The chosen white-noise acceleration density.
    r : float
        The measurement noise variance (measured: ``var(raw - truth)``).
    dt : float
        Sample period (s).
    grid : (k,) ndarray
        Every ``q`` tried (coarse grid, then the fine one).
    grid_rmse : (k,) ndarray
        The training RMSE of each.
    """

    q: float
    r: float
    dt: float
    grid: NDArray[np.float64] = field(repr=False)
    grid_rmse: NDArray[np.float64] = field(repr=False)

    def __call__(self, z: ArrayLike) -> NDArray[np.float64]:
        """Filter ``z`` with the tuned parameters."""
        return cv_kalman(z, self.dt, self.q, self.r)


def tune_kalman(raw: ArrayLike, truth: ArrayLike, dt: float) -> KalmanFit:
    """Return the constant-velocity Kalman filter of least RMSE on ``(raw, truth)`` (see the module).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> truth = np.cumsum(np.cumsum(rng.normal(0, 0.01, 500)))
    >>> fit = tune_kalman(truth + rng.normal(0, 0.5, 500), truth, 0.01)
    >>> bool(0.2 < fit.r < 0.3), bool(fit.grid_rmse.min() < 0.5)
    (True, True)
    """
    x, y = _check_pair(raw, truth)
    r = float(np.var(x - y))
    if not r > 0:
        r = 1e-12
    coarse = np.asarray(KALMAN_Q_GRID)
    coarse_rmse = np.sqrt(np.mean((cv_kalman(x, dt, coarse, r) - y) ** 2, axis=1))
    i = int(np.argmin(coarse_rmse))
    lo, hi = np.log10(coarse[max(i - 1, 0)]), np.log10(coarse[min(i + 1, coarse.size - 1)])
    fine = np.logspace(lo, hi, 17)
    fine_rmse = np.sqrt(np.mean((cv_kalman(x, dt, fine, r) - y) ** 2, axis=1))
    grid = np.concatenate((coarse, fine))
    grid_rmse = np.concatenate((coarse_rmse, fine_rmse))
    best = int(np.argmin(grid_rmse))
    return KalmanFit(float(grid[best]), r, float(dt), grid, grid_rmse)


# -------------------------------------------------------------------------------------- comparison
@dataclass(frozen=True)
class Score:
    """A filter's held-out RMSE against the truth and its lag (samples)."""

    rmse: float
    lag_samples: float


@dataclass(frozen=True)
class FIRComparison:
    """Raw, configured, fitted and Kalman filters scored on the held-out part of one series.

    Attributes
    ----------
    n_train, n_test : int
        Samples of the training part (first) and of the held-out part (last).
    taps : tuple of int
        The window lengths fitted; the last one is "the" fit (``weights``, ``scores['fitted']``).
    weights : dict of int to (m,) ndarray
        Fitted weights, oldest to newest, by taps.
    sweep : dict of int to Score
        Held-out score of each fit.
    scores : dict of str to Score
        ``raw``, ``configured`` (when given), ``fitted`` and ``kalman``.
    kalman : KalmanFit
        The tuned reference.
    """

    n_train: int
    n_test: int
    taps: tuple[int, ...]
    weights: dict[int, NDArray[np.float64]]
    sweep: dict[int, Score]
    scores: dict[str, Score]
    kalman: KalmanFit

    @property
    def fitted(self) -> NDArray[np.float64]:
        """The weights of the last taps count."""
        return self.weights[self.taps[-1]]


def compare_filters(
    raw: ArrayLike,
    truth: ArrayLike,
    taps: int | Sequence[int],
    *,
    dt: float,
    configured: ArrayLike | None = None,
    test_fraction: float = 0.3,
    sum_to_one: bool = False,
    nonneg: bool = False,
) -> FIRComparison:
    """Fit causal weights on the first part of a series; score every filter on the last part.

    Every filter runs causally over the whole series (the held-out part starts with the
    training part's history, as it would live) and is scored on the held-out samples only.

    Parameters
    ----------
    raw, truth : (n,) array_like
        Finite samples on one grid, ``dt`` seconds apart.
    taps : int or sequence of int
        Window length(s) to fit; the training part needs ``10 x max(taps)`` samples.
    dt : float
        Sample period in seconds (the Kalman model's).
    configured : (m,) array_like, optional
        The hand-set weights to score too (oldest to newest).
    test_fraction : float
        The held-out share at the end, in ``(0, 1)``.
    sum_to_one, nonneg : bool
        Constraints of the fits (see :func:`fit_fir`).

    Returns
    -------
    FIRComparison

    Raises
    ------
    StreamconvError
        Bad input (see :func:`fit_fir`), a ``test_fraction`` outside ``(0, 1)``, an empty taps list.
    """
    x, y = _check_pair(raw, truth)
    counts = (taps,) if isinstance(taps, int | np.integer) else tuple(taps)
    if not counts:
        raise StreamconvError("invalid taps []; expected at least one window length")
    counts = tuple(_check_taps(m) for m in counts)
    if not 0.0 < test_fraction < 1.0:
        raise StreamconvError(f"invalid test fraction {test_fraction!r}; expected a number in (0, 1)")
    n_test = max(1, round(x.size * test_fraction))
    n_train = x.size - n_test
    what = f"training samples (of {x.size}, test fraction {test_fraction:g})"
    _check_enough(n_train, max(counts), what=what)
    test = slice(n_train, None)
    xt, yt = x[:n_train], y[:n_train]

    def score(out: NDArray[np.float64]) -> Score:
        return Score(rmse(out[test], y[test]), lag_samples(out[test], y[test]))

    weights = {m: fit_fir(xt, yt, m, sum_to_one=sum_to_one, nonneg=nonneg) for m in counts}
    sweep = {m: score(apply_fir(x, w)) for m, w in weights.items()}
    kalman = tune_kalman(xt, yt, dt)
    scores = {"raw": score(x)}
    if configured is not None:
        scores["configured"] = score(apply_fir(x, configured))
    scores["fitted"] = sweep[counts[-1]]
    scores["kalman"] = score(kalman(x))
    return FIRComparison(n_train, n_test, counts, weights, sweep, scores, kalman)
