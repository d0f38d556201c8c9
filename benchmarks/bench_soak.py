"""Soak: the daemon's RSS over a long run (default config, a subscriber attached); fits a slope.

A thin wrapper around ``streamconv/bench/soak.py``: samples VmRSS of the daemon's process group
every ``--interval`` seconds for ``--minutes`` after a ``--warmup``, and prints the least-squares
slope in MB/min (target < 1 MB/min)::

    .venv/bin/python benchmarks/bench_soak.py --minutes 10 [--interval 5] [--json PATH]
"""

import argparse
import shlex
import sys

from streamconv.bench.runner import main

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0, help="minutes measured (default 10)")
    parser.add_argument("--interval", type=float, default=5.0, help="seconds between samples (default 5)")
    parser.add_argument("--warmup", type=float, default=30.0, help="seconds before the fit (default 30)")
    parser.add_argument("--json", metavar="PATH", help="write every sample and the fit here")
    parser.add_argument("--plot", metavar="PATH", help="bar chart of the target")
    args = parser.parse_args()
    argv = ["--only", "soak", "--soak-minutes", str(args.minutes), "--soak-interval", str(args.interval),
            "--soak-warmup", str(args.warmup)]
    if args.json:
        argv += ["--json", args.json]
    if args.plot:
        argv += ["--plot", args.plot]
    command = " ".join(["benchmarks/bench_soak.py", *(shlex.quote(a) for a in sys.argv[1:])])
    sys.exit(main(argv, prog="benchmarks/bench_soak.py", command_line=command))
