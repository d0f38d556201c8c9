"""Test helper: a private Xvfb X server on a free display number, plus window lookup and screenshots."""

from __future__ import annotations

import os
import select
import shutil
import subprocess
import time
from pathlib import Path

import numpy as np

from tests._process import terminate

__all__ = ["INSTALL_HINT", "Xvfb", "XvfbError", "find_window", "grab", "send_key", "wait_for_window"]

INSTALL_HINT = "Xvfb is not installed: apt-get install -y xvfb x11-utils xdotool (and pip install mss)"


class XvfbError(RuntimeError):
    """Xvfb could not be started."""


class Xvfb:
    """Start ``Xvfb`` on a display number it picks itself (``-displayfd``); stop it on exit.

    ``-displayfd`` makes the server choose a free display and write its number to a pipe once it
    accepts connections, so there is no guessing of free numbers and no sleeping.

    Parameters
    ----------
    width, height, depth : int
        The screen.
    timeout : float
        Seconds to wait for the server to be ready.
    """

    def __init__(self, width: int = 1600, height: int = 1200, depth: int = 24, timeout: float = 10.0) -> None:
        self.size = (width, height, depth)
        self.timeout = timeout
        self.proc: subprocess.Popen[bytes] | None = None
        self.display: str | None = None

    @staticmethod
    def available() -> bool:
        """Whether the ``Xvfb`` binary is on the PATH."""
        return shutil.which("Xvfb") is not None

    def start(self) -> str:
        """Start the server; return its display name, e.g. ``':3'``."""
        w, h, d = self.size
        rfd, wfd = os.pipe()
        try:
            self.proc = subprocess.Popen(
                ["Xvfb", "-displayfd", str(wfd), "-screen", "0", f"{w}x{h}x{d}", "-nolisten", "tcp",
                 "-noreset"],
                pass_fds=(wfd,), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
            )
            os.close(wfd)
            wfd = -1
            buf = b""
            deadline = time.monotonic() + self.timeout
            while not buf.endswith(b"\n"):
                left = deadline - time.monotonic()
                if left <= 0 or self.proc.poll() is not None:
                    break
                ready, _, _ = select.select([rfd], [], [], left)
                if not ready:
                    break
                chunk = os.read(rfd, 64)
                if not chunk:
                    break
                buf += chunk
        finally:
            if wfd >= 0:
                os.close(wfd)
            os.close(rfd)
        if not buf.strip().isdigit():
            err = b""
            if self.proc.poll() is not None and self.proc.stderr is not None:
                err = self.proc.stderr.read()[-2000:]
            self.stop()
            detail = err.decode(errors="replace")
            raise XvfbError(f"Xvfb did not report a display within {self.timeout} s: {detail}")
        self.display = f":{int(buf.strip())}"
        return self.display

    def stop(self) -> None:
        """Terminate the server (kill it if it does not exit within 5 s)."""
        if self.proc is None:
            return
        terminate(self.proc)
        if self.proc.stderr is not None:
            self.proc.stderr.close()
        self.proc = None

    def env(self) -> dict[str, str]:
        """Return ``os.environ`` with ``DISPLAY`` set to this server (and no Wayland)."""
        env = dict(os.environ)
        env.pop("WAYLAND_DISPLAY", None)
        env["DISPLAY"] = str(self.display)
        env["QT_QPA_PLATFORM"] = "xcb"
        return env

    def __enter__(self) -> Xvfb:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def find_window(display: str, title: str) -> tuple[int, int, int, int] | None:
    """Return ``(x, y, width, height)`` on the screen of the mapped window named ``title``, or None."""
    try:
        out = subprocess.run(
            ["xwininfo", "-display", display, "-name", title],
            capture_output=True, text=True, timeout=5,
        ).stdout
    except (OSError, subprocess.TimeoutExpired):
        return None
    fields: dict[str, str] = {}
    for line in out.splitlines():
        key, sep, value = line.strip().partition(":")
        if sep:
            fields[key.strip()] = value.strip()
    if fields.get("Map State") != "IsViewable":
        return None
    try:
        return (int(fields["Absolute upper-left X"]), int(fields["Absolute upper-left Y"]),
                int(fields["Width"]), int(fields["Height"]))
    except (KeyError, ValueError):
        return None


def wait_for_window(display: str, title: str, timeout: float, proc: subprocess.Popen | None = None):
    """Poll :func:`find_window` until the window is mapped; raise ``TimeoutError`` naming it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        geom = find_window(display, title)
        if geom is not None:
            return geom
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"the process exited with {proc.returncode} before window {title!r} appeared")
        time.sleep(0.1)
    raise TimeoutError(f"no window {title!r} on {display} within {timeout} s")


def grab(display: str, rect: tuple[int, int, int, int] | None = None) -> np.ndarray:
    """Return a real screenshot of the X screen (or of ``rect`` = x, y, w, h) as (H, W, 3) uint8 BGR."""
    import mss

    factory = getattr(mss, "MSS", None) or mss.mss  # mss >= 10 has MSS; mss.mss() is deprecated there
    with factory(display=display) as sct:
        mon = sct.monitors[0]
        if rect is not None:
            x, y, w, h = rect
            mon = {"left": x, "top": y, "width": w, "height": h}
        shot = sct.grab(mon)
    return np.ascontiguousarray(np.asarray(shot)[:, :, :3])  # BGRA -> BGR


def send_key(display: str, title: str, key: str) -> bool:
    """Focus the window named ``title``, then type ``key``; False without xdotool or on failure.

    Two xdotool calls on purpose: ``key`` without a target window types through XTEST into the
    focused window, like a real keyboard.  (``key`` chained after ``search`` would use
    ``XSendEvent``, which Qt windows may ignore.)
    """
    if shutil.which("xdotool") is None:
        return False
    env = {**os.environ, "DISPLAY": display}
    focus = subprocess.run(
        ["xdotool", "search", "--name", f"^{title}$", "windowfocus", "--sync"],
        env=env, capture_output=True, timeout=10,
    )
    if focus.returncode != 0:
        return False
    typed = subprocess.run(["xdotool", "key", key], env=env, capture_output=True, timeout=10)
    return typed.returncode == 0


def save_png(path: Path, image: np.ndarray) -> None:
    """Write a BGR image as PNG (for looking at a failing test's screenshot)."""
    import cv2

    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), image)
