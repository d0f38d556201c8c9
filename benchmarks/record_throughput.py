"""Recording throughput: ``streamconv record`` on 720p at 30 fps plus the laser at 1 kHz.

Run: ``PYTHONPATH=. python benchmarks/record_throughput.py [--seconds 20]``.  It starts a daemon
publishing ``camera/raw`` (synthetic, 1280x720 BGR, 30 fps, no filter) and the laser at 1 kHz
(``laser/raw``, ``laser/truth``, ``laser/smoothed``; one sample per message), then records
everything for ``--seconds`` with each setting in turn, one after the other, and reports the
recorder's CPU (``/proc/<pid>/stat``), MB/s and messages/s written, the drops it saw (seq gaps
plus messages its subscriber dropped), and the file size per minute.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tests.service.conftest import daemon_config, free_port, start_daemon

#: A subscriber alone, into a sink that keeps nothing: the floor of any recorder.
FLOOR = """
import sys
from streamconv.client import Subscriber
from streamconv.sinks.base import StopSignals, pump
class Null:
    n = 0
    def write(self, m): self.n += 1
    def gap(self, *a): pass
import time
with StopSignals() as stop, Subscriber(sys.argv[1], [""], max_queue_bytes=512 << 20) as sub:
    s = Null()
    t0 = time.monotonic()
    pump(sub, s, stop=stop)
print(f"record: {time.monotonic() - t0:.1f} s, {s.n} messages, 0.0 MB, "
      f"drops {sub.gaps + sum(sub.dropped.values())}")
"""

SETTINGS = [
    ("subscriber alone (no file)", None),
    ("native + viewer, no compression", []),
    ("native + viewer, zstd", ["--compression", "zstd"]),
    ("native only, no compression", ["--no-viewer"]),
    ("native only, zstd", ["--no-viewer", "--compression", "zstd"]),
]


def cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--laser-batch", type=int, default=1, help="laser samples per message (default 1)")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp())
    cfg = daemon_config(free_port(), free_port(), width=1280, height=720, fps=30.0)
    cfg["streams"]["camera"]["outputs"] = {}
    cfg["streams"]["laser"]["source"]["rate_hz"] = 1000
    cfg["streams"]["laser"]["source"]["batch"] = args.laser_batch
    d = start_daemon(tmp, cfg)
    rows = []
    try:
        time.sleep(2.0)
        for name, extra in SETTINGS:
            out = tmp / f"rec-{len(rows)}.mcap"
            cmd = ([sys.executable, "-c", FLOOR, d.publish] if extra is None else
                   [sys.executable, "-m", "streamconv", "record", "--out", str(out), "--endpoint", d.publish,
                    *extra])
            proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            time.sleep(3.0)  # imports, subscription joined
            c0, t0, b0 = cpu_s(proc.pid), time.monotonic(), out.stat().st_size if out.exists() else 0
            time.sleep(args.seconds)
            c1, t1, b1 = cpu_s(proc.pid), time.monotonic(), out.stat().st_size if out.exists() else 0
            proc.terminate()
            stdout, _ = proc.communicate(timeout=90)  # it drains its queue first
            m = re.search(r"(\d+) messages, ([\d.]+) MB.*?drops (\d+)", stdout)
            msgs, drops = (int(m.group(1)), int(m.group(3))) if m else (0, -1)
            dt = t1 - t0
            elapsed = float(re.search(r"record: ([\d.]+) s", stdout).group(1)) if m else dt
            rows.append((name, (c1 - c0) / dt, (b1 - b0) / dt / 1e6, msgs / elapsed, drops,
                         (b1 - b0) / dt * 60 / 1e9))
            out.unlink(missing_ok=True)
    finally:
        d.proc.kill()
        d.proc.wait(5)
    print(f"\nstreamconv record: camera/raw 1280x720 at 30 fps + laser at 1 kHz (3 topics), "
          f"{args.laser_batch} sample(s) per laser message, {args.seconds:.0f} s per row")
    print("| setting | recorder CPU (% of a core) | MB/s written | messages/s | drops | GB per minute |")
    print("|---|---|---|---|---|---|")
    for name, cpu, mbs, rate, drops, gbm in rows:
        print(f"| {name} | {cpu * 100:.0f} | {mbs:.1f} | {rate:.0f} | {drops} | {gbm:.2f} |")


if __name__ == "__main__":
    main()
