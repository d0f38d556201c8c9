"""The ``view`` window's state: what it shows of the messages received, kept apart from drawing.

:class:`ViewBoard` is fed every message (``add``) and keeps per topic what is on screen: the
frames of one stream paired by capture time, each sample topic's recent values and rates.  It
draws nothing itself: :meth:`ViewBoard.render` hands its panes and charts to
:mod:`streamconv.sinks.render`, where the one display mapping and every drawing function live.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from streamconv.errors import StreamconvError
from streamconv.ops._validate import check_int
from streamconv.sinks.render import (
    COLOURS,
    Chart,
    Image,
    Layout,
    Pane,
    Series,
    compose,
    fit,
    montage_fit,
    to_bgr8,
)

__all__ = ["ViewBoard"]

_STALE_S = 2.0  # a topic silent this long no longer holds back the pairing of its stream
_RATE_WINDOW_S = 1.0
_PALETTE = ((255, 190, 60), (200, 120, 255), (80, 200, 255), (120, 255, 200))


class _TopicState:
    __slots__ = (
        "epoch", "kind", "last_seen", "latency_ms", "rank", "rate", "ring", "samples", "seq", "window_seq",
    )

    def __init__(self, kind: str, rank: tuple[int, int]) -> None:
        self.kind = kind
        self.rank = rank
        self.ring: dict[int, object] = {}  # frames: t_capture_ns -> message, newest last
        self.samples = np.empty(0)
        self.epoch = ""
        self.seq = -1
        self.window_seq: int | None = None  # seq at the start of the rate window
        self.rate = 0.0
        self.last_seen = 0.0
        self.latency_ms = 0.0


class ViewBoard:
    """What the ``view`` window shows, fed with received messages; rendering only, no sockets or window.

    Frame and feature topics of one stream are shown **from the same capture**: each topic keeps
    its last ``history`` messages by ``t_capture_ns``, and the panes of a stream show the newest
    capture that every (recently active) frame topic of the stream has; until such a capture
    exists the previous set stays on screen.  Sample topics keep their last ``sample_window``
    values (duplicates by ``seq`` dropped) and are drawn as one strip chart per stream.

    Parameters
    ----------
    topics : sequence of str
        The subscribed prefixes: panes are ordered by the first prefix a topic matches, then by
        arrival.
    history : int
        Messages kept per frame topic for the pairing.
    sample_window : int
        Samples shown per sample topic.
    scale : float
        Panes are resized by this factor (1 keeps them pixel-exact).
    clock : callable
        Monotonic seconds.
    """

    def __init__(
        self,
        topics: Sequence[str] = (),
        *,
        history: int = 8,
        sample_window: int = 500,
        scale: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.prefixes = list(topics)
        self.history = check_int("history", history, minimum=1)
        self.sample_window = check_int("sample_window", sample_window, minimum=2)
        if not (math.isfinite(scale) and scale > 0):
            raise StreamconvError(f"invalid scale {scale!r}; expected a number > 0")
        self.scale = float(scale)
        self.clock = clock
        self.topics: dict[str, _TopicState] = {}
        self.shown: dict[str, dict[str, Any]] = {}  # stream -> {topic: message} on screen
        self.received = 0
        self._rate_t0 = clock()

    def add(self, msg: Any) -> None:
        """Take one received message (a :class:`streamconv.wire.Message`); ``_stats`` is ignored."""
        if msg.kind == "stats":
            return
        now = self.clock()
        st = self.topics.get(msg.topic)
        if st is None:
            match = [i for i, p in enumerate(self.prefixes) if msg.topic.startswith(p)]
            st = self.topics[msg.topic] = _TopicState(
                msg.kind, (match[0] if match else len(self.prefixes), len(self.topics))
            )
        st.kind = msg.kind
        if msg.kind == "samples":
            if msg.epoch == st.epoch and msg.seq <= st.seq:
                return  # already have it (a second subscriber's copy)
            values = np.asarray(msg.array, dtype=np.float64).ravel()
            st.samples = np.concatenate([st.samples, values])[-self.sample_window :]
        else:
            st.ring[msg.t_capture_ns] = msg
            while len(st.ring) > self.history:
                del st.ring[next(iter(st.ring))]
        if msg.epoch != st.epoch:
            st.window_seq = None  # a publisher restart: seq starts again
        st.epoch, st.seq = msg.epoch, msg.seq
        if st.window_seq is None:
            st.window_seq = msg.seq
        st.latency_ms = msg.latency_ns / 1e6
        st.last_seen = now
        self.received += 1

    def _update_rates(self, now: float) -> None:
        dt = now - self._rate_t0
        if dt >= _RATE_WINDOW_S:
            for st in self.topics.values():  # by seq: counts what the publisher sent, skipped or not
                st.rate = max(0, st.seq - st.window_seq) / dt if st.window_seq is not None else 0.0
                st.window_seq = st.seq
            self._rate_t0 = now

    def _ordered(self, kinds: tuple[str, ...]) -> list[str]:
        names = [t for t, st in self.topics.items() if st.kind in kinds]
        return sorted(names, key=lambda t: self.topics[t].rank)

    def frames(self) -> dict[str, Any]:
        """Return ``{topic: message}`` of the frames to show, each stream's panes from one capture."""
        now = self.clock()
        by_stream: dict[str, list[str]] = {}
        for topic in self._ordered(("frame", "features")):
            by_stream.setdefault(topic.split("/", 1)[0], []).append(topic)
        out: dict[str, Any] = {}
        for stream, topics in by_stream.items():
            active = [t for t in topics if now - self.topics[t].last_seen < _STALE_S] or topics
            common = set.intersection(*(set(self.topics[t].ring) for t in active))
            shown = self.shown.get(stream, {})
            if common:
                t_cap = max(common)
                shown = {t: self.topics[t].ring[t_cap] for t in active}
            else:  # keep the last pairing; topics never shown yet get their newest
                for t in active:
                    if t not in shown and self.topics[t].ring:
                        shown = {**shown, t: next(reversed(self.topics[t].ring.values()))}
            self.shown[stream] = shown
            out.update({t: shown[t] for t in topics if t in shown})
        return out

    def panes(self) -> list[Pane]:
        """Return one pane per frame or feature topic (see :meth:`frames`)."""
        panes = []
        for topic, msg in self.frames().items():
            arr = msg.array
            index = msg.meta.get("index", msg.seq) if isinstance(msg.meta, dict) else msg.seq
            if msg.kind == "features" or (arr.ndim == 3 and arr.shape[2] not in (1, 3)):
                img = montage_fit(arr)
                how = f"{arr.shape[-1] if arr.ndim == 3 else 1} maps, each min..max"
            else:
                img = to_bgr8(arr)
                how = "" if arr.dtype == np.uint8 else f"{arr.dtype.name}: |x| clipped to 0..255"
            if self.scale != 1.0:
                h, w = img.shape[:2]
                img = fit(img, max(1, round(w * self.scale)), max(1, round(h * self.scale)))
            panes.append(Pane(img, f"{topic}  #{index}  {how}".rstrip()))
        return panes

    def charts(self, height: int = 170) -> list[Chart]:
        """Return one strip chart per stream with sample topics, a line per topic."""
        by_stream: dict[str, list[str]] = {}
        for topic in self._ordered(("samples",)):
            by_stream.setdefault(topic.split("/", 1)[0], []).append(topic)
        charts = []
        for stream, topics in by_stream.items():
            series = []
            for i, t in enumerate(topics):
                role = t.split("/", 1)[1]
                colour = COLOURS.get(role, _PALETTE[i % len(_PALETTE)])
                series.append(Series(self.topics[t].samples, colour, t))
            charts.append(Chart(series, height=height, title=f"{stream}:", window=self.sample_window))
        return charts

    def header(self, endpoint: str, *, fps: float = 0.0, per_line: int = 3) -> list[str]:
        """Return the header: endpoint and display rate, then each topic's rate and latency."""
        now = self.clock()
        self._update_rates(now)
        first = f"streamconv view   {endpoint}   display {fps:5.1f} fps   q/Esc quit"
        if not self.topics:
            wanted = ", ".join(repr(p) for p in self.prefixes) or "all topics"
            return [first, f"waiting for messages on {wanted}"]
        items = [
            f"{t} {self.topics[t].rate:5.1f}/s {self.topics[t].latency_ms:6.1f} ms"
            for t in sorted(self.topics, key=lambda t: self.topics[t].rank)
        ]
        return [first] + ["   ".join(items[i : i + per_line]) for i in range(0, len(items), per_line)]

    def render(self, endpoint: str, *, fps: float = 0.0) -> tuple[Image, Layout]:
        """Return the window image and its layout."""
        panes = self.panes()
        if not panes and not any(st.kind == "samples" for st in self.topics.values()):
            blank = np.zeros((240, 320, 3), np.uint8)
            panes = [Pane(blank, "no frames yet")]
        return compose(panes, self.header(endpoint, fps=fps), chart=self.charts() or None, min_width=640)
