"""The ``streamconv plot`` command: plot a log's sample streams with their RMSE and lag against the truth."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from streamconv import exitcodes
from streamconv.commands.options import seconds

__all__ = ["cmd_plot", "register"]


def register(subparsers: Any) -> None:
    """Add the ``plot`` subcommand."""
    p = subparsers.add_parser(
        "plot",
        help="plot a log's sample topics against the truth (PNG), with RMSE and lag",
        description=(
            "Plot the sample topics of a `streamconv log` directory (or one CSV) over time: raw,"
            " filtered outputs and truth, aligned by t_capture_ns, with each output's RMSE and lag"
            " against its stream's truth."
        ),
    )
    p.add_argument("log", help="a log directory or a single CSV")
    p.add_argument("--output", "-o", default="plot.png", help="image to write (default: plot.png)")
    p.add_argument("--zoom", type=seconds, default=1.0, help="seconds shown in the zoom panel (default: 1)")
    p.add_argument("--max-lag", type=int, default=100, help="largest lag searched, in samples (default: 100)")
    p.add_argument("--title", help="figure title")
    p.add_argument("--json", action="store_true", help="print the metrics as JSON instead of text")
    p.set_defaults(func=cmd_plot)


def cmd_plot(args: argparse.Namespace) -> int:
    """Write the plot; print one line per series (RMSE and lag where there is a truth)."""
    import json
    import logging

    from streamconv import plot

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        result = plot.plot_log(
            args.log, args.output, zoom_s=args.zoom, max_lag=args.max_lag, title=args.title
        )
    except ImportError as exc:
        print(f"streamconv plot: error: {exc}", file=sys.stderr)
        return exitcodes.FAILURE
    except (ValueError, OSError) as exc:
        print(f"streamconv plot: error: {exc}", file=sys.stderr)
        return exitcodes.USAGE
    if args.json:
        data = {
            "output": str(result.output),
            "series": {
                topic: {
                    "samples": len(s),
                    **(
                        {
                            "truth": c.truth, "rmse": c.rmse, "lag_samples": c.lag_samples,
                            "lag_ms": c.lag_ms, "compared": c.n,
                        }
                        if (c := result.comparisons.get(topic)) is not None
                        else {}
                    ),
                }
                for topic, s in result.series.items()
            },
        }
        print(json.dumps(data, indent=2))
        return exitcodes.OK
    for topic, s in result.series.items():
        c = result.comparisons.get(topic)
        print(f"{topic:<24} {len(s):>8} samples" + (f"  {c.text()} vs {c.truth}" if c else ""))
    print(f"streamconv plot: wrote {result.output}")
    return exitcodes.OK
