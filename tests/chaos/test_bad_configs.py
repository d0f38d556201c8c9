"""Configs with huge sizes: `streamconv run --check` exits 2 with one line naming the field and the limit."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

pytestmark = pytest.mark.chaos


def _camera(stage: dict, **source) -> dict:
    return {"streams": {"camera": {"source": {"kind": "synthetic", **source}, "outputs": {"x": stage}}}}


CASES = {
    "size 99999": (_camera({"kind": "kernel2d", "kernel": "box", "params": {"size": 99999}}),
                   "streams.camera.outputs.x.0", "the limit is 255"),
    "sigma 1e308": (_camera({"kind": "kernel2d", "kernel": "gaussian", "params": {"sigma": 1e308}}),
                    "streams.camera.outputs.x.0", "10000"),
    "matrix 1001x1001": (_camera({"kind": "kernel2d", "kernel": [[0.0] * 1001] * 1001}),
                         "streams.camera.outputs.x.0", "255 per side"),
    "padding 10**9": (_camera({"kind": "kernel2d", "kernel": "blur", "padding": 10**9}),
                      "streams.camera.outputs.x.0.padding", "1024"),
    "output of 4.9 GB": (_camera({"kind": "bank3d", "padding": 1024, "filters": [[[[1.0]]] * 3] * 256}),
                         "streams.camera", "over the limit of 536870912"),
    "bank K=100000": (_camera({"kind": "bank3d", "filters": [[[[1.0]]] * 3] * 100_000}),
                      "streams.camera.outputs.x.0", "K=100000 is over the limit of 256"),
    "laser weights 1e400": (
        {"streams": {"laser": {"source": {"kind": "laser"},
                               "outputs": {"s": {"kind": "causal_fir", "weights": [1e400]}}}}},
        "streams.laser.outputs.s.0.weights", "finite",
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_huge_config_is_one_line_and_exit_2(tmp_path: Path, case: str):
    data, field, limit = CASES[case]
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(data))
    r = subprocess.run([sys.executable, "-m", "streamconv", "run", "--check", "-c", str(path)],
                       capture_output=True, text=True, timeout=60)
    lines = r.stderr.strip().splitlines()
    assert r.returncode == 2, (r.returncode, r.stderr)
    assert len(lines) == 1 and "Traceback" not in r.stderr, r.stderr
    assert field in lines[0] and limit in lines[0], lines[0]


def test_a_bank_file_over_the_limit_is_refused_before_it_is_read(tmp_path: Path):
    big = tmp_path / "big.npy"
    with big.open("wb") as f:  # a header promising 4 GB, and no data
        np.lib.format.write_array_header_1_0(f, {"descr": "<f8", "fortran_order": False,
                                                 "shape": (256, 3, 63, 63 * 256)})
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(_camera({"kind": "bank3d", "file": str(big)})))
    r = subprocess.run([sys.executable, "-m", "streamconv", "run", "--check", "-c", str(path)],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "F=16128 is over the limit of 63" in r.stderr, r.stderr
