"""Resource ceilings: the largest value every size-like field may take, and the checks that apply them.

A config file and a live ``ctl set`` are validated by the same stage models, and these ceilings
are part of them, so no single request can make the daemon allocate without bound or compute
for minutes per frame.  Each ceiling is a plain constant, documented in
``docs/configuration.md`` ("Limits"); an error names the field, the value and the limit.

Pure data and arithmetic: no I/O.

Examples
--------
>>> check_side("kernel size", 31)
31
>>> check_side("kernel size", 99999)
Traceback (most recent call last):
...
ValueError: kernel size 99999 is over the limit of 255
"""

from __future__ import annotations

import math
from typing import Final

__all__ = [
    "MAX_BANK_DEPTH",
    "MAX_BANK_FILE_BYTES",
    "MAX_BANK_FILTERS",
    "MAX_BANK_SIDE",
    "MAX_BANK_VALUES",
    "MAX_CONTROL_BYTES",
    "MAX_CONTROL_DEPTH",
    "MAX_CONTROL_INT",
    "MAX_KERNEL_SIDE",
    "MAX_OUTPUT_BYTES",
    "MAX_PADDING",
    "MAX_SIGMA",
    "MAX_STRIDE",
    "MAX_TOPIC_BYTES",
    "MIN_SIGMA",
    "check_side",
    "check_sigma",
]

#: A 2D kernel's rows and columns (catalogue ``size`` and matrices alike).
MAX_KERNEL_SIDE: Final = 255
#: A Gaussian's sigma, in pixels (beyond a few times the size it is a box filter anyway).
MIN_SIGMA: Final = 1e-3
MAX_SIGMA: Final = 1e4
#: Padding and stride, in pixels.
MAX_PADDING: Final = 1024
MAX_STRIDE: Final = 1024
#: A bank3d's (K, D, F, F): filters, depth and side.
MAX_BANK_FILTERS: Final = 256
MAX_BANK_DEPTH: Final = 64
MAX_BANK_SIDE: Final = 63
#: A bank3d's weights in all, K * D * F * F (32 MB as float64).
MAX_BANK_VALUES: Final = 4_000_000
#: A bank3d ``file`` is read only if it is a regular file of at most this size.
MAX_BANK_FILE_BYTES: Final = 64 << 20
#: One output message, computed from the source's frame size where the config states it.
MAX_OUTPUT_BYTES: Final = 512 << 20
#: A control request: its bytes, its JSON nesting depth and the magnitude of its integers.
MAX_CONTROL_BYTES: Final = 1 << 20
MAX_CONTROL_DEPTH: Final = 32
MAX_CONTROL_INT: Final = 2**53
#: A topic, and so a subscription prefix worth keeping (longer ones cannot match a topic).
MAX_TOPIC_BYTES: Final = 256


def check_side(name: str, value: int, limit: int = MAX_KERNEL_SIDE) -> int:
    """Return ``value`` if it is at most ``limit``; else raise ValueError naming both."""
    if value > limit:
        raise ValueError(f"{name} {value} is over the limit of {limit}")
    return value


def check_sigma(name: str, value: float) -> float:
    """Return ``value`` if it is a finite sigma within [MIN_SIGMA, MAX_SIGMA]; else raise ValueError."""
    if not (math.isfinite(value) and MIN_SIGMA <= value <= MAX_SIGMA):
        raise ValueError(f"{name} {value!r} is outside the limits [{MIN_SIGMA}, {MAX_SIGMA}]")
    return value
