"""Benchmark the filter core against the libraries it competes with; print plain-text tables.

Run from the repository root::

    .venv/bin/python benchmarks/bench_ops.py            # full run, about 1 minute on 2 cores
    .venv/bin/python benchmarks/bench_ops.py --quick    # smoke run, under 30 s
    .venv/bin/python benchmarks/bench_ops.py --json out/bench.json

Every number is a median over repeats.  Within a repeat the contenders run back to back, in
alternating order, so machine noise hits them alike; a ratio is the median over repeats of the
per-repeat ratio.  Results are recorded in docs/benchmarks.md.

1. conv2d on uint8 BGR frames vs raw ``cv2.filter2D`` (target: ratio cv2/ours >= 0.87).
2. conv3d, a bank of 8 3x3x3 filters on a 720p float32 frame, vs a naive numpy shift-and-add
   and ``torch.nn.functional.conv2d`` when torch is importable (target: no slower than torch).
3. CausalFIR: ``step`` ns/sample (target < 3 us) and ``process`` on 1000-sample chunks vs
   ``scipy.signal.lfilter`` carrying ``zi`` (target: >= 0.5x lfilter's throughput).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import cv2
import numpy as np
from _timing import interleaved, machine_info, paired_ratio, table

from streamconv.ops import CausalFIR, conv2d, conv3d, kernels

# The lecture's causal window, oldest to newest: the newest sample meets 0.5.
LECTURE_WEIGHTS = [0.01, 0.01, 0.02, 0.02, 0.04, 0.4, 0.5]

FRAME_SIZES = [(640, 480), (1280, 720), (1920, 1080)]  # (width, height)
CONV2D_KERNELS = [
    ("3x3 sharpen", lambda: kernels.get("sharpen")),
    ("5x5 gaussian", lambda: kernels.get("gaussian", size=5)),
    ("7x7 box", lambda: kernels.get("box", size=7)),
]
CONV2D_TARGET = 0.87  # ours within 1.15x of raw filter2D: t_cv2 / t_ours >= 1 / 1.15
CONV3D_TARGET = 1.0  # no slower than torch: t_torch / t_ours >= 1
FIR_PROCESS_TARGET = 0.5  # throughput(ours) / throughput(lfilter) >= 0.5
FIR_STEP_TARGET_NS = 3000.0  # step < 3 us

# Full run vs --quick: repeats, seconds per timed sample, FIR step calls, FIR stream chunks.
PROFILES = {
    "full": {"repeats": 61, "sample_s": 0.03, "conv3d_repeats": 21, "step_calls": 200_000,
             "step_repeats": 7, "chunks": 100},
    "quick": {"repeats": 9, "sample_s": 0.004, "conv3d_repeats": 5, "step_calls": 50_000,
              "step_repeats": 3, "chunks": 20},
}


def _try_torch():
    try:
        import torch
        import torch.nn.functional as tf
    except ImportError as exc:
        return None, None, f"torch not importable ({exc.__class__.__name__}: {exc})"
    return torch, tf, None


# -- 1. conv2d vs cv2.filter2D --------------------------------------------------------------------
def bench_conv2d(prof: dict, rng: np.random.Generator) -> list[dict]:
    rows = []
    for width, height in FRAME_SIZES:
        frame = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
        for label, build in CONV2D_KERNELS:
            k = build()
            # Correctness first: with the same border rule the two must agree exactly.
            same = conv2d(frame, k, padding="same", border="reflect")
            if not np.array_equal(same, cv2.filter2D(frame, -1, k)):
                raise SystemExit(f"conv2d(border='reflect') differs from cv2.filter2D: {label}")
            t = interleaved(
                {
                    "ours": lambda f=frame, k=k: conv2d(f, k, padding="same"),
                    "cv2": lambda f=frame, k=k: cv2.filter2D(f, -1, k),
                },
                prof["repeats"],
                prof["sample_s"],
            )
            ratio = paired_ratio(t["cv2"], t["ours"])
            rows.append({
                "frame": f"{width}x{height}", "kernel": label,
                "ms_ours": t["ours"].median * 1e3, "ms_cv2": t["cv2"].median * 1e3,
                "ratio_cv2_over_ours": ratio, "met": ratio >= CONV2D_TARGET,
                "raw": {n: v.to_json() for n, v in t.items()},
            })
    return rows


# -- 2. conv3d vs numpy vs torch ----------------------------------------------------------------
def numpy_shift_add(frame: np.ndarray, bank: np.ndarray) -> np.ndarray:
    """Naive reference, padding 0, stride 1: one (H2, W2, D) @ (D, K) product per spatial tap."""
    k_count, _, fh, fw = bank.shape
    h2, w2 = frame.shape[0] - fh + 1, frame.shape[1] - fw + 1
    out = np.zeros((h2, w2, k_count), dtype=frame.dtype)
    for a in range(fh):
        for b in range(fw):
            out += frame[a : a + h2, b : b + w2, :] @ bank[:, :, a, b].T
    return out


def bench_conv3d(prof: dict, rng: np.random.Generator) -> dict:
    frame = rng.standard_normal((720, 1280, 3)).astype(np.float32)
    bank = rng.standard_normal((8, 3, 3, 3)).astype(np.float32)
    contenders = {
        "ours": lambda: conv3d(frame, bank, padding=0),
        "numpy": lambda: numpy_shift_add(frame, bank),
    }
    ours_out = conv3d(frame, bank, padding=0)
    checks = {"numpy_max_abs_diff": float(np.abs(ours_out - numpy_shift_add(frame, bank)).max())}
    torch, tf, torch_note = _try_torch()
    torch_info: dict = {"available": torch is not None, "note": torch_note}
    if torch is not None:
        torch.set_num_threads(cv2.getNumThreads())
        torch_info.update(version=torch.__version__, threads=torch.get_num_threads())
        weight = torch.from_numpy(bank)
        x_nchw = torch.from_numpy(np.ascontiguousarray(frame.transpose(2, 0, 1)))[None]

        def torch_hwc() -> np.ndarray:
            # Same contract as ours: (H, W, D) numpy frame in, contiguous (H2, W2, K) numpy out.
            with torch.inference_mode():
                x = torch.from_numpy(frame).permute(2, 0, 1).unsqueeze(0)
                return np.ascontiguousarray(tf.conv2d(x, weight)[0].permute(1, 2, 0).numpy())

        def torch_nchw():
            # Torch's best case: input already an NCHW tensor, output left as an NCHW tensor.
            with torch.inference_mode():
                return tf.conv2d(x_nchw, weight)

        contenders["torch_hwc"] = torch_hwc
        contenders["torch_nchw"] = torch_nchw
        checks["torch_max_abs_diff"] = float(np.abs(ours_out - torch_hwc()).max())
    if max(checks.values()) > 1e-3:
        raise SystemExit(f"conv3d results disagree: {checks}")
    t = interleaved(contenders, prof["conv3d_repeats"], 0.0)  # one call per sample
    result = {
        "shape_in": list(frame.shape), "bank": list(bank.shape), "shape_out": list(ours_out.shape),
        "ms": {n: v.median * 1e3 for n, v in t.items()},
        "ratio_numpy_over_ours": paired_ratio(t["numpy"], t["ours"]),
        "checks": checks, "torch": torch_info,
        "raw": {n: v.to_json() for n, v in t.items()},
    }
    if torch is not None:
        result["ratio_torch_hwc_over_ours"] = paired_ratio(t["torch_hwc"], t["ours"])
        result["ratio_torch_nchw_over_ours"] = paired_ratio(t["torch_nchw"], t["ours"])
    return result


# -- 3. CausalFIR ----------------------------------------------------------------------------------
def bench_fir(prof: dict, rng: np.random.Generator) -> dict:
    from scipy.signal import lfilter

    w = np.array(LECTURE_WEIGHTS)
    b = w[::-1].copy()  # lfilter's b[0] multiplies the newest sample: our last weight
    n_chunks, chunk = prof["chunks"], 1000
    stream = np.cumsum(rng.standard_normal(n_chunks * chunk))
    chunks = [np.ascontiguousarray(c) for c in stream.reshape(n_chunks, chunk)]

    # Correctness: chunked process == lfilter from rest carrying zi == sample-by-sample step.
    fir = CausalFIR(w, warmup="zeros")
    ours = np.concatenate([fir.process(c) for c in chunks])
    zi = np.zeros(len(b) - 1)
    ref = []
    for c in chunks:
        y, zi = lfilter(b, [1.0], c, zi=zi)
        ref.append(y)
    ref = np.concatenate(ref)
    stepper = CausalFIR(w, warmup="zeros")
    stepped = np.array([stepper.step(x) for x in stream[:5000].tolist()])
    diff = float(max(np.abs(ours - ref).max(), np.abs(stepped - ref[:5000]).max()))
    if diff > 1e-9:
        raise SystemExit(f"CausalFIR disagrees with lfilter: max abs diff {diff}")

    # step: a Python loop of single-sample calls, as a sensor callback would make them.
    samples = rng.standard_normal(prof["step_calls"]).tolist()
    step_fir = CausalFIR(w)
    step = step_fir.step

    def run_steps() -> None:
        for x in samples:
            step(x)

    t_step = interleaved({"step": run_steps}, prof["step_repeats"], 0.0)["step"]
    step_ns = t_step.median / len(samples) * 1e9

    # process vs lfilter over the same stream of chunks, each carrying its state.
    proc_fir = CausalFIR(w)
    state = {"zi": np.zeros(len(b) - 1)}

    def run_process() -> None:
        for c in chunks:
            proc_fir.process(c)

    def run_lfilter() -> None:
        zi = state["zi"]
        for c in chunks:
            _, zi = lfilter(b, [1.0], c, zi=zi)
        state["zi"] = zi

    t = interleaved({"ours": run_process, "lfilter": run_lfilter}, prof["repeats"], 0.0)
    per_chunk = {n: v.median / n_chunks for n, v in t.items()}
    return {
        "weights": LECTURE_WEIGHTS,
        "max_abs_diff_vs_lfilter": diff,
        "step_ns_per_sample": step_ns,
        "step_calls": len(samples),
        "chunk": chunk,
        "chunks_per_sample": n_chunks,
        "us_per_chunk": {n: v * 1e6 for n, v in per_chunk.items()},
        "msamples_per_s": {n: chunk / v / 1e6 for n, v in per_chunk.items()},
        "ratio_ours_over_lfilter_throughput": paired_ratio(t["lfilter"], t["ours"]),
        "raw": {"step": t_step.to_json(), **{n: v.to_json() for n, v in t.items()}},
    }


# -- report ---------------------------------------------------------------------------------------
def _yn(ok: bool | None) -> str:
    return "n/a" if ok is None else ("yes" if ok else "NO")


def report(info: dict, c2: list[dict], c3: dict, fir: dict, profile: str, seconds: float) -> str:
    out = []
    out.append(f"streamconv ops benchmark ({profile} run, {seconds:.0f} s)")
    out.append(
        f"machine: {info['nproc']} cores ({info['cpu_model']}), python {info['python']}, "
        f"numpy {info['numpy']}, opencv {info['opencv']} ({info['cv2_threads']} threads), "
        f"scipy {info['scipy']}, torch {c3['torch'].get('version', 'absent')}"
    )
    out.append("medians of interleaved repeats; ratio = median of per-repeat ratios\n")

    out.append("1. conv2d(frame, k, padding='same') vs cv2.filter2D(frame, -1, k), uint8 BGR")
    out.append("   ratio = t_cv2 / t_ours (>1: ours faster); target ratio >= 0.87")
    out.append(table(
        ["frame", "kernel", "ms ours", "ms cv2", "ratio", "met"],
        [[r["frame"], r["kernel"], f"{r['ms_ours']:.3f}", f"{r['ms_cv2']:.3f}",
          f"{r['ratio_cv2_over_ours']:.3f}", _yn(r["met"])] for r in c2],
        left=2,
    ))

    out.append("\n2. conv3d: bank (8, 3, 3, 3) on a 720x1280x3 float32 frame, padding 0 "
               f"-> {tuple(c3['shape_out'])}")
    out.append("   ratio = t_other / t_ours (>1: ours faster); target: ours no slower than torch")
    rows = [["streamconv conv3d", f"{c3['ms']['ours']:.2f}", "1.00"],
            ["numpy shift-and-add", f"{c3['ms']['numpy']:.2f}", f"{c3['ratio_numpy_over_ours']:.2f}"]]
    if c3["torch"]["available"]:
        rows.append(["torch conv2d, HWC numpy in/out", f"{c3['ms']['torch_hwc']:.2f}",
                     f"{c3['ratio_torch_hwc_over_ours']:.2f}"])
        rows.append(["torch conv2d, NCHW tensor in/out", f"{c3['ms']['torch_nchw']:.2f}",
                     f"{c3['ratio_torch_nchw_over_ours']:.2f}"])
    out.append(table(["contender", "ms", "ratio"], rows))
    if c3["torch"]["available"]:
        out.append(f"   torch {c3['torch']['version']}, set_num_threads({c3['torch']['threads']}) "
                   "= cv2.getNumThreads()")
    else:
        out.append(f"   torch column skipped: {c3['torch']['note']}")
    out.append(f"   max |ours - reference|: {c3['checks']}")

    out.append("\n3. CausalFIR, lecture weights " + " ".join(f"{x:g}" for x in LECTURE_WEIGHTS))
    out.append(table(
        ["measure", "ours", "lfilter", "ratio"],
        [["step, ns/sample", f"{fir['step_ns_per_sample']:.0f}", "-", "-"],
         ["process 1000-sample chunks, us/chunk", f"{fir['us_per_chunk']['ours']:.1f}",
          f"{fir['us_per_chunk']['lfilter']:.1f}", "-"],
         ["process throughput, Msamples/s", f"{fir['msamples_per_s']['ours']:.1f}",
          f"{fir['msamples_per_s']['lfilter']:.1f}",
          f"{fir['ratio_ours_over_lfilter_throughput']:.2f}"]],
    ))
    out.append(f"   ratio = throughput ours / lfilter; outputs agree to {fir['max_abs_diff_vs_lfilter']:.1e}")

    worst = min(c2, key=lambda r: r["ratio_cv2_over_ours"])
    torch_ratio = c3.get("ratio_torch_hwc_over_ours")
    out.append("\ntargets")
    out.append(table(
        ["target", "measured", "met"],
        [["conv2d: t_cv2/t_ours >= 0.87 (every row)",
          f"worst {worst['ratio_cv2_over_ours']:.3f} ({worst['frame']} {worst['kernel']})",
          _yn(all(r["met"] for r in c2))],
         ["conv3d: t_torch/t_ours >= 1.00 (same HWC contract)",
          "not measured" if torch_ratio is None else f"{torch_ratio:.2f}",
          _yn(None if torch_ratio is None else torch_ratio >= CONV3D_TARGET)],
         ["CausalFIR.process >= 0.5x lfilter throughput",
          f"{fir['ratio_ours_over_lfilter_throughput']:.2f}x",
          _yn(fir["ratio_ours_over_lfilter_throughput"] >= FIR_PROCESS_TARGET)],
         ["CausalFIR.step < 3 us/sample", f"{fir['step_ns_per_sample'] / 1000:.2f} us",
          _yn(fir["step_ns_per_sample"] < FIR_STEP_TARGET_NS)]],
    ))
    if profile == "quick":
        out.append("(--quick is a smoke run: too few repeats to judge the targets on a busy machine)")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats: a smoke run < 30 s")
    parser.add_argument("--json", metavar="PATH", type=Path, help="also write the raw numbers here")
    args = parser.parse_args(argv)
    profile = "quick" if args.quick else "full"
    prof = PROFILES[profile]
    rng = np.random.default_rng(20240601)
    info = machine_info()
    t0 = time.perf_counter()
    c2 = bench_conv2d(prof, rng)
    c3 = bench_conv3d(prof, rng)
    fir = bench_fir(prof, rng)
    seconds = time.perf_counter() - t0
    print(report(info, c2, c3, fir, profile, seconds))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        payload = {"profile": profile, "profile_settings": prof, "seconds": seconds,
                   "machine": info, "argv": sys.argv,
                   "conv2d": c2, "conv3d": c3, "causal_fir": fir}
        args.json.write_text(json.dumps(payload, indent=1) + "\n", encoding="utf-8")
        print(f"\nraw numbers written to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
