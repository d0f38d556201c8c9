"""Pure rendering (no X): layouts, pane composition, display mapping, montages, strip charts, the
view's pairing of captures, and the demo's state rendered headless."""

from __future__ import annotations

import logging

import cv2
import numpy as np
import pytest

from streamconv import wire
from streamconv.cli import main
from streamconv.errors import StreamconvError
from streamconv.ops import kernels
from streamconv.ops.conv2d import conv2d
from streamconv.pipeline import StreamPipeline
from streamconv.sinks import render
from streamconv.sinks.display import ViewBoard
from streamconv.sinks.render import (
    BACKGROUND,
    CAPTION_H,
    GAP,
    LINE_H,
    Chart,
    Pane,
    Rect,
    Series,
    compose,
    make_layout,
    montage,
    montage_grid,
    plot_rect,
    strip_chart,
    to_bgr8,
    value_to_row,
)
from streamconv.sources import SyntheticCamera


def _noise(h, w, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def _overlap(a: Rect, b: Rect) -> bool:
    return a.x < b.x + b.w and b.x < a.x + a.w and a.y < b.y + b.h and b.y < a.y + a.h


# ------------------------------------------------------------------------------------ layout
def test_layout_two_panes_side_by_side_with_header_and_chart():
    lay = make_layout([(240, 320), (240, 320)], header_lines=3, chart_height=170, min_width=640)
    header_h = 3 * LINE_H + 8
    assert lay.header == Rect(0, 0, lay.width, header_h)
    top = header_h + GAP + CAPTION_H
    assert lay.panes == (Rect(GAP, top, 320, 240), Rect(GAP + 320 + GAP, top, 320, 240))
    assert lay.width == GAP + 2 * (320 + GAP)
    assert lay.chart == Rect(GAP, top + 240 + GAP, lay.width - 2 * GAP, 170)
    assert lay.height == lay.chart.y + 170 + GAP
    parts = [lay.header, *lay.panes, *lay.captions, lay.chart]
    for i, a in enumerate(parts):
        for b in parts[i + 1 :]:
            assert not _overlap(a, b), (a, b)


@pytest.mark.parametrize(("n", "grid"), [(1, (1, 1)), (3, (1, 3)), (4, (2, 2)), (5, (2, 3)), (9, (3, 3))])
def test_layout_grid_of_n_panes(n, grid):
    lay = make_layout([(10, 20)] * n, min_width=1)
    assert (lay.rows, lay.columns) == grid
    xs = sorted({r.x for r in lay.panes})
    ys = sorted({r.y for r in lay.panes})
    assert len(ys) == grid[0] and len(xs) == min(n, grid[1])
    assert lay.width == GAP + grid[1] * (20 + GAP)


def test_layout_cells_take_the_largest_pane_and_keep_each_pane_size():
    lay = make_layout([(30, 40), (10, 60)], min_width=1)
    assert [(r.w, r.h) for r in lay.panes] == [(40, 30), (60, 10)]
    assert lay.panes[1].x == GAP + 60 + GAP  # cell width is the widest pane


def test_layout_rejects_bad_sizes():
    with pytest.raises(StreamconvError, match="pane size"):
        make_layout([(0, 5)])
    with pytest.raises(StreamconvError, match="header_lines"):
        make_layout([(5, 5)], header_lines=0)


# ----------------------------------------------------------------------------------- compose
def test_compose_places_panes_pixel_exact_and_text_only_outside_them():
    a, b = _noise(48, 64, 1), _noise(48, 64, 2)
    long = "header text that is much longer than the window is wide " * 5
    canvas, lay = compose([Pane(a, long), Pane(b, long)], [long, long], chart=None, min_width=64)
    assert canvas.shape == (lay.height, lay.width, 3) and canvas.dtype == np.uint8
    assert np.array_equal(canvas[lay.panes[0].slices], a)
    assert np.array_equal(canvas[lay.panes[1].slices], b)
    header = canvas[lay.header.slices]
    assert len(np.unique(header.reshape(-1, 3), axis=0)) > 2  # text was drawn there
    for cap in lay.captions:
        assert len(np.unique(canvas[cap.slices].reshape(-1, 3), axis=0)) > 2
    # outside header, captions and panes: only the background
    mask = np.ones(canvas.shape[:2], bool)
    for r in (lay.header, *lay.panes, *lay.captions):
        mask[r.slices] = False
    assert np.all(canvas[mask] == BACKGROUND)


def test_compose_same_panes_with_and_without_header_text():
    a = _noise(20, 30)
    c1, l1 = compose([Pane(a, "")], [""], min_width=1)
    c2, l2 = compose([Pane(a, "caption")], ["some text"], min_width=1)
    assert l1 == l2
    assert np.array_equal(c1[l1.panes[0].slices], c2[l2.panes[0].slices])
    assert not np.array_equal(c1[l1.header.slices], c2[l2.header.slices])


def test_compose_maps_float_and_grey_panes_and_stacks_charts():
    edges = np.array([[-300.0, -40.0], [0.4, 12.6]], np.float32)
    grey = np.array([[1, 2], [3, 4]], np.uint8)
    charts = [Chart([Series(np.arange(5.0))], height=60), Chart([Series(np.ones(5))], height=40)]
    canvas, lay = compose([Pane(edges), Pane(grey)], ["h"], chart=charts, min_width=200)
    assert canvas[lay.panes[0].slices][:, :, 0].tolist() == [[255, 40], [0, 13]]
    assert canvas[lay.panes[1].slices][:, :, 2].tolist() == [[1, 2], [3, 4]]
    assert lay.chart.h == 100


# ----------------------------------------------------------------------------------- mapping
def test_to_bgr8_mapping():
    u8 = _noise(4, 5)
    assert to_bgr8(u8) is not None and np.array_equal(to_bgr8(u8), u8)
    f = np.array([[-2.6, 0.0, 254.6, 1e9, np.nan, -np.inf]])
    assert to_bgr8(f)[0, :, 1].tolist() == [3, 0, 255, 255, 0, 0]
    mm = to_bgr8(np.array([[-1.0, 0.0, 1.0, np.nan]]), mode="minmax")[0, :, 0].tolist()
    assert mm == [0, 128, 255, 0]
    assert to_bgr8(np.full((2, 2), 5.0), mode="minmax").max() == 0
    assert to_bgr8(np.zeros((3, 4, 1), np.uint8)).shape == (3, 4, 3)
    with pytest.raises(StreamconvError, match="montage"):
        to_bgr8(np.zeros((3, 4, 5)))
    with pytest.raises(StreamconvError, match="mode"):
        to_bgr8(u8, mode="log")


# ----------------------------------------------------------------------------------- montage
@pytest.mark.parametrize(("k", "grid"), [(1, (1, 1)), (2, (1, 2)), (3, (2, 2)), (4, (2, 2)), (8, (3, 3)),
                                         (9, (3, 3)), (10, (3, 4))])
def test_montage_grid(k, grid):
    assert montage_grid(k) == grid


@pytest.mark.parametrize("k", [4, 8])
def test_montage_puts_map_k_in_tile_k_normalised(k):
    h, w, gap = 5, 7, 2
    rng = np.random.default_rng(k)
    vol = rng.normal(0, 10 ** np.arange(k), size=(h, w, k)).astype(np.float32)  # scales differ
    img = montage(vol, gap=gap)
    rows, cols = montage_grid(k)
    assert img.shape == (rows * h + (rows - 1) * gap, cols * w + (cols - 1) * gap, 3)
    covered = np.zeros(img.shape[:2], bool)
    for i in range(k):
        r, c = divmod(i, cols)
        tile = img[r * (h + gap) : r * (h + gap) + h, c * (w + gap) : c * (w + gap) + w]
        m = vol[:, :, i].astype(np.float64)
        want = np.rint((m - m.min()) / (m.max() - m.min()) * 255).astype(np.uint8)
        assert np.array_equal(tile[:, :, 0], want), i
        assert tile[:, :, 0].min() == 0 and tile[:, :, 0].max() == 255
        covered[r * (h + gap) : r * (h + gap) + h, c * (w + gap) : c * (w + gap) + w] = True
    assert np.all(img[~covered] == BACKGROUND)  # gaps and the unused tiles


def test_montage_constant_map_is_black_and_bad_input_raises():
    vol = np.zeros((3, 3, 2))
    vol[:, :, 1] = 7.0
    assert montage(vol, gap=0)[:, :, 0].max() == 0
    with pytest.raises(StreamconvError, match="feature volume"):
        montage(np.zeros((2, 2, 2, 2)))


def test_fit_keeps_aspect_and_centres():
    img = np.full((10, 40, 3), 200, np.uint8)
    out = render.fit(img, 80, 80)
    assert out.shape == (80, 80, 3)
    rows = np.flatnonzero((out[:, 40] == 200).all(axis=1))
    assert (rows.min(), rows.max()) == (30, 49)  # 80x20, centred vertically


# ------------------------------------------------------------------------------------- chart
def _rows_with(img: np.ndarray, colour, rect: Rect) -> np.ndarray:
    sub = img[rect.slices]
    hit = np.all(np.abs(sub.astype(int) - colour) <= 60, axis=2)  # anti-aliased lines blend a little
    return rect.y + np.flatnonzero(hit.sum(axis=1) > rect.w // 2)


@pytest.mark.parametrize("value", [0.0, 2.5, 5.0, 7.3, 10.0])
def test_strip_chart_constant_series_is_a_horizontal_line_at_its_row(value):
    colour = (0, 0, 255)
    img = strip_chart([Series(np.full(50, value), colour)], 400, 150, y_range=(0.0, 10.0))
    plot = plot_rect(400, 150)
    row = value_to_row(value, (0.0, 10.0), plot)
    assert plot.y <= row < plot.y + plot.h
    rows = _rows_with(img, colour, plot)
    assert row in rows and rows.min() >= row - 1 and rows.max() <= row + 1


def test_value_to_row_endpoints_and_clipping():
    p = plot_rect(300, 120)
    assert value_to_row(1.0, (-1.0, 1.0), p) == p.y
    assert value_to_row(-1.0, (-1.0, 1.0), p) == p.y + p.h - 1
    assert value_to_row(5.0, (-1.0, 1.0), p) == p.y


def test_strip_chart_scrolls_newest_to_the_right_and_breaks_at_nan():
    colour = (0, 255, 0)
    vals = np.full(100, 5.0)
    vals[40:60] = np.nan
    img = strip_chart([Series(vals, colour)], 300, 100, y_range=(0.0, 10.0), window=200)
    plot = plot_rect(300, 100)
    row = value_to_row(5.0, (0.0, 10.0), plot)
    line = np.all(np.abs(img[row].astype(int) - colour) <= 60, axis=1)
    col = lambda i: plot.x + round((200 - 100 + i) * (plot.w - 1) / 199)  # noqa: E731
    assert not line[plot.x : col(0) - 1].any()  # the older half of the window is empty
    assert line[col(1) : col(38)].all() and line[col(61) : col(98)].all()  # (ends are anti-aliased)
    assert not line[col(41) : col(59)].any()  # the dropout gap
    assert col(99) == plot.x + plot.w - 1  # the newest sample is at the right edge
    assert img[row, col(99), 1] > 100 and not line[plot.x + plot.w + 1 :].any()


def test_strip_chart_auto_range_and_errors():
    img = strip_chart([Series(np.array([np.nan, np.nan]))], 100, 60)  # nothing finite: still draws
    assert img.shape == (60, 100, 3)
    with pytest.raises(StreamconvError, match="y_range"):
        strip_chart([Series(np.ones(3))], 100, 60, y_range=(1.0, 1.0))


# -------------------------------------------------------------------------------- view board
def _msg(topic, array, t_capture_ns, seq, kind="frame", epoch="e1"):
    frames = wire.encode(topic, np.ascontiguousarray(array), stream=topic.split("/")[0], kind=kind,
                         epoch=epoch, seq=seq, t_capture_ns=t_capture_ns)
    return wire.decode(frames)


def test_view_board_pairs_panes_of_one_stream_by_capture():
    clock = [0.0]
    board = ViewBoard(["camera/raw", "camera/sharpen"], clock=lambda: clock[0])
    raw = {t: _noise(6, 8, t) for t in (1, 2, 3)}
    board.add(_msg("camera/raw", raw[1], 1, 0))
    board.add(_msg("camera/sharpen", raw[1] // 2, 1, 0))
    board.add(_msg("camera/raw", raw[2], 2, 1))  # its output has not arrived yet
    shown = board.frames()
    assert [m.t_capture_ns for m in shown.values()] == [1, 1]
    board.add(_msg("camera/sharpen", raw[2] // 2, 2, 1))
    board.add(_msg("camera/raw", raw[3], 3, 2))
    shown = board.frames()
    assert list(shown) == ["camera/raw", "camera/sharpen"]
    assert [m.t_capture_ns for m in shown.values()] == [2, 2]
    canvas, lay = board.render("inproc://x")
    assert np.array_equal(canvas[lay.panes[0].slices], raw[2])
    assert np.array_equal(canvas[lay.panes[1].slices], raw[2] // 2)


def test_view_board_order_features_and_silent_topics():
    clock = [0.0]
    board = ViewBoard(["cam/edges", "cam/"], clock=lambda: clock[0])
    board.add(_msg("cam/raw", _noise(4, 4), 1, 0))
    board.add(_msg("cam/edges", np.full((4, 4), -50.0, np.float32), 1, 0))
    board.add(_msg("cam/features", np.random.default_rng(0).normal(size=(4, 4, 3)).astype(np.float32), 1, 0,
                   kind="features"))
    panes = board.panes()
    assert [p.caption.split()[0] for p in panes] == ["cam/edges", "cam/raw", "cam/features"]
    assert panes[0].image[0, 0].tolist() == [50, 50, 50]  # |x| clipped
    assert panes[2].image.shape == render.montage_fit(np.zeros((4, 4, 3))).shape
    clock[0] = 10.0  # edges and features fall silent; raw goes on alone
    board.add(_msg("cam/raw", _noise(4, 4, 1), 2, 1))
    assert board.frames()["cam/raw"].t_capture_ns == 2


def test_view_board_samples_deduplicated_and_charted():
    board = ViewBoard(["laser/"], sample_window=10, clock=lambda: 0.0)
    for seq in range(4):
        board.add(_msg("laser/raw", np.array([float(seq)]), seq, seq, kind="samples"))
    board.add(_msg("laser/raw", np.array([2.0]), 2, 2, kind="samples"))  # a second copy
    board.add(_msg("laser/raw", np.array([9.0]), 0, 0, kind="samples", epoch="e2"))  # a restart
    (chart,) = board.charts()
    assert chart.series[0].values.tolist() == [0.0, 1.0, 2.0, 3.0, 9.0]
    _, lay = board.render("inproc://x")
    assert lay.panes == () and lay.chart is not None


def test_view_board_waiting_header():
    board = ViewBoard(["camera/raw"])
    canvas, lay = board.render("tcp://127.0.0.1:1")
    assert "waiting" in board.header("e")[1]
    assert canvas[lay.header.slices].std() > 0


# ------------------------------------------------------------------------- the demo, headless
@pytest.fixture
def demo_factory():
    from streamconv.demo import Demo, DemoOptions

    made = []

    def make(**kw):
        kw.setdefault("source", "synthetic")
        kw.setdefault("width", 64)
        kw.setdefault("height", 48)
        kw.setdefault("window", False)
        d = Demo.from_options(DemoOptions(**kw))
        made.append(d)
        return d

    yield make
    for d in made:
        d.close()


def _run_until_paused(demo, limit=50):
    for _ in range(limit):
        demo.step()
        if demo.paused:
            return
    raise AssertionError("never paused")


def test_demo_panes_are_the_frame_and_the_pipeline_output(demo_factory):
    demo = demo_factory(kernel="sharpen", pause_at=3)
    assert isinstance(demo.pipeline, StreamPipeline)
    _run_until_paused(demo)
    assert demo.frame_index == 3
    canvas = demo.render()
    lay = make_layout([(48, 64), (48, 64)], header_lines=3, chart_height=170, min_width=640)
    assert canvas.shape == (lay.height, lay.width, 3)
    frame = SyntheticCamera(64, 48, fps=30.0, seed=0).frame(3)
    assert np.array_equal(canvas[lay.panes[0].slices], frame)
    want = conv2d(frame, kernels.get("sharpen"), padding="same")
    assert np.array_equal(canvas[lay.panes[1].slices], want)
    demo.step()  # paused: no new frame
    assert demo.frame_index == 3


def test_demo_keys_cycle_resize_bank_and_quit(demo_factory, tmp_path):
    demo = demo_factory(kernel="box", pause_at=0)
    _run_until_paused(demo)
    names = kernels.names()
    i = names.index("box")
    assert demo.size == 3
    demo.handle_key(ord("+"))
    demo.handle_key(ord("="))
    assert demo.size == 7
    assert demo.pipeline.chain("view").stages[0].kernel.shape == (7, 7)  # the Conv2D op
    for _ in range(20):
        demo.handle_key(ord("-"))
    assert demo.size == 3
    demo.handle_key(ord("n"))
    assert demo.entry.label == names[i + 1]
    demo.handle_key(ord("p"))
    demo.handle_key(ord("p"))
    assert demo.entry.label == names[i - 1]
    demo.select(names.index("sobel_x") - demo.index)
    demo.handle_key(ord("+"))  # fixed size: a message, no change
    assert demo.size is None and "fixed size" in demo.header()[1]
    canvas = demo.render()
    lay = make_layout([(48, 64), (48, 64)], header_lines=3, chart_height=170, min_width=640)
    frame = demo.frame
    want = to_bgr8(conv2d(frame, kernels.get("sobel_x"), padding="same"))
    assert np.array_equal(canvas[lay.panes[1].slices], want)  # float32 output: |x| clipped
    demo.handle_key(ord("b"))
    assert demo.output.kind == "features" and demo.output.array.shape == (48, 64, 8)
    canvas = demo.render()
    assert canvas.shape == (lay.height, lay.width, 3)  # the montage fits the pane
    demo.handle_key(ord("s"), out_dir=tmp_path)
    (saved,) = tmp_path.glob("streamconv-demo-*.png")
    assert cv2.imread(str(saved)).shape == canvas.shape
    assert demo.handle_key(ord("q")) is False and demo.handle_key(27) is False


def test_demo_falls_back_to_the_synthetic_source_and_says_so_once(demo_factory, caplog, tmp_path):
    caplog.set_level(logging.INFO)
    demo = demo_factory(source=str(tmp_path / "missing.mp4"), pause_at=1)
    _run_until_paused(demo)
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1 and "synthetic" in warnings[0].getMessage()
    assert "unavailable" in demo.header()[1]


def test_demo_config_outputs_come_first(demo_factory, tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text(
        "streams:\n"
        "  cam:\n"
        "    source: {kind: synthetic, width: 32, height: 24, fps: 30}\n"
        "    outputs:\n"
        "      feats: {kind: bank3d, filters: [[[[1]], [[0]], [[0]]], [[[0]], [[1]], [[0]]]]}\n"
        "  laser:\n"
        "    source: {kind: laser, rate_hz: 50}\n"
        "    outputs: {avg: {kind: causal_fir, weights: [0.5, 0.5]}}\n"
    )
    demo = demo_factory(source=None, config=cfg, width=None, height=None, pause_at=0)
    assert demo.entry.label == "cam/feats" and demo.entries[1].label == kernels.names()[0]
    _run_until_paused(demo)
    assert demo.frame.shape == (24, 32, 3) and demo.output.kind == "features"
    assert demo.laser.output == "avg" and demo.laser.sim.rate_hz == 50
    assert demo.render().shape[0] > 24


def test_demo_laser_panel_follows_the_truth(demo_factory):
    demo = demo_factory()
    laser = demo.laser
    laser.advance(100.0)
    assert laser.raw.size == laser.window == 500
    err_raw = np.nanstd(laser.raw - laser.truth)
    err_smooth = np.nanstd(laser.smoothed[10:] - laser.truth[10:])
    assert err_smooth < err_raw  # the causal window smooths


def test_demo_command_headless_writes_the_window_image(tmp_path):
    shot = tmp_path / "shot.png"
    code = main(["demo", "--no-window", "--source", "synthetic", "--width", "64", "--height", "48",
                 "--frames", "3", "--screenshot", str(shot), "--kernel", "edge_detect"])
    assert code == 0
    img = cv2.imread(str(shot))
    lay = make_layout([(48, 64), (48, 64)], header_lines=3, chart_height=170, min_width=640)
    assert img.shape == (lay.height, lay.width, 3)


def test_window_commands_without_a_display_exit_with_a_message(monkeypatch, caplog):
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    from streamconv.demo import has_display

    if not has_display():  # Linux and the BSDs; Windows and macOS always have one
        assert main(["demo", "--source", "synthetic", "--frames", "1"]) == 2
        assert main(["view", "--endpoint", "tcp://127.0.0.1:1", "--frames", "1"]) == 2
        assert "no display" in caplog.text


def test_view_command_headless_waits_and_renders(tmp_path):
    shot = tmp_path / "view.png"
    code = main(["view", "camera/raw", "--endpoint", "tcp://127.0.0.1:1", "--no-window",
                 "--frames", "2", "--screenshot", str(shot)])
    assert code == 0
    assert cv2.imread(str(shot)).std() > 0
