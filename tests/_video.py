"""Reading back video files the tests wrote, with OpenCV alone."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np


def read_video_with_fps(path: Path | str) -> tuple[list[np.ndarray], float]:
    """Return every frame of ``path`` and the frame rate its container declares."""
    cap = cv2.VideoCapture(str(path))
    frames = []
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        frames.append(frame)
    fps = cap.get(cv2.CAP_PROP_FPS)
    cap.release()
    return frames, fps


def read_video(path: Path | str) -> list[np.ndarray]:
    """Return every frame of ``path``."""
    return read_video_with_fps(path)[0]
