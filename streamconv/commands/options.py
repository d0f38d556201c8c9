"""Argument types shared by the subcommands: each checks one option's value once, at parse time.

An ``argparse`` type raises :class:`argparse.ArgumentTypeError`; argparse then prints
``streamconv CMD: error: argument --OPTION: <message>`` and exits with ``exitcodes.USAGE`` (2),
so every message quotes the bad value and what is allowed.

Examples
--------
>>> seconds("0.5")
0.5
>>> seconds("-1")
Traceback (most recent call last):
...
argparse.ArgumentTypeError: invalid value '-1'; expected a finite number of seconds > 0
"""

from __future__ import annotations

import argparse
import math

__all__ = ["positive_float", "positive_int", "seconds", "seconds_or_zero"]


def _finite(text: str, expected: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid value {text!r}; expected {expected}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"invalid value {text!r}; expected {expected}")
    return value


def seconds(text: str) -> float:
    """Parse a timeout or duration: a finite number of seconds > 0 (``nan``, ``inf``, 0, -1 are errors)."""
    expected = "a finite number of seconds > 0"
    value = _finite(text, expected)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"invalid value {text!r}; expected {expected}")
    return value


def seconds_or_zero(text: str) -> float:
    """Parse a delay that may be zero: a finite number of seconds >= 0."""
    expected = "a finite number of seconds >= 0"
    value = _finite(text, expected)
    if value < 0:
        raise argparse.ArgumentTypeError(f"invalid value {text!r}; expected {expected}")
    return value


def positive_float(text: str) -> float:
    """Parse a finite number > 0 (a rate, a size)."""
    expected = "a finite number > 0"
    value = _finite(text, expected)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"invalid value {text!r}; expected {expected}")
    return value


def positive_int(text: str) -> int:
    """Parse an integer >= 1 (a count of threads or messages)."""
    expected = "an integer >= 1"
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid value {text!r}; expected {expected}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"invalid value {text!r}; expected {expected}")
    return value
