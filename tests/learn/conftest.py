"""Fixtures of the learn tests: the service tests' real daemon, and a small log of the laser."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from streamconv.sources.laser import LaserSimulator
from tests.service.conftest import daemon  # noqa: F401  (the real daemon on free loopback ports)

PERIOD_NS = 10_000_000  # 100 Hz


def write_log(directory: Path, topics: dict[str, np.ndarray], *, t0: int = 1_700_000_000_000_000_000) -> Path:
    """Write sample CSVs in the format `streamconv log` writes (``t_capture_ns,seq,value``)."""
    directory.mkdir(parents=True, exist_ok=True)
    for topic, values in topics.items():
        lines = ["t_capture_ns,seq,value"]
        lines += [f"{t0 + i * PERIOD_NS},{i},{float(v)!r}" for i, v in enumerate(values)]
        (directory / f"{topic.replace('/', '__')}.csv").write_text("\n".join(lines) + "\n")
    return directory


def laser(n: int, *, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``n`` samples of the default laser (100 Hz, noise 0.5): raw and truth."""
    chunk = LaserSimulator(seed=seed).read(n, 0)
    return np.asarray(chunk.values), np.asarray(chunk.truth)


@pytest.fixture
def laser_log(tmp_path: Path) -> Path:
    raw, truth = laser(3000)
    return write_log(tmp_path / "log", {"laser/raw": raw, "laser/truth": truth})
