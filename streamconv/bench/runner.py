"""``streamconv bench``: run the selected sections, print their tables and the targets, save JSON/plot."""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import shlex
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from streamconv import exitcodes
from streamconv.commands.options import positive_float, seconds, seconds_or_zero

__all__ = ["DEFAULT_SECTIONS", "SECTIONS", "add_arguments", "main", "run"]

#: Sections run by default, in this order.
DEFAULT_SECTIONS = ("ops", "transport", "e2e", "sensor", "idle")
#: Every section; ``soak``, ``roles`` and ``cluster`` run only when asked for (they last minutes).
SECTIONS = (*DEFAULT_SECTIONS, "soak", "roles", "cluster")
TORCH_PYTHON_ENV = "STREAMCONV_BENCH_TORCH_PYTHON"

TITLES = {
    "ops": "per-op: conv2d, conv3d, CausalFIR against their references",
    "transport": "transport: our wire vs imagezmq, 720p frames over tcp loopback",
    "e2e": "end-to-end daemon: 720p sharpen throughput and latency",
    "sensor": "sensor lane through the daemon",
    "idle": "idle daemon CPU",
    "soak": "soak: RSS over time",
    "roles": "roles across processes: split vs one process, bank3d scaling, failover",
    "cluster": "scale-out on Ray: cluster vs one process, latency, rate, bank3d scaling, multi-host estimate",
}


def _sections(text: str) -> list[str]:
    names = [s.strip() for s in text.split(",") if s.strip()]
    bad = [s for s in names if s not in SECTIONS]
    if bad or not names:
        raise argparse.ArgumentTypeError(
            f"unknown section(s) {', '.join(bad) or '(none given)'}; choose from {', '.join(SECTIONS)}"
        )
    return [s for s in SECTIONS if s in names]


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Add the options of ``streamconv bench`` to ``p``."""
    p.add_argument("--quick", action="store_true", help="a short run (under about a minute); "
                   "too few repeats to judge targets on a busy machine")
    p.add_argument("--smoke", action="store_true", help=argparse.SUPPRESS)  # tests: seconds, meaningless
    p.add_argument("--only", type=_sections, default=list(DEFAULT_SECTIONS), metavar="SECTIONS",
                   help=f"comma-separated sections to run: {', '.join(SECTIONS)} "
                   f"(default: {','.join(DEFAULT_SECTIONS)}; soak, roles and cluster only when named)")
    p.add_argument("--json", metavar="PATH", type=Path, help="write every raw number here")
    p.add_argument("--plot", metavar="PATH", type=Path,
                   help="write a bar chart of the targets (measured / target) here, e.g. docs/img/bench.png")
    p.add_argument("--torch-python", metavar="PYTHON", default=os.environ.get(TORCH_PYTHON_ENV),
                   help="an interpreter that can import torch, for the conv3d comparison when this one "
                   f"cannot (default: ${TORCH_PYTHON_ENV})")
    p.add_argument("--soak-minutes", type=positive_float, default=10.0, metavar="MIN",
                   help="soak section: minutes measured after the warm-up (default 10)")
    p.add_argument("--soak-interval", type=seconds, default=5.0, metavar="S",
                   help="soak section: seconds between RSS samples (default 5)")
    p.add_argument("--soak-warmup", type=seconds_or_zero, default=30.0, metavar="S",
                   help="soak section: seconds before the fit starts (default 30)")


def _log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def _section_runner(name: str, profile: str, args: argparse.Namespace,
                    ) -> tuple[Callable[[], dict[str, Any]], Callable[[dict[str, Any]], str], Any]:
    """(run, report, targets) of one section; imports are here so that --help stays light."""
    if name == "ops":
        from streamconv.bench import ops

        return (lambda: ops.run(profile, torch_python=args.torch_python, log=_log), ops.report,
                lambda res, all_: ops.targets(res))
    if name == "transport":
        from streamconv.bench import transport

        return lambda: transport.run(profile, log=_log), transport.report, lambda res, all_: []
    if name in ("e2e", "sensor", "idle"):
        from streamconv.bench import e2e

        fn = {"e2e": e2e.run_e2e, "sensor": e2e.run_sensor, "idle": e2e.run_idle}[name]
        return (lambda: fn(profile, log=_log), lambda res: e2e.report(name, res),
                lambda res, all_: e2e.targets({name: res}))
    if name == "roles":
        from streamconv.bench import roles

        return lambda: roles.run(profile, log=_log), roles.report, lambda res, all_: roles.targets(res)
    if name == "cluster":
        from streamconv.bench import cluster

        return lambda: cluster.run(profile, log=_log), cluster.report, lambda res, all_: cluster.targets(res)
    from streamconv.bench import soak

    minutes = args.soak_minutes if profile == "full" else min(args.soak_minutes, 0.25)
    warm = args.soak_warmup if profile == "full" else min(args.soak_warmup, 2.0)
    interval = args.soak_interval if profile == "full" else min(args.soak_interval, 1.0)
    return (lambda: soak.run(minutes, interval_s=interval, warmup_s=warm, log=_log), soak.report,
            lambda res, all_: soak.targets(res))


def run(args: argparse.Namespace, out: Any = None) -> int:
    """Run ``streamconv bench`` with parsed ``args``; print to ``out`` (stdout); return the exit code."""
    from streamconv.bench.targets import plot_targets, targets_table
    from streamconv.bench.timing import load_average, machine_info

    out = out if out is not None else sys.stdout

    def say(text: str = "") -> None:
        print(text, file=out, flush=True)

    profile = "smoke" if args.smoke else ("quick" if args.quick else "full")
    command = getattr(args, "command_line", None) or "streamconv bench " + " ".join(
        shlex.quote(a) for a in sys.argv[2:])
    date = _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    info = machine_info()
    t0 = time.perf_counter()
    say(f"streamconv bench ({profile} run), {date}")
    say(f"command: {command}")
    say(f"machine: {info['nproc']} cores ({info['cpu_model']}), {info['mem_gib']} GiB, python "
        f"{info['python']}, numpy {info['numpy']}, opencv {info['opencv']} ({info['cv2_threads']} threads)")
    say(f"load average before (1/5/15 min): {info['load_average']}")
    say("ratios are measured in this run on this machine; >1 means ours is faster unless said otherwise")
    results: dict[str, Any] = {}
    errors: dict[str, str] = {}
    targets = []
    for i, name in enumerate(args.only, 1):
        run_fn, report_fn, targets_fn = _section_runner(name, profile, args)
        say(f"\n== {i}. {TITLES[name]} ==")
        try:
            res = run_fn()
        except Exception as exc:
            errors[name] = f"{exc.__class__.__name__}: {exc}"
            say(f"section {name} FAILED: {errors[name]}")
            _log(traceback.format_exc())
            continue
        results[name] = res
        say(report_fn(res))
        targets.extend(targets_fn(res, results))
    seconds = time.perf_counter() - t0
    load_after = load_average()
    say("\n== targets ==")
    say(targets_table(targets) if targets else "(no targets in the selected sections)")
    say(f"\n{profile} run took {seconds:.0f} s; load average after: {load_after}")
    if profile != "full":
        say(f"(--{profile} is a short run: too few repeats to judge the targets on a busy machine)")
    payload = {
        "command": command, "date": date, "profile": profile, "seconds": seconds, "machine": info,
        "load_average_before": info["load_average"], "load_average_after": load_after,
        "sections": results, "errors": errors, "targets": [t.to_json() for t in targets],
    }
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(payload, indent=1, default=str) + "\n", encoding="utf-8")
        say(f"raw numbers written to {args.json}")
    if args.plot:
        try:
            plot_targets(targets, args.plot, title=f"streamconv bench, {profile} run, {date}, "
                         f"{info['nproc']} cores, load {info['load_average']}")
            say(f"plot written to {args.plot}")
        except ImportError as exc:
            say(f"plot skipped: {exc} (pip install matplotlib)")
    for name, err in errors.items():
        print(f"streamconv bench: section {name} failed: {err}", file=sys.stderr)
    return exitcodes.FAILURE if errors else exitcodes.OK


def main(argv: list[str] | None = None, *, prog: str = "streamconv bench",
         only: list[str] | None = None, command_line: str | None = None) -> int:
    """Parse ``argv`` like ``streamconv bench`` does and run (the scripts in benchmarks/ use this)."""
    parser = argparse.ArgumentParser(prog=prog, description=__doc__.splitlines()[0])
    add_arguments(parser)
    args = parser.parse_args(argv)
    if only is not None and args.only == list(DEFAULT_SECTIONS):
        args.only = only
    given = argv if argv is not None else sys.argv[1:]
    args.command_line = command_line or " ".join([prog, *(shlex.quote(a) for a in given)])
    return run(args)
