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
from streamconv.errors import StreamconvError

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


def cmd_learn_kernel2d(args: argparse.Namespace) -> int:  # filled in below
    """Fit one F x F kernel to frame pairs."""
    raise NotImplementedError


def cmd_learn_bank(args: argparse.Namespace) -> int:  # filled in below
    """Train the CNN bank on digits."""
    raise NotImplementedError
