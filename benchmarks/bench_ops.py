"""Per-op benchmark: conv2d vs cv2.filter2D and ffmpeg, conv3d vs torch, CausalFIR vs lfilter.

A thin wrapper: the code lives in ``streamconv/bench/ops.py`` and this is the same as
``streamconv bench --only ops``.  Run from the repository root::

    .venv/bin/python benchmarks/bench_ops.py                # full run
    .venv/bin/python benchmarks/bench_ops.py --quick        # smoke run
    .venv/bin/python benchmarks/bench_ops.py --json out/ops.json --torch-python /tmp/sc-torch-venv/bin/python

Every option of ``streamconv bench`` is accepted; results are recorded in docs/benchmarks.md.
"""

import sys

from streamconv.bench.runner import main

if __name__ == "__main__":
    sys.exit(main(prog="benchmarks/bench_ops.py", only=["ops"]))
