"""Regenerate the figures and tables of docs/learning.md.

    python docs/make_learning_figures.py --record /tmp/laser60   # a 60 s log of the laser, then figures
    python docs/make_learning_figures.py /tmp/laser60            # figures from an existing log

``--record DIR`` runs ``streamconv run`` with the embedded default's laser stream (100 Hz, noise
0.5, seed 0) on free loopback ports and ``streamconv log laser/ --duration 62`` into DIR.
The tables are printed as Markdown; the PNGs go to docs/img/.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import yaml

from streamconv import config
from streamconv.learn import bank, fir, logs
from streamconv.learn.figures import plot_kernels, plot_sweep
from streamconv.sockets import free_loopback_port

IMG = Path(__file__).parent / "img"
TAPS = (4, 7, 16, 32, 64)


def record(directory: Path, seconds: float = 62.0) -> None:
    data = config.default_config().model_dump(mode="json")
    data["streams"] = {"laser": data["streams"]["laser"]}
    data.pop("cluster", None)
    data["streams"]["laser"].pop("placement", None)
    publish = f"tcp://127.0.0.1:{free_loopback_port()}"
    data["service"]["publish"] = publish
    data["service"]["control"] = f"tcp://127.0.0.1:{free_loopback_port()}"
    with tempfile.TemporaryDirectory() as tmp:
        cfg = Path(tmp) / "laser.yaml"
        cfg.write_text(yaml.safe_dump(data))
        daemon = subprocess.Popen([sys.executable, "-m", "streamconv", "run", "-c", str(cfg)])
        try:
            time.sleep(3.0)
            subprocess.run([sys.executable, "-m", "streamconv", "log", "laser/", "-e", publish, "--out",
                            str(directory), "--duration", str(seconds)], check=True, timeout=seconds + 30)
        finally:
            daemon.terminate()
            daemon.wait(10)


def laser_figures(log: Path) -> None:
    pair = logs.sample_pair(logs.read_samples(log), "laser/raw", "laser/truth", source=str(log))
    hand = list(config.DEFAULT_WEIGHTS)
    result = fir.compare_filters(pair.raw, pair.truth, TAPS, dt=pair.dt, configured=hand)
    s, sw = result.scores, result.sweep
    print(f"log {log}: {pair.raw.size} samples ({pair.raw.size * pair.dt:.1f} s), "
          f"{result.n_train} training, {result.n_test} held out\n")
    print("| filter | held-out RMSE (m) | lag (samples) |\n|---|---|---|")
    rows = [("raw", s["raw"]), ("hand-set 7 taps (0.01 ... 0.5)", s["configured"]),
            ("fitted 7 taps", sw[7]), ("fitted 64 taps", sw[64]),
            (f"CV Kalman, tuned (q = {result.kalman.q:.3g}, r = {result.kalman.r:.3g})", s["kalman"])]
    for name, sc in rows:
        print(f"| {name} | {sc.rmse:.3f} | {sc.lag_samples:.2f} |")
    print("\n| taps | " + " | ".join(str(m) for m in TAPS) + " |\n|---|" + "---|" * len(TAPS))
    print("| held-out RMSE | " + " | ".join(f"{sw[m].rmse:.3f}" for m in TAPS) + " |\n")
    plot_sweep(result, IMG / "learning_rmse_vs_taps.png", title="laser, 60 s log: held-out RMSE vs taps")

    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    traces = {
        "raw": pair.raw,
        "hand-set": fir.apply_fir(pair.raw, hand),
        "fitted 64 taps": fir.apply_fir(pair.raw, result.weights[64]),
        "tuned Kalman": result.kalman(pair.raw),
    }
    start = result.n_train + 500
    window = slice(start, start + 300)  # 3 s of the held-out part
    t = (np.arange(pair.raw.size) * pair.dt)[window]
    fig = Figure(figsize=(9, 4.2), dpi=110)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    colours = {"raw": "#BBBBBB", "hand-set": "#D55E00", "fitted 64 taps": "#0072B2",
               "tuned Kalman": "#009E73"}
    for name, v in traces.items():
        ax.plot(t, v[window], color=colours[name], lw=0.8 if name == "raw" else 1.4, label=name)
    ax.plot(t, pair.truth[window], color="black", lw=1.2, ls="--", label="truth")
    ax.set_xlabel("time (s)")
    ax.set_ylabel("range (m)")
    ax.set_title("laser: 3 s of the held-out part")
    ax.legend(fontsize=8, ncol=5)
    ax.grid(True, alpha=0.3)
    fig.tight_layout()
    fig.savefig(IMG / "learning_traces.png")


def simulated(minutes: float) -> None:
    """The same comparison on a longer series from the laser simulator directly (not a daemon log)."""
    from streamconv.sources.laser import LaserSimulator

    n = round(minutes * 60 * 100)
    chunk = LaserSimulator(seed=0).read(n, 0)  # the default laser source: 100 Hz, noise 0.5, seed 0
    hand = list(config.DEFAULT_WEIGHTS)
    result = fir.compare_filters(chunk.values, chunk.truth, TAPS, dt=0.01, configured=hand)
    s, sw = result.scores, result.sweep
    print(f"simulator, {minutes:g} min ({n} samples): {result.n_train} training, {result.n_test} held out\n")
    print("| filter | held-out RMSE (m) | lag (samples) |\n|---|---|---|")
    rows = [("raw", s["raw"]), ("hand-set 7 taps", s["configured"])]
    rows += [(f"fitted {m} taps", sw[m]) for m in TAPS]
    rows += [(f"CV Kalman, tuned (q = {result.kalman.q:.3g}, r = {result.kalman.r:.3g})", s["kalman"])]
    for name, sc in rows:
        print(f"| {name} | {sc.rmse:.3f} | {sc.lag_samples:.2f} |")
    print()


def bank_figures() -> None:
    images, labels = bank.load_digits()
    print("| features | filters | test accuracy | training time (s) |\n|---|---|---|---|")
    main = bank.compare_banks(images, labels, filters=8, seed=0)
    same_k = bank.compare_banks(images, labels, filters=len(bank.HANDMADE), seed=0)
    acc, sec = main.accuracy, main.train_seconds
    print(f"| learnt bank (CNN) | 8 x 3x3 | {acc['cnn']:.4f} | {sec['cnn']:.2f} |")
    print(f"| learnt bank (CNN) | 5 x 3x3 | {same_k.accuracy['cnn']:.4f} | "
          f"{same_k.train_seconds['cnn']:.2f} |")
    print(f"| hand-made bank ({', '.join(bank.HANDMADE)}) | 5 x 3x3 | {acc['handmade']:.4f} | "
          f"{sec['handmade']:.2f} |")
    print(f"| raw pixels | none | {acc['raw']:.4f} | {sec['raw']:.2f} |")
    print(f"\n{main.n_train} training images, {main.n_test} held out (seed 0, 60 epochs)\n")
    hand = bank.handmade_bank()
    plot_kernels({"learnt": list(main.bank[:, 0]), "hand-made": list(hand[:, 0])},
                 IMG / "learning_kernels.png",
                 titles={"learnt": [f"learnt {i}" for i in range(main.bank.shape[0])],
                         "hand-made": list(bank.HANDMADE)})


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("log", type=Path, help="a `streamconv log` directory of the laser (made by --record)")
    p.add_argument("--record", action="store_true", help="record a 60 s log into LOG first")
    p.add_argument("--simulate-minutes", type=float, default=10.0,
                   help="minutes of the longer comparison on the simulator directly (default 10)")
    args = p.parse_args()
    IMG.mkdir(exist_ok=True)
    if args.record:
        record(args.log)
    laser_figures(args.log)
    simulated(args.simulate_minutes)
    bank_figures()
    return 0


if __name__ == "__main__":
    sys.exit(main())
