"""The live demo: a camera (or the test pattern) filtered through the daemon's pipeline, in one OpenCV window.

The window shows, top to bottom: a header bar (kernel, fps, latency, source, keys), the original
frame and the filtered frame side by side (or a 3D bank's feature maps as a montage), and a
scrolling strip chart of the simulated laser (raw, smoothed, truth).  The filters are built from
the config stage models by :class:`streamconv.pipeline.StreamPipeline`, and the sources by
:func:`streamconv.sources.factory.make_source`: the same code as ``streamconv run``.

:class:`Demo` holds the state and renders the window image without any window code (it runs
headless in tests); :func:`run` is the window loop.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from streamconv import config as cfg
from streamconv import exitcodes
from streamconv.ops import kernels
from streamconv.pipeline import StreamPipeline
from streamconv.sinks import render

__all__ = [
    "BANK_MAP_NAMES",
    "EXIT_NO_DISPLAY",
    "EXIT_OK",
    "KERNEL_SIZES",
    "WINDOW_TITLE",
    "Demo",
    "DemoOptions",
    "Entry",
    "LaserPanel",
    "catalogue_entries",
    "default_bank",
    "has_display",
    "open_frame_source",
    "run",
]

log = logging.getLogger(__name__)

#: The window's title (tests find the window by it).
WINDOW_TITLE = "streamconv demo"
#: Exit codes of :func:`run` (their names in the one table, ``streamconv.exitcodes``).
EXIT_OK = exitcodes.OK
EXIT_NO_DISPLAY = exitcodes.USAGE
#: Sizes ``+``/``-`` step through, for kernels that take a ``size``.
KERNEL_SIZES = tuple(range(3, 32, 2))
#: The output name the demo's pipeline computes.
OUTPUT = "view"
#: The names of the maps of :func:`default_bank`, in bank order.
BANK_MAP_NAMES = ("luma", "dx luma", "dy luma", "laplacian", "dx B", "dx G", "dx R", "R-G")
# ITU-R BT.601 luma weights, in the frame's B, G, R channel order.
_LUMA_BGR = (0.114, 0.587, 0.299)
_CHART_HEIGHT = 170
_MESSAGE_S = 3.0
_PAUSED_FPS = 30.0
_FPS_ALPHA = 0.1  # weight of the newest interval in the fps moving average
_DEFAULT_LASER = cfg.LaserSourceConfig(rate_hz=100.0, noise_std=5.0, outlier_prob=0.002, seed=0)


def default_bank() -> np.ndarray:
    """Return the demo's ``(8, 3, 3, 3)`` bank over B, G, R (maps named by :data:`BANK_MAP_NAMES`).

    Built from the catalogue: the centre tap and Sobel x/y and the Laplacian applied to luma
    (BT.601 weights spread over the three channels), Sobel x on each colour alone, and a
    red-minus-green opponent.  ``(K, D, F, F)`` is the layout of ``bank3d`` stages.
    """
    centre = kernels.get("identity")
    sx, sy, lap = kernels.get("sobel_x"), kernels.get("sobel_y"), kernels.get("laplacian")
    luma = np.asarray(_LUMA_BGR)[:, None, None]
    zero = np.zeros((3, 3))
    maps = [
        luma * centre,
        luma * sx,
        luma * sy,
        luma * lap,
        np.stack([sx, zero, zero]),
        np.stack([zero, sx, zero]),
        np.stack([zero, zero, sx]),
        np.stack([zero, -centre, centre]),
    ]
    return np.stack(maps).astype(np.float64)


@dataclass(frozen=True)
class Entry:
    """One choice of the ``n``/``p`` cycle: a catalogue kernel (resizable or not) or a config chain."""

    label: str
    kernel: str | None = None
    chain: tuple[Any, ...] = ()

    @property
    def sizable(self) -> bool:
        """Whether ``+``/``-`` apply (the kernel takes a ``size`` parameter)."""
        return self.kernel is not None and "size" in kernels.info(self.kernel).params

    def default_size(self) -> int:
        """Return the kernel's size at its default parameters."""
        return int(kernels.get(self.kernel).shape[0]) if self.kernel is not None else 0

    def stages(self, size: int | None) -> list[Any]:
        """Return the validated stage configs of this entry at ``size`` (ignored when not sizable)."""
        if self.kernel is None:
            return list(self.chain)
        params = {"size": int(size)} if self.sizable and size is not None else {}
        return [cfg.Kernel2DStage(kernel=self.kernel, params=params, padding="same")]


def catalogue_entries() -> list[Entry]:
    """Return one entry per catalogue kernel, in :func:`streamconv.ops.kernels.names` order."""
    return [Entry(name, kernel=name) for name in kernels.names()]


# ---------------------------------------------------------------------------------------- laser
class LaserPanel:
    """The laser simulator and its causal filter, run in-process; keeps the last ``window_s`` seconds.

    Parameters
    ----------
    stream : StreamConfig
        A laser stream: its source parameters and its first output chain (the smoothed line).
    window_s : float
        Seconds of history shown.
    """

    def __init__(self, stream: cfg.StreamConfig, *, window_s: float = 5.0) -> None:
        from streamconv.sources.factory import make_source

        if stream.items != "samples":
            raise cfg.ConfigError(f"the laser panel needs a laser stream, got source {stream.source.kind!r}")
        self.stream = stream
        self.sim = make_source(stream.source)
        self.pipeline = StreamPipeline("laser", stream)
        self.output = next(iter(stream.outputs), None)
        self.window = max(2, round(window_s * self.sim.rate_hz))
        self.raw = np.empty(0)
        self.truth = np.empty(0)
        self.smoothed = np.empty(0)
        self._t0: float | None = None

    def advance(self, now_s: float) -> int:
        """Read the samples due by ``now_s`` (monotonic seconds), filter them; return how many."""
        if self._t0 is None:
            self._t0 = now_s - self.window / self.sim.rate_hz  # start with a full window
        due = int((now_s - self._t0) * self.sim.rate_hz) - self.sim.samples_read
        if due <= 0:
            return 0
        if due > 10 * self.window:  # a long stall (e.g. paused): jump ahead instead of catching up
            self._t0 += (due - self.window) / self.sim.rate_hz
            due = self.window
        chunk = self.sim.read(due, time.time_ns())
        outs = {o.name: o.array for o in self.pipeline.process(chunk.values)}
        smoothed = outs.get(self.output, np.full(due, np.nan)) if self.output else np.full(due, np.nan)
        truth = chunk.truth if chunk.truth is not None else np.full(due, np.nan)
        w = self.window
        self.raw = np.concatenate([self.raw, chunk.values])[-w:]
        self.truth = np.concatenate([self.truth, truth])[-w:]
        self.smoothed = np.concatenate([self.smoothed, np.asarray(smoothed, np.float64)])[-w:]
        return due

    def resume(self, now_s: float) -> None:
        """Continue after a pause without catching up on the paused time."""
        if self._t0 is not None:
            self._t0 = now_s - self.sim.samples_read / self.sim.rate_hz

    def _smoothed_label(self) -> str:
        if self.output is None:
            return "smoothed"
        chain = self.stream.outputs[self.output]
        if len(chain) == 1 and isinstance(chain[0], cfg.CausalFIRStage):
            return f"{self.output} (causal FIR, {len(chain[0].weights)} taps)"
        return self.output

    def chart(self, height: int = _CHART_HEIGHT) -> render.Chart:
        """Return the strip chart of the window: raw, truth and smoothed."""
        c = render.COLOURS
        seconds = self.window / self.sim.rate_hz
        return render.Chart(
            series=[
                render.Series(self.raw, c["raw"], "raw"),
                render.Series(self.smoothed, c["smoothed"], self._smoothed_label()),
                render.Series(self.truth, c["truth"], "truth"),
            ],
            height=height,
            title=f"laser range (m), last {seconds:g} s at {self.sim.rate_hz:g} Hz",
            window=self.window,
        )


# --------------------------------------------------------------------------------------- source
@contextlib.contextmanager
def _camera_warnings_muted() -> Iterator[None]:
    """Hold back the camera module's own open-failure warning (the demo says it once itself)."""
    logger = logging.getLogger("streamconv.sources.camera")

    def drop(record: logging.LogRecord) -> bool:
        return record.levelno < logging.WARNING

    logger.addFilter(drop)
    try:
        yield
    finally:
        logger.removeFilter(drop)


def open_frame_source(
    spec: str | cfg.SyntheticSourceConfig | cfg.CameraSourceConfig,
    *,
    width: int | None = None,
    height: int | None = None,
    fps: float | None = None,
    seed: int = 0,
) -> tuple[Any, Any, str]:
    """Open a frame source, falling back to the synthetic pattern when a camera or file cannot be opened.

    Parameters
    ----------
    spec : str or source config
        ``'synthetic'``, a device index (``'0'``), a video file path or URL, or a validated
        source config.  Files loop.
    width, height, fps : optional
        Requested frame size and rate (the synthetic pattern defaults to 640x480 at 30 fps).
    seed : int
        Seed of the synthetic pattern.

    Returns
    -------
    (source, source_config, description)
        The object built by :func:`streamconv.sources.factory.make_source`, the config it was built from,
        and a short text for the header.  A failure to open is logged once as a warning.
    """
    from streamconv.sources.factory import make_source

    if isinstance(spec, str):
        text = spec.strip()
        if text == "synthetic":
            spec = _synthetic(width, height, fps, seed)
        else:
            device: int | str = int(text) if text.isdigit() else text
            is_file = isinstance(device, str) and "://" not in device
            spec = cfg.CameraSourceConfig(device=device, width=width, height=height, fps=fps, loop=is_file)
    if isinstance(spec, cfg.SyntheticSourceConfig):
        src = make_source(spec)
        return src, spec, f"synthetic {spec.width}x{spec.height} seed {spec.seed}"
    with _camera_warnings_muted():
        src = make_source(spec)
    what = f"camera {spec.device}" if isinstance(spec.device, int) else f"{spec.device}"
    if src.is_open:
        return src, spec, f"{what} {src.width}x{src.height}"
    src.close()
    fallback = _synthetic(width, height, fps, seed)
    log.warning(
        "%s cannot be opened; showing the synthetic test pattern instead (choose with --source)", what
    )
    text = f"synthetic {fallback.width}x{fallback.height} ({what} unavailable)"
    return make_source(fallback), fallback, text


def _synthetic(
    width: int | None, height: int | None, fps: float | None, seed: int
) -> cfg.SyntheticSourceConfig:
    return cfg.SyntheticSourceConfig(
        width=width or 640, height=height or 480, fps=30.0 if fps is None else fps, seed=seed
    )


# ----------------------------------------------------------------------------------------- demo
@dataclass
class DemoOptions:
    """What ``streamconv demo`` was asked for (see ``docs/demo.md``)."""

    source: str | None = None
    config: Path | None = None
    kernel: str | None = None
    size: int | None = None
    width: int | None = None
    height: int | None = None
    fps: float | None = None
    seed: int = 0
    frames: int | None = None
    pause_at: int | None = None
    screenshot: Path | None = None
    out_dir: Path = field(default_factory=Path)
    window: bool = True
    laser: bool = True
    laser_window_s: float = 5.0


class Demo:
    """The demo's state and its window image; no window code (``render`` returns the image).

    Parameters
    ----------
    source : FrameSource
        Where frames come from.
    source_config : SyntheticSourceConfig or CameraSourceConfig
        The config the source was built from (the pipeline's stream config holds it).
    entries : sequence of Entry
        The ``n``/``p`` cycle.
    start : int
        Index of the first entry shown.
    size : int, optional
        Start size of that entry (it must take a size).
    laser : LaserPanel, optional
        The strip chart's simulator; None for no chart.
    pause_at : int, optional
        Freeze on the frame with this index (the source's counter, from 0).
    description : str
        The source, for the header.
    clock : callable
        Monotonic seconds (fps, laser timing).
    """

    def __init__(
        self,
        source: Any,
        source_config: Any,
        entries: Sequence[Entry],
        *,
        start: int = 0,
        size: int | None = None,
        laser: LaserPanel | None = None,
        pause_at: int | None = None,
        description: str = "",
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not entries:
            raise cfg.ConfigError("the demo needs at least one filter entry")
        self.source = source
        self.entries = list(entries)
        self.index = start % len(self.entries)
        self.sizes: dict[str, int] = {e.label: e.default_size() for e in self.entries if e.sizable}
        if size is not None:
            self._set_size(self.entries[self.index], size)
        self.bank_mode = False
        self.bank = default_bank()
        self.laser = laser
        self.pause_at = pause_at
        self.paused = False
        self.description = description
        self.clock = clock
        self.pipeline = StreamPipeline(
            "demo", cfg.StreamConfig(source=source_config, outputs={OUTPUT: self._stages()})
        )
        self.frame: np.ndarray | None = None
        self.frame_index = -1
        self.t_capture_ns = 0
        self.output: Any = None
        self.filter_ms = 0.0
        self.latency_ms = 0.0
        self.fps = 0.0
        self._last_frame_t: float | None = None
        self._message = ("", 0.0)
        self.last_canvas: np.ndarray | None = None
        self.saved: list[Path] = []

    # -- filter choice -------------------------------------------------------------------------
    @property
    def entry(self) -> Entry:
        """The entry shown."""
        return self.entries[self.index]

    @property
    def size(self) -> int | None:
        """The current entry's kernel size, or None for fixed kernels and chains."""
        return self.sizes.get(self.entry.label)

    def _set_size(self, entry: Entry, size: int) -> None:
        if not entry.sizable:
            raise cfg.ConfigError(
                f"kernel {entry.label!r} has a fixed size; sizes apply to {self._sizable()}"
            )
        if size not in KERNEL_SIZES:
            raise cfg.ConfigError(f"invalid size {size}; expected an odd size in 3..31")
        self.sizes[entry.label] = size

    def _sizable(self) -> list[str]:
        return [e.label for e in self.entries if e.sizable]

    def _stages(self) -> list[Any]:
        if self.bank_mode:
            return [cfg.Bank3DStage(filters=self.bank.tolist(), padding="same")]
        return self.entry.stages(self.size)

    def _rebuild(self) -> None:
        self.pipeline.set_output(OUTPUT, self._stages())
        if self.frame is not None:
            self._filter()

    def select(self, step: int) -> None:
        """Show the entry ``step`` places on (cyclic); leaves bank mode."""
        self.index = (self.index + step) % len(self.entries)
        self.bank_mode = False
        self._rebuild()

    def resize(self, step: int) -> None:
        """Change the current kernel's size by ``step`` odd sizes (within 3..31)."""
        e = self.entry
        if self.bank_mode or not e.sizable:
            self.say(f"{e.label} has a fixed size; +/- apply to {', '.join(self._sizable())}")
            return
        i = KERNEL_SIZES.index(self.size) if self.size in KERNEL_SIZES else 0
        self.sizes[e.label] = KERNEL_SIZES[min(max(i + step, 0), len(KERNEL_SIZES) - 1)]
        self._rebuild()

    def toggle_bank(self) -> None:
        """Switch between the current kernel and the 3D bank's feature maps."""
        self.bank_mode = not self.bank_mode
        self._rebuild()

    def say(self, text: str) -> None:
        """Show ``text`` in the header for a few seconds (and log it)."""
        log.info("%s", text)
        self._message = (text, self.clock() + _MESSAGE_S)

    # -- frames --------------------------------------------------------------------------------
    def step(self) -> bool:
        """Read and filter the next frame unless paused; advance the laser; return True for a new frame."""
        now = self.clock()
        if self.paused:
            return False
        if self.laser is not None:
            self.laser.advance(now)
        item = self.source.read(time.time_ns())
        if item is None:
            return False
        self.frame = item.image
        self.frame_index = item.index
        self.t_capture_ns = item.t_capture_ns
        self._filter()
        if self._last_frame_t is not None:
            dt = now - self._last_frame_t
            if dt > 0:
                self.fps = 1.0 / dt if self.fps == 0 else (1 - _FPS_ALPHA) * self.fps + _FPS_ALPHA / dt
        self._last_frame_t = now
        if self.pause_at is not None and item.index >= self.pause_at:
            self.paused = True
            self.pause_at = None
        return True

    def _filter(self) -> None:
        assert self.frame is not None
        t0 = time.perf_counter_ns()
        outs = self.pipeline.process(self.frame)
        t1 = time.perf_counter_ns()
        self.output = outs[0] if outs else None
        self.filter_ms = (t1 - t0) / 1e6
        self.latency_ms = (time.time_ns() - self.t_capture_ns) / 1e6

    def toggle_pause(self) -> None:
        """Freeze or unfreeze the frame (and the laser chart)."""
        self.paused = not self.paused
        if not self.paused:
            self._last_frame_t = None
            if self.laser is not None:
                self.laser.resume(self.clock())

    # -- drawing -------------------------------------------------------------------------------
    def _filter_text(self) -> str:
        if self.bank_mode:
            k, d, f, _ = self.bank.shape
            return f"3D bank {k}x{d}x{f}x{f}"
        e = self.entry
        if e.kernel is None:
            return f"{e.label} (config chain)"
        size = self.size if e.sizable else kernels.get(e.kernel).shape[0]
        return f"{e.label} {size}x{size}"

    def header(self) -> list[str]:
        """Return the header lines: filter and timing; source and frame; keys and messages."""
        state = "PAUSED" if self.paused else ""
        msg, until = self._message
        msg = msg if self.clock() < until else ""
        return [
            f"{self._filter_text()}   [{self.index + 1}/{len(self.entries)}]   "
            f"{self.fps:5.1f} fps   latency {self.latency_ms:6.2f} ms (filter {self.filter_ms:.2f} ms)",
            f"source: {self.description}   frame #{max(self.frame_index, 0)} {state}   {msg}".rstrip(),
            "keys: n/p kernel   +/- size   b 3D bank   space pause   s screenshot   q/Esc quit",
        ]

    def panes(self) -> list[render.Pane]:
        """Return the original and the filtered pane (the montage in bank mode)."""
        if self.frame is None:
            blank = np.zeros((480, 640, 3), np.uint8)
            return [render.Pane(blank, "waiting for the first frame"), render.Pane(blank, "")]
        left = render.Pane(self.frame, f"original  #{self.frame_index}")
        out = self.output
        if out is None:
            return [left, render.Pane(np.zeros_like(self.frame), "no output")]
        if out.kind == "features":
            k = out.array.shape[2]
            h, w = self.frame.shape[:2]
            grid = render.montage_fit(out.array)
            names = ", ".join(BANK_MAP_NAMES) if self.bank_mode else f"maps 0..{k - 1}, row by row"
            return [left, render.Pane(render.fit(grid, w, h), f"{k} feature maps (each min..max): {names}")]
        arr = out.array
        how = "" if arr.dtype == np.uint8 else f" {arr.dtype.name}: |x| clipped to 0..255"
        return [left, render.Pane(arr, f"{self._filter_text()}{how}")]

    def render(self) -> np.ndarray:
        """Return the window image (also kept as :attr:`last_canvas`)."""
        chart = self.laser.chart() if self.laser is not None else None
        canvas, _ = render.compose(self.panes(), self.header(), chart=chart, min_width=640)
        self.last_canvas = canvas
        return canvas

    # -- keys ----------------------------------------------------------------------------------
    def handle_key(self, key: int, *, out_dir: Path = Path()) -> bool:
        """Act on a key code (``cv2.waitKey`` value); return False to quit."""
        if key < 0:
            return True
        ch = chr(key & 0xFF)
        if ch in ("q", "\x1b"):
            return False
        if ch == "n":
            self.select(+1)
        elif ch == "p":
            self.select(-1)
        elif ch in ("+", "="):
            self.resize(+1)
        elif ch in ("-", "_"):
            self.resize(-1)
        elif ch == "b":
            self.toggle_bank()
        elif ch == " ":
            self.toggle_pause()
        elif ch == "s":
            self.save(out_dir)
        return True

    def save(self, out_dir: Path) -> Path | None:
        """Write the last window image as a PNG into ``out_dir``; return its path."""
        if self.last_canvas is None:
            return None
        out_dir.mkdir(parents=True, exist_ok=True)
        path = out_dir / f"streamconv-demo-{time.strftime('%Y%m%d-%H%M%S')}-{len(self.saved):03d}.png"
        if not cv2.imwrite(str(path), self.last_canvas):
            self.say(f"could not write {path}")
            return None
        self.saved.append(path)
        self.say(f"saved {path}")
        return path

    def close(self) -> None:
        """Release the source and the simulator."""
        self.source.close()
        if self.laser is not None:
            self.laser.sim.close()

    # -- construction --------------------------------------------------------------------------
    @classmethod
    def from_options(cls, opts: DemoOptions) -> Demo:
        """Build the demo an options object asks for (config file, source, start kernel, laser)."""
        entries = catalogue_entries()
        frame_stream = laser_stream = None
        if opts.config is not None:
            config = cfg.load(opts.config)
            for name, stream in config.streams.items():
                if stream.items == "samples":
                    laser_stream = laser_stream or stream
                elif frame_stream is None:
                    frame_stream = (name, stream)
            if frame_stream is not None:
                name, stream = frame_stream
                entries = [
                    Entry(f"{name}/{out}", chain=tuple(chain)) for out, chain in stream.outputs.items()
                ] + entries
        start = 0
        if opts.kernel is not None:
            labels = [e.label for e in entries]
            if opts.kernel not in labels:
                raise cfg.ConfigError(f"invalid kernel {opts.kernel!r}; expected one of {labels}")
            start = labels.index(opts.kernel)
        elif frame_stream is None:
            start = [e.label for e in entries].index("sharpen")
        spec: Any = opts.source
        if spec is None:
            spec = frame_stream[1].source if frame_stream is not None else "0"
        source, source_config, description = open_frame_source(
            spec, width=opts.width, height=opts.height, fps=opts.fps, seed=opts.seed
        )
        laser = None
        if opts.laser:
            if laser_stream is None:
                laser_stream = cfg.StreamConfig(
                    source=_DEFAULT_LASER,
                    outputs={"smoothed": [cfg.CausalFIRStage(weights=list(cfg.DEFAULT_WEIGHTS))]},
                )
            laser = LaserPanel(laser_stream, window_s=opts.laser_window_s)
        return cls(
            source, source_config, entries, start=start, size=opts.size, laser=laser,
            pause_at=opts.pause_at, description=description,
        )


# ---------------------------------------------------------------------------------------- window
def has_display() -> bool:
    """Whether a window can be opened: always on Windows and macOS, else DISPLAY or WAYLAND_DISPLAY."""
    if sys.platform.startswith(("win", "darwin")):
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def run(opts: DemoOptions) -> int:
    """Run the demo window until q/Esc, a closed window or ``opts.frames``; return an exit code."""
    if opts.window and not has_display():
        log.error(
            "no display (DISPLAY is not set): run it in a desktop session, under `xvfb-run`, "
            "or without a window: --no-window --screenshot PATH"
        )
        return EXIT_NO_DISPLAY
    demo = Demo.from_options(opts)
    shown = 0
    try:
        if opts.window:
            cv2.namedWindow(WINDOW_TITLE, cv2.WINDOW_AUTOSIZE | cv2.WINDOW_GUI_NORMAL)
        # Devices and live streams pace themselves (read waits for the next frame); files and the
        # test pattern are paced here at their nominal rate, as the daemon's source actor does.
        live = getattr(demo.source, "kind", None) in ("device", "url")
        pace = 0.0 if live else float(demo.source.fps or 0.0)
        next_t = time.monotonic()
        while True:
            demo.step()
            canvas = demo.render()
            shown += 1
            fps = _PAUSED_FPS if demo.paused else pace
            next_t += 1.0 / fps if fps and fps > 0 else 0.0
            now = time.monotonic()
            if next_t < now - 0.5:  # fell behind (a slow filter): do not try to catch up
                next_t = now
            delay_ms = max(1, round((next_t - now) * 1000))
            if opts.window:
                cv2.imshow(WINDOW_TITLE, canvas)
                key = cv2.waitKey(delay_ms)
                if not demo.handle_key(key, out_dir=opts.out_dir):
                    break
                if cv2.getWindowProperty(WINDOW_TITLE, cv2.WND_PROP_VISIBLE) < 1:
                    break  # closed with the window's close button
            else:
                time.sleep(delay_ms / 1000)
            if opts.frames is not None and shown >= opts.frames:
                break
    except KeyboardInterrupt:
        pass
    finally:
        if opts.screenshot is not None and demo.last_canvas is not None:
            opts.screenshot.parent.mkdir(parents=True, exist_ok=True)
            cv2.imwrite(str(opts.screenshot), demo.last_canvas)
            log.info("window image written to %s", opts.screenshot)
        demo.close()
        if opts.window:
            cv2.destroyAllWindows()
            cv2.waitKey(1)
    return EXIT_OK
