import numpy as np
import pytest

from streamconv.errors import StreamconvError
from streamconv.sources import (
    FrameSource,
    ListFrameSource,
    ListSampleSource,
    ListSink,
    SampleSource,
)


def test_list_sample_source_yields_consecutive_slices():
    src = ListSampleSource(np.arange(10.0), truth=np.arange(10.0) * 2, rate_hz=50.0)
    assert isinstance(src, SampleSource)
    a = src.read(4, t_capture_ns=100)
    b = src.read(4, t_capture_ns=200)
    c = src.read(4, t_capture_ns=300)
    assert a.values.tolist() == [0, 1, 2, 3] and b.values.tolist() == [4, 5, 6, 7]
    assert c.values.tolist() == [8, 9] and c.truth.tolist() == [16, 18]
    assert (a.t_capture_ns, a.period_ns) == (100, 20_000_000)
    assert src.exhausted and len(src.read(3, t_capture_ns=400)) == 0
    src.reset()
    assert src.read(1, t_capture_ns=0).values.tolist() == [0]


def test_list_sample_source_without_truth_and_validation():
    chunk = ListSampleSource([1.0, float("nan")]).read(2, t_capture_ns=0)
    assert chunk.truth is None and np.isnan(chunk.values[1])
    with pytest.raises(StreamconvError, match="expected the values' shape"):
        ListSampleSource([1.0, 2.0], truth=[1.0])
    with pytest.raises(StreamconvError, match="invalid rate_hz 0"):
        ListSampleSource([1.0], rate_hz=0)
    with pytest.raises(StreamconvError, match="expected 1D"):
        ListSampleSource([[1.0]])


def test_list_frame_source_once_then_exhausted():
    frames = [np.full((4, 6, 3), k, np.uint8) for k in range(3)]
    src = ListFrameSource(frames, fps=0.0)
    assert isinstance(src, FrameSource) and src.fps == 0.0
    items = [src.read(t_capture_ns=k) for k in range(3)]
    assert [int(it.image[0, 0, 0]) for it in items] == [0, 1, 2]
    assert [it.index for it in items] == [0, 1, 2]
    assert src.exhausted and src.read(t_capture_ns=9) is None


def test_list_frame_source_loops():
    frames = [np.full((4, 6, 3), k, np.uint8) for k in range(3)]
    src = ListFrameSource(frames, loop=True)
    items = [src.read(t_capture_ns=k) for k in range(7)]
    assert [it.index for it in items] == list(range(7))
    assert [int(it.image[0, 0, 0]) for it in items] == [0, 1, 2, 0, 1, 2, 0]
    assert not src.exhausted


def test_list_frame_source_validates_and_handles_empty():
    with pytest.raises(StreamconvError, match=r"invalid frames\[0\]"):
        ListFrameSource([np.zeros((4, 4), np.uint8)])
    empty = ListFrameSource([], loop=True)
    assert empty.exhausted and empty.read(0) is None


def test_list_sink_collects_in_order():
    sink = ListSink()
    sink.send("a")
    sink("b")
    assert sink.items == ["a", "b"] and len(sink) == 2
    sink.clear()
    assert sink.items == []
