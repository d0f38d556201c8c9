"""Builds the source object of a validated source config (the one place a source kind becomes a source)."""

from __future__ import annotations

from typing import Any

from streamconv import config as cfg

__all__ = ["make_source"]


def make_source(source: Any) -> Any:
    """Build the source object of a validated source config."""
    if isinstance(source, cfg.LaserSourceConfig):
        from streamconv.sources.laser import LaserSimulator

        return LaserSimulator(
            rate_hz=source.rate_hz, noise_std=source.noise_std, outlier_prob=source.outlier_prob,
            dropout_prob=source.dropout_prob, seed=source.seed,
        )
    if isinstance(source, cfg.SyntheticSourceConfig):
        from streamconv.sources.synthetic import SyntheticCamera

        return SyntheticCamera(width=source.width, height=source.height, fps=source.fps, seed=source.seed)
    if isinstance(source, cfg.CameraSourceConfig):
        from streamconv.sources.camera import CameraSource

        return CameraSource(
            source.device, width=source.width, height=source.height, fps=source.fps, loop=source.loop
        )
    if isinstance(source, cfg.ReplaySourceConfig):
        from streamconv.sources.replay import ReplayFrames, ReplaySamples

        if source.items == "samples":
            return ReplaySamples(source.path, source.topics, rate=source.rate, loop=source.loop)
        return ReplayFrames(source.path, source.topics[0], fps=source.recorded_rate_hz * source.rate,
                            loop=source.loop)
    raise TypeError(f"unknown source config {type(source).__name__}")
