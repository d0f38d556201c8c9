"""Targets: a measured value next to its threshold, judged met / not met; the table and the plot."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from streamconv.bench.timing import table

__all__ = ["Target", "plot_targets", "targets_table"]


@dataclass
class Target:
    """One target of the performance issue, with what this run measured.

    Parameters
    ----------
    section : str
        The ``--only`` section that measures it (``ops``, ``transport``, ``e2e``, ...).
    label : str
        What is compared, e.g. ``"daemon fps / raw filter2D fps (1 thread)"``.
    measured : float or None
        The measured value in ``unit``; None when it could not be measured (see ``note``).
    threshold : float
        The target value in ``unit``.
    higher_is_better : bool
        ``measured >= threshold`` (or ``>`` with ``strict``) when True, ``<=`` (``<``) otherwise.
    unit : str
        ``x`` (a ratio), ``ms``, ``%``, ``MB/min``, ``samples/s``, ``us``.
    strict : bool
        The comparison is strict (``>``/``<``).
    note : str
        Why it was not measured, or a remark printed under the table.
    """

    section: str
    label: str
    measured: float | None
    threshold: float
    higher_is_better: bool = True
    unit: str = "x"
    strict: bool = False
    note: str = ""

    @property
    def met(self) -> bool | None:
        """Whether the target is met; None when not measured."""
        if self.measured is None or not math.isfinite(self.measured):
            return None
        m, t = self.measured, self.threshold
        if self.higher_is_better:
            return m > t if self.strict else m >= t
        return m < t if self.strict else m <= t

    @property
    def score(self) -> float | None:
        """``measured / threshold`` (higher is better) or ``threshold / measured``: >= 1 when met."""
        m, t = self.measured, self.threshold
        if m is None or not math.isfinite(m):
            return None
        if self.higher_is_better:
            return m / t if t else math.inf
        return t / m if m > 0 else math.inf

    def target_text(self) -> str:
        """Return the threshold with its comparison, e.g. ``>= 0.80x`` or ``<= 15 ms``."""
        op = (">" if self.strict else ">=") if self.higher_is_better else ("<" if self.strict else "<=")
        return f"{op} {fmt_value(self.threshold, self.unit, signed=False)}"

    def measured_text(self) -> str:
        """Return the measured value with its unit, or ``not measured``."""
        return "not measured" if self.measured is None else fmt_value(self.measured, self.unit)

    def to_json(self) -> dict[str, Any]:
        """Return a JSON-ready dict with ``met`` and ``score``."""
        return {**asdict(self), "met": self.met, "score": self.score}


def fmt_value(v: float, unit: str, *, signed: bool = True) -> str:
    """Format ``v`` for a table: ratios with 2 decimals, rates with thousands separators."""
    if unit == "x":
        return f"{v:.2f}x"
    if unit == "samples/s":
        return f"{v:,.0f} samples/s"
    if unit in ("ms", "us"):
        return f"{v:.2f} {unit}"
    if unit == "%":
        return f"{v:.1f}%"
    if unit == "MB/min":
        return f"{v:+.3f} MB/min" if signed else f"{v:.3f} MB/min"
    return f"{v:g} {unit}"


def met_text(met: bool | None) -> str:
    """``met``, ``NOT MET`` or ``n/a``."""
    return "n/a" if met is None else ("met" if met else "NOT MET")


def targets_table(targets: list[Target]) -> str:
    """Return the plain-text table of every target: section, what, target, measured, met."""
    rows = [[t.section, t.label, t.target_text(), t.measured_text(), met_text(t.met)] for t in targets]
    out = [table(["section", "target", "threshold", "measured", "met"], rows, left=2)]
    notes = [f"  {t.label}: {t.note}" for t in targets if t.note]
    if notes:
        out.append("notes:")
        out.extend(notes)
    return "\n".join(out)


def plot_targets(targets: list[Target], path: str | Path, *, title: str = "") -> Path:
    """Write a horizontal bar chart of every measured target's score (>= 1: met) to ``path``.

    Each bar is the measured value divided by its threshold (or the threshold divided by the
    measured value for lower-is-better targets), on a log axis with the target line at 1; the
    label carries the measured value and the threshold in their own units.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = Path(path)
    shown = [t for t in targets if t.score is not None]
    skipped = [t for t in targets if t.score is None]
    n = max(1, len(shown))
    fig, ax = plt.subplots(figsize=(11, 1.2 + 0.36 * n), dpi=100)
    labels, scores, colours = [], [], []
    for t in shown:
        labels.append(f"{t.label}\n{t.measured_text()} (target {t.target_text()})")
        s = t.score if t.score is not None and math.isfinite(t.score) else 100.0
        scores.append(min(max(s, 1e-2), 100.0))
        colours.append("#2e8b57" if t.met else "#c0392b")
    y = list(range(len(shown)))[::-1]
    ax.barh(y, scores, color=colours, height=0.7, left=0)
    ax.axvline(1.0, color="black", linewidth=1.2, linestyle="--")
    ax.set_xscale("log")
    lo = min([0.5, *scores]) * 0.8
    hi = max([2.0, *scores]) * 1.25
    ax.set_xlim(lo, hi)
    ticks = [v for v in (0.1, 0.25, 0.5, 1, 2, 4, 8, 16, 32, 64) if lo <= v <= hi]
    ax.set_xticks(ticks)
    ax.set_xticklabels([f"{v:g}" for v in ticks])
    ax.minorticks_off()
    ax.set_yticks(y)
    ax.set_yticklabels(labels, fontsize=7)
    for yi, s, t in zip(y, scores, shown, strict=True):
        ax.text(s * 1.03, yi, f"{t.score:.2f}" if t.score is not None else "", va="center", fontsize=7)
    ax.set_xlabel("measured / target (lower-is-better targets: target / measured); >= 1 is met")
    ax.grid(axis="x", which="both", alpha=0.3)
    if title:
        ax.set_title(title, fontsize=9)
    if skipped:
        fig.text(0.01, 0.005, "not measured: " + "; ".join(t.label for t in skipped), fontsize=6)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path
