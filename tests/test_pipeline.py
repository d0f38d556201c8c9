"""Pipelines built from config: each stage against the core op or a naive per-pixel reference."""

from __future__ import annotations

import numpy as np
import pytest

from streamconv import config as cfg
from streamconv.errors import ConfigError
from streamconv.ops import CausalFIR, conv2d, conv3d, kernels
from streamconv.pipeline import StreamPipeline, TemporalFilter, build_chain


def stream(source: dict, outputs: dict) -> cfg.StreamConfig:
    return cfg.StreamConfig.model_validate({"source": source, "outputs": outputs})


def frames(n: int, shape=(12, 16, 3), seed=0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, shape, dtype=np.uint8) for _ in range(n)]


@pytest.mark.parametrize("warmup", ["renormalize", "zeros", "first"])
def test_temporal_equals_causal_fir_on_every_pixel(warmup):
    w = [0.1, 0.2, 0.3, 0.4]
    f = frames(9, shape=(5, 6, 3))
    tf = TemporalFilter(cfg.TemporalStage(weights=w, warmup=warmup))
    out = np.stack([tf.apply(x) for x in f])
    series = np.stack(f).astype(np.float64).reshape(len(f), -1)
    ref = np.empty_like(series)
    for p in range(series.shape[1]):
        ref[:, p] = CausalFIR(w, warmup=warmup).process(series[:, p])
    assert out.dtype == np.uint8  # integer frames through weights summing to 1 stay uint8
    np.testing.assert_allclose(out.reshape(len(f), -1), np.clip(np.rint(ref), 0, 255), atol=1)


def test_temporal_signed_weights_give_float32_and_shape_change_restarts():
    tf = TemporalFilter(cfg.TemporalStage(weights=[-1.0, 1.0]))  # frame difference, sums to 0
    a, b = frames(2, shape=(4, 4, 3))
    tf.apply(a)
    d = tf.apply(b)
    assert d.dtype == np.float32
    np.testing.assert_allclose(d, b.astype(np.float32) - a.astype(np.float32))
    c = frames(1, shape=(6, 6, 3), seed=3)[0]
    first = tf.apply(c)  # new size: the window restarts (renormalize warm-up of a zero-sum window)
    assert first.shape == c.shape


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
    tf = TemporalFilter(cfg.TemporalStage(weights=[0.5, 0.5]))
    for x, got in zip(f, outs, strict=True):
        np.testing.assert_allclose(got, conv2d(tf.apply(x), kernels.get("sobel_x"), padding="same"))


def test_bank3d_stage_from_npy_file(tmp_path):
    bank = np.random.default_rng(1).standard_normal((4, 3, 3, 3))
    path = tmp_path / "bank.npy"
    np.save(path, bank)
    sp = stream({"kind": "synthetic"}, {"f": {"kind": "bank3d", "file": str(path), "padding": "valid"}})
    (out,) = StreamPipeline("cam", sp).process(frames(1)[0])
    assert out.kind == "features" and out.array.dtype == np.float32
    np.testing.assert_allclose(out.array, conv3d(frames(1)[0], bank, padding="valid"), rtol=1e-5, atol=1e-3)
    assert out.meta["filter"][0]["bank_shape"] == [4, 3, 3, 3]


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


def test_set_output_rejects_stage_of_wrong_kind():
    p = StreamPipeline("laser", stream({"kind": "laser"}, {"s": {"kind": "causal_fir", "weights": [1]}}))
    with pytest.raises(ConfigError, match="does not apply to stream 'laser'"):
        p.set_output("s", cfg.parse_stages({"kind": "kernel2d", "kernel": "blur"}))
    with pytest.raises(ConfigError, match="has no output 'zz'"):
        p.remove_output("zz")


def test_build_chain_kind():
    fir = cfg.parse_stages({"kind": "causal_fir", "weights": [1]})
    assert build_chain(fir, sampled=True).kind == "samples"
    bank = {"kind": "bank3d", "filters": np.ones((1, 3, 3, 3)).tolist()}
    assert build_chain(cfg.parse_stages(bank), sampled=False).kind == "features"


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
