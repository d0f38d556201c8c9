"""Independent reference implementations: plain Python loops, written from the formulas alone.

Nothing here imports streamconv.  Each function follows the definition in DESIGN.md ("Filter
semantics") as literally as possible, trading speed for obviousness, so the tests can compare
the fast OpenCV/numpy code paths against something that is easy to check by reading.
"""

from __future__ import annotations

import math

import numpy as np

# Our border vocabulary in numpy.pad's words, written out here on purpose rather than imported
# from streamconv, so a wrong entry in the library's table cannot agree with itself.
NUMPY_PAD_MODE = {"zero": "constant", "replicate": "edge", "reflect": "reflect"}
#: The same vocabulary in scipy.ndimage's words (``mirror`` is d c b | a b c d | c b a).
NDIMAGE_MODE = {"zero": "constant", "replicate": "nearest", "reflect": "mirror"}


# -- 1D ---------------------------------------------------------------------------------------
def naive_fir(x, weights, *, before=0.0):
    """``s_t = sum_{a=0}^{m-1} x_{t-a} w_{-a}`` with ``x_t = before`` for ``t < 0``.

    ``weights`` are oldest to newest, so ``w_{-a}`` is ``weights[m - 1 - a]``.
    """
    m = len(weights)
    out = []
    for t in range(len(x)):
        acc = 0.0
        for a in range(m):
            sample = x[t - a] if t - a >= 0 else before
            acc += float(sample) * float(weights[m - 1 - a])
        out.append(acc)
    return np.array(out, dtype=np.float64)


def naive_renormalized_fir(x, weights):
    """Warm-up by renormalisation: only the samples seen, scaled by ``sum(w) / sum(w seen)``."""
    m = len(weights)
    total = sum(float(v) for v in weights)
    out = []
    for t in range(len(x)):
        acc = 0.0
        seen_gain = 0.0
        for a in range(min(t + 1, m)):
            acc += float(x[t - a]) * float(weights[m - 1 - a])
            seen_gain += float(weights[m - 1 - a])
        if t < m - 1 and seen_gain != 0.0:
            acc *= total / seen_gain
        out.append(acc)
    return np.array(out, dtype=np.float64)


def naive_temporal(frames, weights, warmup):
    """``out_t = sum_a frame_{t-a} w_{-a}`` for every pixel, one explicit loop per pixel.

    Before the stream a frame is zeros (``'zeros'``) or the first frame (``'first'``); with
    ``'renormalize'`` only the frames seen count, scaled by ``sum(w) / sum(w seen)`` (unless that
    sum is 0).  Returns float64 frames.
    """
    m = len(weights)
    total = sum(float(v) for v in weights)
    stack = np.asarray(frames, dtype=np.float64)
    out = np.zeros(stack.shape, dtype=np.float64)
    for t in range(stack.shape[0]):
        for p in np.ndindex(*stack.shape[1:]):
            acc = 0.0
            seen_gain = 0.0
            for a in range(m):
                w = float(weights[m - 1 - a])
                if t - a >= 0:
                    acc += float(stack[(t - a, *p)]) * w
                    seen_gain += w
                elif warmup == "first":
                    acc += float(stack[(0, *p)]) * w
                # zeros: a zero frame adds nothing; renormalize: the frame is not counted
            if warmup == "renormalize" and t < m - 1 and seen_gain != 0.0:
                acc *= total / seen_gain
            out[(t, *p)] = acc
    return out


def forward_fill(x, *, before=0.0):
    """Replace every non-finite sample by the last finite one (``before`` if there is none yet)."""
    out = []
    last = before
    for v in x:
        if math.isfinite(v):
            last = float(v)
        out.append(last)
    return np.array(out, dtype=np.float64)


# -- 2D ---------------------------------------------------------------------------------------
def padding_amounts(padding, kernel_shape):
    """``(P_h, P_w)`` that ``padding`` (an int, ``'same'`` or ``'valid'``) means for ``kernel_shape``."""
    if padding == "valid":
        return 0, 0
    if padding == "same":
        return (kernel_shape[0] - 1) // 2, (kernel_shape[1] - 1) // 2
    return int(padding), int(padding)


def pad_image(image, ph, pw, border):
    """Pad the two spatial axes of a 2D or 3D image by ``ph`` rows and ``pw`` columns per side."""
    widths = [(ph, ph), (pw, pw)] + [(0, 0)] * (image.ndim - 2)
    return np.pad(np.asarray(image, dtype=np.float64), widths, mode=NUMPY_PAD_MODE[border])


def naive_conv2d(image, kernel, padding=0, stride=1, border="zero"):
    """``S_ij = sum_{a,b} I[iS + a, jS + b] K[a, b]`` over the padded image, by plain loops.

    A 3D image is filtered channel by channel.  Returns float64 of shape (H2, W2[, C]).
    """
    kernel = np.asarray(kernel, dtype=np.float64)
    fh, fw = kernel.shape
    ph, pw = padding_amounts(padding, kernel.shape)
    padded = pad_image(image, ph, pw, border)
    if padded.ndim == 2:
        padded = padded[:, :, None]
    hp, wp, channels = padded.shape
    rows = range(0, hp - fh + 1, stride)
    cols = range(0, wp - fw + 1, stride)
    out = np.zeros((len(rows), len(cols), channels))
    for c in range(channels):
        for i, r in enumerate(rows):
            for j, q in enumerate(cols):
                acc = 0.0
                for a in range(fh):
                    for b in range(fw):
                        acc += padded[r + a, q + b, c] * kernel[a, b]
                out[i, j, c] = acc
    return out[:, :, 0] if np.ndim(image) == 2 else out


def naive_conv3d(frame, bank, padding=0, stride=1, bias=None, border="zero"):
    """``out[i, j, k] = bias[k] + sum_{d,a,b} I_pad[iS + a, jS + b, d] bank[k, d, a, b]``."""
    frame = np.asarray(frame, dtype=np.float64)
    if frame.ndim == 2:
        frame = frame[:, :, None]
    bank = np.asarray(bank, dtype=np.float64)
    k_count, depth, fh, fw = bank.shape
    assert depth == frame.shape[2], "reference: depth mismatch"
    ph, pw = padding_amounts(padding, (fh, fw))
    padded = pad_image(frame, ph, pw, border)
    hp, wp = padded.shape[:2]
    rows = range(0, hp - fh + 1, stride)
    cols = range(0, wp - fw + 1, stride)
    out = np.zeros((len(rows), len(cols), k_count))
    for k in range(k_count):
        b0 = 0.0 if bias is None else float(bias[k])
        for i, r in enumerate(rows):
            for j, q in enumerate(cols):
                acc = b0
                for d in range(depth):
                    for a in range(fh):
                        for b in range(fw):
                            acc += padded[r + a, q + b, d] * bank[k, d, a, b]
                out[i, j, k] = acc
    return out
