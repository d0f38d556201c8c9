"""LaserSimulator: a seeded laser range sensor tracking a simulated spaceship, with ground truth."""

from __future__ import annotations

import logging
import math
from collections import OrderedDict
from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from streamconv.errors import StreamconvError
from streamconv.ops._validate import check_int
from streamconv.sources.base import SampleChunk, _check_real

__all__ = ["PHASE_KINDS", "LaserSimulator", "Phase"]

logger = logging.getLogger(__name__)

PhaseKind = Literal["cruise", "accelerate", "decelerate", "turn"]
#: The phases of the trajectory; ``phase_at`` returns these labels.
PHASE_KINDS: tuple[PhaseKind, ...] = ("cruise", "accelerate", "decelerate", "turn")

# Samples are generated (truth and measurement noise alike) in fixed blocks aligned on multiples
# of _BLOCK, each from its own RNG stream: that is what makes any chunking bit-identical.
_BLOCK = 4096
_CACHE_BLOCKS = 8
# Kinematic limits at start_range = 1000 m; they scale with start_range / 1000.
_V_MAX = 50.0  # m/s, max radial speed
_A_MAX = 20.0  # m/s^2, max |acceleration| (about 2 g)
# Range band the planner keeps to, as fractions of start_range.
_BAND = (0.4, 2.5)
# Shortest jerk ramp (s); the recovery manoeuvre uses _TAU_REC.
_TAU_MIN = 0.3
_TAU_REC = 0.5
_ATTEMPTS = 24  # random phase candidates tried before the safe fallback


@dataclass(frozen=True, slots=True)
class Phase:
    """One phase of the simulated trajectory, as logged in :attr:`LaserSimulator.phases`.

    Attributes
    ----------
    kind : {'cruise', 'accelerate', 'decelerate', 'turn'}
        What the ship does.
    start_s, duration_s : float
        Start time (s from sample 0) and length.
    range_start, range_end : float
        Range (m) at the start and the end of the phase.
    velocity_start, velocity_end : float
        Radial velocity (m/s, positive = receding) at the start and the end.
    """

    kind: PhaseKind
    start_s: float
    duration_s: float
    range_start: float
    range_end: float
    velocity_start: float
    velocity_end: float


@dataclass(frozen=True, slots=True)
class _Segment:
    """A closed-form piece of trajectory starting at ``t0`` with range ``p0`` and velocity ``v0``.

    ``turn`` segments have ``v(t) = v0 cos(w t)``; the others have acceleration
    ``a(t) = acc * (c0 + c1 cos(pi t / tau))`` (a cruise, a constant acceleration, or a raised
    cosine jerk ramp up or down).
    """

    t0: float
    duration: float
    p0: float
    v0: float
    phase: int  # index into the phase log
    turn: bool = False
    omega: float = 0.0
    acc: float = 0.0
    c0: float = 0.0
    c1: float = 0.0
    tau: float = 1.0

    def position(self, t: NDArray[np.float64]) -> NDArray[np.float64]:
        """Range at local times ``t`` (s since the segment start)."""
        if self.turn:
            return self.p0 + (self.v0 / self.omega) * np.sin(self.omega * t)
        out = self.p0 + self.v0 * t + self.acc * self.c0 * 0.5 * t * t
        if self.c1 != 0.0:
            k = self.tau / math.pi
            out = out + self.acc * self.c1 * k * k * (1.0 - np.cos(t / k))
        return out

    def velocity(self, t: NDArray[np.float64]) -> NDArray[np.float64]:
        """Radial velocity at local times ``t``."""
        if self.turn:
            return self.v0 * np.cos(self.omega * t)
        out = self.v0 + self.acc * self.c0 * t
        if self.c1 != 0.0:
            k = self.tau / math.pi
            out = out + self.acc * self.c1 * k * np.sin(t / k)
        return out

    def end(self) -> tuple[float, float]:
        """Range and velocity at the end of the segment."""
        t = np.array([self.duration])
        return float(self.position(t)[0]), float(self.velocity(t)[0])


@dataclass(frozen=True, slots=True)
class _Block:
    truth: NDArray[np.float64]
    velocity: NDArray[np.float64]
    values: NDArray[np.float64]
    outlier: NDArray[np.bool_]
    dropout: NDArray[np.bool_]
    phase: NDArray[np.int8]


class LaserSimulator:
    """A laser range sensor tracking a simulated spaceship: seeded, with ground truth.

    The ship's range (m) follows a smooth trajectory made of phases of seeded random length:
    ``cruise`` (constant radial velocity), ``accelerate`` / ``decelerate`` (a jerk-limited
    change of radial velocity: raised-cosine ramp, constant acceleration, ramp down) and
    ``turn`` (the ship turns in a plane through the line of sight, so the radial velocity
    follows ``v0 cos(w t)``: a U-turn or a full loop).  Range and velocity are continuous, and
    so is the acceleration.  A planner keeps the range within ``[0.4, 2.5] * start_range``.

    Each measurement is ``truth + N(0, noise_std)``; with probability ``outlier_prob`` a spike
    ``N(0, outlier_scale)`` is added, and with probability ``dropout_prob`` the measurement is
    NaN.  Sample ``i`` is captured at ``i / rate_hz`` s of the trajectory, and everything about
    it is a pure function of ``(seed, i, parameters)``: reading 10 chunks of 10 gives bit for bit
    the same arrays as one read of 100.

    Parameters
    ----------
    rate_hz : float
        Sample rate (> 0).
    noise_std : float
        Standard deviation of the measurement noise in m (>= 0).
    outlier_prob : float
        Probability that a sample is an outlier, in [0, 1].
    outlier_scale : float
        Standard deviation of an outlier's spike in m (>= 0).
    dropout_prob : float
        Probability that a measurement is lost (NaN), in [0, 1].
    seed : int
        Seed (>= 0) of the trajectory and of the noise.
    start_range : float
        Range at sample 0 in m (> 0).  The kinematic limits scale with ``start_range / 1000``
        (at 1000 m: ``max_speed`` 50 m/s, ``max_accel`` 20 m/s^2).

    Notes
    -----
    Bounds that hold for every sample of the truth (``dt = 1 / rate_hz``)::

        |truth[i+1] - truth[i]|                         <= max_speed * dt
        |truth[i+1] - 2 truth[i] + truth[i-1]|          <= max_accel * dt**2
        |third difference|                              <= max_jerk * dt**3

    Examples
    --------
    >>> sim = LaserSimulator(noise_std=0.0, seed=1)
    >>> chunk = sim.read(5, t_capture_ns=0)
    >>> bool(np.array_equal(chunk.values, chunk.truth)), chunk.period_ns
    (True, 10000000)
    """

    def __init__(
        self,
        rate_hz: float = 100.0,
        noise_std: float = 0.5,
        outlier_prob: float = 0.0,
        outlier_scale: float = 20.0,
        dropout_prob: float = 0.0,
        seed: int = 0,
        start_range: float = 1000.0,
    ) -> None:
        self._rate_hz = _check_real("rate_hz", rate_hz, low=0.0, low_open=True)
        self._noise_std = _check_real("noise_std", noise_std, low=0.0)
        self._outlier_prob = _check_real("outlier_prob", outlier_prob, low=0.0, high=1.0)
        self._outlier_scale = _check_real("outlier_scale", outlier_scale, low=0.0)
        self._dropout_prob = _check_real("dropout_prob", dropout_prob, low=0.0, high=1.0)
        self._seed = check_int("seed", seed, minimum=0)
        self._start_range = _check_real("start_range", start_range, low=0.0, low_open=True)
        scale = self._start_range / 1000.0
        self._v_max = _V_MAX * scale
        self._a_max = _A_MAX * scale
        self._band = (_BAND[0] * self._start_range, _BAND[1] * self._start_range)
        self._period_ns = round(1e9 / self._rate_hz)
        self._blocks: OrderedDict[int, _Block] = OrderedDict()
        self.samples_read = 0
        # The schedule: a deterministic sequence drawn from its own RNG stream, extended lazily.
        self._plan_rng = np.random.default_rng(np.random.SeedSequence(self._seed, spawn_key=(0,)))
        self._segments: list[_Segment] = []
        self._starts = np.empty(0)
        self._phases: list[Phase] = []
        self._t_end = 0.0
        self._p_end = self._start_range
        self._v_end = float(self._plan_rng.uniform(-0.5, 0.5)) * self._v_max

    def __repr__(self) -> str:
        return (
            f"LaserSimulator(rate_hz={self._rate_hz!r}, noise_std={self._noise_std!r}, "
            f"outlier_prob={self._outlier_prob!r}, outlier_scale={self._outlier_scale!r}, "
            f"dropout_prob={self._dropout_prob!r}, seed={self._seed!r}, start_range={self._start_range!r})"
        )

    # -- the SampleSource protocol ---------------------------------------------------------------

    @property
    def rate_hz(self) -> float:
        """The sample rate in Hz."""
        return self._rate_hz

    @property
    def period_ns(self) -> int:
        """The sample period in ns, ``round(1e9 / rate_hz)``."""
        return self._period_ns

    def read(self, n: int, t_capture_ns: int) -> SampleChunk:
        """Return the next ``n`` samples; the first one is stamped ``t_capture_ns``.

        Parameters
        ----------
        n : int
            Number of samples (>= 0).
        t_capture_ns : int
            Unix time in ns of the capture of the first sample (only used as the timestamp).

        Returns
        -------
        SampleChunk
            ``values`` and ``truth`` of samples ``samples_read .. samples_read + n - 1``.
        """
        n = check_int("n", n, minimum=0)
        start = self.samples_read
        values, truth = self._gather(start, n)
        self.samples_read = start + n
        return SampleChunk(int(t_capture_ns), self._period_ns, values, truth)

    def close(self) -> None:
        """Drop the cached blocks (the simulator holds no other resources)."""
        self._blocks.clear()

    def reset(self) -> None:
        """Start again from sample 0 (the trajectory and noise are the same: they depend on the seed)."""
        self.samples_read = 0

    # -- inspection, for tests and plots ---------------------------------------------------------

    @property
    def max_speed(self) -> float:
        """Bound on ``|radial velocity|`` in m/s."""
        return self._v_max

    @property
    def max_accel(self) -> float:
        """Bound on ``|acceleration|`` in m/s^2."""
        return self._a_max

    @property
    def max_jerk(self) -> float:
        """Bound on ``|jerk|`` in m/s^3 (the steepest raised-cosine ramp)."""
        return self._a_max * math.pi / (2.0 * _TAU_MIN)

    @property
    def range_band(self) -> tuple[float, float]:
        """The ``(low, high)`` range in m that the truth never leaves."""
        return self._band

    @property
    def phases(self) -> list[Phase]:
        """The log of the phases planned so far (it grows as samples are generated)."""
        return list(self._phases)

    def truth_at(self, index: ArrayLike) -> NDArray[np.float64]:
        """Return the true range (m) of the samples with the given indices (>= 0)."""
        return self._lookup(index, "truth")

    def velocity_at(self, index: ArrayLike) -> NDArray[np.float64]:
        """Return the true radial velocity (m/s) of the samples with the given indices."""
        return self._lookup(index, "velocity")

    def phase_at(self, index: ArrayLike) -> NDArray[np.str_]:
        """Return the phase label (one of :data:`PHASE_KINDS`) of the samples with the given indices."""
        return np.asarray(PHASE_KINDS)[self._lookup(index, "phase")]

    def outlier_at(self, index: ArrayLike) -> NDArray[np.bool_]:
        """Return True where a sample received an outlier spike (a dropout may hide it)."""
        return self._lookup(index, "outlier")

    def dropout_at(self, index: ArrayLike) -> NDArray[np.bool_]:
        """Return True where a measurement is a dropout (its value is NaN)."""
        return self._lookup(index, "dropout")

    # -- sample generation -----------------------------------------------------------------------

    def _gather(self, start: int, n: int) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        values = np.empty(n)
        truth = np.empty(n)
        pos = 0
        while pos < n:
            b, off = divmod(start + pos, _BLOCK)
            take = min(_BLOCK - off, n - pos)
            block = self._block(b)
            values[pos : pos + take] = block.values[off : off + take]
            truth[pos : pos + take] = block.truth[off : off + take]
            pos += take
        return values, truth

    def _lookup(self, index: ArrayLike, field: str) -> np.ndarray:
        idx = np.asarray(index)
        if idx.size and (not np.issubdtype(idx.dtype, np.integer) or idx.min() < 0):
            raise StreamconvError(f"invalid index {idx!r}; expected integers >= 0")
        flat = idx.astype(np.int64).ravel()
        blocks = flat // _BLOCK
        out: np.ndarray | None = None
        for b in np.unique(blocks):
            sel = blocks == b
            data = getattr(self._block(int(b)), field)
            if out is None:
                out = np.empty(flat.shape, dtype=data.dtype)
            out[sel] = data[flat[sel] - b * _BLOCK]
        if out is None:
            out = np.empty(0, dtype=getattr(self._block(0), field).dtype)
        return out.reshape(idx.shape)

    def _block(self, b: int) -> _Block:
        block = self._blocks.get(b)
        if block is not None:
            self._blocks.move_to_end(b)
            return block
        t = np.arange(b * _BLOCK, (b + 1) * _BLOCK, dtype=np.int64) / self._rate_hz
        self._extend_schedule(float(t[-1]))
        seg_ids = np.searchsorted(self._starts, t, side="right") - 1
        truth = np.empty(_BLOCK)
        velocity = np.empty(_BLOCK)
        phase = np.empty(_BLOCK, dtype=np.int8)
        lo = 0
        while lo < _BLOCK:  # segments cover contiguous runs of the (sorted) times
            sid = int(seg_ids[lo])
            hi = int(np.searchsorted(seg_ids, sid, side="right"))
            seg = self._segments[sid]
            local = t[lo:hi] - seg.t0
            truth[lo:hi] = seg.position(local)
            velocity[lo:hi] = seg.velocity(local)
            phase[lo:hi] = PHASE_KINDS.index(self._phases[seg.phase].kind)
            lo = hi
        rng = np.random.default_rng(np.random.SeedSequence(self._seed, spawn_key=(1, b)))
        noise = rng.standard_normal(_BLOCK)
        outlier = rng.random(_BLOCK) < self._outlier_prob
        spike = rng.standard_normal(_BLOCK)
        dropout = rng.random(_BLOCK) < self._dropout_prob
        values = truth + self._noise_std * noise
        values = np.where(outlier, values + self._outlier_scale * spike, values)
        values[dropout] = np.nan
        block = _Block(truth, velocity, values, outlier, dropout, phase)
        self._blocks[b] = block
        if len(self._blocks) > _CACHE_BLOCKS:
            self._blocks.popitem(last=False)
        return block

    # -- trajectory planning ---------------------------------------------------------------------

    def _extend_schedule(self, until_s: float) -> None:
        grew = False
        while self._t_end <= until_s:
            kind, segments = self._plan_phase(self._t_end, self._p_end, self._v_end)
            p_end, v_end = segments[-1].end()
            duration = sum(s.duration for s in segments)
            self._phases.append(Phase(kind, self._t_end, duration, self._p_end, p_end, self._v_end, v_end))
            self._segments.extend(segments)
            self._t_end = segments[-1].t0 + segments[-1].duration
            self._p_end, self._v_end = p_end, v_end
            grew = True
        if grew:
            self._starts = np.array([s.t0 for s in self._segments])
            logger.debug("%r planned %d phases up to t=%.1f s", self, len(self._phases), self._t_end)

    def _plan_phase(self, t0: float, p: float, v: float) -> tuple[PhaseKind, list[_Segment]]:
        """Draw random phases until one keeps to the band and ends in a recoverable state."""
        rng = self._plan_rng
        phase = len(self._phases)
        for _ in range(_ATTEMPTS):
            u = rng.random()
            if u < 0.35:
                kind: PhaseKind = "cruise"
                segs = [_Segment(t0, float(rng.uniform(2.0, 8.0)), p, v, phase)]
            elif u < 0.75 or abs(v) < 0.25 * self._v_max:
                v1 = float(rng.uniform(-1.0, 1.0)) * self._v_max
                acc = float(rng.uniform(0.3, 1.0)) * self._a_max
                tau = float(rng.uniform(_TAU_MIN, 1.5))
                if abs(v1 - v) < 0.15 * self._v_max:
                    continue
                kind = "accelerate" if abs(v1) >= abs(v) else "decelerate"
                segs = self._speed_change(t0, p, v, v1, acc, tau, phase)
            else:
                kind = "turn"
                k = 1 if rng.random() < 0.6 else 2  # a U-turn or a full loop
                duration = max(float(rng.uniform(3.0, 8.0)), k * math.pi * abs(v) / self._a_max)
                segs = [_Segment(t0, duration, p, v, phase, turn=True, omega=k * math.pi / duration)]
            if self._safe(segs):
                return kind, segs
        # Fallback: brake to rest, which the previous phase's acceptance proved stays in the band.
        if v == 0.0:
            return "cruise", [_Segment(t0, 1.0, p, v, phase)]
        return "decelerate", self._recovery(t0, p, v, phase)

    def _speed_change(
        self, t0: float, p: float, v: float, v1: float, acc: float, tau: float, phase: int
    ) -> list[_Segment]:
        """Jerk-limited change of velocity from ``v`` to ``v1``: ramp up, hold, ramp down."""
        dv = v1 - v
        if abs(dv) <= acc * tau:  # too small a change for a hold: lower the peak acceleration
            acc = abs(dv) / tau
            hold = 0.0
        else:
            hold = abs(dv) / acc - tau
        acc = math.copysign(acc, dv)
        segs = [_Segment(t0, tau, p, v, phase, acc=acc, c0=0.5, c1=-0.5, tau=tau)]
        if hold > 0.0:
            pe, ve = segs[-1].end()
            segs.append(_Segment(t0 + tau, hold, pe, ve, phase, acc=acc, c0=1.0))
        pe, ve = segs[-1].end()
        segs.append(_Segment(t0 + tau + hold, tau, pe, ve, phase, acc=acc, c0=0.5, c1=0.5, tau=tau))
        return segs

    def _recovery(self, t0: float, p: float, v: float, phase: int) -> list[_Segment]:
        return self._speed_change(t0, p, v, 0.0, self._a_max, _TAU_REC, phase)

    def _within_band(self, segs: list[_Segment]) -> bool:
        lo, hi = self._band
        for seg in segs:
            r = seg.position(np.linspace(0.0, seg.duration, 65))
            if r.min() < lo or r.max() > hi:
                return False
        return True

    def _safe(self, segs: list[_Segment]) -> bool:
        if not self._within_band(segs):
            return False
        last = segs[-1]
        p, v = last.end()
        if v == 0.0:
            return True
        return self._within_band(self._recovery(last.t0 + last.duration, p, v, last.phase))
