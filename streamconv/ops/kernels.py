"""The kernel catalogue: named 2D kernels built as plain, read-only float64 arrays (no ops here)."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from streamconv import limits
from streamconv.errors import StreamconvError
from streamconv.ops._validate import check_choice, check_finite_array, check_int

__all__ = [
    "KernelInfo",
    "box",
    "catalogue",
    "from_matrix",
    "gaussian",
    "gaussian_1d",
    "get",
    "info",
    "names",
    "separable_factors",
]

Kernel = NDArray[np.float64]


def _frozen(arr: np.ndarray) -> Kernel:
    out = np.array(arr, dtype=np.float64, copy=True, order="C")
    out.setflags(write=False)
    return out


def _check_odd_size(size: Any) -> int:
    size = check_int("size", size, minimum=1)
    if size % 2 == 0:
        raise StreamconvError(f"invalid size {size}; expected an odd integer >= 1 (kernels are centred)")
    if size > limits.MAX_KERNEL_SIDE:
        raise StreamconvError(f"invalid size {size}; the limit is {limits.MAX_KERNEL_SIDE}")
    return size


def _identity(size: int = 3) -> Kernel:
    size = _check_odd_size(size)
    k = np.zeros((size, size))
    k[size // 2, size // 2] = 1.0
    return _frozen(k)


def box(size: int = 3) -> Kernel:
    """Return the normalised box (mean) kernel of ``size`` x ``size``; it sums to 1.

    Examples
    --------
    >>> float(box(3).sum())
    1.0
    """
    size = _check_odd_size(size)
    row = np.full(size, 1.0 / size)
    return _frozen(np.outer(row, row))


def gaussian_1d(size: int = 5, sigma: float | None = None) -> Kernel:
    """Return a 1D sampled Gaussian of odd ``size``, normalised to sum 1.

    ``sigma=None`` takes sigma from OpenCV's rule ``0.3 * ((size - 1) * 0.5 - 1) + 0.8``
    (cv2.getGaussianKernel's documentation) and samples the Gaussian; unlike OpenCV it does not
    switch to fixed binomial tables for sizes <= 7.
    """
    size = _check_odd_size(size)
    if sigma is None:
        sigma = 0.3 * ((size - 1) * 0.5 - 1) + 0.8  # OpenCV's sigma-from-size rule
    if isinstance(sigma, bool) or not isinstance(sigma, int | float) or not (
        limits.MIN_SIGMA <= sigma <= limits.MAX_SIGMA
    ):
        raise StreamconvError(
            f"invalid sigma {sigma!r}; expected a number within [{limits.MIN_SIGMA}, {limits.MAX_SIGMA}]"
        )
    x = np.arange(size) - size // 2
    g = np.exp(-(x**2) / (2.0 * float(sigma) ** 2))
    return _frozen(g / g.sum())


def gaussian(size: int = 5, sigma: float | None = None) -> Kernel:
    """Return the 2D Gaussian kernel, the outer product of two :func:`gaussian_1d` (sums to 1).

    Examples
    --------
    >>> round(float(gaussian(3, 1.0)[1, 1]), 4)
    0.2042
    """
    g = gaussian_1d(size, sigma)
    return _frozen(np.outer(g, g))


def from_matrix(matrix: Any) -> Kernel:
    """Return a custom kernel from a nested list or array: 2D, non-empty, finite; read-only copy."""
    shape = np.shape(matrix) if isinstance(matrix, np.ndarray) else _nested_shape(matrix)
    if any(n > limits.MAX_KERNEL_SIDE for n in shape):
        raise StreamconvError(
            f"invalid kernel of shape {list(shape)}; the limit is {limits.MAX_KERNEL_SIDE} per side"
        )
    return _frozen(check_finite_array("kernel", matrix, ndim=2))


def _nested_shape(matrix: Any) -> tuple[int, ...]:
    """Return the lengths along the first item of each nesting level (cheap, before any copy)."""
    shape = []
    while isinstance(matrix, list | tuple):
        shape.append(len(matrix))
        if not matrix:
            break
        matrix = matrix[0]
    return tuple(shape)


# Sobel: smoothing [1, 2, 1] times central difference [-1, 0, 1] (Sobel & Feldman 1968;
# scikit-image filters/edges.py builds it the same way, as an outer product).
_SOBEL_SMOOTH = np.array([1.0, 2.0, 1.0])
_SOBEL_DIFF = np.array([-1.0, 0.0, 1.0])

# The lecture's "image kernels" (and GIMP's convolution-matrix documentation):
_SHARPEN = [[0, -1, 0], [-1, 5, -1], [0, -1, 0]]  # identity + 4-neighbour Laplacian; sums to 1
_EDGE_ENHANCE = [[0, 0, 0], [-1, 1, 0], [0, 0, 0]]  # left-neighbour difference; sums to 0
_EDGE_DETECT = [[1, 1, 1], [1, -8, 1], [1, 1, 1]]  # the lecture's ring of ones, -8 centre; sums to 0
_LAPLACIAN = [[0, 1, 0], [1, -4, 1], [0, 1, 0]]  # 4-neighbour discrete Laplacian; sums to 0
_EMBOSS = [[-2, -1, 0], [-1, 1, 1], [0, 1, 2]]  # GIMP's emboss; sums to 1


@dataclass(frozen=True)
class KernelInfo:
    """A catalogue entry: the builder and a one-line description of what the kernel does."""

    name: str
    build: Callable[..., Kernel]
    description: str
    params: tuple[str, ...] = ()


def _fixed(matrix: list[list[int]]) -> Callable[[], Kernel]:
    frozen = _frozen(np.array(matrix, dtype=np.float64))

    def build() -> Kernel:
        return frozen

    return build


_CATALOGUE: dict[str, KernelInfo] = {
    k.name: k
    for k in (
        KernelInfo("identity", _identity, "returns the input (a single 1 at the centre)", ("size",)),
        KernelInfo("box", box, "mean of the size x size window", ("size",)),
        KernelInfo("blur", lambda: box(3), "the lecture's blur: 3x3 mean"),
        KernelInfo("gaussian", gaussian, "sampled Gaussian, outer product of 1D", ("size", "sigma")),
        KernelInfo("sharpen", _fixed(_SHARPEN), "identity plus the 4-neighbour Laplacian"),
        KernelInfo("edge_enhance", _fixed(_EDGE_ENHANCE), "the lecture's enhance edges"),
        KernelInfo("edge_detect", _fixed(_EDGE_DETECT), "the lecture's detect edges (-8 ring)"),
        KernelInfo("laplacian", _fixed(_LAPLACIAN), "4-neighbour discrete Laplacian"),
        KernelInfo(
            "sobel_x",
            _fixed(np.outer(_SOBEL_SMOOTH, _SOBEL_DIFF).astype(int).tolist()),
            "horizontal gradient d/dx (responds to vertical edges)",
        ),
        KernelInfo(
            "sobel_y",
            _fixed(np.outer(_SOBEL_DIFF, _SOBEL_SMOOTH).astype(int).tolist()),
            "vertical gradient d/dy (responds to horizontal edges)",
        ),
        KernelInfo("emboss", _fixed(_EMBOSS), "relief effect, light from the bottom right"),
    )
}


def names() -> list[str]:
    """Return the catalogue's kernel names in catalogue order."""
    return list(_CATALOGUE)


def info(name: str) -> KernelInfo:
    """Return the catalogue entry for ``name``; raise naming the allowed names otherwise."""
    check_choice("kernel name", name, _CATALOGUE)
    return _CATALOGUE[name]


def get(name: str, **params: Any) -> Kernel:
    """Return the named kernel as a read-only float64 array.

    Parameters
    ----------
    name : str
        One of :func:`names`.
    **params
        Builder parameters: ``size`` for ``identity``/``box``/``gaussian``, ``sigma`` for
        ``gaussian``.  Fixed kernels take none.

    Examples
    --------
    >>> get("edge_detect")
    array([[ 1.,  1.,  1.],
           [ 1., -8.,  1.],
           [ 1.,  1.,  1.]])
    """
    entry = info(name)
    unknown = sorted(set(params) - set(entry.params))
    if unknown:
        raise StreamconvError(
            f"invalid parameter {unknown[0]!r} for kernel {name!r}; expected one of {list(entry.params)}"
        )
    return entry.build(**params)


def catalogue() -> dict[str, Kernel]:
    """Return every catalogue kernel at its default parameters, by name."""
    return {name: get(name) for name in _CATALOGUE}


def separable_factors(kernel: np.ndarray, *, tol: float = 1e-12) -> tuple[Kernel, Kernel] | None:
    """Return ``(column, row)`` 1D factors with ``outer(column, row) == kernel``, or None.

    A kernel is separable when its matrix has rank 1 (singular values past the first are below
    ``tol`` relative to the largest).
    """
    k = np.asarray(kernel, dtype=np.float64)
    if k.ndim != 2 or k.size == 0:
        return None
    u, s, vt = np.linalg.svd(k)
    if s[0] == 0 or (s.size > 1 and s[1] > tol * s[0]):
        return None
    col = u[:, 0] * math.sqrt(s[0])
    row = vt[0] * math.sqrt(s[0])
    return _frozen(col), _frozen(row)
