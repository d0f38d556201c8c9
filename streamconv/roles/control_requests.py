"""Control requests: bounded JSON parsing, so no single request can exhaust the daemon.

A request is at most :data:`~streamconv.limits.MAX_CONTROL_BYTES` of UTF-8 JSON, nested at most
:data:`~streamconv.limits.MAX_CONTROL_DEPTH` deep, whose integers are at most
:data:`~streamconv.limits.MAX_CONTROL_INT` in magnitude and whose numbers are finite (no
``NaN``/``Infinity``).  :func:`parse_request` checks all of that before (or while) decoding and
raises ``ValueError`` with one line naming the limit.  Pure: no sockets.

Examples
--------
>>> parse_request(b'{"cmd": "ping"}')
{'cmd': 'ping'}
>>> parse_request(b"[" * 100 + b"]" * 100)
Traceback (most recent call last):
...
ValueError: request is nested 100 deep, over the limit of 32
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

import numpy as np

from streamconv import limits

__all__ = ["nesting_depth", "parse_request"]

# The closing quote is optional: an unterminated string then ends the scan at once, where a
# required quote makes the engine retry from every later quote (quadratic on '"\\"\\"...').
_STRINGS = re.compile(rb'"(?:[^"\\]|\\.)*"?', re.DOTALL)
_NOT_BRACKETS = re.compile(rb"[^\[\]{}]+")
_MAX_INT_DIGITS = len(str(limits.MAX_CONTROL_INT))


def nesting_depth(body: bytes) -> int:
    """Return how deep the JSON arrays and objects of ``body`` nest (brackets in strings ignored).

    Linear in ``len(body)``, with no recursion.

    Examples
    --------
    >>> nesting_depth(b'{"a": [1, [2]], "b": "[[["}')
    3
    """
    brackets = _NOT_BRACKETS.sub(b"", _STRINGS.sub(b'""', body))
    if not brackets:
        return 0
    arr = np.frombuffer(brackets, dtype=np.uint8)
    steps = np.where((arr == ord("[")) | (arr == ord("{")), 1, -1)
    return int(np.cumsum(steps).max())


def _parse_int(text: str) -> int:
    if len(text.lstrip("-")) > _MAX_INT_DIGITS:
        raise ValueError(
            f"request holds an integer of {len(text)} digits, over the limit of {_MAX_INT_DIGITS}"
        )
    value = int(text)
    if abs(value) > limits.MAX_CONTROL_INT:
        raise ValueError(f"request holds the integer {value}, over the limit of {limits.MAX_CONTROL_INT}")
    return value


def _parse_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"request holds the number {text[:20]!r}, which is not finite")
    return value


def _parse_constant(name: str) -> Any:
    raise ValueError(f"request holds {name}; only finite numbers are allowed")


def parse_request(body: bytes) -> Any:
    """Decode one control request; raise ``ValueError`` naming the limit it breaks.

    Raises
    ------
    ValueError
        Too large, not UTF-8, not JSON, nested too deep, a too large integer, or a non-finite number.
    """
    if len(body) > limits.MAX_CONTROL_BYTES:
        raise ValueError(f"request is {len(body)} bytes, over the limit of {limits.MAX_CONTROL_BYTES}")
    depth = nesting_depth(body)
    if depth > limits.MAX_CONTROL_DEPTH:
        raise ValueError(f"request is nested {depth} deep, over the limit of {limits.MAX_CONTROL_DEPTH}")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError(f"request is not valid JSON (not UTF-8: {exc})") from None
    try:
        return json.loads(
            text, parse_int=_parse_int, parse_float=_parse_float, parse_constant=_parse_constant
        )
    except json.JSONDecodeError as exc:
        raise ValueError(f"request is not valid JSON: {exc}") from None
