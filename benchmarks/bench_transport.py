"""Transport benchmark: our wire (zero-copy and copy) vs imagezmq, 720p frames over tcp loopback.

A thin wrapper: the code lives in ``streamconv/bench/transport.py`` and this is the same as
``streamconv bench --only transport``.  imagezmq is a benchmark-only dependency
(``.venv/bin/pip install imagezmq``); without it its rows are skipped with a note::

    .venv/bin/python benchmarks/bench_transport.py [--quick] [--json PATH]
"""

import sys

from streamconv.bench.runner import main

if __name__ == "__main__":
    sys.exit(main(prog="benchmarks/bench_transport.py", only=["transport"]))
