"""Pipelines built from config: each stage against the core op or a naive per-pixel reference."""

from __future__ import annotations

import json

import numpy as np
import pytest

from streamconv import config as cfg
from streamconv.errors import ConfigError
from streamconv.ops import Bank3D, CausalFIR, Conv2D, TemporalFIR, conv2d, conv3d, kernels
from streamconv.pipeline import StreamPipeline, build_chain


def stream(source: dict, outputs: dict) -> cfg.StreamConfig:
    return cfg.StreamConfig.model_validate({"source": source, "outputs": outputs})


def frames(n: int, shape=(12, 16, 3), seed=0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, shape, dtype=np.uint8) for _ in range(n)]


@pytest.mark.parametrize("warmup", ["renormalize", "zeros", "first"])
def test_temporal_output_is_the_temporal_op_with_the_spec_in_the_header(warmup):
    w = [0.1, 0.2, 0.3, 0.4]
    p = StreamPipeline("cam", stream({"kind": "synthetic"}, {"t": {"kind": "temporal", "weights": w,
                                                                 "warmup": warmup}}))
    op = TemporalFIR(w, warmup=warmup)
    for x in frames(5, shape=(5, 6, 3)):
        (out,) = p.process(x)
        np.testing.assert_array_equal(out.array, op(x))
        assert out.kind == "frame" and out.array.dtype == np.uint8
    spec = cfg.parse_stages({"kind": "temporal", "weights": w, "warmup": warmup})[0]
    assert out.meta["filter"] == [{"kind": "temporal", "weights": w, "normalize": False,
                                   "warmup": warmup, "order": "oldest_to_newest",
                                   "spec_hash": spec.spec_hash()}]


def test_kernel_chain_equals_conv2d_and_meta_has_full_spec():
    sp = stream({"kind": "synthetic"}, {"g": {"kind": "kernel2d", "kernel": "gaussian",
                                              "params": {"size": 5, "sigma": 1.5},
                                              "padding": 1, "stride": 2, "border": "reflect"}})
    p = StreamPipeline("cam", sp)
    x = frames(1)[0]
    (out,) = p.process(x)
    k = kernels.get("gaussian", size=5, sigma=1.5)
    np.testing.assert_array_equal(out.array, conv2d(x, k, padding=1, stride=2, border="reflect"))
    spec = out.meta["filter"][0]
    assert spec["kernel"] == k.tolist() and spec["name"] == "gaussian"
    assert (spec["padding"], spec["stride"], spec["border"], spec["flip"]) == (1, 2, "reflect", False)
    assert out.kind == "frame"


def test_chain_applies_stages_in_order():
    sp = stream({"kind": "synthetic"}, {"x": [{"kind": "temporal", "weights": [0.5, 0.5]},
                                              {"kind": "kernel2d", "kernel": "sobel_x"}]})
    p = StreamPipeline("cam", sp)
    f = frames(3)
    outs = [p.process(x)[0].array for x in f]
    tf = TemporalFIR([0.5, 0.5])
    for x, got in zip(f, outs, strict=True):
        np.testing.assert_allclose(got, conv2d(tf(x), kernels.get("sobel_x"), padding="same"))


def test_bank3d_stage_from_npy_file(tmp_path):
    bank = np.random.default_rng(1).standard_normal((4, 3, 3, 3))
    path = tmp_path / "bank.npy"
    np.save(path, bank)
    sp = stream({"kind": "synthetic"}, {"f": {"kind": "bank3d", "file": str(path), "padding": "valid"}})
    (out,) = StreamPipeline("cam", sp).process(frames(1)[0])
    assert out.kind == "features" and out.array.dtype == np.float32
    np.testing.assert_allclose(out.array, conv3d(frames(1)[0], bank, padding="valid"), rtol=1e-5, atol=1e-3)
    assert out.meta["filter"][0]["bank_shape"] == [4, 3, 3, 3]
    # 108 weights are too many for a header: it names them by shape and hash
    head = out.meta["filter"][0]
    assert head["layout"] == "K,D,F,F" and head["filters_shape"] == [4, 3, 3, 3] and "filters" not in head
    inline = cfg.parse_stages({"kind": "bank3d", "filters": bank.tolist(), "padding": "valid"})[0]
    assert head["spec_hash"] == inline.spec_hash()  # the same bank, from a file or inline
    changed = bank.copy()
    changed[0, 0, 0, 0] += 1e-9
    other = cfg.parse_stages({"kind": "bank3d", "filters": changed.tolist(), "padding": "valid"})[0]
    assert other.spec_hash() != head["spec_hash"]


def test_a_large_kernel_goes_in_headers_by_shape_and_hash():
    k = np.random.default_rng(3).standard_normal((61, 61)).round(6)
    sp = stream({"kind": "synthetic"}, {"big": {"kind": "kernel2d", "kernel": k.tolist()}})
    (out,) = StreamPipeline("cam", sp).process(frames(1)[0])
    head = out.meta["filter"][0]
    assert head["kernel_shape"] == [61, 61] and "kernel" not in head
    assert len(json.dumps(out.meta)) < 1024  # it was 83 KB with the matrix inline
    stage = sp.outputs["big"][0]
    assert head["spec_hash"] == stage.spec_hash() and stage.meta()["kernel"] == k.tolist()


def test_sample_pipeline_and_replaced_filter_continue_exactly():
    sp = stream({"kind": "laser"}, {"s": {"kind": "causal_fir", "weights": [0.2, 0.3, 0.5]}})
    p = StreamPipeline("laser", sp)
    x = np.random.default_rng(2).standard_normal(50)
    p.process(x[:20])
    specs = cfg.parse_stages({"kind": "causal_fir", "weights": [0.1, 0.1, 0.3, 0.5]})
    p.set_output("s", specs)
    (out,) = p.process(x[20:])
    # the new window is primed from the replay ring: equal to processing the whole series
    whole = CausalFIR([0.1, 0.1, 0.3, 0.5]).process(x)
    np.testing.assert_allclose(out.array, whole[20:], atol=1e-12)


def test_sample_meta_has_order_and_lag():
    sp = stream({"kind": "laser"}, {"s": {"kind": "causal_fir", "weights": [1, 1, 2], "normalize": True}})
    (out,) = StreamPipeline("laser", sp).process(np.ones(4))
    assert out.meta["filter"] == [{"kind": "causal_fir", "weights": [1.0, 1.0, 2.0], "normalize": True,
                                   "warmup": "renormalize", "nonfinite": "hold",
                                   "order": "oldest_to_newest", "lag_samples": 0.75,
                                   "spec_hash": out.meta["filter"][0]["spec_hash"]}]
    assert len(out.meta["filter"][0]["spec_hash"]) == 16
    assert out.kind == "samples"


BANK = {"kind": "bank3d", "filters": np.ones((1, 3, 3, 3)).tolist()}


@pytest.mark.parametrize(
    ("source", "stages", "needle"),
    [
        ({"kind": "laser"}, {"kind": "kernel2d", "kernel": "blur"},
         "stream 'x': output 's' stage 0: 'kernel2d' does not apply to a sample stream; "
         "expected one of ['causal_fir']"),
        ({"kind": "synthetic"}, {"kind": "causal_fir", "weights": [1]},
         "'causal_fir' does not apply to a frame stream; expected one of ['kernel2d', 'bank3d', 'temporal']"),
        ({"kind": "synthetic"}, [BANK, {"kind": "kernel2d", "kernel": "blur"}], "must be the last stage"),
        ({"kind": "camera"}, {"kind": "bank3d", "filters": np.ones((1, 2, 3, 3)).tolist()}, "depth D=2"),
        ({"kind": "synthetic"}, [], "output 's' has no stages"),
    ],
)
def test_set_output_applies_the_config_rules(source, stages, needle):
    first = {"kind": "causal_fir", "weights": [1]} if source["kind"] == "laser" else BANK
    p = StreamPipeline("x", stream(source, {"s": first}))
    with pytest.raises(ConfigError) as info:
        p.set_output("s", cfg.parse_stages(stages))
    assert needle in str(info.value)
    assert p.version == 0 and p.outputs == {"s": cfg.parse_stages(first)}


def test_remove_output_names_the_outputs():
    p = StreamPipeline("laser", stream({"kind": "laser"}, {"s": {"kind": "causal_fir", "weights": [1]}}))
    with pytest.raises(ConfigError, match=r"has no output 'zz'; has \['s'\]"):
        p.remove_output("zz")
    p.remove_output("s")
    assert p.outputs == {} and p.version == 1


def test_build_chain_kind_and_ops():
    fir = cfg.parse_stages({"kind": "causal_fir", "weights": [1]})
    chain = build_chain(fir, items="samples")
    assert chain.kind == "samples" and chain.stateful and type(chain.stages[0]) is CausalFIR
    bank = build_chain(cfg.parse_stages(BANK), items="frames")
    assert bank.kind == "features" and not bank.stateful and type(bank.stages[0]) is Bank3D
    k = build_chain(cfg.parse_stages([{"kind": "temporal", "weights": [1, 1]},
                                      {"kind": "kernel2d", "kernel": "blur"}]), items="frames")
    assert k.kind == "frame" and k.stateful and [type(s) for s in k.stages] == [TemporalFIR, Conv2D]


def test_chain_reset_restarts_the_stateful_stages():
    chain = build_chain(cfg.parse_stages([{"kind": "temporal", "weights": [0.5, 0.5], "warmup": "zeros"},
                                          {"kind": "kernel2d", "kernel": "identity"}]), items="frames")
    x = np.full((4, 4, 3), 100, np.uint8)
    first = chain.apply(x)
    assert not np.array_equal(chain.apply(x), first)
    chain.reset()
    np.testing.assert_array_equal(chain.apply(x), first)


def test_pipeline_items_and_stateful_come_from_the_kinds():
    lp = StreamPipeline("l", stream({"kind": "laser"}, {"s": {"kind": "causal_fir", "weights": [1]}}))
    assert lp.items == "samples" and lp.stateful
    cp = StreamPipeline("c", stream({"kind": "camera"}, {"k": {"kind": "kernel2d", "kernel": "blur"}}))
    assert cp.items == "frames" and not cp.stateful
    cp.set_output("t", cfg.parse_stages({"kind": "temporal", "weights": [1, 1]}))
    assert cp.stateful and cp.chain("t").stateful and not cp.chain("k").stateful


def test_an_output_that_rejects_a_frame_is_skipped_and_reported():
    sp = stream({"kind": "synthetic"}, {"big": {"kind": "kernel2d", "kernel": "box", "params": {"size": 31},
                                                "padding": "valid"},
                                        "ok": {"kind": "kernel2d", "kernel": "blur"}})
    p = StreamPipeline("cam", sp)
    small = frames(1, shape=(10, 10, 3))[0]  # smaller than the 31x31 window
    errors = []
    outs = p.process(small, on_error=lambda name, exc: errors.append((name, str(exc))))
    assert [o.name for o in outs] == ["ok"]
    assert errors[0][0] == "big" and "larger than the padded image" in errors[0][1]
    with pytest.raises(ValueError, match="larger than the padded image"):
        p.process(small)


def test_a_bank_file_is_read_once_at_validation(tmp_path):
    """What runs is what was validated: replacing or removing the file later changes nothing."""
    bank = np.random.default_rng(4).standard_normal((2, 3, 3, 3))
    path = tmp_path / "bank.npy"
    np.save(path, bank)
    stage = cfg.parse_stages({"kind": "bank3d", "file": str(path)})[0]
    digest = stage.spec_hash()
    np.save(path, bank * 2)
    assert np.array_equal(stage.bank(), bank) and stage.spec_hash() == digest
    path.unlink()
    x = frames(1)[0]
    np.testing.assert_allclose(stage.build()(x), conv3d(x, bank, padding="same"), rtol=1e-5, atol=1e-3)
    assert stage.header_meta()["spec_hash"] == digest
    assert not stage.bank().flags.writeable


def test_a_bank_over_the_weight_limit_is_refused_from_the_file_header(tmp_path):
    from streamconv import limits

    path = tmp_path / "wide.npy"
    with path.open("wb") as f:  # uint8 keeps the file small; the weights would be float64
        np.lib.format.write_array_header_1_0(f, {"descr": "|u1", "fortran_order": False,
                                                 "shape": (256, 64, 63, 63)})
        f.truncate(f.tell() + 256 * 64 * 63 * 63)
    with pytest.raises(ConfigError, match=f"over the limit of {limits.MAX_BANK_VALUES}"):
        cfg.parse_stages({"kind": "bank3d", "file": str(path)})
