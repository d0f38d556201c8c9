import logging

import cv2
import numpy as np
import pytest

from streamconv.errors import StreamconvError
from streamconv.sources import CameraSource, FrameSource, SyntheticCamera, open_source

N_FRAMES = 20
W, H = 96, 64
LOGGER = "streamconv.sources.camera"


class FakeClock:
    """A deterministic monotonic clock the test advances by hand."""

    def __init__(self, now: float = 100.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def codec(tmp_path_factory):
    """The first (fourcc, suffix) whose VideoWriter opens here: MJPG/.avi, else mp4v/.mp4."""
    tmp = tmp_path_factory.mktemp("codec")
    for fourcc, suffix in (("MJPG", ".avi"), ("mp4v", ".mp4")):
        writer = cv2.VideoWriter(str(tmp / f"probe{suffix}"), cv2.VideoWriter_fourcc(*fourcc), 10.0, (W, H))
        ok = writer.isOpened()
        writer.release()
        if ok:
            return fourcc, suffix
    pytest.skip("no working video codec in this OpenCV build")


def level(k: int) -> int:
    return 20 + 10 * k


def make_frames(n: int = N_FRAMES) -> list[np.ndarray]:
    """Synthetic frames with a flat corner patch whose level encodes the frame number."""
    cam = SyntheticCamera(W, H, seed=1)
    frames = []
    for k in range(n):
        img = cam.frame(k)
        img[:16, -16:] = level(k)
        frames.append(img)
    return frames


def write_video(path, frames, codec, fps=25.0, is_color=True):
    h, w = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*codec[0]), fps, (w, h), is_color)
    assert writer.isOpened()
    for f in frames:
        writer.write(f)
    writer.release()
    return path


@pytest.fixture
def video(tmp_path, codec):
    frames = make_frames()
    return write_video(tmp_path / f"clip{codec[1]}", frames, codec), frames


def patch_level(img: np.ndarray) -> float:
    return float(img[2:14, -14:-2].mean())


# -- files ----------------------------------------------------------------------------------------


def test_a_written_video_reads_back(video):
    path, frames = video
    src = CameraSource(str(path))
    assert isinstance(src, FrameSource)
    assert (src.kind, src.width, src.height, src.fps) == ("file", W, H, 25.0)
    items = []
    while (item := src.read(t_capture_ns=1000 + len(items))) is not None:
        items.append(item)
    assert len(items) == N_FRAMES and src.frames_read == N_FRAMES
    assert src.exhausted and src.read(t_capture_ns=0) is None
    for k, item in enumerate(items):
        assert item.index == k and item.t_capture_ns == 1000 + k
        assert item.image.shape == (H, W, 3) and item.image.dtype == np.uint8
        assert item.image.flags.c_contiguous
        # Lossy codec: close on average, and the patch says which frame it is.
        assert np.abs(item.image.astype(np.int16) - frames[k]).mean() < 8.0
        assert patch_level(item.image) == pytest.approx(level(k), abs=4)
    assert src.failures == 0 and src.reopen_attempts == 0


def test_loop_rewinds_and_the_index_keeps_growing(video):
    path, _ = video
    src = CameraSource(path.as_posix(), loop=True)
    items = [src.read(t_capture_ns=k) for k in range(2 * N_FRAMES + 5)]
    assert all(it is not None for it in items)
    assert [it.index for it in items] == list(range(2 * N_FRAMES + 5))
    for it in items:
        assert patch_level(it.image) == pytest.approx(level(it.index % N_FRAMES), abs=4)
    assert not src.exhausted and src.failures == 0


def test_requested_size_resizes_and_is_noted_in_info(video):
    path, _ = video
    src = CameraSource(str(path), width=48, height=40, fps=5.0)
    item = src.read(t_capture_ns=0)
    assert item.image.shape == (40, 48, 3) and item.image.flags.c_contiguous
    assert (src.width, src.height, src.fps) == (48, 40, 5.0)
    assert src.info["resized"] and src.info["native_size"] == (W, H)
    assert src.info["requested"] == {"width": 48, "height": 40, "fps": 5.0}


def test_grey_video_is_delivered_as_bgr(tmp_path, codec):
    grey = [np.full((H, W), 30 + 8 * k, np.uint8) for k in range(5)]
    path = write_video(tmp_path / f"grey{codec[1]}", grey, codec, is_color=False)
    src = CameraSource(str(path))
    item = src.read(t_capture_ns=0)
    assert item.image.shape == (H, W, 3)
    channels = item.image.astype(np.int16)
    assert np.abs(channels[..., 0] - channels[..., 2]).max() <= 3
    assert item.image.mean() == pytest.approx(30, abs=3)


@pytest.mark.parametrize(
    ("frame", "expected"),
    [
        (np.full((4, 6), 7, np.uint8), "gray"),
        (np.full((4, 6, 1), 7, np.uint8), "gray"),
        (np.full((4, 6, 4), 7, np.uint8), "bgra"),
        (np.full((4, 6, 3), 7 * 256 + 200, np.uint16), "uint16"),
        (np.full((4, 6, 3), 7 / 255, np.float32), "float32"),
    ],
)
def test_frames_of_other_layouts_are_converted_to_bgr_uint8(video, frame, expected):
    src = CameraSource(str(video[0]))
    out = src._to_bgr(frame)
    assert out.shape == (4, 6, 3) and out.dtype == np.uint8 and out.flags.c_contiguous
    assert np.all(out == 7)
    assert src.info["converted_from"] == expected


def test_close_stops_reading(video):
    with CameraSource(str(video[0])) as src:
        assert src.read(0) is not None
    assert not src.is_open and src.read(0) is None


# -- outages and backoff --------------------------------------------------------------------------


def test_missing_file_warns_once_and_retries_with_doubling_backoff(tmp_path, caplog):
    clock = FakeClock(100.0)
    caplog.set_level(logging.DEBUG, logger=LOGGER)
    src = CameraSource(str(tmp_path / "nope.avi"), reopen_backoff=(0.5, 4.0), clock=clock)
    assert src.failures == 1 and src.reopen_attempts == 0 and src.next_retry_at == 100.5
    # Attempts fall due at +0.5, then 1, 2, 4, 4, 4 s later (the longest delay is 4 s).
    due = [100.5, 101.5, 103.5, 107.5, 111.5, 115.5]
    for attempt, t in enumerate(due, start=1):
        clock.now = t - 1e-3
        for _ in range(50):  # no busy loop: reading before the due time never tries to open
            assert src.read(t_capture_ns=0) is None
        assert src.reopen_attempts == attempt - 1
        clock.now = t
        assert src.read(t_capture_ns=0) is None
        assert src.reopen_attempts == attempt
    assert src.failures == 1 + len(due)
    warnings = [r for r in caplog.records if r.name == LOGGER and r.levelno >= logging.WARNING]
    assert len(warnings) == 1
    assert "nope.avi" in warnings[0].getMessage() and "no such file" in warnings[0].getMessage()
    assert not src.exhausted


@pytest.mark.parametrize("device", [99, "99"])
def test_missing_device_returns_none_and_warns_once(device, caplog):
    clock = FakeClock()
    caplog.set_level(logging.WARNING, logger=LOGGER)
    src = CameraSource(device, clock=clock)
    assert src.kind == "device" and not src.is_open
    assert src.read(t_capture_ns=0) is None
    clock.now += 0.5
    assert src.read(t_capture_ns=0) is None
    assert src.reopen_attempts == 1 and src.failures == 2
    assert src.next_retry_at == pytest.approx(clock.now + 1.0)
    assert len([r for r in caplog.records if r.name == LOGGER]) == 1


def test_a_file_that_appears_later_is_opened_at_the_next_retry(tmp_path, codec, caplog):
    clock = FakeClock()
    caplog.set_level(logging.INFO, logger=LOGGER)
    path = tmp_path / f"late{codec[1]}"
    src = CameraSource(str(path), clock=clock)
    assert src.read(t_capture_ns=0) is None
    clock.now += 0.5
    assert src.read(t_capture_ns=0) is None  # first retry: still missing
    assert src.next_retry_at == pytest.approx(clock.now + 1.0)
    frames = make_frames()
    write_video(path, frames, codec)
    clock.now += 0.9
    assert src.read(t_capture_ns=0) is None  # it exists now, but the retry is not due yet
    assert src.reopen_attempts == 1
    clock.now += 0.1
    first = src.read(t_capture_ns=42)
    assert first is not None and first.index == 0 and first.t_capture_ns == 42
    assert patch_level(first.image) == pytest.approx(level(0), abs=4)
    assert src.reopen_attempts == 2 and src.failures == 2 and src.is_open
    assert (src.width, src.height) == (W, H)
    rest = []
    while (item := src.read(t_capture_ns=0)) is not None:
        rest.append(item)
    assert len(rest) == N_FRAMES - 1 and src.exhausted
    messages = [r.getMessage() for r in caplog.records if r.name == LOGGER]
    assert sum("retrying" in m for m in messages) == 1
    assert any("reopened after 2 retries" in m for m in messages)


def test_url_is_a_stream_and_an_unreachable_one_is_an_outage():
    clock = FakeClock()
    src = CameraSource("http://127.0.0.1:9/none.mjpg", clock=clock)  # discard port: refused at once
    assert src.kind == "url" and src.read(t_capture_ns=0) is None and src.failures == 1


# -- the factory and validation -------------------------------------------------------------------


def test_open_source_dispatches_on_the_spec(video):
    synth = open_source("synthetic", width=32, height=24, fps=0.0)
    assert isinstance(synth, SyntheticCamera) and synth.read(0).image.shape == (24, 32, 3)
    assert synth.fps == 0.0
    static = open_source("synthetic:static", seed=3)
    assert isinstance(static, SyntheticCamera) and static.width == 640
    np.testing.assert_array_equal(static.frame(0), static.frame(9))
    cam = open_source(str(video[0]), loop=True)
    assert isinstance(cam, CameraSource) and cam.kind == "file"
    device = open_source("99", clock=FakeClock())
    assert isinstance(device, CameraSource) and device.kind == "device"
    with pytest.raises(StreamconvError, match="invalid source 'synthetic:bars'"):
        open_source("synthetic:bars")


@pytest.mark.parametrize(
    ("args", "kwargs", "message"),
    [
        ((None,), {}, "invalid source None; expected a device index, a file path or a URL"),
        (("  ",), {}, "invalid source ''"),
        ((True,), {}, "invalid source True"),
        ((-1,), {}, "invalid source -1; expected an integer >= 0"),
        ((0,), {"width": 0}, "invalid width 0; expected an integer >= 1"),
        ((0,), {"fps": 0}, "invalid fps 0; expected a number > 0"),
        ((0,), {"reopen_backoff": (0, 1)}, r"invalid reopen_backoff\[0\] 0; expected a number > 0"),
        ((0,), {"reopen_backoff": (2.0, 1.0)}, r"invalid reopen_backoff\[1\] 1.0; expected a number >= 2"),
        ((0,), {"reopen_backoff": 3.0}, "invalid reopen_backoff 3.0; expected a pair"),
    ],
)
def test_invalid_arguments(args, kwargs, message):
    with pytest.raises(StreamconvError, match=message):
        CameraSource(*args, **kwargs)
