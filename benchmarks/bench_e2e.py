"""End-to-end daemon benchmark: 720p throughput vs raw filter2D, latency, sensor lane, idle CPU.

A thin wrapper: the code lives in ``streamconv/bench/e2e.py`` and this is the same as
``streamconv bench --only e2e,sensor,idle``.  Each daemon runs as ``streamconv run -c`` on free
loopback ports and is stopped with SIGTERM (SIGKILL if it hangs)::

    .venv/bin/python benchmarks/bench_e2e.py [--quick] [--only e2e] [--json PATH]
"""

import sys

from streamconv.bench.runner import main

if __name__ == "__main__":
    sys.exit(main(prog="benchmarks/bench_e2e.py", only=["e2e", "sensor", "idle"]))
