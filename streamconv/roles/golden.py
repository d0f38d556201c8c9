"""Same build, same numbers: every configured stage applied to a fixed golden input, hashed.

Each worker hashes, at start, what every output of every stream gives on a fixed input (a
deterministic frame of the stream's size, a fixed chunk of samples); the publisher computes
the same hash with its own build and excludes a worker whose hash differs, so a host with
another OpenCV, numba or SIMD build cannot change published outputs silently.  The same pass
warms every stage (the compiled integer routine loads on first use) before the first real
frame arrives.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Mapping

import numpy as np

from streamconv import config as cfg
from streamconv.pipeline import StreamPipeline

__all__ = ["golden_input", "stage_hash"]

log = logging.getLogger(__name__)

#: Frame size used when the config does not fix one (a camera at its default mode).
DEFAULT_FRAME = (480, 640)
GOLDEN_SAMPLES = 256


def golden_input(stream: cfg.StreamConfig) -> np.ndarray:
    """Return the fixed input of a stream: a seeded uint8 BGR frame of its size, or 256 samples.

    Examples
    --------
    >>> s = cfg.load(None).streams["camera"]
    >>> g = golden_input(s)
    >>> g.shape, g.dtype, g.flags.writeable
    ((480, 640, 3), dtype('uint8'), False)
    """
    rng = np.random.default_rng(20261201)
    if stream.items == "samples":
        t = np.arange(GOLDEN_SAMPLES, dtype=np.float64)
        x = 100.0 + 0.05 * t + rng.normal(0.0, 0.5, GOLDEN_SAMPLES)
    else:
        src = stream.source
        h = getattr(src, "height", None) or DEFAULT_FRAME[0]
        w = getattr(src, "width", None) or DEFAULT_FRAME[1]
        x = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    # Read-only, as every real input is (a decoded wire message): numba compiles a read-only
    # array as another type, so a writable golden input would leave the real one cold.
    x.setflags(write=False)
    return x


def stage_hash(config: cfg.Config, *, live: Mapping[str, StreamPipeline] | None = None) -> str:
    """Return a short hash of every output of every stream on its golden input (and warm them up).

    ``live`` (a worker's own pipelines, by stream) runs the golden input through their stateless
    chains themselves, so the same pass warms the very instances the first real frame meets (a
    chain's first call costs several ms beyond the shared compiled code).  Stateful chains run on
    a throwaway copy: their state must start from the stream's first item.
    """
    digest = hashlib.sha256()
    t0 = time.perf_counter()
    for name in sorted(config.streams):
        stream = config.streams[name]
        mine = (live or {}).get(name)
        throwaway: StreamPipeline | None = None
        x = golden_input(stream)
        for output in sorted(stream.outputs if mine is None else mine.outputs):
            chain = mine.chain(output) if mine is not None else None
            if chain is None or chain.stateful:
                throwaway = throwaway or StreamPipeline(name, stream)
                chain = throwaway.chain(output)
            arr = np.ascontiguousarray(chain.apply(x))
            digest.update(f"{name}/{output}:{arr.dtype.str}:{list(arr.shape)}".encode())
            digest.update(memoryview(arr.reshape(-1).view(np.uint8)))
    log.debug("golden pass over %d streams in %.0f ms", len(config.streams), (time.perf_counter() - t0) * 1e3)
    return digest.hexdigest()[:16]
