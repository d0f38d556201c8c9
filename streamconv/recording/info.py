"""What a recording holds, per topic (``streamconv info``, like ``ros2 bag info``).

:func:`summarize` reads every native message once (the file need not be finished or indexed) and
counts, per topic: messages, time span and rate (from the capture times), dtype and shapes, the
epochs in the order they appeared, and the ``seq`` gaps inside each epoch (messages missing
between two that were recorded).  :func:`format_info` prints it as a table.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from streamconv.recording import native
from streamconv.recording.reader import RecordingReader
from streamconv.recording.writer import GAPS_TOPIC

__all__ = ["TopicInfo", "format_info", "summarize"]


@dataclass
class TopicInfo:
    """One topic of a recording."""

    topic: str
    kind: str
    messages: int = 0
    first_ns: int = 0
    last_ns: int = 0
    dtype: str = ""
    shapes: list[list[int]] = field(default_factory=list)
    epochs: list[str] = field(default_factory=list)
    #: Messages missing between recorded ones, summed over the epochs.
    missing: int = 0
    #: ``[epoch, expected, got]`` of each gap.
    gaps: list[list[Any]] = field(default_factory=list)
    samples: int = 0

    @property
    def span_s(self) -> float:
        """Seconds from the first to the last capture time."""
        return (self.last_ns - self.first_ns) / 1e9

    @property
    def rate_hz(self) -> float:
        """Messages per second over the span (0 for fewer than two)."""
        return (self.messages - 1) / self.span_s if self.messages > 1 and self.span_s > 0 else 0.0


def summarize(paths: Iterable[str | Path]) -> dict[str, Any]:
    """Return the summary of one recording (its files in order) as a JSON-able dict."""
    topics: dict[str, TopicInfo] = {}
    last_seq: dict[tuple[str, str], int] = {}
    files = []
    recorded_gaps = 0
    for path in paths:
        reader = RecordingReader(path)
        for topic, msg, _log_time in reader.native():
            t = topics.get(topic)
            if t is None:
                t = topics[topic] = TopicInfo(topic, msg.kind, first_ns=msg.t_capture_ns,
                                              dtype=msg.header.dtype)
            t.messages += 1
            t.first_ns = min(t.first_ns, msg.t_capture_ns)
            t.last_ns = max(t.last_ns, msg.t_capture_ns)
            shape = list(msg.header.shape)
            if shape not in t.shapes and len(t.shapes) < 8:
                t.shapes.append(shape)
            if msg.kind == "samples":
                t.samples += int(msg.array.size)
            if msg.epoch not in t.epochs:
                t.epochs.append(msg.epoch)
            key = (topic, msg.epoch)
            prev = last_seq.get(key)
            if prev is not None and msg.seq > prev + 1:
                t.missing += msg.seq - prev - 1
                if len(t.gaps) < 100:
                    t.gaps.append([msg.epoch, prev + 1, msg.seq])
            last_seq[key] = msg.seq if prev is None else max(prev, msg.seq)
        recorded_gaps += reader.others.get(GAPS_TOPIC, 0)  # counted in the same pass
        files.append({"path": str(path), "bytes": Path(path).stat().st_size, "finished": reader.finished,
                      "torn": reader.torn, "invalid": reader.invalid,
                      "viewer_channels": sorted(c for c, e in reader.channels.items()
                                                if e != native.ENCODING and c != GAPS_TOPIC)})
    out_topics = {}
    for name in sorted(topics):
        t = topics[name]
        d = asdict(t)
        d.update(span_s=t.span_s, rate_hz=t.rate_hz)
        out_topics[name] = d
    first = min((t.first_ns for t in topics.values()), default=0)
    last = max((t.last_ns for t in topics.values()), default=0)
    return {"files": files, "messages": sum(t.messages for t in topics.values()),
            "start_ns": first, "end_ns": last, "duration_s": (last - first) / 1e9,
            "gaps_seen_by_recorder": recorded_gaps, "topics": out_topics}


def format_info(info: dict[str, Any]) -> str:
    """Return ``info`` as the text ``streamconv info`` prints."""
    lines = []
    for f in info["files"]:
        state = ("finished" if f["finished"]
                 else "NOT finished (torn or unindexed; read to its last whole chunk)")
        lines.append(f"file:     {f['path']}  {f['bytes'] / 1e6:.1f} MB  {state}")
    lines.append(f"duration: {info['duration_s']:.3f} s   messages: {info['messages']}   "
                 f"gaps seen while recording: {info['gaps_seen_by_recorder']}")
    head = ("topic", "kind", "messages", "rate/s", "span s", "dtype", "shape", "epochs", "missing")
    rows = []
    for name, t in info["topics"].items():
        shape = " ".join("x".join(map(str, s)) for s in t["shapes"]) or "-"
        rows.append((name, t["kind"], str(t["messages"]), f"{t['rate_hz']:.1f}", f"{t['span_s']:.2f}",
                     t["dtype"], shape, str(len(t["epochs"])), str(t["missing"])))
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]
    for r in [head, *rows]:
        lines.append("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip())
    for name, t in info["topics"].items():
        if len(t["epochs"]) > 1:
            lines.append(f"{name}: epochs {', '.join(t['epochs'])}")
        for epoch, expected, got in t["gaps"][:5]:
            lines.append(f"{name}: gap in epoch {epoch}: seq {expected} to {got - 1} missing")
    viewers = sorted({c for f in info["files"] for c in f["viewer_channels"]})
    if viewers:
        lines.append(f"viewer channels: {', '.join(viewers)}")
    return "\n".join(lines)


def to_json(info: dict[str, Any]) -> str:
    """Return ``info`` as indented JSON."""
    return json.dumps(info, indent=2)
