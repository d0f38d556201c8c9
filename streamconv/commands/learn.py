"""The ``streamconv learn`` command: fit causal weights, a 2D kernel or a 3D bank from data.

``learn fir`` reads a log (:mod:`streamconv.learn.logs`), ``learn kernel2d`` image/array/video
pairs, ``learn bank`` the digits data set of scikit-learn; the math is in
:mod:`streamconv.learn`.  Bad input (a missing topic, too few samples, a NaN, mismatched pairs,
an even kernel size) is one line on stderr and exit 2, through the CLI's error policy.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Any

from streamconv import exitcodes
from streamconv.commands.options import positive_int
from streamconv.errors import StreamconvError

#: The hand-made bank of ``learn bank`` (streamconv.learn.bank.HANDMADE, not imported at parse time).
HANDMADE_NAMES = ("edge_detect", "blur", "sharpen", "sobel_x", "sobel_y")

__all__ = ["cmd_learn_bank", "cmd_learn_fir", "cmd_learn_kernel2d", "fir_fragment", "register"]


def _taps_list(text: str) -> list[int]:
    """Parse ``7`` or ``4,7,16,32,64``: positive integers."""
    try:
        values = [int(v) for v in text.split(",")]
    except ValueError:
        values = []
    if not values or any(v < 1 for v in values):
        raise argparse.ArgumentTypeError(
            f"invalid value {text!r}; expected a tap count >= 1 or a comma-separated list, e.g. 4,7,16,32,64"
        )
    return values


def _fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not 0.0 < value < 1.0:
        raise argparse.ArgumentTypeError(f"invalid value {text!r}; expected a number in (0, 1), e.g. 0.3")
    return value


def _seed(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"invalid value {text!r}; expected an integer >= 0")
    return value


def register(subparsers: Any) -> None:
    """Add the ``learn`` subcommand and its ``fir``, ``kernel2d`` and ``bank`` actions."""
    p = subparsers.add_parser(
        "learn", help="fit causal weights, a 2D kernel or a 3D filter bank from data",
        description="Treat weights and kernels as parameters and learn them from data.",
    )
    sub = p.add_subparsers(dest="learn_command", required=True, metavar="{fir,kernel2d,bank}")

    f = sub.add_parser(
        "fir", help="fit causal weights to a log's truth; compare with the hand-set ones and a tuned Kalman",
        description="Fit causal weights (oldest to newest) on the first part of a log by least squares; "
        "report on the held-out last part the RMSE and lag of raw, the configured weights, the fitted ones "
        "and a constant-velocity Kalman filter tuned on the same training part.",
    )
    f.add_argument("log", metavar="LOG", help="a `streamconv log` directory (or one of its CSVs)")
    f.add_argument("--taps", type=_taps_list, required=True,
                   help="window length, or several to sweep, e.g. 4,7,16,32,64 (the last one is the fit)")
    f.add_argument("--raw", default="laser/raw", help="the measured topic (default laser/raw)")
    f.add_argument("--truth", help="the truth topic (default: <stream of --raw>/truth)")
    f.add_argument("--sum-to-one", action="store_true", help="constrain the weights to sum to 1")
    f.add_argument("--nonneg", action="store_true", help="constrain the weights to be >= 0")
    f.add_argument("--test-fraction", type=_fraction, default=0.3,
                   help="held-out share at the end of the log (default 0.3)")
    f.add_argument("--config", "-c", help="the daemon's config, for the configured weights (default: the "
                   "embedded default)")
    f.add_argument("--output", default="smoothed",
                   help="the output of the stream whose configured weights are compared and which --out "
                   "sets (default smoothed)")
    f.add_argument("--json", action="store_true", help="print the result as JSON")
    f.add_argument("--out", metavar="FILE.yaml", help="write a config with the fitted weights: "
                   "`run --config FILE` runs it, `ctl set TOPIC --weights-file FILE` applies it live")
    f.add_argument("--plot", metavar="FILE.png", help="plot the held-out RMSE against taps (matplotlib)")
    f.set_defaults(func=cmd_learn_fir)

    k = sub.add_parser(
        "kernel2d", help="fit one F x F kernel to pairs of frames (images, .npy arrays or videos)",
        description="Fit the F x F kernel (correlation, centred, as conv2d and a kernel2d stage) that maps "
        "INPUT onto TARGET by least squares over every interior pixel window of every frame pair; print "
        "it and the residual; --out saves it as .npy for a kernel2d stage's `file:`.",
    )
    k.add_argument("input", metavar="INPUT",
                   help="an image, a .npy array ((H, W[, C]) or (N, H, W, C)) or a video")
    k.add_argument("target", metavar="TARGET", help="the same kind and size: the filtered frames")
    k.add_argument("--size", type=int, required=True, help="kernel size F (odd)")
    k.add_argument("--max-frames", type=positive_int, default=100,
                   help="frames read from a video (default 100)")
    k.add_argument("--out", metavar="K.npy", help="save the (F, F) kernel (float64 .npy)")
    k.add_argument("--json", action="store_true", help="print the result as JSON")
    k.set_defaults(func=cmd_learn_kernel2d)

    b = sub.add_parser(
        "bank", help="train a bank of 3D filters (a small CNN) on digits; compare with hand-made features",
        description="Train K filters of F x F (ReLU, 2x2 max pooling, a linear softmax classifier) by "
        "backpropagation on scikit-learn's digits, beside the same classifier on the hand-made bank "
        f"({', '.join(HANDMADE_NAMES)}) and on raw pixels, on one held-out split; print test accuracy "
        "and training time; --out saves the learnt bank as (K, D, F, F) .npy for a bank3d stage.",
    )
    b.add_argument("--filters", type=positive_int, default=8, help="K, filters learnt (default 8)")
    b.add_argument("--size", type=int, default=3, help="F, filter size (odd, default 3)")
    b.add_argument("--epochs", type=positive_int, default=60,
                   help="passes over the training set (default 60)")
    b.add_argument("--seed", type=_seed, default=0,
                   help="seed of the split, the start and the batches (default 0)")
    b.add_argument("--test-fraction", type=_fraction, default=0.3, help="held-out share (default 0.3)")
    b.add_argument("--depth", type=positive_int, default=3,
                   help="D of the saved bank: the grey filters spread over D channels, w/D each (default 3: "
                   "the camera's BGR)")
    b.add_argument("--out", metavar="BANK.npy", help="save the learnt (K, D, F, F) bank")
    b.add_argument("--plot", metavar="FILE.png", help="draw the learnt filters beside the hand-made ones")
    b.add_argument("--json", action="store_true", help="print the result as JSON")
    b.set_defaults(func=cmd_learn_bank)


# ---------------------------------------------------------------------------------------------- fir
def cmd_learn_fir(args: argparse.Namespace) -> int:
    """Fit, score, print; write the fragment and the plot when asked."""
    from streamconv import config as cfg
    from streamconv.learn import fir, logs

    stream = args.raw.split("/", 1)[0]
    truth = args.truth or f"{stream}/truth"
    conf = cfg.load(args.config)
    configured = _configured_weights(conf, stream, args.output, explicit=args.config is not None)
    series = logs.read_samples(args.log)
    pair = logs.sample_pair(series, args.raw, truth, source=f"log {args.log!r}")
    result = fir.compare_filters(
        pair.raw, pair.truth, args.taps, dt=pair.dt, configured=configured,
        test_fraction=args.test_fraction, sum_to_one=args.sum_to_one, nonneg=args.nonneg,
    )
    if args.plot:
        from streamconv.learn.figures import plot_sweep

        try:
            plot_sweep(result, args.plot, title=f"{args.raw}: held-out RMSE vs taps")
        except ImportError as exc:
            print(f"streamconv learn fir: error: {exc}", file=sys.stderr)
            return exitcodes.FAILURE
    if args.out:
        text = fir_fragment(conf, stream, args.output, result, source=f"{args.log} ({args.raw} -> {truth})")
        Path(args.out).write_text(text, encoding="utf-8")
    data = _fir_json(result, configured)
    if args.json:
        print(json.dumps(data, indent=2))
    else:
        _print_fir(result, args)
    return exitcodes.OK


def _configured_weights(conf: Any, stream: str, output: str, *, explicit: bool) -> list[float] | None:
    """Return the weights the config gives ``stream/output`` (one causal_fir stage), or None."""
    from streamconv.config import CausalFIRStage

    chain = conf.streams[stream].outputs.get(output) if stream in conf.streams else None
    if chain is None or len(chain) != 1 or not isinstance(chain[0], CausalFIRStage):
        if explicit:
            raise StreamconvError(
                f"the config has no single causal_fir stage for {stream}/{output} (the configured weights)"
            )
        return None
    return chain[0].build().weights.tolist()  # normalized if the stage says so


def _fir_json(result: Any, configured: list[float] | None) -> dict[str, Any]:
    def num(v: float) -> float | None:
        return None if not math.isfinite(v) else v

    names = ("raw", "configured", "fitted", "kalman")
    return {
        "weights": result.fitted.tolist(),
        "taps": result.taps[-1],
        "rmse": {k: (num(result.scores[k].rmse) if k in result.scores else None) for k in names},
        "lag_samples": {k: (num(result.scores[k].lag_samples) if k in result.scores else None)
                        for k in names},
        "configured_weights": configured,
        "kalman": {"q": result.kalman.q, "r": result.kalman.r, "model": "constant velocity"},
        "samples": {"train": result.n_train, "test": result.n_test},
        "sweep": [
            {"taps": m, "rmse": num(result.sweep[m].rmse), "lag_samples": num(result.sweep[m].lag_samples),
             "weights": result.weights[m].tolist()}
            for m in result.taps
        ],
    }


def _print_fir(result: Any, args: argparse.Namespace) -> None:
    print(f"{args.raw}: {result.n_train} training samples, {result.n_test} held out")
    print(f"{'filter':<28} {'RMSE':>8} {'lag (samples)':>14}")
    labels = {"raw": "raw", "configured": "configured (hand-set)",
              "kalman": f"CV Kalman (q={result.kalman.q:.3g}, r={result.kalman.r:.3g})"}
    for name in ("raw", "configured"):
        if name in result.scores:
            s = result.scores[name]
            print(f"{labels[name]:<28} {s.rmse:8.4f} {s.lag_samples:14.2f}")
    for m in result.taps:
        s = result.sweep[m]
        print(f"{f'fitted {m} taps':<28} {s.rmse:8.4f} {s.lag_samples:14.2f}")
    s = result.scores["kalman"]
    print(f"{labels['kalman']:<28} {s.rmse:8.4f} {s.lag_samples:14.2f}")
    w = ", ".join(f"{v:.6g}" for v in result.fitted)
    print(f"weights ({result.taps[-1]} taps, oldest to newest): [{w}]")
    if args.out:
        print(f"wrote {args.out}: streamconv ctl set {args.raw.split('/')[0]}/{args.output} "
              f"--weights-file {args.out}")
    if args.plot:
        print(f"wrote {args.plot}")


def fir_fragment(conf: Any, stream: str, output: str, result: Any, *, source: str) -> str:
    """Return the YAML config that runs ``stream`` with ``output`` set to the fitted weights.

    It is a whole config (``run --config`` accepts it: the stream's source and outputs from
    ``conf``, ``output`` replaced), validated before it is returned; ``ctl set TOPIC
    --weights-file`` reads ``streams.<stream>.outputs.<output>`` from it.
    """
    import yaml

    from streamconv import config as cfg

    if stream in conf.streams:
        sc = conf.streams[stream]
        source_data = sc.source.model_dump(mode="json")
        outputs = {name: [s.model_dump(mode="json", exclude_defaults=True) | {"kind": s.kind} for s in chain]
                   for name, chain in sc.outputs.items()}
    else:
        source_data = {"kind": "laser"}
        outputs = {}
    outputs[output] = [{"kind": "causal_fir", "weights": [float(w) for w in result.fitted]}]
    data = {"streams": {stream: {"source": source_data, "outputs": outputs}}}
    cfg.parse(data, source="the fitted config")  # what we write is what `run --config` accepts
    s = result.scores
    scores = ", ".join(f"{k} {s[k].rmse:.4f}" for k in ("raw", "configured", "kalman") if k in s)
    header = (
        f"# streamconv learn fir: {result.taps[-1]} causal weights (oldest to newest) fitted on {source}\n"
        f"# held-out RMSE: fitted {s['fitted'].rmse:.4f} ({scores})\n"
        f"# run it:       streamconv run --config THIS.yaml   (this stream only; or copy\n"
        f"#               streams.{stream}.outputs.{output} into your config)\n"
        f"# apply live:   streamconv ctl set {stream}/{output} --weights-file THIS.yaml\n"
    )
    return header + yaml.safe_dump(data, sort_keys=False, default_flow_style=None)


def cmd_learn_kernel2d(args: argparse.Namespace) -> int:
    """Fit one F x F kernel to frame pairs; print it and the residual; save it with ``--out``."""
    import numpy as np

    from streamconv.learn import kernel2d, logs

    size = kernel2d.check_kernel_size(args.size)
    inputs = logs.read_frames(args.input, max_frames=args.max_frames)
    targets = logs.read_frames(args.target, max_frames=args.max_frames)
    fit = kernel2d.fit_kernel2d(inputs, targets, size)
    if args.out:
        np.save(args.out, fit.kernel)
    if args.json:
        print(json.dumps({"kernel": fit.kernel.tolist(), "residual_rms": fit.residual_rms,
                          "target_rms": fit.target_rms, "windows": fit.windows, "pairs": len(inputs)},
                         indent=2))
        return exitcodes.OK
    with np.printoptions(precision=6, suppress=True, linewidth=110):
        print(fit.kernel)
    print(f"residual RMS {fit.residual_rms:.3g} (target RMS {fit.target_rms:.3g}) over {fit.windows} windows "
          f"of {len(inputs)} frame pair(s)")
    if args.out:
        print(f"wrote {args.out}: a kernel2d stage loads it as {{kind: kernel2d, file: {args.out}}}")
    return exitcodes.OK


def cmd_learn_bank(args: argparse.Namespace) -> int:
    """Train the CNN and its baselines on digits; print accuracies and times; save the bank."""
    import numpy as np

    from streamconv.learn import bank, kernel2d

    kernel2d.check_kernel_size(args.size)
    try:
        images, labels = bank.load_digits()
    except ImportError as exc:
        print(f"streamconv learn bank: error: {exc}", file=sys.stderr)
        return exitcodes.FAILURE
    result = bank.compare_banks(images, labels, filters=args.filters, size=args.size, seed=args.seed,
                                test_fraction=args.test_fraction, epochs=args.epochs)
    saved = bank.to_bank3d(result.bank, args.depth)
    if args.out:
        np.save(args.out, saved)
    if args.plot:
        from streamconv.learn.figures import plot_kernels

        hand = bank.handmade_bank()
        try:
            plot_kernels({"learnt": list(result.bank[:, 0]), "hand-made": list(hand[:, 0])}, args.plot,
                         titles={"learnt": [f"learnt {i}" for i in range(len(result.bank))],
                                 "hand-made": list(bank.HANDMADE)})
        except ImportError as exc:
            print(f"streamconv learn bank: error: {exc}", file=sys.stderr)
            return exitcodes.FAILURE
    if args.json:
        print(json.dumps({"accuracy": result.accuracy, "train_seconds": result.train_seconds,
                          "samples": {"train": result.n_train, "test": result.n_test},
                          "bank_shape": list(saved.shape), "bias": result.bias.tolist(),
                          "seed": args.seed, "epochs": args.epochs}, indent=2))
        return exitcodes.OK
    labels_text = {"cnn": f"learnt bank ({args.filters} x {args.size}x{args.size}, CNN)",
                   "handmade": f"hand-made bank ({', '.join(bank.HANDMADE)})", "raw": "raw pixels"}
    print(f"digits: {result.n_train} training images, {result.n_test} held out (seed {args.seed})")
    for name in ("cnn", "handmade", "raw"):
        print(f"{labels_text[name]:<62} accuracy {result.accuracy[name]:.4f}  "
              f"trained in {result.train_seconds[name]:.2f} s")
    if args.out:
        print(f"wrote {args.out}: a (K, D, F, F) = {tuple(saved.shape)} bank; a bank3d stage loads it as "
              f"{{kind: bank3d, file: {args.out}}}")
    if args.plot:
        print(f"wrote {args.plot}")
    return exitcodes.OK
