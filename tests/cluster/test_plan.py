"""The driver's plan (which actors, with what) and the bandwidth guard, without Ray.

Evidence for the guard: the bytes each output really has, from the real pipeline run on a frame
of the source's size; and the issue's own figure (a 720p K=16 float32 bank: 59 MB a frame,
1.77 GB/s at 30 fps).
"""

from __future__ import annotations

import numpy as np
import pytest

from streamconv import config as cfg
from streamconv.cluster.plan import PIN_AMOUNT, bandwidth_warnings, link_loads, plan
from streamconv.errors import ConfigError
from streamconv.ops.conv3d import Bank3D
from streamconv.ops.temporal import TemporalFIR
from streamconv.pipeline import StreamPipeline

LASER = {"source": {"kind": "laser"}, "outputs": {"smoothed": {"kind": "causal_fir", "weights": [0.5, 0.5]}}}


def camera(w: int = 64, h: int = 48, fps: float = 30.0, **outputs) -> dict:
    return {"source": {"kind": "synthetic", "width": w, "height": h, "fps": fps},
            "outputs": outputs or {"sharpen": {"kind": "kernel2d", "kernel": "sharpen", "padding": "same"}}}


def parse(streams: dict, **cluster) -> cfg.Config:
    return cfg.parse({"cluster": cluster, "streams": streams})


def test_without_placement_every_worker_serves_every_stream():
    specs = plan(parse({"laser": LASER, "camera": camera()}, workers=3, cpus_per_worker=0.25))
    assert [(s.role, s.streams, s.num_cpus, s.resources) for s in specs] == [
        ("producer", None, 0.5, {}), *[("worker", None, 0.25, {})] * 3]


def test_a_stream_with_workers_of_its_own_leaves_the_shared_ones_to_the_others():
    cam = {**camera(), "placement": {"workers": 2, "cpus_per_worker": 1.0, "worker_node": "gpu"}}
    specs = plan(parse({"laser": LASER, "camera": cam}, workers=1))
    assert [(s.role, s.streams, s.num_cpus, s.resources) for s in specs] == [
        ("producer", None, 0.5, {}),
        ("worker", ("camera",), 1.0, {"gpu": PIN_AMOUNT}),
        ("worker", ("camera",), 1.0, {"gpu": PIN_AMOUNT}),
        ("worker", ("laser",), 0.5, {}),
    ]


def test_when_every_stream_has_its_own_workers_no_shared_worker_is_placed():
    las = {**LASER, "placement": {"workers": 1}}
    cam = {**camera(), "placement": {"workers": 2, "node": "camera"}}
    specs = plan(parse({"laser": las, "camera": cam}, workers=5))
    assert [(s.role, s.streams) for s in specs] == [
        ("producer", None), ("worker", ("laser",)), ("worker", ("camera",)), ("worker", ("camera",))]
    assert specs[0].resources == {"camera": PIN_AMOUNT}  # the sources go with the camera's host


def test_pinned_sources_on_two_nodes_are_a_config_error_naming_both():
    with pytest.raises(ConfigError) as e:
        parse({"laser": {**LASER, "placement": {"node": "a"}},
               "camera": {**camera(), "placement": {"node": "b"}}})
    text = str(e.value)
    assert "streams.laser.placement.node 'a'" in text and "streams.camera.placement.node 'b'" in text


@pytest.mark.parametrize(("placement", "needle"), [
    ({"worker_node": "gpu"}, "set workers too"),
    ({"node": "bad name"}, "node"),
    ({"workers": 0}, "workers"),
    ({"cpus_per_worker": 0}, "cpus_per_worker"),
])
def test_bad_placement_is_a_config_error(placement, needle):
    with pytest.raises(ConfigError, match=needle):
        parse({"camera": {**camera(), "placement": placement}})


def test_the_guard_counts_each_output_as_the_pipeline_really_makes_it():
    rng = np.random.default_rng(3)
    bank = np.round(rng.standard_normal((5, 3, 3, 3)), 3).tolist()
    c = parse({"camera": camera(64, 48, 25.0,
                                sharpen={"kind": "kernel2d", "kernel": "sharpen", "padding": "same"},
                                edges={"kind": "kernel2d", "kernel": "edge_detect", "padding": "same"},
                                small={"kind": "kernel2d", "kernel": "box", "stride": 2},
                                features={"kind": "bank3d", "filters": bank, "padding": "same"},
                                smooth={"kind": "temporal", "weights": [0.5, 0.5]})})
    (load,) = link_loads(c)
    frame = rng.integers(0, 256, (48, 64, 3), dtype=np.uint8)
    pipe = StreamPipeline("camera", c.streams["camera"])
    real = {o.name: o.array.nbytes for o in pipe.process(frame)}
    assert load.output_bytes == real
    assert load.raw_bytes == frame.nbytes and load.fps == 25.0
    assert load.collect_bps == sum(real.values()) * 25.0


def test_the_guard_warns_about_the_issue_s_720p_k16_bank_and_not_about_sharpen():
    bank = np.ones((16, 3, 3, 3), np.float32).tolist()
    features = {"kind": "bank3d", "filters": bank, "padding": "same"}
    c = parse({"camera": camera(1280, 720, 30.0, features=features)})
    (load,) = link_loads(c)
    assert load.output_bytes["features"] == 16 * 720 * 1280 * 4 == 58_982_400  # 59 MB a frame
    assert load.collect_bps == pytest.approx(1.769e9, rel=1e-3)  # 1.77 GB/s
    (line,) = bandwidth_warnings(c)
    assert "1.77 GB/s" in line and "camera/features is 59.0 MB" in line and "link_gbps 10" in line
    assert bandwidth_warnings(parse({"camera": camera(1280, 720, 30.0)})) == []  # 83 MB/s of uint8
    slow = bandwidth_warnings(parse({"camera": camera(1280, 720, 30.0)}, link_gbps=0.5))  # 62.5 MB/s
    assert [("outputs need 0.08 GB/s" in w, "raw frames need 0.08 GB/s" in w) for w in slow] == [
        (True, False), (False, True)]


def test_a_source_without_a_known_rate_is_not_estimated():
    unthrottled = parse({"camera": camera(64, 48, 0.0), "laser": LASER})
    assert link_loads(unthrottled) == []


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.float32, np.float64])
def test_output_dtype_of_the_bank_and_temporal_ops_is_what_they_return(dtype):
    frame = np.ones((6, 7, 3), dtype)
    for op in (Bank3D(np.ones((2, 3, 3, 3))), Bank3D(np.ones((2, 3, 3, 3)), dtype=np.float16),
               TemporalFIR([0.25, 0.75]), TemporalFIR([1.5, 0.5])):
        assert op.output_dtype(np.dtype(dtype)) == op(frame).dtype, op
