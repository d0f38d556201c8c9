"""Learnt filters on a real daemon: fitted weights through `ctl set --weights-file`, a learnt bank."""

from __future__ import annotations

import json
import time
from collections import defaultdict

import numpy as np
import pytest

from streamconv import cli, config
from streamconv.client import Subscriber
from tests._reference import naive_conv3d
from tests.service.test_daemon import fir_reference

pytestmark = pytest.mark.slow


def test_fitted_weights_applied_live(daemon, laser_log, tmp_path, capsys):
    out_file = tmp_path / "fit.yaml"
    assert cli.main(["learn", "fir", str(laser_log), "--taps", "32", "--out", str(out_file)]) == 0
    (stage,) = config.load(out_file).streams["laser"].outputs["smoothed"]
    fitted = np.array(stage.weights)
    new_hash = stage.spec_hash()  # 32 weights: the header names the spec by hash

    by_topic: dict[str, list] = defaultdict(list)
    deadline = time.monotonic() + 20
    with Subscriber(daemon.publish, ["laser/raw", "laser/smoothed"], timeout=5.0) as sub:
        sub.wait_ready(timeout=10)
        t_start = time.monotonic()
        while time.monotonic() - t_start < 0.5:  # raw history from before the change
            msg = sub.recv()
            by_topic[msg.topic].append(msg)
        code = cli.main(["ctl", "set", "laser/smoothed", "--weights-file", str(out_file),
                         "--control", daemon.control])
        assert code == 0, capsys.readouterr().err

        def new(m):
            return m.meta["filter"][0].get("spec_hash") == new_hash

        while sum(1 for m in by_topic["laser/smoothed"] if new(m)) < 40:
            assert time.monotonic() < deadline, {t: len(v) for t, v in by_topic.items()}
            msg = sub.recv()
            by_topic[msg.topic].append(msg)
        assert sub.gaps == 0 and sub.malformed == 0

    raws = sorted(by_topic["laser/raw"], key=lambda m: m.header.meta["first_sample"])
    first = raws[0].header.meta["first_sample"]
    series = np.concatenate([m.array for m in raws])
    assert len(series) == raws[-1].header.meta["first_sample"] + len(raws[-1].array) - first  # contiguous
    ref = fir_reference(series, fitted)
    raw_by_seq = {m.seq: m for m in raws}
    smoothed = sorted(by_topic["laser/smoothed"], key=lambda m: m.seq)
    changed = [m for m in smoothed if new(m)]
    old = [m for m in smoothed if not new(m)]
    assert old and changed and max(m.seq for m in old) < min(m.seq for m in changed)  # one switch-over
    checked = 0
    for i, m in enumerate(changed):
        start = raw_by_seq[m.seq].header.meta["first_sample"] - first
        expect = ref[start : start + len(m.array)]
        if i == 0:  # the first new output's window straddles the change: state carried over, no warm-up
            assert not np.isnan(expect).any(), "collect more raw history before the change"
        if not np.isnan(expect).any():
            np.testing.assert_allclose(m.array, expect, rtol=0, atol=1e-9)
            checked += 1
    assert checked >= 40
    status = daemon.request({"cmd": "status"})["status"]
    assert status["streams"]["laser"]["outputs"]["smoothed"][0]["weights"] == stage.weights


def test_learnt_bank_runs_live_on_the_camera(daemon, tmp_path, capsys):
    pytest.importorskip("sklearn")
    path = tmp_path / "bank.npy"
    assert cli.main(["learn", "bank", "--filters", "4", "--epochs", "3", "--out", str(path)]) == 0
    capsys.readouterr()
    stages = json.dumps({"kind": "bank3d", "file": str(path)})
    code = cli.main(["ctl", "set", "camera/learnt", "--stages", stages, "--control", daemon.control])
    assert code == 0, capsys.readouterr().err
    learnt = np.load(path)
    raw_by_seq: dict[int, np.ndarray] = {}
    deadline = time.monotonic() + 20
    checked = 0
    with Subscriber(daemon.publish, ["camera/raw", "camera/learnt"], timeout=5.0) as sub:
        while checked < 3:
            assert time.monotonic() < deadline, f"checked {checked}"
            msg = sub.recv()
            if msg.topic == "camera/raw":
                raw_by_seq[msg.seq] = np.array(msg.array)
            elif msg.seq in raw_by_seq:
                assert msg.kind == "features" and msg.array.shape == (120, 160, 4)
                expect = naive_conv3d(raw_by_seq[msg.seq].astype(np.float64), learnt, padding="same")
                np.testing.assert_allclose(msg.array, expect, rtol=1e-5, atol=1e-3)
                checked += 1
