"""Loading logs, RMSE and lag estimation, and the plot (Agg) with `streamconv plot`."""

from __future__ import annotations

import json

import numpy as np
import pytest

from streamconv.cli import main
from streamconv.errors import StreamconvError
from streamconv.ops.fir import CausalFIR
from streamconv.plot import compare, estimate_lag, plot_log, rmse
from streamconv.sinks.log import Series, StreamLogger, load_csv, load_log
from streamconv.sources.laser import LaserSimulator
from streamconv.wire import decode, encode

pytest.importorskip("matplotlib")

WEIGHTS = [0.01, 0.01, 0.02, 0.02, 0.04, 0.4, 0.5]
PERIOD = 10_000_000  # 100 Hz
T0 = 1_700_000_000_000_000_000


def series(topic, values, *, start=0, period=PERIOD):
    t = T0 + (start + np.arange(len(values), dtype=np.int64)) * period
    return Series(topic, t, np.arange(len(values), dtype=np.int64), np.asarray(values, dtype=np.float64))


def write_laser_log(out, *, seconds=8.0, batch=5, dropout=0.0):
    """A log as the daemon + logger make it: raw, truth and smoothed (default weights) of the simulator."""
    sim = LaserSimulator(rate_hz=100, noise_std=0.5, dropout_prob=dropout, seed=3)
    fir = CausalFIR(WEIGHTS)
    with StreamLogger(out) as log:
        for seq in range(int(seconds * 100) // batch):
            t = T0 + seq * batch * PERIOD
            chunk = sim.read(batch, t)
            outputs = {"raw": chunk.values, "truth": chunk.truth, "smoothed": fir.process(chunk.values)}
            for name, values in outputs.items():
                log.write(decode(encode(f"laser/{name}", values, stream="laser", kind="samples", epoch="e",
                                        seq=seq, t_capture_ns=t, meta={"sample_period_ns": PERIOD})))


# ----------------------------------------------------------------------------------------- metrics
def test_rmse_ignores_nan():
    assert rmse(np.array([1.0, np.nan, 3.0]), np.array([0.0, 5.0, 1.0])) == pytest.approx(np.sqrt(2.5))
    assert np.isnan(rmse(np.array([np.nan]), np.array([1.0])))


@pytest.mark.parametrize("shift", [0, 3, -2, 17])
def test_integer_shift_is_found_exactly(shift):
    x = np.sin(np.arange(600) / 15.0) * 10
    truth = series("s/truth", x)
    if shift >= 0:  # the series is late: its value at sample i is the truth's at i - shift
        moved = series("s/out", x[: len(x) - shift], start=shift)
    else:  # the series leads: its value at i is the truth's at i + |shift|
        moved = series("s/out", x[-shift:])
    assert estimate_lag(moved, truth) == pytest.approx(shift, abs=0.02)


def test_lag_of_a_causal_window_is_its_group_delay():
    t = np.arange(3000) / 100.0
    x = 100 * np.sin(2 * np.pi * 0.3 * t) + 20 * np.sin(2 * np.pi * 0.7 * t)
    fir = CausalFIR(WEIGHTS)
    c = compare(series("s/smoothed", fir.process(x)), series("s/truth", x))
    assert c.lag_samples == pytest.approx(fir.lag, abs=0.05)  # 0.73 samples
    assert c.lag_ms == pytest.approx(fir.lag * 10, abs=0.5)
    assert c.period_ns == PERIOD and c.n == 3000


def test_compare_aligns_by_capture_time_not_by_row():
    x = np.arange(100, dtype=float)
    truth = series("s/truth", x)
    late_start = series("s/out", x[40:], start=40)  # the same samples, logged from row 40 on
    c = compare(late_start, truth)
    assert c.rmse == 0.0 and c.n == 60 and c.lag_samples == pytest.approx(0.0, abs=1e-9)


def test_irregular_shared_timestamps_fall_back_to_index_shifts():
    rng = np.random.default_rng(0)
    t = T0 + np.cumsum(rng.integers(9_000_000, 11_000_000, 500))
    x = np.sin(np.arange(500) / 12.0)
    truth = Series("s/truth", t, np.arange(500), x)
    late = Series("s/out", t[2:], np.arange(498), x[:-2])
    assert estimate_lag(late, truth) == pytest.approx(2.0, abs=0.05)


def test_no_common_time_is_an_error():
    with pytest.raises(StreamconvError, match="no capture time in common"):
        compare(series("s/a", [1.0, 2.0]), series("s/truth", [1.0, 2.0], start=10))


# ----------------------------------------------------------------------------------------- loading
def test_load_log_joins_rotated_files_and_skips_other_files(tmp_path):
    d = tmp_path / "log"
    d.mkdir()
    (d / "a__raw.0001.csv").write_text("t_capture_ns,seq,value\n10,0,1.5\n20,1,nan\n")
    (d / "a__raw.0002.csv").write_text("t_capture_ns,seq,value\n30,2,\n40,3,4.0\n")
    (d / "cam__raw.frames.csv").write_text("frame,epoch,seq,t_capture_ns\n0,e,0,5\n")
    (d / "gaps.csv").write_text("topic,epoch,expected,got\n")
    (d / "stats.jsonl").write_text("{}\n")
    logs = load_log(d)
    assert list(logs) == ["a/raw"]
    s = logs["a/raw"]
    assert s.t_ns.tolist() == [10, 20, 30, 40] and s.seq.tolist() == [0, 1, 2, 3]
    np.testing.assert_array_equal(s.values, [1.5, np.nan, np.nan, 4.0])
    assert s.t_ns.dtype == np.int64


def test_large_timestamps_stay_exact_and_a_cut_last_line_is_skipped(tmp_path):
    p = tmp_path / "laser__smoothed.csv"
    p.write_text("t_capture_ns,seq,value\n1795480486665275881,0,1.0\n1795480486675275881,1,2.0\n17954804")
    s = load_csv(p)
    assert s.topic == "laser/smoothed"
    assert s.t_ns.tolist() == [1795480486665275881, 1795480486675275881]


def test_not_a_log_is_an_error(tmp_path):
    with pytest.raises(StreamconvError, match="no such file"):
        load_log(tmp_path / "missing")
    with pytest.raises(StreamconvError, match="no sample CSV"):
        load_log(tmp_path)
    (tmp_path / "x.csv").write_text("a,b\n1,2\n")
    with pytest.raises(StreamconvError, match="no 't_capture_ns' column"):
        load_log(tmp_path / "x.csv")


# ----------------------------------------------------------------------------------------- plotting
def test_plot_log_of_a_laser_log(tmp_path):
    write_laser_log(tmp_path / "log", dropout=0.01)
    res = plot_log(tmp_path / "log", tmp_path / "p.png")
    assert (tmp_path / "p.png").read_bytes()[:4] == b"\x89PNG"
    assert set(res.series) == {"laser/raw", "laser/smoothed", "laser/truth"}
    raw, smoothed = res.comparisons["laser/raw"], res.comparisons["laser/smoothed"]
    assert "laser/truth" not in res.comparisons
    assert smoothed.rmse < raw.rmse and raw.rmse == pytest.approx(0.5, rel=0.15)
    assert 0.3 < smoothed.lag_samples < 1.3 and abs(raw.lag_samples) < 0.5
    assert raw.n < 800  # the dropouts (NaN) are not compared


def test_plot_command_text_json_and_single_file(tmp_path, capsys):
    write_laser_log(tmp_path / "log", seconds=3)
    assert main(["plot", str(tmp_path / "log"), "-o", str(tmp_path / "a.png")]) == 0
    out = capsys.readouterr().out
    assert "laser/smoothed" in out and "RMSE" in out and "lag" in out and "wrote" in out
    assert main(["plot", str(tmp_path / "log"), "-o", str(tmp_path / "b.png"), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["series"]["laser/raw"]["samples"] == 300
    assert data["series"]["laser/smoothed"]["truth"] == "laser/truth"
    # one file alone: plotted on its own, without metrics
    assert main(["plot", str(tmp_path / "log" / "laser__smoothed.csv"), "-o", str(tmp_path / "c.png")]) == 0
    out = capsys.readouterr().out
    assert "laser/smoothed" in out and "RMSE" not in out
    assert (tmp_path / "c.png").stat().st_size > 10_000


def test_plot_command_errors_exit_2(tmp_path, capsys):
    assert main(["plot", str(tmp_path / "nothing"), "-o", str(tmp_path / "p.png")]) == 2
    assert "no such file or directory" in capsys.readouterr().err
    assert main(["plot", str(tmp_path), "-o", str(tmp_path / "p.png")]) == 2
    assert "no sample CSV" in capsys.readouterr().err
    assert not (tmp_path / "p.png").exists()
