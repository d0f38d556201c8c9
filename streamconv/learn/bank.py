r"""A small convolutional network in numpy: a bank of 3D filters learnt by backpropagation (no I/O).

The lecture's last slides: ``K`` filters of ``F x F x D`` (``D = 1`` for grey digits), ReLU,
2 x 2 max pooling, and a linear classifier with softmax, trained end to end on the 8 x 8
digits of scikit-learn (1797 images, bundled: no download).  The baselines run the **same**
classifier, trained the same way (Adam, mini-batches, the same epochs and seed) on

* fixed hand-made features: the catalogue's ``edge_detect``, ``blur``, ``sharpen``, ``sobel_x``
  and ``sobel_y`` as the bank, then the same ReLU and pooling (only the classifier learns);
* the raw pixels (the classifier alone).

The convolution is ``conv2d``'s: correlation, centred, ``'same'`` zero padding, computed by
im2col (every ``F x F`` window of the image as a row, one matrix product per batch).
Everything random comes from one ``numpy.random.default_rng(seed)``: the split, the
initialisation and the batch order, so a seed gives the same accuracies run after run.

Examples
--------
>>> rng = np.random.default_rng(0)
>>> x = rng.random((4, 8, 8))
>>> cols = im2col(x, 3)
>>> cols.shape
(4, 64, 9)
>>> from streamconv.ops.conv2d import conv2d
>>> k = rng.normal(size=(3, 3))
>>> bool(np.allclose((cols @ k.ravel()).reshape(4, 8, 8)[1], conv2d(x[1], k, padding="same")))
True
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from streamconv.errors import StreamconvError
from streamconv.learn.kernel2d import check_kernel_size
from streamconv.ops import kernels

__all__ = [
    "HANDMADE",
    "BankResult",
    "Classifier",
    "compare_banks",
    "handmade_bank",
    "im2col",
    "load_digits",
    "split",
    "to_bank3d",
    "train",
]

#: The hand-made bank: the lecture's edge detector, blur, sharpen and the two Sobels.
HANDMADE = ("edge_detect", "blur", "sharpen", "sobel_x", "sobel_y")
_CLASSES = 10


def load_digits() -> tuple[NDArray[np.float64], NDArray[np.int64]]:
    """Return scikit-learn's digits: ``(1797, 8, 8)`` images scaled to [0, 1] and their labels."""
    try:
        from sklearn.datasets import load_digits as _load
    except ImportError:
        raise ImportError("learn bank needs scikit-learn's digits: pip install 'streamconv[learn]'") from None
    d = _load()
    return d.images.astype(np.float64) / 16.0, d.target.astype(np.int64)


def split(n: int, test_fraction: float, seed: int) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Return ``(train, test)`` indices: a seeded permutation, the last ``test_fraction`` held out."""
    if not 0.0 < test_fraction < 1.0:
        raise StreamconvError(f"invalid test fraction {test_fraction!r}; expected a number in (0, 1)")
    order = np.random.default_rng(seed).permutation(n)
    n_test = max(1, round(n * test_fraction))
    return np.sort(order[n_test:]), np.sort(order[:n_test])


def im2col(images: NDArray[np.float64], size: int) -> NDArray[np.float64]:
    """Return every centred ``size x size`` window (zero padding) of ``(N, H, W)`` images, ``(N, HW, FF)``."""
    f = check_kernel_size(size)
    r = f // 2
    n, h, w = images.shape
    padded = np.pad(images, ((0, 0), (r, r), (r, r)))
    win = np.lib.stride_tricks.sliding_window_view(padded, (f, f), axis=(1, 2))  # (N, H, W, F, F)
    return np.ascontiguousarray(win).reshape(n, h * w, f * f)


def handmade_bank() -> NDArray[np.float64]:
    """Return the :data:`HANDMADE` kernels as a ``(K, 1, 3, 3)`` bank."""
    return np.stack([kernels.get(name) for name in HANDMADE])[:, None]


def to_bank3d(bank: NDArray[np.float64], depth: int = 3) -> NDArray[np.float64]:
    """Spread a ``(K, 1, F, F)`` grey bank over ``depth`` channels, ``w / depth`` each.

    On a grey frame repeated in every channel (or on the channel mean) the result equals the
    grey bank's, so a bank learnt on grey digits runs as a ``bank3d`` stage on BGR frames.
    """
    if bank.ndim != 4 or bank.shape[1] != 1:
        raise StreamconvError(f"invalid grey bank of shape {bank.shape}; expected (K, 1, F, F)")
    return np.repeat(bank / depth, depth, axis=1)


# ------------------------------------------------------------------------------------- the network
def _pool(a: NDArray[np.float64]) -> tuple[NDArray[np.float64], NDArray[np.int64]]:
    """2 x 2 max pooling of ``(N, H, W, K)``; returns the pooled maps and the argmax in each cell."""
    n, h, w, k = a.shape
    cells = a.reshape(n, h // 2, 2, w // 2, 2, k).transpose(0, 1, 3, 5, 2, 4).reshape(n, h // 2, w // 2, k, 4)
    idx = np.argmax(cells, axis=-1)
    return np.take_along_axis(cells, idx[..., None], axis=-1)[..., 0], idx


def _unpool(g: NDArray[np.float64], idx: NDArray[np.int64]) -> NDArray[np.float64]:
    n, h2, w2, k = g.shape
    cells = np.zeros((n, h2, w2, k, 4))
    np.put_along_axis(cells, idx[..., None], g[..., None], axis=-1)
    return cells.reshape(n, h2, w2, k, 2, 2).transpose(0, 1, 4, 2, 5, 3).reshape(n, 2 * h2, 2 * w2, k)


@dataclass
class Classifier:
    """Conv bank (optional, learnt or fixed) -> ReLU -> 2 x 2 max pool -> linear -> softmax.

    Attributes
    ----------
    bank : (K, 1, F, F) ndarray or None
        The filters; None feeds the raw pixels to the linear layer.
    bias : (K,) ndarray or None
        The filters' biases.
    weights : (features, 10) ndarray
        The linear classifier.
    offset : (10,) ndarray
        Its biases.
    learn_bank : bool
        Whether training updates the bank (the CNN) or keeps it fixed (hand-made features).
    """

    bank: NDArray[np.float64] | None
    bias: NDArray[np.float64] | None
    weights: NDArray[np.float64]
    offset: NDArray[np.float64]
    learn_bank: bool = False
    _moments: dict[str, tuple[NDArray[np.float64], NDArray[np.float64]]] = field(
        default_factory=dict, repr=False
    )

    def _features(self, cols: NDArray[np.float64] | None, images: NDArray[np.float64]) -> tuple:
        if self.bank is None:
            return images.reshape(images.shape[0], -1), None
        assert cols is not None and self.bias is not None
        n, h, w = images.shape
        k = self.bank.shape[0]
        z = (cols @ self.bank.reshape(k, -1).T + self.bias).reshape(n, h, w, k)
        pooled, idx = _pool(np.maximum(z, 0.0))
        return pooled.reshape(n, -1), (z, idx, pooled.shape)

    def logits(self, images: NDArray[np.float64]) -> NDArray[np.float64]:
        """Return the class scores of ``(N, H, W)`` images."""
        cols = None if self.bank is None else im2col(images, self.bank.shape[-1])
        h, _ = self._features(cols, images)
        return h @ self.weights + self.offset

    def predict(self, images: NDArray[np.float64]) -> NDArray[np.int64]:
        """Return the most likely class of each image."""
        return np.argmax(self.logits(images), axis=1)

    def accuracy(self, images: NDArray[np.float64], labels: NDArray[np.int64]) -> float:
        """Return the share of ``images`` classified as ``labels``."""
        return float(np.mean(self.predict(images) == labels))

    def gradients(
        self, cols: NDArray[np.float64] | None, images: NDArray[np.float64], labels: NDArray[np.int64],
        *, decay: float = 0.0,
    ) -> tuple[float, dict[str, NDArray[np.float64]]]:
        """Return the mean cross-entropy of a batch and its gradient by backpropagation.

        The gradient is taken for ``weights`` and ``offset``, and for ``bank`` and ``bias`` when
        the bank is learnt; ``decay`` adds the L2 term ``decay * w`` to the weights' and bank's
        (the loss returned is the cross-entropy alone).  ``cols`` is :func:`im2col` of ``images``.
        """
        n = images.shape[0]
        h, cache = self._features(cols, images)
        s = h @ self.weights + self.offset
        s = s - s.max(axis=1, keepdims=True)
        p = np.exp(s)
        p /= p.sum(axis=1, keepdims=True)
        loss = float(-np.mean(np.log(p[np.arange(n), labels] + 1e-300)))
        g = p
        g[np.arange(n), labels] -= 1.0
        g /= n
        grads = {"weights": h.T @ g + decay * self.weights, "offset": g.sum(axis=0)}
        if self.learn_bank and cache is not None:
            assert self.bank is not None and cols is not None
            z, idx, shape = cache
            gz = _unpool((g @ self.weights.T).reshape(shape), idx) * (z > 0)
            k = self.bank.shape[0]
            gz2 = gz.reshape(-1, k)
            gbank = (gz2.T @ cols.reshape(-1, cols.shape[-1])).reshape(self.bank.shape)
            grads["bank"] = gbank + decay * self.bank
            grads["bias"] = gz2.sum(axis=0)
        return loss, grads

    def step(self, cols: NDArray[np.float64] | None, images: NDArray[np.float64], labels: NDArray[np.int64],
             *, lr: float, t: int, decay: float) -> float:
        """One Adam step (Kingma and Ba 2015, default betas) on a batch; return its loss."""
        loss, grads = self.gradients(cols, images, labels, decay=decay)
        for name, grad in grads.items():
            m, v = self._moments.get(name, (np.zeros_like(grad), np.zeros_like(grad)))
            m = 0.9 * m + 0.1 * grad
            v = 0.999 * v + 0.001 * grad * grad
            self._moments[name] = (m, v)
            update = lr * (m / (1 - 0.9**t)) / (np.sqrt(v / (1 - 0.999**t)) + 1e-8)
            setattr(self, name, getattr(self, name) - update)
        return loss


def train(
    images: NDArray[np.float64],
    labels: NDArray[np.int64],
    *,
    bank: NDArray[np.float64] | None,
    learn_bank: bool,
    seed: int,
    epochs: int = 60,
    batch: int = 64,
    lr: float = 0.01,
    decay: float = 1e-4,
) -> Classifier:
    """Train a :class:`Classifier` (``bank`` is the start of a learnt bank, or the fixed one).

    Examples
    --------
    >>> x, y = load_digits()
    >>> clf = train(x[:300], y[:300], bank=None, learn_bank=False, seed=0, epochs=20)
    >>> clf.accuracy(x[:300], y[:300]) > 0.95
    True
    """
    rng = np.random.default_rng(seed)
    n, hh, ww = images.shape
    if bank is None:
        features = hh * ww
        bias = None
    else:
        features = (hh // 2) * (ww // 2) * bank.shape[0]
        bias = np.zeros(bank.shape[0])
    clf = Classifier(
        None if bank is None else np.array(bank, dtype=np.float64), bias,
        rng.normal(0.0, 1.0 / np.sqrt(features), (features, _CLASSES)), np.zeros(_CLASSES), learn_bank,
    )
    cols_all = None if bank is None else im2col(images, bank.shape[-1])
    t = 0
    for _ in range(epochs):
        order = rng.permutation(n)
        for s in range(0, n, batch):
            b = order[s : s + batch]
            t += 1
            clf.step(None if cols_all is None else cols_all[b], images[b], labels[b], lr=lr, t=t, decay=decay)
    return clf


@dataclass(frozen=True)
class BankResult:
    """The learnt bank beside its baselines, on one held-out split.

    Attributes
    ----------
    accuracy : dict of str to float
        Test accuracy of ``cnn`` (learnt bank), ``handmade`` (fixed catalogue bank) and ``raw``.
    train_seconds : dict of str to float
        Wall-clock training time of each.
    bank : (K, 1, F, F) ndarray
        The learnt filters (grey digits: depth 1; :func:`to_bank3d` for BGR frames).
    bias : (K,) ndarray
        Their learnt biases.
    n_train, n_test : int
        The split.
    """

    accuracy: dict[str, float]
    train_seconds: dict[str, float]
    bank: NDArray[np.float64]
    bias: NDArray[np.float64]
    n_train: int
    n_test: int


def compare_banks(
    images: NDArray[np.float64],
    labels: NDArray[np.int64],
    *,
    filters: int = 8,
    size: int = 3,
    seed: int = 0,
    test_fraction: float = 0.3,
    epochs: int = 60,
) -> BankResult:
    """Train the CNN, the hand-made-feature and the raw-pixel classifiers; score them on one split.

    Raises
    ------
    StreamconvError
        An even ``size``, ``filters < 1``, ``epochs < 1`` or a bad ``test_fraction``.
    """
    f = check_kernel_size(size)
    for name, v in (("filters", filters), ("epochs", epochs)):
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise StreamconvError(f"invalid {name} {v!r}; expected an integer >= 1")
    tr, te = split(images.shape[0], test_fraction, seed)
    rng = np.random.default_rng(seed)
    start = rng.normal(0.0, np.sqrt(2.0 / (f * f)), (filters, 1, f, f))  # He initialisation
    runs = {
        "cnn": {"bank": start, "learn_bank": True},
        "handmade": {"bank": handmade_bank(), "learn_bank": False},
        "raw": {"bank": None, "learn_bank": False},
    }
    accuracy: dict[str, float] = {}
    seconds: dict[str, float] = {}
    models = {}
    for name, kw in runs.items():
        t0 = time.perf_counter()
        clf = train(images[tr], labels[tr], seed=seed, epochs=epochs, **kw)  # type: ignore[arg-type]
        seconds[name] = time.perf_counter() - t0
        accuracy[name] = clf.accuracy(images[te], labels[te])
        models[name] = clf
    cnn = models["cnn"]
    assert cnn.bank is not None and cnn.bias is not None
    return BankResult(accuracy, seconds, cnn.bank, cnn.bias, int(tr.size), int(te.size))
