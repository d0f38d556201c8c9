"""Per-op benchmarks: conv2d vs cv2.filter2D and ffmpeg, conv3d vs torch, CausalFIR vs lfilter.

Every number is a median over repeats.  Within a repeat the contenders run back to back, in
alternating order, so machine noise hits them alike; a ratio is the median over repeats of the
per-repeat ratio (:mod:`streamconv.bench.timing`).

1. conv2d on a uint8 720p BGR frame, every catalogue kernel (default parameters, padding
   ``'same'``), against raw ``cv2.filter2D`` producing the same output depth (target >= 1.0x;
   >= 1.5x for kernels of rank 1 or 2).
2. conv2d against ffmpeg's ``convolution`` filter, one thread each, 3x3 sharpen at 720p
   (target >= 2x).
3. conv3d, a bank of 8 3x3x3 filters on a 720p float32 frame, vs a numpy shift-and-add and
   ``torch.nn.functional.conv2d`` with the same threads (target: no slower than torch).
4. CausalFIR: ``step`` per sample and ``process`` on 1000-sample chunks vs ``scipy.signal.lfilter``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from streamconv.bench.targets import Target
from streamconv.bench.timing import interleaved, paired_ratio, table

__all__ = ["PROFILES", "report", "run", "targets"]

# The lecture's causal window, oldest to newest: the newest sample meets 0.5.
LECTURE_WEIGHTS = [0.01, 0.01, 0.02, 0.02, 0.04, 0.4, 0.5]
WIDTH, HEIGHT = 1280, 720
SHARPEN_FFMPEG = "0 -1 0 -1 5 -1 0 -1 0"

CONV2D_TARGET = 1.0  # t_cv2 / t_ours >= 1 for every catalogue kernel
CONV2D_LOW_RANK_TARGET = 1.5  # ... and >= 1.5 for kernels of rank 1 (separable) or 2
FFMPEG_TARGET = 2.0  # t_ffmpeg_filter / t_ours >= 2, one thread each
CONV3D_TARGET = 1.0  # t_torch / t_ours >= 1
FIR_PROCESS_TARGET = 0.5  # throughput(ours) / throughput(lfilter) >= 0.5
FIR_STEP_TARGET_US = 3.0  # step < 3 us

# repeats / seconds per timed sample / conv3d repeats / FIR step calls and repeats / FIR chunks /
# ffmpeg frames per run and rounds.
PROFILES: dict[str, dict[str, Any]] = {
    "full": {"repeats": 31, "sample_s": 0.02, "conv3d_repeats": 21, "step_calls": 200_000,
             "step_repeats": 7, "chunks": 100, "ffmpeg_frames": 300, "ffmpeg_rounds": 5},
    "quick": {"repeats": 7, "sample_s": 0.006, "conv3d_repeats": 5, "step_calls": 50_000,
              "step_repeats": 3, "chunks": 20, "ffmpeg_frames": 90, "ffmpeg_rounds": 2},
    "smoke": {"repeats": 2, "sample_s": 0.0, "conv3d_repeats": 2, "step_calls": 5_000,
              "step_repeats": 1, "chunks": 5, "ffmpeg_frames": 30, "ffmpeg_rounds": 1},
}


def _kernel_class(k: np.ndarray) -> str:
    rank = int(np.linalg.matrix_rank(k))
    return {1: "rank 1", 2: "rank 2"}.get(rank, f"rank {rank}")


# -- 1. conv2d vs cv2.filter2D, every catalogue kernel ----------------------------------------------
def bench_conv2d(prof: dict[str, Any], frame: np.ndarray) -> list[dict[str, Any]]:
    """Time ``conv2d(frame, k, padding='same')``, a prepared ``Conv2D`` and raw ``cv2.filter2D``."""
    from streamconv.ops import conv2d, kernels
    from streamconv.ops.conv2d import Conv2D

    rows = []
    for name in kernels.names():
        k = kernels.get(name)
        op = Conv2D(k, padding="same")
        out = conv2d(frame, k, padding="same")
        # Raw filter2D producing what ours produces: uint8 for kernels summing to 1, float32 otherwise.
        ddepth = -1 if out.dtype == frame.dtype else cv2.CV_32F
        # Correctness first: with the same border rule the two agree (one rounding step at most).
        ref = cv2.filter2D(frame, ddepth, k)
        mine = conv2d(frame, k, padding="same", border="reflect")
        diff = float(np.abs(mine.astype(np.float64) - ref.astype(np.float64)).max())
        if diff > (1.0 if ref.dtype == np.uint8 else 1e-3):
            raise RuntimeError(f"conv2d(border='reflect') differs from cv2.filter2D for {name}: {diff}")
        t = interleaved(
            {
                "ours": lambda f=frame, k=k: conv2d(f, k, padding="same"),
                "prepared": lambda f=frame, op=op: op(f),
                "cv2": lambda f=frame, k=k, d=ddepth: cv2.filter2D(f, d, k),
            },
            prof["repeats"],
            prof["sample_s"],
        )
        cls = _kernel_class(k)
        target = CONV2D_LOW_RANK_TARGET if cls in ("rank 1", "rank 2") else CONV2D_TARGET
        ratio = paired_ratio(t["cv2"], t["ours"])
        rows.append({
            "kernel": name, "shape": list(k.shape), "class": cls, "method": op.method_for(frame.dtype),
            "out_dtype": out.dtype.str, "max_abs_diff_reflect": diff,
            "ms_ours": t["ours"].median * 1e3, "ms_prepared": t["prepared"].median * 1e3,
            "ms_cv2": t["cv2"].median * 1e3,
            "ratio_cv2_over_ours": ratio,
            "ratio_cv2_over_prepared": paired_ratio(t["cv2"], t["prepared"]),
            "target": target, "met": ratio >= target,
            "raw": {n: v.to_json() for n, v in t.items()},
        })
    return rows


# -- 2. conv2d vs ffmpeg's convolution filter ----------------------------------------------------
def _ffmpeg_cmd(raw: Path, loops: int, vf: str) -> list[str]:
    return [
        "ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error",
        "-threads", "1", "-filter_threads", "1", "-filter_complex_threads", "1",
        "-stream_loop", str(loops), "-f", "rawvideo", "-pix_fmt", "bgr24", "-s", f"{WIDTH}x{HEIGHT}",
        "-i", str(raw), "-vf", vf, "-f", "null", "-",
    ]


def _ffmpeg_conv_vf() -> str:
    planes = ":".join([SHARPEN_FFMPEG] * 4)
    return f"format=gbrp,convolution='{planes}'"


def _ffmpeg_version() -> str:
    try:
        out = subprocess.run(["ffmpeg", "-version"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    first = out.splitlines()[0] if out else ""
    return first.split(" Copyright")[0].removeprefix("ffmpeg version ").strip() or "unknown"


def _ffmpeg_check(raw: Path, frame: np.ndarray) -> float:
    """Max |ffmpeg - ours| on the interior of the first frame (the borders follow other rules)."""
    from streamconv.ops import conv2d, kernels

    cmd = _ffmpeg_cmd(raw, 0, _ffmpeg_conv_vf() + ",format=bgr24")
    cmd = [*cmd[:-3], "-frames:v", "1", "-f", "rawvideo", "-"]
    out = subprocess.run(cmd, capture_output=True, timeout=60, check=True).stdout
    theirs = np.frombuffer(out, np.uint8).reshape(HEIGHT, WIDTH, 3)
    ours = conv2d(frame, kernels.get("sharpen"), padding="same")
    return float(np.abs(theirs[1:-1, 1:-1].astype(int) - ours[1:-1, 1:-1].astype(int)).max())


def bench_ffmpeg(prof: dict[str, Any], frames: np.ndarray) -> dict[str, Any]:
    """Time ffmpeg's ``convolution`` per frame against our conv2d, one thread each, 3x3 sharpen.

    ffmpeg's ``convolution`` filter works on planar formats, so a bgr24 input is converted to
    ``gbrp`` first.  Per-frame filter time = (t[format=gbrp,convolution] - t[format=gbrp]) / frames;
    the figure against ``-vf null`` (which also charges the pixel-format conversion) is kept too.
    """
    from streamconv.ops import conv2d, kernels

    if shutil.which("ffmpeg") is None:
        return {"available": False, "note": "ffmpeg not installed (apt-get install -y ffmpeg)"}
    n_frames = prof["ffmpeg_frames"]
    stack = frames
    loops = max(0, n_frames // len(stack) - 1)
    n_frames = len(stack) * (loops + 1)
    k = kernels.get("sharpen")
    pipelines = {"null": "null", "format": "format=gbrp", "conv": _ffmpeg_conv_vf()}
    times: dict[str, list[float]] = {n: [] for n in [*pipelines, "ours", "cv2"]}
    threads = cv2.getNumThreads()
    with tempfile.TemporaryDirectory(prefix="sc-bench-ffmpeg-") as tmp:
        raw = Path(tmp) / "in.raw"
        stack.tofile(raw)
        check = _ffmpeg_check(raw, stack[0])

        def run_ffmpeg(vf: str) -> float:
            t0 = time.perf_counter()
            subprocess.run(_ffmpeg_cmd(raw, loops, vf), check=True, capture_output=True, timeout=600)
            return time.perf_counter() - t0

        def run_ours(fn: Any) -> float:
            t0 = time.perf_counter()
            for i in range(n_frames):
                fn(stack[i % len(stack)])
            return time.perf_counter() - t0

        cv2.setNumThreads(1)
        try:
            run_ours(lambda f: conv2d(f, k, padding="same"))  # warm
            for r in range(prof["ffmpeg_rounds"]):
                order = [*pipelines, "ours", "cv2"]
                if r % 2:
                    order.reverse()
                for name in order:
                    if name == "ours":
                        times[name].append(run_ours(lambda f: conv2d(f, k, padding="same")))
                    elif name == "cv2":
                        times[name].append(run_ours(lambda f: cv2.filter2D(f, -1, k)))
                    else:
                        times[name].append(run_ffmpeg(pipelines[name]))
        finally:
            cv2.setNumThreads(threads)
    per = {n: [t / n_frames * 1e3 for t in v] for n, v in times.items()}  # ms per frame
    filt = [c - f for c, f in zip(per["conv"], per["format"], strict=True)]
    filt_null = [c - f for c, f in zip(per["conv"], per["null"], strict=True)]
    ratios = [a / b for a, b in zip(filt, per["ours"], strict=True)]
    ratios_null = [a / b for a, b in zip(filt_null, per["ours"], strict=True)]
    med = float(np.median(ratios))
    return {
        "available": True, "version": _ffmpeg_version(), "frames_per_run": n_frames,
        "rounds": prof["ffmpeg_rounds"], "interior_max_abs_diff_vs_ours": check,
        "commands": {n: " ".join(_ffmpeg_cmd(Path("in.raw"), loops, vf)) for n, vf in pipelines.items()},
        "ms_per_frame": {n: float(np.median(v)) for n, v in per.items()},
        "ms_filter": float(np.median(filt)), "ms_filter_incl_conversion": float(np.median(filt_null)),
        "ratio_ffmpeg_over_ours": med,
        "ratio_ffmpeg_incl_conversion_over_ours": float(np.median(ratios_null)),
        "ratio_cv2_1t_over_ours_1t": float(np.median([a / b for a, b in
                                                      zip(per["cv2"], per["ours"], strict=True)])),
        "met": med >= FFMPEG_TARGET, "raw_ms_per_frame": per,
    }


# -- 3. conv3d vs numpy vs torch ----------------------------------------------------------------
def numpy_shift_add(frame: np.ndarray, bank: np.ndarray) -> np.ndarray:
    """Naive reference, padding 0, stride 1: one (H2, W2, D) @ (D, K) product per spatial tap."""
    k_count, _, fh, fw = bank.shape
    h2, w2 = frame.shape[0] - fh + 1, frame.shape[1] - fw + 1
    out = np.zeros((h2, w2, k_count), dtype=frame.dtype)
    for a in range(fh):
        for b in range(fw):
            out += frame[a : a + h2, b : b + w2, :] @ bank[:, :, a, b].T
    return out


def bench_conv3d(prof: dict[str, Any], rng: np.random.Generator) -> dict[str, Any]:
    """conv3d vs numpy and (when importable) torch, in this interpreter."""
    from streamconv.ops import conv3d

    frame = rng.standard_normal((HEIGHT, WIDTH, 3)).astype(np.float32)
    bank = rng.standard_normal((8, 3, 3, 3)).astype(np.float32)
    contenders = {
        "ours": lambda: conv3d(frame, bank, padding=0),
        "numpy": lambda: numpy_shift_add(frame, bank),
    }
    ours_out = conv3d(frame, bank, padding=0)
    checks = {"numpy_max_abs_diff": float(np.abs(ours_out - numpy_shift_add(frame, bank)).max())}
    try:
        import torch
        import torch.nn.functional as tf
    except ImportError as exc:
        torch = tf = None
        torch_info: dict[str, Any] = {"available": False,
                                      "note": f"torch not importable ({exc.__class__.__name__}: {exc})"}
    if torch is not None:
        torch.set_num_threads(cv2.getNumThreads())
        torch_info = {"available": True, "note": None, "version": torch.__version__,
                      "threads": torch.get_num_threads(), "python": sys.executable}
        weight = torch.from_numpy(bank)
        x_nchw = torch.from_numpy(np.ascontiguousarray(frame.transpose(2, 0, 1)))[None]

        def torch_hwc() -> np.ndarray:
            # Same contract as ours: (H, W, D) numpy frame in, contiguous (H2, W2, K) numpy out.
            with torch.inference_mode():
                x = torch.from_numpy(frame).permute(2, 0, 1).unsqueeze(0)
                return np.ascontiguousarray(tf.conv2d(x, weight)[0].permute(1, 2, 0).numpy())

        def torch_nchw() -> Any:
            # Torch's best case: input already an NCHW tensor, output left as an NCHW tensor.
            with torch.inference_mode():
                return tf.conv2d(x_nchw, weight)

        contenders["torch_hwc"] = torch_hwc
        contenders["torch_nchw"] = torch_nchw
        checks["torch_max_abs_diff"] = float(np.abs(ours_out - torch_hwc()).max())
    if max(checks.values()) > 1e-3:
        raise RuntimeError(f"conv3d results disagree: {checks}")
    t = interleaved(contenders, prof["conv3d_repeats"], 0.0)  # one call per sample
    result: dict[str, Any] = {
        "shape_in": list(frame.shape), "bank": list(bank.shape), "shape_out": list(ours_out.shape),
        "cv2_threads": cv2.getNumThreads(),
        "ms": {n: v.median * 1e3 for n, v in t.items()},
        "ratio_numpy_over_ours": paired_ratio(t["numpy"], t["ours"]),
        "checks": checks, "torch": torch_info,
        "raw": {n: v.to_json() for n, v in t.items()},
    }
    if torch is not None:
        result["ratio_torch_hwc_over_ours"] = paired_ratio(t["torch_hwc"], t["ours"])
        result["ratio_torch_nchw_over_ours"] = paired_ratio(t["torch_nchw"], t["ours"])
    return result


def _torch_importable() -> bool:
    import importlib.util

    return importlib.util.find_spec("torch") is not None


def bench_conv3d_any(prof: dict[str, Any], profile: str, rng: np.random.Generator,
                     torch_python: str | None) -> dict[str, Any]:
    """conv3d here when torch is importable, else in ``torch_python`` (a venv that has torch)."""
    if _torch_importable() or not torch_python:
        result = bench_conv3d(prof, rng)
        if not result["torch"]["available"] and not torch_python:
            result["torch"]["note"] += (
                "; pass --torch-python PATH (a venv with a CPU torch, see docs/benchmarks.md)"
            )
        return result
    with tempfile.TemporaryDirectory(prefix="sc-bench-torch-") as tmp:
        out = Path(tmp) / "conv3d.json"
        cmd = [torch_python, "-m", "streamconv.bench.ops", "--conv3d-json", str(out), "--profile", profile]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
        if proc.returncode != 0 or not out.is_file():
            result = bench_conv3d(prof, rng)
            tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
            result["torch"]["note"] = f"{torch_python} failed (exit {proc.returncode}): {' | '.join(tail)}"
            return result
        result = json.loads(out.read_text(encoding="utf-8"))
    result["ran_in"] = torch_python
    return result


# -- 4. CausalFIR ----------------------------------------------------------------------------------
def bench_fir(prof: dict[str, Any], rng: np.random.Generator) -> dict[str, Any]:
    """CausalFIR.step per sample, and CausalFIR.process vs lfilter carrying zi over 1000-sample chunks."""
    from scipy.signal import lfilter

    from streamconv.ops import CausalFIR

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
    ref_all = np.concatenate(ref)
    stepper = CausalFIR(w, warmup="zeros")
    n_check = min(5000, len(stream))
    stepped = np.array([stepper.step(x) for x in stream[:n_check].tolist()])
    diff = float(max(np.abs(ours - ref_all).max(), np.abs(stepped - ref_all[:n_check]).max()))
    if diff > 1e-9:
        raise RuntimeError(f"CausalFIR disagrees with lfilter: max abs diff {diff}")

    samples = rng.standard_normal(prof["step_calls"]).tolist()
    step = CausalFIR(w).step

    def run_steps() -> None:
        for x in samples:
            step(x)

    t_step = interleaved({"step": run_steps}, prof["step_repeats"], 0.0)["step"]
    step_ns = t_step.median / len(samples) * 1e9

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
        "weights": LECTURE_WEIGHTS, "max_abs_diff_vs_lfilter": diff,
        "step_ns_per_sample": step_ns, "step_calls": len(samples),
        "chunk": chunk, "chunks_per_sample": n_chunks,
        "us_per_chunk": {n: v * 1e6 for n, v in per_chunk.items()},
        "msamples_per_s": {n: chunk / v / 1e6 for n, v in per_chunk.items()},
        "ratio_ours_over_lfilter_throughput": paired_ratio(t["lfilter"], t["ours"]),
        "raw": {"step": t_step.to_json(), **{n: v.to_json() for n, v in t.items()}},
    }


# -- the section ---------------------------------------------------------------------------------
def make_frames(n: int, seed: int = 20240601) -> np.ndarray:
    """``n`` frames of the synthetic test pattern (the daemon's source), 720p BGR uint8."""
    try:
        from streamconv.sources.synthetic import SyntheticCamera

        cam = SyntheticCamera(width=WIDTH, height=HEIGHT, fps=0, seed=seed)
        return np.stack([cam.frame(i) for i in range(n)])
    except Exception:  # the source's API moved: random frames are as good a test
        rng = np.random.default_rng(seed)
        return rng.integers(0, 256, (n, HEIGHT, WIDTH, 3), dtype=np.uint8)


def run(profile: str, *, torch_python: str | None = None, log: Any = print) -> dict[str, Any]:
    """Run the whole ops section; return its raw results."""
    prof = PROFILES[profile]
    rng = np.random.default_rng(20240601)
    t0 = time.perf_counter()
    frames = make_frames(30 if profile != "smoke" else 4)
    log("ops: conv2d vs cv2.filter2D, every catalogue kernel at 720p")
    c2 = bench_conv2d(prof, frames[0])
    log("ops: conv2d vs ffmpeg convolution, one thread each")
    try:
        ff = bench_ffmpeg(prof, frames)
    except (OSError, subprocess.SubprocessError) as exc:
        detail = getattr(exc, "stderr", b"") or b""
        ff = {"available": False, "note": f"ffmpeg failed: {exc} {detail.decode(errors='replace')[-300:]}"}
    log("ops: conv3d vs numpy / torch")
    c3 = bench_conv3d_any(prof, profile, rng, torch_python)
    log("ops: CausalFIR vs lfilter")
    fir = bench_fir(prof, rng)
    return {"profile": profile, "settings": prof, "seconds": time.perf_counter() - t0,
            "cv2_threads": cv2.getNumThreads(), "conv2d": c2, "ffmpeg": ff, "conv3d": c3,
            "causal_fir": fir}


def targets(res: dict[str, Any]) -> list[Target]:
    """Return the ops section's targets from its results."""
    out = []
    for r in res["conv2d"]:
        out.append(Target("ops", f"conv2d {r['kernel']} ({r['class']}) vs filter2D",
                          r["ratio_cv2_over_ours"], r["target"]))
    ff = res["ffmpeg"]
    out.append(Target("ops", "conv2d sharpen vs ffmpeg convolution, 1 thread",
                      ff.get("ratio_ffmpeg_over_ours"), FFMPEG_TARGET,
                      note="" if ff["available"] else ff["note"]))
    c3 = res["conv3d"]
    out.append(Target("ops", "conv3d 8x3x3x3 vs torch conv2d (HWC)", c3.get("ratio_torch_hwc_over_ours"),
                      CONV3D_TARGET, note="" if c3["torch"]["available"] else c3["torch"]["note"]))
    fir = res["causal_fir"]
    out.append(Target("ops", "CausalFIR.process vs lfilter throughput",
                      fir["ratio_ours_over_lfilter_throughput"], FIR_PROCESS_TARGET))
    out.append(Target("ops", "CausalFIR.step per sample", fir["step_ns_per_sample"] / 1e3,
                      FIR_STEP_TARGET_US, higher_is_better=False, unit="us", strict=True))
    return out


def _yn(ok: bool | None) -> str:
    return "n/a" if ok is None else ("met" if ok else "NOT MET")


def report(res: dict[str, Any]) -> str:
    """Return the ops section's plain-text tables."""
    out = []
    c2 = res["conv2d"]
    out.append(f"1. conv2d(frame, k, padding='same') vs raw cv2.filter2D, uint8 720p BGR "
               f"({res['cv2_threads']} OpenCV threads each)")
    out.append("   ratio = t_cv2 / t_ours (>1: ours faster); target >= 1.0, >= 1.5 for rank 1 or 2;")
    out.append("   'prepared' = a Conv2D built once (what the daemon runs); filter2D makes the same dtype")
    out.append(table(
        ["kernel", "class", "method", "out", "ms ours", "ms prepared", "ms cv2", "ratio", "prep ratio",
         "target", "met"],
        [[r["kernel"], r["class"], r["method"], r["out_dtype"], f"{r['ms_ours']:.3f}",
          f"{r['ms_prepared']:.3f}", f"{r['ms_cv2']:.3f}", f"{r['ratio_cv2_over_ours']:.2f}",
          f"{r['ratio_cv2_over_prepared']:.2f}", f"{r['target']:.1f}", _yn(r["met"])] for r in c2],
        left=4,
    ))

    ff = res["ffmpeg"]
    out.append("\n2. conv2d vs ffmpeg convolution (3x3 sharpen, 720p bgr24, one thread each)")
    if not ff["available"]:
        out.append(f"   skipped: {ff['note']}")
    else:
        ms = ff["ms_per_frame"]
        out.append(f"   {ff['version']}; {ff['frames_per_run']} frames per ffmpeg run, "
                   f"{ff['rounds']} rounds; ms per frame, medians")
        out.append(table(
            ["contender", "ms/frame"],
            [["ffmpeg -vf null (read + decode only)", f"{ms['null']:.3f}"],
             ["ffmpeg -vf format=gbrp", f"{ms['format']:.3f}"],
             ["ffmpeg -vf format=gbrp,convolution", f"{ms['conv']:.3f}"],
             ["=> ffmpeg convolution filter alone", f"{ff['ms_filter']:.3f}"],
             ["=> ffmpeg convolution + bgr24->gbrp", f"{ff['ms_filter_incl_conversion']:.3f}"],
             ["streamconv conv2d, cv2.setNumThreads(1)", f"{ms['ours']:.3f}"],
             ["raw cv2.filter2D, cv2.setNumThreads(1)", f"{ms['cv2']:.3f}"]],
        ))
        out.append(f"   ratio ffmpeg filter / ours = {ff['ratio_ffmpeg_over_ours']:.2f} (target >= 2.0: "
                   f"{_yn(ff['met'])}); including the conversion: "
                   f"{ff['ratio_ffmpeg_incl_conversion_over_ours']:.2f}; "
                   f"filter2D/ours at 1 thread: {ff['ratio_cv2_1t_over_ours_1t']:.2f}")
        out.append(f"   interior pixels of ffmpeg's output vs ours: max |diff| = "
                   f"{ff['interior_max_abs_diff_vs_ours']:g}")

    c3 = res["conv3d"]
    out.append(f"\n3. conv3d: bank (8, 3, 3, 3) on a 720x1280x3 float32 frame, padding 0 -> "
               f"{tuple(c3['shape_out'])}, {c3['cv2_threads']} threads")
    out.append("   ratio = t_other / t_ours (>1: ours faster); target: no slower than torch")
    rows = [["streamconv conv3d", f"{c3['ms']['ours']:.2f}", "1.00"],
            ["numpy shift-and-add", f"{c3['ms']['numpy']:.2f}", f"{c3['ratio_numpy_over_ours']:.2f}"]]
    if c3["torch"]["available"]:
        rows.append(["torch conv2d, HWC numpy in/out", f"{c3['ms']['torch_hwc']:.2f}",
                     f"{c3['ratio_torch_hwc_over_ours']:.2f}"])
        rows.append(["torch conv2d, NCHW tensor in/out", f"{c3['ms']['torch_nchw']:.2f}",
                     f"{c3['ratio_torch_nchw_over_ours']:.2f}"])
    out.append(table(["contender", "ms", "ratio"], rows))
    if c3["torch"]["available"]:
        where = f", run in {c3['ran_in']}" if c3.get("ran_in") else ""
        out.append(f"   torch {c3['torch']['version']}, set_num_threads({c3['torch']['threads']}) "
                   f"= cv2.getNumThreads(){where}")
    else:
        out.append(f"   torch rows skipped: {c3['torch']['note']}")

    fir = res["causal_fir"]
    out.append("\n4. CausalFIR, lecture weights " + " ".join(f"{x:g}" for x in LECTURE_WEIGHTS))
    out.append(table(
        ["measure", "ours", "lfilter", "ratio"],
        [["step, ns/sample", f"{fir['step_ns_per_sample']:.0f}", "-", "-"],
         ["process 1000-sample chunks, us/chunk", f"{fir['us_per_chunk']['ours']:.1f}",
          f"{fir['us_per_chunk']['lfilter']:.1f}", "-"],
         ["process throughput, Msamples/s", f"{fir['msamples_per_s']['ours']:.1f}",
          f"{fir['msamples_per_s']['lfilter']:.1f}", f"{fir['ratio_ours_over_lfilter_throughput']:.2f}"]],
    ))
    out.append(f"   ratio = throughput ours / lfilter; outputs agree to {fir['max_abs_diff_vs_lfilter']:.1e}")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the conv3d-in-another-interpreter helper (``--conv3d-json PATH``)."""
    import argparse

    parser = argparse.ArgumentParser(description="internal: conv3d section in this interpreter")
    parser.add_argument("--conv3d-json", required=True, type=Path)
    parser.add_argument("--profile", default="full", choices=sorted(PROFILES))
    args = parser.parse_args(argv)
    res = bench_conv3d(PROFILES[args.profile], np.random.default_rng(20240601))
    args.conv3d_json.write_text(json.dumps(res), encoding="utf-8")
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
