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


# -- stage kinds: what each applies to, whether it keeps state, what it builds -----------------------
@pytest.mark.parametrize(
    ("model", "kind", "applies_to", "stateful"),
    # Written out rather than read from the models: a changed answer must show up here.
    [
        (cfg.CausalFIRStage, "causal_fir", "samples", True),
        (cfg.Kernel2DStage, "kernel2d", "frames", False),
        (cfg.Bank3DStage, "bank3d", "frames", False),
        (cfg.TemporalStage, "temporal", "frames", True),
    ],
)
def test_each_stage_kind_says_what_it_is(model, kind, applies_to, stateful):
    assert cfg.STAGE_KINDS[kind] is model
    assert (model.applies_to, model.stateful) == (applies_to, stateful)
    assert "applies_to" not in model.model_fields and "stateful" not in model.model_fields  # not YAML keys


def test_stage_kinds_are_every_member_of_the_union():
    assert list(cfg.STAGE_KINDS) == ["causal_fir", "kernel2d", "bank3d", "temporal"]


def test_each_stage_builds_its_op():
    from streamconv.ops import Bank3D, CausalFIR, Conv2D, TemporalFIR

    fir = cfg.CausalFIRStage(weights=[1, 3], normalize=True, warmup="zeros", nonfinite="zero").build()
    assert repr(fir) == "CausalFIR(weights=[0.25, 0.75], normalize=True, warmup='zeros', nonfinite='zero')"
    primed = cfg.CausalFIRStage(weights=[0.2, 0.3, 0.5]).build(history=[9.0, 1.0, 2.0])
    assert isinstance(primed, CausalFIR) and primed.history == (1.0, 2.0)  # the newest m - 1 samples
    conv = cfg.Kernel2DStage(kernel="sobel_x", padding="valid", stride=2, flip=True, dtype="float32").build()
    assert isinstance(conv, Conv2D) and (conv.padding, conv.stride, conv.flip) == ("valid", 2, True)
    bank = cfg.Bank3DStage(filters=[[[[1.0]]] * 3], bias=[2.0]).build()
    assert isinstance(bank, Bank3D) and bank.dtype == "float32" and bank.bias.tolist() == [2.0]
    temporal = cfg.TemporalStage(weights=[1, 1], normalize=True, warmup="first").build()
    assert repr(temporal) == "TemporalFIR(weights=[0.5, 0.5], normalize=True, warmup='first')"
    assert isinstance(temporal, TemporalFIR)


BANK_D2 = cfg.Bank3DStage(filters=[[[[1.0]]] * 2])
BANK_D3 = cfg.Bank3DStage(filters=[[[[1.0]]] * 3])
FIR = cfg.CausalFIRStage(weights=[1.0])
BLUR = cfg.Kernel2DStage(kernel="blur")


@pytest.mark.parametrize(
    ("items", "chain", "message"),
    [
        ("samples", [BLUR], "output 'o' stage 0: 'kernel2d' does not apply to a sample stream; "
                            "expected one of ['causal_fir']"),
        ("frames", [BLUR, FIR], "output 'o' stage 1: 'causal_fir' does not apply to a frame stream; "
                                "expected one of ['kernel2d', 'bank3d', 'temporal']"),
        ("frames", [BANK_D3, BLUR], "output 'o': bank3d gives feature maps and must be the last stage"),
        ("frames", [BANK_D2], "output 'o': the bank's depth D=2 does not match the frames' depth 3 (BGR); "
                              "the bank's layout is (K, D, F, F)"),
        ("frames", [], "output 'o' has no stages"),
        ("pixels", [BLUR], "invalid items 'pixels'; expected one of ['samples', 'frames']"),
    ],
)
def test_check_chain_errors(items, chain, message):
    with pytest.raises(ValueError) as info:
        cfg.check_chain(items, "o", chain)
    assert str(info.value) == message


def test_check_chain_accepts_fitting_chains_and_skips_an_unknown_depth():
    cfg.check_chain("samples", "o", [FIR, FIR])
    cfg.check_chain("frames", "o", [BLUR, cfg.TemporalStage(weights=[1.0]), BANK_D3])
    cfg.check_chain("frames", "o", [BANK_D2], depth=None)
    with pytest.raises(ValueError, match="depth D=3 does not match the frames' depth 1;"):
        cfg.check_chain("frames", "o", [BANK_D3], depth=1)


def test_the_stream_rules_are_check_chain():
    laser = {"source": {"kind": "laser"}, "outputs": {"o": {"kind": "kernel2d", "kernel": "blur"}}}
    with pytest.raises(ConfigError) as info:
        cfg.parse({"streams": {"s": laser}})
    assert "streams.s: output 'o' stage 0: 'kernel2d' does not apply to a sample stream" in str(info.value)
