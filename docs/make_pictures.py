"""Generate the pictures of docs/filters.md with streamconv's own ops; run from the repo root.

    .venv/bin/python docs/make_pictures.py

Writes docs/img/kernels.png (a drawn test scene through the lecture's four kernels) and
docs/img/fir.png (a noisy ramp-and-sine through causal windows, with their lag).  Everything
is drawn in code with a fixed seed: no downloads, the same pictures on every run.
"""

from __future__ import annotations

import io
from fractions import Fraction
from pathlib import Path

import cv2
import matplotlib
import numpy as np
from PIL import Image

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from streamconv.ops import CausalFIR, conv2d, kernels

IMG_DIR = Path(__file__).resolve().parent / "img"
SEED = 7
LECTURE_WEIGHTS = [0.01, 0.01, 0.02, 0.02, 0.04, 0.4, 0.5]


def draw_scene(height: int = 240, width: int = 320) -> np.ndarray:
    """Return a BGR uint8 scene: sky and ground gradients, sun, house, tree, text, mild noise."""
    rng = np.random.default_rng(SEED)
    img = np.zeros((height, width, 3), np.float32)
    horizon = int(height * 0.62)
    # Sky: deep blue at the top to pale near the horizon (BGR).
    t = np.linspace(0.0, 1.0, horizon)[:, None]
    img[:horizon] = (1 - t)[..., None] * np.array([190, 110, 40]) + t[..., None] * np.array([235, 215, 190])
    # Ground: green, darker towards the viewer, with soft rolling bands.
    g = np.linspace(0.0, 1.0, height - horizon)[:, None]
    waves = 0.5 + 0.5 * np.sin(np.arange(width) / 23.0)[None, :] * np.cos(g * 9.0)
    shade = (1 - 0.45 * g) * (0.9 + 0.1 * waves)
    img[horizon:] = shade[..., None] * np.array([60, 150, 90])
    img = np.clip(img, 0, 255).astype(np.uint8)
    # Sun with a halo.
    sun = (int(width * 0.8), int(height * 0.2))
    cv2.circle(img, sun, 34, (170, 220, 250), -1, cv2.LINE_AA)
    cv2.circle(img, sun, 22, (80, 215, 255), -1, cv2.LINE_AA)
    # House: walls, roof, door, window with bars.
    x0, y0, x1, y1 = int(width * 0.12), int(height * 0.40), int(width * 0.42), horizon + 20
    cv2.rectangle(img, (x0, y0), (x1, y1), (150, 190, 225), -1)
    roof = np.array([[x0 - 10, y0], [(x0 + x1) // 2, y0 - 45], [x1 + 10, y0]], np.int32)
    cv2.fillPoly(img, [roof], (40, 50, 150), cv2.LINE_AA)
    cv2.rectangle(img, (x0 + 16, y0 + 30), (x0 + 38, y1), (30, 60, 100), -1)
    wx, wy = x1 - 44, y0 + 20
    cv2.rectangle(img, (wx, wy), (wx + 28, wy + 24), (240, 230, 200), -1)
    cv2.line(img, (wx + 14, wy), (wx + 14, wy + 24), (60, 60, 60), 2)
    cv2.line(img, (wx, wy + 12), (wx + 28, wy + 12), (60, 60, 60), 2)
    cv2.rectangle(img, (wx, wy), (wx + 28, wy + 24), (60, 60, 60), 2)
    # Tree: trunk and a round crown.
    tx = int(width * 0.6)
    cv2.rectangle(img, (tx - 5, horizon - 32), (tx + 5, horizon + 24), (30, 60, 90), -1)
    cv2.circle(img, (tx, horizon - 44), 27, (40, 120, 50), -1, cv2.LINE_AA)
    cv2.circle(img, (tx - 15, horizon - 32), 18, (50, 135, 60), -1, cv2.LINE_AA)
    # A small checkerboard sign: fine detail for the sharpen/edge kernels.
    cx, cy, cell = int(width * 0.74), horizon + 14, 6
    for i in range(4):
        for j in range(6):
            colour = (245, 245, 245) if (i + j) % 2 == 0 else (25, 25, 25)
            top_left = (cx + j * cell, cy + i * cell)
            bottom_right = (cx + (j + 1) * cell - 1, cy + (i + 1) * cell - 1)
            cv2.rectangle(img, top_left, bottom_right, colour, -1)
    # Text.
    cv2.putText(img, "streamconv", (int(width * 0.06), height - 14), cv2.FONT_HERSHEY_DUPLEX, 0.75,
                (250, 250, 250), 2, cv2.LINE_AA)
    # Mild sensor noise, so blur has something to remove.
    noisy = img.astype(np.float32) + rng.normal(0.0, 2.5, img.shape)
    return np.clip(np.rint(noisy), 0, 255).astype(np.uint8)


def _show(ax: plt.Axes, bgr: np.ndarray, title: str, subtitle: str) -> None:
    ax.imshow(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), interpolation="nearest")
    ax.set_title(f"{title}\n{subtitle}", fontsize=10)
    ax.set_axis_off()


def _show_kernel(ax: plt.Axes, k: np.ndarray) -> None:
    lim = float(np.abs(k).max())
    ax.imshow(k, cmap="coolwarm", vmin=-lim, vmax=lim)
    for (i, j), v in np.ndenumerate(k):
        text = f"{v:g}" if float(v).is_integer() else str(Fraction(float(v)).limit_denominator(100))
        ax.text(j, i, text, ha="center", va="center", fontsize=10)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_xlabel(f"sum = {k.sum():g}", fontsize=9)


def kernels_picture(path: Path) -> None:
    """Input scene and the lecture's four kernels applied with conv2d, with the kernels below."""
    scene = draw_scene()
    # Each panel: (title, kernel, picture in BGR uint8, how the output was shown).
    panels = [("input", kernels.get("identity"), scene, "uint8 BGR frame")]
    for name in ("blur", "sharpen"):
        k = kernels.get(name)
        out = conv2d(scene, k, padding="same", border="replicate")  # sums to 1: stays uint8
        panels.append((name, k, out, f"{out.dtype} output (saturated)"))
    for name in ("edge_enhance", "edge_detect"):
        k = kernels.get(name)
        out = conv2d(scene, k, padding="same", border="replicate")  # sums to 0: signed float32
        shown = np.clip(np.abs(out), 0, 255).astype(np.uint8)
        panels.append((name, k, shown, f"{out.dtype} output, shown as |value|"))

    fig, axes = plt.subplots(2, len(panels), figsize=(3.5 * len(panels), 4.3),
                             gridspec_kw={"height_ratios": [2.4, 1.0]})
    for col, (name, k, pic, note) in enumerate(panels):
        _show(axes[0, col], pic, name, note)
        _show_kernel(axes[1, col], k)
    fig.suptitle("streamconv conv2d(frame, kernel, padding='same', border='replicate'), "
                 "per colour channel", fontsize=11)
    fig.tight_layout()
    _save_small_png(fig, path, dpi=100)


def _save_small_png(fig: plt.Figure, path: Path, dpi: int) -> None:
    """Save ``fig`` as a 256-colour PNG: the noisy photo-like panels stay well under 300 KB."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    plt.close(fig)
    buf.seek(0)
    with Image.open(buf) as im:
        im.convert("RGB").quantize(colors=256, method=Image.Quantize.MEDIANCUT).save(path, optimize=True)


def fir_picture(path: Path) -> None:
    """A noisy ramp-then-sine, the lecture's causal window and a longer one, and their lag."""
    rng = np.random.default_rng(SEED)
    n = 240
    t = np.arange(n)
    truth = np.where(t < 80, 0.03 * t, 2.4 + 1.2 * np.sin(2 * np.pi * (t - 80) / 80.0))
    measured = truth + rng.normal(0.0, 0.25, n)

    lecture = CausalFIR(LECTURE_WEIGHTS)
    long = CausalFIR(np.ones(15), normalize=True)
    s_lecture = lecture.process(measured)
    s_long = long.process(measured)

    fig, axes = plt.subplots(2, 1, figsize=(10, 6.4), gridspec_kw={"height_ratios": [1.5, 1.0]})
    ax = axes[0]
    ax.plot(t, measured, ".", color="0.6", ms=3.5, label="measured x_t (truth + noise)")
    ax.plot(t, truth, "--", color="k", lw=1.2, label="truth")
    ax.plot(t, s_lecture, color="tab:blue", lw=1.6,
            label=f"CausalFIR(lecture weights), lag {lecture.lag:.2f} samples")
    ax.plot(t, s_long, color="tab:red", lw=1.8,
            label=f"CausalFIR(15 equal weights), lag {long.lag:.0f} samples")
    ax.set_xlim(0, n - 1)
    ax.set_xlabel("t (samples)")
    ax.set_title("Causal windows use only present and past samples: smoother means later")
    ax.legend(loc="upper left", fontsize=9)

    # Zoom on a rising stretch: the outputs trail the truth by their lag.
    ax = axes[1]
    lo, hi = 150, 215
    sl = slice(lo, hi)
    ax.plot(t[sl], measured[sl], ".", color="0.6", ms=4)
    ax.plot(t[sl], truth[sl], "--", color="k", lw=1.2)
    ax.plot(t[sl], s_lecture[sl], color="tab:blue", lw=1.6)
    ax.plot(t[sl], s_long[sl], color="tab:red", lw=1.8)
    ax.plot(t[sl] - long.lag, s_long[sl], ":", color="tab:red", lw=1.5,
            label=f"15-tap output moved {long.lag:.0f} samples earlier: lines up with the truth")
    # An arrow at the level the truth crosses 2.4 on the rise: truth first, filter `lag` later.
    rise = np.flatnonzero((truth[:-1] < 2.4) & (truth[1:] >= 2.4) & (t[:-1] >= lo))[0]
    ax.annotate("", xy=(rise + long.lag, 2.4), xytext=(rise, 2.4),
                arrowprops={"arrowstyle": "->", "color": "tab:red", "lw": 1.5})
    ax.text(rise + long.lag / 2, 2.28, f"lag {long.lag:.0f}", color="tab:red", ha="center", va="top",
            fontsize=10)
    ax.set_xlim(lo, hi - 1)
    ax.set_xlabel("t (samples), zoom")
    ax.legend(loc="upper left", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def main() -> None:
    IMG_DIR.mkdir(parents=True, exist_ok=True)
    kernels_picture(IMG_DIR / "kernels.png")
    fir_picture(IMG_DIR / "fir.png")
    for name in ("kernels.png", "fir.png"):
        p = IMG_DIR / name
        print(f"{p}: {p.stat().st_size / 1024:.0f} KB")


if __name__ == "__main__":
    main()
