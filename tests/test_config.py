"""Config validation: the shipped default equals the embedded one; errors name the field and reason."""

from __future__ import annotations

from pathlib import Path

import pytest

from streamconv import config as cfg
from streamconv.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]


def test_default_yaml_is_the_embedded_default():
    assert cfg.load(ROOT / "configs" / "default.yaml") == cfg.default_config()
    assert cfg.load(None) == cfg.default_config()


def test_embedded_default_matches_the_issue():
    c = cfg.default_config()
    laser = c.streams["laser"]
    assert laser.source.kind == "laser" and laser.source.rate_hz == 100
    assert laser.outputs["smoothed"][0].weights == [0.01, 0.01, 0.02, 0.02, 0.04, 0.4, 0.5]
    cam = c.streams["camera"]
    src = cam.source
    assert (src.kind, src.width, src.height, src.fps) == ("synthetic", 640, 480, 30)
    assert {k: v[0].padding for k, v in cam.outputs.items()} == {"sharpen": "same", "edges": "same"}
    assert c.service.publish == "tcp://127.0.0.1:5555"


def test_dump_yaml_round_trips():
    import yaml

    c = cfg.default_config()
    assert cfg.parse(yaml.safe_load(cfg.dump_yaml(c))) == c


@pytest.mark.parametrize(
    ("data", "needles"),
    [
        ({"streams": {"l": {"source": {"kind": "laser", "rate_hz": 0}}}}, ["streams.l.source.rate_hz", "0"]),
        ({"servce": {}}, ["servce", "Extra inputs"]),
        ({"streams": {"c": {"source": {"kind": "synthetic"}, "outputs": {"o": {"kind": "kernel2d",
                                                                              "kernel": "nope"}}}}},
         ["streams.c.outputs.o.0", "'nope'", "sharpen"]),
        ({"streams": {"c": {"source": {"kind": "synthetic"}, "outputs": {"o": {"kind": "kernel2d",
                                                                              "kernel": [[1, 2], [3, 4]]}}}}},
         ["odd-sized", "[2, 2]"]),
        ({"streams": {"c": {"source": {"kind": "synthetic"}, "outputs": {"o": {"kind": "kernel2d",
                                                                              "kernel": "blur",
                                                                              "border": "mirror"}}}}},
         ["streams.c.outputs.o.0.border", "'mirror'"]),
        ({"streams": {"l": {"source": {"kind": "laser"}, "outputs": {"o": {"kind": "kernel2d",
                                                                          "kernel": "blur"}}}}},
         ["'kernel2d' does not apply to a sample stream"]),
        ({"streams": {"l": {"source": {"kind": "laser"}, "outputs": {"o": {"kind": "causal_fir",
                                                                          "weights": [1, "x"]}}}}},
         ["weights.1"]),
        ({"streams": {"l": {"source": {"kind": "laser"}, "outputs": {"raw": {"kind": "causal_fir",
                                                                            "weights": [1]}}}}},
         ["reserved"]),
        ({"streams": {"c": {"source": {"kind": "synthetic"}, "outputs": {"o": {"kind": "bank3d",
                                                                              "filters": [[[[1]]]],
                                                                              "bias": [1, 2]}}}}},
         ["bias has 2 values", "K=1"]),
        ({"service": {"publish": "tcp://0.0.0.0:5555"}}, ["not loopback", "insecure"]),
        ({"service": {"publish": "udp://x"}}, ["service.publish", "tcp://HOST:PORT"]),
        ({"streams": {"_x": {"source": {"kind": "laser"}}}}, ["'_x'", "reserved"]),
        ({"streams": {"c": {"source": {"kind": "webcam"}}}}, ["streams.c.source", "'webcam'"]),
    ],
)
def test_errors_name_field_and_reason(data, needles):
    with pytest.raises(ConfigError) as info:
        cfg.parse(data)
    text = str(info.value)
    for needle in needles:
        assert needle in text, (needle, text)
    assert isinstance(info.value, ValueError)


def test_insecure_flag_allows_other_addresses():
    c = cfg.parse({"service": {"publish": "tcp://0.0.0.0:5555", "insecure": True}})
    assert c.service.insecure


def test_yaml_syntax_error_names_line(tmp_path):
    p = tmp_path / "bad.yaml"
    p.write_text("streams:\n  a: [1, 2\n")
    with pytest.raises(ConfigError, match=r"bad.yaml: not valid YAML at line \d+"):
        cfg.load(p)


def test_config_models_are_frozen():
    c = cfg.default_config()
    with pytest.raises(ValueError):
        c.service.publish = "tcp://127.0.0.1:1"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("stream", "needle"),
    [
        ({"source": {"kind": "laser", "seed": -1}}, "seed"),
        ({"source": {"kind": "camera", "device": -1}}, "device"),
        ({"source": {"kind": "synthetic"}, "outputs": {"t": {"kind": "temporal", "weights": [-1, 1],
                                                             "normalize": True}}}, "sum is not 0"),
        ({"source": {"kind": "synthetic"},
          "outputs": {"b": {"kind": "bank3d", "filters": [[[[1, 2], [3, 4]]] * 3]}}}, "odd-sized"),
        ({"source": {"kind": "synthetic"}, "outputs": {"b": {"kind": "bank3d", "filters": [[[[1]]] * 2]}}},
         "depth D=2"),
    ],
)
def test_errors_caught_before_start(stream, needle):
    with pytest.raises(ConfigError, match=needle):
        cfg.parse({"streams": {"s": stream}})


def test_the_idle_hint_names_a_topic_of_the_config():
    from streamconv.service import subscribe_hint

    outputs = {"sharpen": {"kind": "kernel2d", "kernel": "sharpen"}}
    bench = cfg.parse({"streams": {"camera": {"source": {"kind": "synthetic"}, "outputs": outputs}}})
    assert subscribe_hint(bench) == "camera/sharpen"
    bare = cfg.parse({"streams": {"cam": {"source": {"kind": "synthetic"}}}})
    assert subscribe_hint(bare) == "cam/raw"
