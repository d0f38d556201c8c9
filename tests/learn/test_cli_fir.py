"""`streamconv learn fir`: JSON, the config it writes (run --config validates it), one-line errors, exit 2."""

from __future__ import annotations

import json

import numpy as np
import pytest
import yaml

from streamconv import cli, config
from streamconv.commands.ctl import _stages_from_file
from streamconv.learn import fir
from tests.learn.conftest import laser, write_log


def run(argv, capsys):
    try:
        code = cli.main(argv)
    except SystemExit as exc:  # argparse's own errors (exit 2, one line)
        code = exc.code
    out, err = capsys.readouterr()
    return code, out, err


def test_json_has_the_issue_keys_and_equals_the_library(laser_log, capsys):
    code, out, err = run(["learn", "fir", str(laser_log), "--taps", "7", "--json"], capsys)
    assert code == 0, err
    data = json.loads(out)
    assert set(data["rmse"]) == set(data["lag_samples"]) == {"raw", "configured", "fitted", "kalman"}
    raw, truth = laser(3000)
    np.testing.assert_allclose(data["weights"], fir.fit_fir(raw[:2100], truth[:2100], 7), atol=1e-12)
    assert data["configured_weights"] == list(config.DEFAULT_WEIGHTS)
    assert data["rmse"]["fitted"] < data["rmse"]["configured"] < data["rmse"]["raw"]


def test_out_is_a_config_run_accepts_and_ctl_reads(laser_log, tmp_path, capsys):
    out_file = tmp_path / "fit.yaml"
    plot = tmp_path / "sweep.png"
    code, out, err = run(["learn", "fir", str(laser_log), "--taps", "4,7,16", "--out", str(out_file),
                          "--plot", str(plot), "--sum-to-one"], capsys)
    assert code == 0, err
    assert "fitted 16 taps" in out and plot.stat().st_size > 1000
    conf = config.load(out_file)  # what `run --config` does
    (stage,) = conf.streams["laser"].outputs["smoothed"]
    assert len(stage.weights) == 16 and sum(stage.weights) == pytest.approx(1.0)
    assert conf.streams["laser"].source == config.default_config().streams["laser"].source
    stages = _stages_from_file(str(out_file), "laser/smoothed")
    assert stages[0]["kind"] == "causal_fir" and stages[0]["weights"] == stage.weights
    assert yaml.safe_load(out_file.read_text())["streams"]["laser"]["outputs"]["smoothed"][0]["weights"] == \
        stage.weights  # exact round trip of the floats


def test_nonneg_weights(laser_log, capsys):
    code, out, err = run(["learn", "fir", str(laser_log), "--taps", "7", "--nonneg", "--json"], capsys)
    assert code == 0, err
    assert min(json.loads(out)["weights"]) >= 0


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["--taps", "7", "--raw", "radar/raw"], "has no topic 'radar/raw'"),
        (["--taps", "400"], "fewer than 10 x taps = 4000"),
        (["--taps", "0"], "expected a tap count >= 1"),
        (["--taps", "7", "--test-fraction", "1.5"], "expected a number in (0, 1)"),
    ],
)
def test_bad_input_is_one_line_exit_2(laser_log, capsys, argv, needle):
    code, _, err = run(["learn", "fir", str(laser_log), *argv], capsys)
    assert code == 2
    assert needle in err and len(err.strip().splitlines()) == 1, err


def test_nan_and_gap_and_missing_log_are_exit_2(tmp_path, capsys):
    raw, truth = laser(1000)
    raw[500] = np.nan
    nan_log = write_log(tmp_path / "nan", {"laser/raw": raw, "laser/truth": truth})
    code, _, err = run(["learn", "fir", str(nan_log), "--taps", "7"], capsys)
    assert code == 2 and "NaN" in err and len(err.strip().splitlines()) == 1, err
    raw[500] = 0.0
    gap_log = write_log(tmp_path / "gap", {"laser/raw": raw, "laser/truth": truth})
    # write_log numbers the samples densely: make a real gap in the times instead
    for name in ("laser__raw.csv", "laser__truth.csv"):
        lines = (gap_log / name).read_text().splitlines()
        (gap_log / name).write_text("\n".join(lines[:300] + lines[301:]) + "\n")
    code, _, err = run(["learn", "fir", str(gap_log), "--taps", "7"], capsys)
    assert code == 2 and "not on one sample grid" in err, err
    code, _, err = run(["learn", "fir", str(tmp_path / "nope"), "--taps", "7"], capsys)
    assert code == 2 and len(err.strip().splitlines()) == 1
    code, _, err = run(["learn", "fir", str(tmp_path / "rec.mcap"), "--taps", "7"], capsys)
    assert code == 2 and "No such file" in err and len(err.strip().splitlines()) == 1, err


def test_a_recording_is_read_like_a_log(tmp_path, capsys):
    """An MCAP file that streamconv record wrote (here by its Recorder) gives the same fit."""
    pytest.importorskip("mcap", reason="pip install 'streamconv[record]'")
    from streamconv.recording.writer import Recorder
    from streamconv.wire import decode, encode

    raw, truth = laser(1500)
    with Recorder(tmp_path / "rec.mcap") as rec:
        for i in range(1500):
            for topic, v in (("laser/raw", raw[i]), ("laser/truth", truth[i])):
                rec.write(decode(encode(topic, np.array([v]), stream="laser", kind="samples", epoch="e",
                                        seq=i, t_capture_ns=10**18 + i * 10_000_000,
                                        meta={"sample_period_ns": 10_000_000})))
    code, out, err = run(["learn", "fir", str(tmp_path / "rec.mcap"), "--taps", "7", "--json"], capsys)
    assert code == 0, err
    np.testing.assert_allclose(json.loads(out)["weights"], fir.fit_fir(raw[:1050], truth[:1050], 7))


def test_weights_file_names_the_outputs_it_has(tmp_path):
    path = tmp_path / "two.yaml"
    outputs = {"a": {"kind": "causal_fir", "weights": [1.0]},
               "b": {"kind": "causal_fir", "weights": [0.5, 0.5]}}
    path.write_text(yaml.safe_dump({"streams": {"laser": {"source": {"kind": "laser"}, "outputs": outputs}}}))
    assert _stages_from_file(str(path), "laser/b")[0]["weights"] == [0.5, 0.5]
    with pytest.raises(ValueError, match=r"no output 'laser/c' in the file; it has \['laser/a', 'laser/b'\]"):
        _stages_from_file(str(path), "laser/c")
