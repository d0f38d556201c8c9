"""Validation helpers for the ops' public boundary; messages name the parameter, value and rule."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from streamconv.errors import StreamconvError

__all__ = ["check_choice", "check_finite_array", "check_int", "check_ndim"]


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def check_choice(name: str, value: Any, allowed: Iterable[Any]) -> Any:
    """Return ``value`` if it is one of ``allowed``; else raise naming the allowed set."""
    allowed = sorted(allowed)
    if value not in allowed:
        raise StreamconvError(f"invalid {name} {_short(value)}; expected one of {allowed}")
    return value


def check_int(name: str, value: Any, *, minimum: int) -> int:
    """Return ``value`` as an int if it is an integer >= ``minimum``; else raise."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise StreamconvError(f"invalid {name} {_short(value)}; expected an integer >= {minimum}")
    if value < minimum:
        raise StreamconvError(f"invalid {name} {value}; expected an integer >= {minimum}")
    return int(value)


def check_finite_array(name: str, value: Any, *, ndim: int | tuple[int, ...]) -> np.ndarray:
    """Return ``value`` as a non-empty, finite float64 array of the given ndim; else raise."""
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise StreamconvError(f"invalid {name} {_short(value)}; expected numbers ({exc})") from exc
    check_ndim(name, arr, ndim)
    if arr.size == 0:
        raise StreamconvError(f"invalid {name}: empty (shape {arr.shape}); expected at least one value")
    if not np.all(np.isfinite(arr)):
        bad = arr[~np.isfinite(arr)].ravel()[0]
        raise StreamconvError(f"invalid {name}: contains {bad!r}; expected only finite values")
    return arr


def check_ndim(name: str, arr: np.ndarray, ndim: int | tuple[int, ...]) -> None:
    """Raise unless ``arr.ndim`` is ``ndim`` (or one of them)."""
    allowed = (ndim,) if isinstance(ndim, int) else ndim
    if arr.ndim not in allowed:
        want = " or ".join(f"{n}D" for n in allowed)
        raise StreamconvError(f"invalid {name}: {arr.ndim}D array of shape {arr.shape}; expected {want}")

