"""Stream sources: the source protocols, the laser simulator, cameras and files, and in-memory twins."""

from streamconv.sources.base import FrameItem, FrameSource, SampleChunk, SampleSource
from streamconv.sources.camera import CameraSource, open_source
from streamconv.sources.laser import PHASE_KINDS, LaserSimulator, Phase
from streamconv.sources.memory import ListFrameSource, ListSampleSource, ListSink
from streamconv.sources.synthetic import PATTERNS, SyntheticCamera

__all__ = [
    "PATTERNS",
    "PHASE_KINDS",
    "CameraSource",
    "FrameItem",
    "FrameSource",
    "LaserSimulator",
    "ListFrameSource",
    "ListSampleSource",
    "ListSink",
    "Phase",
    "SampleChunk",
    "SampleSource",
    "SyntheticCamera",
    "open_source",
]
