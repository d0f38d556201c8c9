import numpy as np
import pytest

from streamconv.errors import StreamconvError
from streamconv.sources import FrameItem, FrameSource, SyntheticCamera


@pytest.mark.parametrize(("width", "height"), [(8, 8), (64, 48), (640, 480), (1280, 720), (33, 17)])
def test_frames_are_contiguous_bgr_uint8_of_the_requested_size(width, height):
    cam = SyntheticCamera(width, height)
    for i in (0, 1, 1000):
        img = cam.frame(i)
        assert img.shape == (height, width, 3)
        assert img.dtype == np.uint8
        assert img.flags.c_contiguous and img.flags.writeable


def test_read_yields_frame_items_with_increasing_index_and_the_given_stamp():
    cam = SyntheticCamera(64, 48, seed=5)
    assert isinstance(cam, FrameSource)
    items = [cam.read(t_capture_ns=1000 + k) for k in range(5)]
    assert all(isinstance(it, FrameItem) for it in items)
    assert [it.index for it in items] == list(range(5))
    assert [it.t_capture_ns for it in items] == [1000, 1001, 1002, 1003, 1004]
    for it in items:
        np.testing.assert_array_equal(it.image, cam.frame(it.index))
    assert cam.frames_read == 5 and not cam.exhausted
    cam.reset()
    assert cam.read(0).index == 0


def test_frame_is_a_pure_function_of_index_seed_and_size():
    a = SyntheticCamera(160, 120, seed=3)
    b = SyntheticCamera(160, 120, seed=3, fps=0.0)
    later_first = [a.frame(i) for i in (7, 3, 7)]
    np.testing.assert_array_equal(later_first[0], later_first[2])
    np.testing.assert_array_equal(later_first[1], b.frame(3))
    np.testing.assert_array_equal(a.frame(7), b.frame(7))
    assert not np.array_equal(a.frame(7), SyntheticCamera(160, 120, seed=4).frame(7))


def test_frames_are_fresh_arrays():
    cam = SyntheticCamera(64, 48)
    first = cam.frame(0)
    first[:] = 0
    assert cam.frame(0).any()


def test_consecutive_frames_differ_in_several_places():
    cam = SyntheticCamera(320, 240)
    for i in range(0, 60, 7):
        diff = np.any(cam.frame(i) != cam.frame(i + 1), axis=2)
        assert diff.mean() > 0.01
        # Moving parts: the checker band at the bottom and something in the middle (disc/spoke).
        assert diff[-20:].any() and diff[60:190].any()


def test_the_static_pattern_does_not_move():
    cam = SyntheticCamera(96, 64, pattern="static")
    np.testing.assert_array_equal(cam.frame(0), cam.frame(123))


def test_the_pattern_has_sharp_edges_and_smooth_regions():
    img = SyntheticCamera(640, 480).frame(0).astype(np.int16)
    dx = np.abs(np.diff(img, axis=1)).max(axis=2)
    bars = dx[10:100]
    assert bars.max() > 150  # sharp colour-bar edges
    assert np.median(dx[200:300, 200:400]) < 12  # smooth gradient (plus a little noise)
    assert dx[200:300, 200:400].max() > 0  # but not flat: the noise is there


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"width": 7}, "invalid width 7; expected an integer >= 8"),
        ({"height": 0}, "invalid height 0; expected an integer >= 8"),
        ({"width": 64.0}, "invalid width 64.0; expected an integer >= 8"),
        ({"fps": -1.0}, "invalid fps -1.0; expected a number >= 0"),
        ({"seed": -2}, "invalid seed -2; expected an integer >= 0"),
        ({"pattern": "bars"}, "invalid pattern 'bars'; expected one of ['moving', 'static']"),
    ],
)
def test_invalid_parameters(kwargs, message):
    with pytest.raises(StreamconvError) as info:
        SyntheticCamera(**kwargs)
    assert str(info.value) == message


def test_invalid_frame_index():
    with pytest.raises(StreamconvError, match="invalid i -1"):
        SyntheticCamera(16, 16).frame(-1)


def test_repr_lists_the_parameters():
    assert repr(SyntheticCamera(64, 48, fps=0.0, seed=2)) == (
        "SyntheticCamera(width=64, height=48, fps=0.0, seed=2, pattern='moving')"
    )
