"""The ``streamconv filter`` command: filter a video, an image or a CSV of samples offline."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from streamconv import exitcodes
from streamconv.config import kernel_from_text

__all__ = ["cmd_filter", "register"]

_EPILOG = """\
examples:
  streamconv filter clip.mp4 edges.mkv --kernel edge_detect
  streamconv filter photo.png blur.png --kernel gaussian --size 7
  streamconv filter photo.png out.png --kernel '[[0,-1,0],[-1,5,-1],[0,-1,0]]' --stride 2
  streamconv filter frame.png features.npy --bank bank.npy --padding valid
  streamconv filter log/laser__raw.csv smoothed.csv --weights '0.01 0.01 0.02 0.02 0.04 0.4 0.5'

A .mkv or .avi output is lossless (FFV1); .mp4 is lossy (mp4v).  Float results (edge detectors)
are written to 8-bit files as |x| clipped to 0..255 (--dtype uint8 saturates instead; .npy keeps
floats).  A CSV output is the input with the value column replaced by the filtered values.
"""


def register(subparsers: Any) -> None:
    """Add the ``filter`` subcommand."""
    p = subparsers.add_parser(
        "filter",
        help="filter a video, image or CSV of samples offline (same pipeline as the daemon)",
        description="Filter a video, an image or a CSV of samples with the daemon's pipeline code.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("input", help="video file, image (.png, .jpg, .npy, ...) or CSV of samples")
    p.add_argument("output", help="output file of the same kind (.mkv/.avi lossless video, .png, .npy, .csv)")
    g = p.add_argument_group("frames (video or image)")
    g.add_argument("--kernel", help="a catalogue name (see `streamconv kernels`) or a JSON matrix")
    g.add_argument("--size", type=int, help="kernel size for identity/box/gaussian")
    g.add_argument("--sigma", type=float, help="sigma for gaussian")
    g.add_argument("--bank", help="a (K, D, F, F) filter bank as .npy: K feature maps (after --kernel)")
    g.add_argument("--padding", default="same", help="int, same or valid (default: same)")
    g.add_argument("--stride", type=int, default=1)
    g.add_argument("--border", default="zero", choices=["zero", "replicate", "reflect"])
    g.add_argument("--flip", action="store_true", help="flip the kernel: convolution, not correlation")
    g.add_argument("--dtype", default="auto", choices=["auto", "uint8", "float32"],
                   help="kernel output dtype: auto keeps uint8 for kernels summing to 1, else float32")
    g.add_argument("--fourcc", help="force a video codec, e.g. MJPG (default: from the output extension)")
    s = p.add_argument_group("samples (CSV)")
    s.add_argument("--weights", help="causal weights oldest to newest, e.g. '0.2 0.3 0.5'")
    s.add_argument("--normalize", action="store_true", help="divide the weights by their sum")
    s.add_argument("--warmup", default="renormalize", choices=["renormalize", "zeros", "first"])
    s.add_argument("--column", help="value column: name or index (default: the last)")
    p.add_argument("--stages", help="the whole chain as JSON (as in a config's outputs) instead of the above")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bar and no summary")
    p.set_defaults(func=cmd_filter)


def _padding(text: str) -> int | str:
    return int(text) if text.lstrip("-").isdigit() else text


def _stage_data(args: argparse.Namespace, kind: str) -> Any:
    if args.stages:
        try:
            return json.loads(args.stages)
        except json.JSONDecodeError as exc:
            raise ValueError(f"--stages is not valid JSON: {exc}") from None
    if kind == "samples":
        if args.kernel or args.bank:
            raise ValueError("--kernel and --bank apply to frames; for a CSV of samples give --weights")
        if not args.weights:
            raise ValueError("give --weights 'w1 w2 ...' (oldest to newest) to filter a CSV of samples")
        try:
            weights = [float(w) for w in args.weights.replace(",", " ").split()]
        except ValueError:
            raise ValueError(
                f"invalid --weights {args.weights!r}; expected numbers, e.g. '0.2 0.3 0.5'"
            ) from None
        return {"kind": "causal_fir", "weights": weights, "normalize": args.normalize, "warmup": args.warmup}
    if args.weights:
        raise ValueError(f"--weights applies to a CSV of samples; for {kind} frames give --kernel or --bank")
    chain: list[dict[str, Any]] = []
    common = {"padding": _padding(args.padding), "stride": args.stride, "border": args.border}
    if args.kernel:
        stage: dict[str, Any] = {"kind": "kernel2d", "flip": args.flip, "dtype": args.dtype, **common}
        try:
            stage["kernel"] = kernel_from_text(args.kernel)
        except json.JSONDecodeError as exc:
            raise ValueError(f"invalid --kernel matrix {args.kernel!r}: not valid JSON ({exc})") from None
        params = {k: v for k, v in (("size", args.size), ("sigma", args.sigma)) if v is not None}
        if params:
            stage["params"] = params
        chain.append(stage)
    if args.bank:
        chain.append({"kind": "bank3d", "file": args.bank, **common})
    if not chain:
        raise ValueError("give --kernel NAME|MATRIX, --bank FILE.npy or --stages JSON")
    return chain


def cmd_filter(args: argparse.Namespace) -> int:
    """Filter INPUT into OUTPUT; print a summary; exit 2 with one line on bad input."""
    import os

    # FFmpeg's own log lines (e.g. on a corrupt file) would break the one-line error; silence them.
    os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")
    import cv2

    from streamconv import config as cfg
    from streamconv import offline

    try:
        kind = offline.file_kind(args.input)
        stages = cfg.parse_stages(_stage_data(args, kind), source="filter")
        progress = not args.quiet and sys.stderr.isatty()
        report = offline.filter_file(
            args.input, args.output, stages, column=args.column, fourcc=args.fourcc, progress=progress
        )
    except (ValueError, OSError, cv2.error) as exc:
        text = "; ".join(line.strip() for line in str(exc).splitlines() if line.strip())
        print(f"streamconv filter: error: {text}", file=sys.stderr)
        return exitcodes.USAGE
    if not args.quiet:
        print(f"streamconv filter: {report.summary()}")
    return exitcodes.OK
