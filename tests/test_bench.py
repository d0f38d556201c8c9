"""Smoke tests of `streamconv bench`: the tables and JSON have their structure, numbers are positive.

No timing assertions: speed is measured by the benchmarks, not by tests.
"""

from __future__ import annotations

import io
import json
import os
import signal
import sys
import time
from pathlib import Path

import pytest

from streamconv import cli
from streamconv.bench import runner
from streamconv.bench.procs import Proc, free_endpoints, session_processes
from streamconv.bench.soak import fit_slope
from streamconv.bench.targets import Target, plot_targets, targets_table
from streamconv.ops import kernels


def _run_bench(argv: list[str]) -> tuple[int, str]:
    parser = cli.build_parser()
    args = parser.parse_args(["bench", *argv])
    out = io.StringIO()
    code = runner.run(args, out=out)
    return code, out.getvalue()


def test_bench_ops_smoke(tmp_path: Path) -> None:
    js, png = tmp_path / "bench.json", tmp_path / "bench.png"
    t0 = time.monotonic()
    code, text = _run_bench(["--smoke", "--only", "ops", "--json", str(js), "--plot", str(png)])
    assert code == 0, text
    assert time.monotonic() - t0 < 60
    # the conv2d table: a header, a rule, one row per catalogue kernel
    lines = text.splitlines()
    head = next(i for i, line in enumerate(lines) if line.startswith("kernel ") and "ms cv2" in line)
    assert set(lines[head + 1]) <= {"-", " "}
    rows = lines[head + 2 : head + 2 + len(kernels.names())]
    assert [r.split()[0] for r in rows] == kernels.names()
    for r in rows:
        assert r.split()[-1] in ("met", "MET")  # "met" or "NOT MET"
    assert "== targets ==" in text
    assert "CausalFIR" in text and "conv3d" in text

    data = json.loads(js.read_text())
    assert data["profile"] == "smoke" and data["errors"] == {}
    ops = data["sections"]["ops"]
    for r in ops["conv2d"]:
        assert r["ms_ours"] > 0 and r["ms_cv2"] > 0 and r["ms_prepared"] > 0
        assert r["ratio_cv2_over_ours"] > 0
        assert r["max_abs_diff_reflect"] <= 1
    assert all(v > 0 for v in ops["conv3d"]["ms"].values())
    assert ops["causal_fir"]["step_ns_per_sample"] > 0
    ff = ops["ffmpeg"]
    if ff["available"]:
        assert ff["ms_per_frame"]["ours"] > 0 and ff["ratio_ffmpeg_over_ours"] > 0
        assert ff["interior_max_abs_diff_vs_ours"] <= 1
    else:
        assert "ffmpeg" in ff["note"]
    labels = [t["label"] for t in data["targets"]]
    assert len(labels) == len(kernels.names()) + 4
    measured = [t for t in data["targets"] if t["measured"] is not None]
    assert all(t["measured"] > 0 and t["met"] in (True, False) for t in measured)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_bench_idle_smoke_leaves_no_process(tmp_path: Path) -> None:
    js = tmp_path / "idle.json"
    code, text = _run_bench(["--smoke", "--only", "idle", "--json", str(js)])
    assert code == 0, text
    data = json.loads(js.read_text())
    idle = data["sections"]["idle"]
    assert idle["cpu_percent"] >= 0 and idle["rss_mb"] > 0
    assert idle["exit_code"] == 0  # stopped by SIGTERM, cleanly
    assert data["targets"][0]["section"] == "idle"


def test_bench_rejects_unknown_section(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        cli.build_parser().parse_args(["bench", "--only", "ops,nope"])
    assert "unknown section(s) nope" in capsys.readouterr().err


def test_proc_pause_resume_stop() -> None:
    with Proc([sys.executable, "-c", "import time\nwhile True: time.sleep(0.01)"], name="sleeper") as p:
        assert p.alive()
        p.pause()
        p.resume()
        assert p.cpu_seconds() >= 0 and p.rss_bytes() > 0
        pid = p.pid
    assert p.returncode == -signal.SIGTERM
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def test_free_endpoints_are_distinct() -> None:
    eps = free_endpoints(3)
    assert len(set(eps)) == 3 and all(e.startswith("tcp://127.0.0.1:") for e in eps)


def test_targets_judge_both_directions(tmp_path: Path) -> None:
    hi = Target("e2e", "fps ratio", 0.9, 0.8)
    lo = Target("e2e", "p99", 16.0, 15.0, higher_is_better=False, unit="ms")
    strict = Target("idle", "cpu", 5.0, 5.0, higher_is_better=False, unit="%", strict=True)
    missing = Target("ops", "torch", None, 1.0, note="torch not importable")
    assert (hi.met, lo.met, strict.met, missing.met) == (True, False, False, None)
    assert hi.score == pytest.approx(0.9 / 0.8) and lo.score == pytest.approx(15 / 16)
    text = targets_table([hi, lo, strict, missing])
    assert "NOT MET" in text and "n/a" in text and "torch not importable" in text
    assert "<= 15.00 ms" in text and "< 5.0%" in text
    png = plot_targets([hi, lo, strict, missing], tmp_path / "t.png", title="t")
    assert png.stat().st_size > 0


def test_fit_slope_mb_per_min() -> None:
    t = [0, 30, 60, 90, 120]
    assert fit_slope(t, [100, 100.5, 101, 101.5, 102]) == pytest.approx(1.0)
    assert fit_slope(t, [100] * 5) == pytest.approx(0.0)
    assert fit_slope([0], [1]) == 0.0


def test_bench_roles_smoke_kills_only_its_own_processes(tmp_path: Path) -> None:
    js = tmp_path / "roles.json"
    t0 = time.monotonic()
    code, text = _run_bench(["--smoke", "--only", "roles", "--json", str(js)])
    assert code == 0, text
    assert time.monotonic() - t0 < 60
    assert "split - one process" in text and "2 / 1" in text and "laser owner" in text
    data = json.loads(js.read_text())
    roles = data["sections"]["roles"]
    ov = roles["overhead"]
    for run in (ov["one_process"], ov["split"]):
        assert run["messages"] > 0 and run["latency_ms"]["p50"] > 0
    assert ov["publish_transport"] == "tcp" and ov["diff_ms"]["p50"] is not None
    sc = roles["scaling"]
    assert sc["one_worker"]["messages"] > 0 and sc["two_workers"]["messages"] > 0 and sc["ratio"] > 0
    events = roles["failover"]["events"]
    assert [e["killed"] for e in events] == ["frames-only", "laser owner"]
    assert all(e["frames_after_kill"] > 0 for e in events)
    assert [t["section"] for t in data["targets"]] == ["roles", "roles"]
    assert "roles" not in runner.DEFAULT_SECTIONS and "roles" in runner.SECTIONS


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_bench_cluster_smoke_measures_both_and_leaves_no_ray_process(tmp_path: Path) -> None:
    pytest.importorskip("ray")
    js = tmp_path / "cluster.json"
    t0 = time.monotonic()
    code, text = _run_bench(["--smoke", "--only", "cluster", "--json", str(js)])
    assert code == 0, text
    assert time.monotonic() - t0 < 240
    assert "cluster - one process" in text and "cluster / one process" in text
    assert "ESTIMATE, not a measurement" in text
    data = json.loads(js.read_text())
    assert data["errors"] == {}
    res = data["sections"]["cluster"]
    ov = res["overhead"]
    for run in (ov["one_process"], ov["cluster"]):
        assert run["messages"] > 0 and run["latency_ms"]["p50"] > 0 and run["cpu_percent"] > 0
    assert ov["diff_ms"]["p50"] is not None and ov["diff_ms"]["p99"] is not None
    rate = res["rate"]
    assert rate["one_process"]["msg_per_s"] > 0 and rate["cluster"]["msg_per_s"] > 0 and rate["ratio"] > 0
    sc = res["scaling"]
    assert sc["one_process"]["msg_per_s"] > 0
    assert [r["workers"] for r in sc["runs"]] == [1, 2]
    assert all(r["msg_per_s"] > 0 and r["ratio_to_one_worker"] > 0 for r in sc["runs"])
    assert len(sc["runs"][1]["processed"]) == 2  # two worker actors took frames
    est = res["estimate"]
    assert est["compute_ms"] > 0 and est["out_bytes"] > est["in_bytes"] > 0
    assert all(r["frames_per_s"] > 0 for r in est["rows"])
    # every cluster run: the driver exited 0 within 5 s of SIGTERM and left nothing in its session
    assert len(res["stopped"]) == 4
    for st in res["stopped"]:
        assert st["exit_code"] == 0 and st["stop_s"] < 5.0, st
        assert st["leftovers"] == [] and st["ray_leftovers"] == [], st
        assert session_processes(st["pid"]) == [], st
    assert [t["section"] for t in data["targets"]] == ["cluster"] * 3
    assert all(t["measured"] is not None for t in data["targets"])
    assert "cluster" not in runner.DEFAULT_SECTIONS and "cluster" in runner.SECTIONS
