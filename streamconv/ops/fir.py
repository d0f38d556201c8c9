"""CausalFIR: the streaming causal weighted window, with its state carried across calls."""

from __future__ import annotations

import math
import operator
from collections import deque
from typing import Literal, TypeVar

import numpy as np
from numpy.typing import ArrayLike, NDArray

from streamconv.errors import StreamconvError
from streamconv.ops._validate import check_choice, check_finite_array

__all__ = ["NONFINITE_POLICIES", "WARMUPS", "CausalFIR", "CausalWeights"]

Warmup = Literal["renormalize", "zeros", "first"]
Nonfinite = Literal["hold", "zero", "propagate"]
#: Warm-up policies for the first ``m - 1`` samples, before the window is full.
WARMUPS = ("renormalize", "zeros", "first")
#: What a NaN or infinite input sample becomes.
NONFINITE_POLICIES = ("hold", "zero", "propagate")

_mul = operator.mul
_T = TypeVar("_T")


class CausalWeights:
    r"""The weights of a causal window and their warm-up arithmetic, shared by every causal op.

    :class:`CausalFIR` (a window over samples) and
    :class:`streamconv.ops.temporal.TemporalFIR` (a window over frames, per pixel) both hold
    one, so the weights are validated, normalized and warmed up by one implementation.

    Parameters
    ----------
    weights : (m,) array_like
        Finite weights oldest to newest.
    normalize : bool
        Divide the weights by their sum (which must not be 0).
    warmup : {'renormalize', 'zeros', 'first'}
        The policy while fewer than ``m`` items have been seen (see :class:`CausalFIR`).

    Notes
    -----
    With ``n < m - 1`` past items the window meets only the newest ``n + 1`` weights, whose sum
    (the partial gain) is ``g_n = sum_{a=0}^{n} w_{-a}``.  ``'renormalize'`` scales such a partial
    window by ``sum(w) / g_n`` (by 1 where ``g_n = 0``); ``'zeros'`` and ``'first'`` instead fill
    the ``m - 1`` missing past items with zeros or with the first item (:meth:`assumed`).

    Examples
    --------
    >>> cw = CausalWeights([1.0, 1.0, 2.0], normalize=True)
    >>> cw.weights.tolist(), cw.scale(0), cw.scale(1)
    ([0.25, 0.25, 0.5], 2.0, 1.3333333333333333)
    """

    def __init__(
        self, weights: ArrayLike, *, normalize: bool = False, warmup: Warmup = "renormalize"
    ) -> None:
        w = check_finite_array("weights", weights, ndim=1)
        if normalize:
            total = float(w.sum())
            if total == 0.0:
                raise StreamconvError(
                    f"invalid weights {w.tolist()}: they sum to 0, so normalize=True cannot "
                    "divide by the sum"
                )
            w = w / total
        self.warmup: Warmup = check_choice("warmup", warmup, WARMUPS)
        self.normalize = bool(normalize)
        self.weights: NDArray[np.float64] = w.copy()  # never freeze (or share) the caller's array
        self.weights.setflags(write=False)
        self.m = len(w)
        self.total = float(w.sum())
        # Sum of the newest j+1 weights, j = 0..m-1: the gain of a partly filled window.
        self._seen_gain = np.cumsum(w[::-1])

    def assumed(self, first: _T, zero: _T) -> _T | None:
        """Return the item the policy assumes before the stream (``None`` for ``'renormalize'``)."""
        if self.warmup == "zeros":
            return zero
        if self.warmup == "first":
            return first
        return None

    def scale(self, n: int) -> float:
        """Return the factor of a renormalized window that has seen ``n < m - 1`` past items."""
        gain = self._seen_gain[n]
        return float(self.total / gain) if gain != 0.0 else 1.0

    def scales(self, n: int, k: int) -> NDArray[np.float64]:
        """Return :meth:`scale` of ``k`` successive partial windows, the first with ``n`` past items."""
        gain = self._seen_gain[n : n + k]
        return np.divide(self.total, gain, out=np.ones_like(gain), where=gain != 0.0)

    @property
    def lag(self) -> float:
        """Group delay in items, ``sum_a a w_{-a} / sum_a w_{-a}`` (0 for a zero-sum window)."""
        if self.total == 0.0:
            return 0.0
        ages = np.arange(self.m)[::-1]
        return float((ages * self.weights).sum() / self.total)


class CausalFIR:
    r"""Causal weighted window ``s_t = sum_{a=0}^{m-1} x_{t-a} w_{-a}`` over a stream.

    Parameters
    ----------
    weights : (m,) array_like
        Finite weights **oldest to newest**, ``w_{-(m-1)} ... w_{-1} w_0``: the newest sample
        meets the last weight.
    normalize : bool
        Divide the weights by their sum (which must not be 0).
    warmup : {'renormalize', 'zeros', 'first'}
        Output while fewer than ``m`` samples have been seen.  ``'renormalize'`` (default) uses
        only the samples seen, scaled by ``sum(w) / sum(w seen)`` so a constant input gives the
        same level from the first sample; ``'zeros'`` assumes zeros before the stream (what
        ``scipy.signal.lfilter`` does from rest); ``'first'`` assumes the first sample repeated.
    nonfinite : {'hold', 'zero', 'propagate'}
        A NaN or infinite sample is replaced by the last finite one (``'hold'``, 0.0 before any
        finite sample), by 0.0 (``'zero'``), or passed through (``'propagate'``: it then spoils
        the next ``m`` outputs).  ``nonfinite_count`` counts the replaced samples.
    initial : (n,) array_like, optional
        Past samples, oldest to newest, to start from (``n <= m - 1``; the newest ``m - 1`` are
        kept).  A full history makes the output exact from the first call, e.g. when a new
        worker rebuilds the state from replayed raw samples.

    Notes
    -----
    The whole state is the last ``m - 1`` inputs, so :meth:`process` on any chunking of a
    series (and :meth:`step` sample by sample) gives the same output as on the whole series.

    Examples
    --------
    >>> fir = CausalFIR([0.25, 0.75], warmup="zeros")
    >>> fir.process([1.0, 2.0, 3.0, 4.0, 5.0])
    array([0.75, 1.75, 2.75, 3.75, 4.75])
    >>> fir.step(6.0)
    5.75
    """

    def __init__(
        self,
        weights: ArrayLike,
        *,
        normalize: bool = False,
        warmup: Warmup = "renormalize",
        nonfinite: Nonfinite = "hold",
        initial: ArrayLike | None = None,
    ) -> None:
        self._cw = cw = CausalWeights(weights, normalize=normalize, warmup=warmup)
        self.warmup: Warmup = cw.warmup
        self.nonfinite: Nonfinite = check_choice("nonfinite", nonfinite, NONFINITE_POLICIES)
        self.normalize = cw.normalize
        self._w = cw.weights
        self._wlist = cw.weights.tolist()
        self._whist = self._wlist[:-1]
        self._w0 = self._wlist[-1]
        self._m = cw.m
        self._total = cw.total
        self._initial = (
            None if initial is None else check_finite_array("initial", initial, ndim=1).tolist()
        )
        # The newest past sample also seeds nonfinite='hold', even when m == 1 keeps no history.
        self._initial_last = self._initial[-1] if self._initial else None
        if self._initial is not None and len(self._initial) > self._m - 1:
            self._initial = self._initial[len(self._initial) - (self._m - 1) :]
        self.reset()

    # -- state -----------------------------------------------------------------------------
    def reset(self) -> None:
        """Forget every sample seen: back to the state right after construction."""
        self._hist: deque[float] = deque(maxlen=self._m - 1)
        self._last_good = 0.0
        self.nonfinite_count = 0
        self.samples_seen = 0
        if self._initial is not None:
            fill = self._cw.assumed(self._initial[0], 0.0) if self._initial else None
            if fill is not None:
                # A short history is preceded by what the warm-up policy assumes before the stream.
                self._hist.extend([fill] * (self._m - 1 - len(self._initial)))
            self._hist.extend(self._initial)
            self.samples_seen = len(self._initial)
            if self._initial_last is not None:
                self._last_good = self._initial_last
        elif self.warmup == "zeros":
            self._hist.extend([0.0] * (self._m - 1))

    @property
    def weights(self) -> NDArray[np.float64]:
        """The weights, oldest to newest (read-only)."""
        return self._w

    @property
    def history(self) -> tuple[float, ...]:
        """The state: up to ``m - 1`` most recent inputs, oldest to newest."""
        return tuple(self._hist)

    @property
    def lag(self) -> float:
        """Group delay in samples, ``sum_a a w_{-a} / sum_a w_{-a}`` (0 for a zero-sum window)."""
        return self._cw.lag

    def __len__(self) -> int:
        return self._m

    def __repr__(self) -> str:
        return (
            f"CausalFIR(weights={self._wlist}, normalize={self.normalize}, "
            f"warmup={self.warmup!r}, nonfinite={self.nonfinite!r})"
        )

    # -- one sample --------------------------------------------------------------------------
    def step(self, x: float) -> float:
        """Filter one sample and return the smoothed value."""
        x = float(x)
        if not math.isfinite(x):
            x = self._replace_nonfinite_scalar(x)
        else:
            self._last_good = x
        hist = self._hist
        n = len(hist)
        if n == self._m - 1:
            acc = x * self._w0 + sum(map(_mul, hist, self._whist))
        elif self.warmup == "first" and n == 0:
            acc = x * self._total
            hist.extend([x] * (self._m - 1))
            n = self._m - 1
        else:  # renormalize, window not full yet
            acc = x * self._w0 + sum(map(_mul, hist, self._whist[self._m - 1 - n :]))
            acc = acc * self._cw.scale(n)
        self.samples_seen += 1
        if self._m > 1:
            hist.append(x)
        return acc

    def _replace_nonfinite_scalar(self, x: float) -> float:
        if self.nonfinite == "propagate":
            return x
        self.nonfinite_count += 1
        return self._last_good if self.nonfinite == "hold" else 0.0

    # -- a chunk -----------------------------------------------------------------------------
    def process(self, x: ArrayLike) -> NDArray[np.float64]:
        """Filter a chunk of samples (1D) and return the smoothed chunk of the same length."""
        arr = np.asarray(x, dtype=np.float64)
        if arr.ndim != 1:
            raise StreamconvError(
                f"invalid samples: {arr.ndim}D array of shape {arr.shape}; expected 1D"
            )
        if arr.size == 0:
            return np.empty(0)
        arr = self._replace_nonfinite(arr)
        m = self._m
        if self.warmup == "first" and not self._hist and m > 1:
            self._hist.extend([float(arr[0])] * (m - 1))
        n_hist = len(self._hist)
        ext = np.concatenate((np.fromiter(self._hist, float, n_hist), arr)) if n_hist else arr
        if n_hist == m - 1:
            out = np.correlate(ext, self._w, "valid")
        else:  # renormalize warm-up: zero history, then rescale the partial windows
            padded = np.concatenate((np.zeros(m - 1 - n_hist), ext))
            out = np.correlate(padded, self._w, "valid")
            k = min(m - 1 - n_hist, out.size)
            out[:k] *= self._cw.scales(n_hist, k)
        if m > 1:
            self._hist.extend(arr[-(m - 1) :].tolist())
        self.samples_seen += arr.size
        return out

    def _replace_nonfinite(self, arr: np.ndarray) -> np.ndarray:
        bad = ~np.isfinite(arr)
        if not bad.any():
            self._last_good = float(arr[-1])
            return arr
        if self.nonfinite == "propagate":
            good = np.flatnonzero(~bad)
            if good.size:
                self._last_good = float(arr[good[-1]])
            return arr
        self.nonfinite_count += int(bad.sum())
        arr = arr.copy()
        if self.nonfinite == "zero":
            arr[bad] = 0.0
            good = np.flatnonzero(~bad)
            if good.size:
                self._last_good = float(arr[good[-1]])
            return arr
        # hold: forward-fill from the last finite sample (the previous chunk's, to start with)
        idx = np.where(bad, -1, np.arange(arr.size))
        np.maximum.accumulate(idx, out=idx)
        filled = np.where(idx >= 0, arr[np.maximum(idx, 0)], self._last_good)
        if idx[-1] >= 0:
            self._last_good = float(arr[idx[-1]])
        return filled

    def __call__(self, x: ArrayLike) -> NDArray[np.float64]:
        """Alias of :meth:`process`."""
        return self.process(x)
