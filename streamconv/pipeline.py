"""Builds a stream's chains of filter stages from config and applies them to one item."""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from streamconv import config as cfg
from streamconv.ops._dtype import is_integer, saturate
from streamconv.ops.conv2d import Conv2D
from streamconv.ops.conv3d import conv3d
from streamconv.ops.fir import CausalFIR

__all__ = [
    "BankFilter",
    "Chain",
    "FIRFilter",
    "KernelFilter",
    "Output",
    "Stage",
    "StreamPipeline",
    "TemporalFilter",
    "build_chain",
    "build_stage",
]

#: Raw samples kept per sample stream so a replaced filter restarts with a full window.
REPLAY_SAMPLES = 4096


class Stage(Protocol):
    """One filter step: array in, array out, with its full spec for message headers."""

    def apply(self, x: np.ndarray) -> np.ndarray:
        """Filter one item (a chunk of samples or a frame)."""
        ...

    def meta(self) -> dict[str, Any]:
        """Return the full filter spec (JSON-ready) for the ``meta`` of output headers."""
        ...

    def reset(self) -> None:
        """Forget any state carried across items."""
        ...


class FIRFilter:
    """A :class:`CausalFIR` over chunks of samples."""

    def __init__(self, spec: cfg.CausalFIRStage, *, history: Sequence[float] | None = None) -> None:
        self.spec = spec
        m = len(spec.weights)
        initial = None
        if history is not None and len(history) > 0:
            initial = list(history)[-(m - 1) :] if m > 1 else []
        self.fir = CausalFIR(
            spec.weights,
            normalize=spec.normalize,
            warmup=spec.warmup,
            nonfinite=spec.nonfinite,
            initial=initial,
        )

    def apply(self, x: np.ndarray) -> np.ndarray:
        """Smooth a chunk of samples."""
        return self.fir.process(x)

    def meta(self) -> dict[str, Any]:
        """Return the spec: weights oldest to newest, warm-up and non-finite policies, lag."""
        d = self.spec.model_dump(mode="json")
        d["order"] = "oldest_to_newest"
        d["lag_samples"] = self.fir.lag
        return d

    def reset(self) -> None:
        """Forget the window's history."""
        self.fir.reset()

    def __repr__(self) -> str:
        return f"FIRFilter({self.fir!r})"


class KernelFilter:
    """A 2D kernel applied per channel (:func:`streamconv.ops.conv2d.conv2d`)."""

    def __init__(self, spec: cfg.Kernel2DStage) -> None:
        self.spec = spec
        self.kernel = spec.matrix()
        self.op = Conv2D(
            self.kernel, padding=spec.padding, stride=spec.stride, border=spec.border, flip=spec.flip,
            dtype=None if spec.dtype == "auto" else np.dtype(spec.dtype), threads=spec.threads,
        )

    def apply(self, x: np.ndarray) -> np.ndarray:
        """Filter one frame."""
        return self.op(x)

    def meta(self) -> dict[str, Any]:
        """Return the spec with the kernel as nested lists (and its catalogue name, if any)."""
        d = self.spec.model_dump(mode="json")
        if isinstance(self.spec.kernel, str):
            d["name"] = self.spec.kernel
        d["kernel"] = self.kernel.tolist()
        return d

    def reset(self) -> None:
        """Stateless: nothing to forget."""

    def __repr__(self) -> str:
        return f"KernelFilter({self.spec!r})"


class BankFilter:
    """A (K, D, F, F) bank of depth-spanning filters giving K feature maps (float32)."""

    def __init__(self, spec: cfg.Bank3DStage) -> None:
        self.spec = spec
        self.bank = spec.bank()
        self.bias = None if spec.bias is None else np.asarray(spec.bias, dtype=np.float64)

    def apply(self, x: np.ndarray) -> np.ndarray:
        """Filter one frame into ``(H2, W2, K)`` feature maps."""
        s = self.spec
        out = conv3d(x, self.bank, padding=s.padding, stride=s.stride, bias=self.bias, border=s.border)
        return out.astype(np.float32, copy=False)

    def meta(self) -> dict[str, Any]:
        """Return the spec with the bank's shape (the weights themselves only when given inline)."""
        d = self.spec.model_dump(mode="json", exclude={"filters"})
        d["bank_shape"] = list(self.bank.shape)
        d["layout"] = "K,D,F,F"
        if self.bank.size <= 4096:
            d["filters"] = self.bank.tolist()
        return d

    def reset(self) -> None:
        """Stateless: nothing to forget."""

    def __repr__(self) -> str:
        s = self.spec
        return f"BankFilter(shape={self.bank.shape}, padding={s.padding!r}, stride={s.stride})"


class TemporalFilter:
    """The causal weighted window applied to every pixel across the last ``m`` frames.

    ``out_t = sum_a frame_{t-a} w_{-a}`` with weights oldest to newest, exactly
    :class:`CausalFIR` per pixel (same warm-up policies).  Integer frames through weights
    summing to 1 stay integer (rounded, saturated); otherwise the output is float32.
    A change of frame shape restarts the window.
    """

    def __init__(self, spec: cfg.TemporalStage) -> None:
        self.spec = spec
        w = np.asarray(spec.weights, dtype=np.float64)
        if spec.normalize:
            w = w / w.sum()
        self.weights = w
        self._total = float(w.sum())
        self._seen_gain = np.cumsum(w[::-1])
        self.reset()

    def reset(self) -> None:
        """Forget the frames seen."""
        self._hist: deque[np.ndarray] = deque(maxlen=len(self.weights) - 1)
        self._shape: tuple[int, ...] | None = None

    def apply(self, x: np.ndarray) -> np.ndarray:
        """Filter one frame against the previous ``m - 1``."""
        if self._shape != x.shape:
            self.reset()
            self._shape = x.shape
        frame = x.astype(np.float32)
        m = len(self.weights)
        hist = self._hist
        if self.spec.warmup == "zeros" and not hist:
            hist.extend(np.zeros_like(frame) for _ in range(m - 1))
        elif self.spec.warmup == "first" and not hist and m > 1:
            hist.extend(frame for _ in range(m - 1))
        n = len(hist)
        acc = frame * np.float32(self.weights[-1])
        # hist holds the newest n frames (oldest first); they meet the weights just before the last
        for frame_j, w_j in zip(hist, self.weights[m - 1 - n : m - 1], strict=True):
            acc += frame_j * np.float32(w_j)
        if n < m - 1:  # renormalize warm-up: only the frames seen
            gain = self._seen_gain[n]
            if gain != 0.0:
                acc *= np.float32(self._total / gain)
        if m > 1:
            hist.append(frame)
        if is_integer(x.dtype) and abs(self._total - 1.0) < 1e-9:
            return saturate(acc, x.dtype)
        return acc

    def meta(self) -> dict[str, Any]:
        """Return the spec: weights oldest to newest and the warm-up policy."""
        d = self.spec.model_dump(mode="json")
        d["order"] = "oldest_to_newest"
        return d

    def __repr__(self) -> str:
        return f"TemporalFilter(weights={self.weights.tolist()}, warmup={self.spec.warmup!r})"


def build_stage(spec: Any, *, history: Sequence[float] | None = None) -> Stage:
    """Return the filter for one validated stage config."""
    if isinstance(spec, cfg.CausalFIRStage):
        return FIRFilter(spec, history=history)
    if isinstance(spec, cfg.Kernel2DStage):
        return KernelFilter(spec)
    if isinstance(spec, cfg.Bank3DStage):
        return BankFilter(spec)
    if isinstance(spec, cfg.TemporalStage):
        return TemporalFilter(spec)
    raise TypeError(f"unknown stage config {type(spec).__name__}")


class Chain:
    """An output's stages, applied in order."""

    def __init__(self, stages: Sequence[Stage], kind: str) -> None:
        self.stages = list(stages)
        self.kind = kind
        #: True when a stage carries state across items, so skipping an item would change outputs.
        self.stateful = any(isinstance(s, FIRFilter | TemporalFilter) for s in self.stages)

    def apply(self, x: np.ndarray) -> np.ndarray:
        """Run ``x`` through every stage."""
        for stage in self.stages:
            x = stage.apply(x)
        return x

    def meta(self) -> dict[str, Any]:
        """Return ``{'filter': [stage specs]}`` for output headers."""
        return {"filter": [s.meta() for s in self.stages]}

    def reset(self) -> None:
        """Reset every stage."""
        for s in self.stages:
            s.reset()

    def __repr__(self) -> str:
        return f"Chain({self.stages!r})"


def build_chain(
    specs: Sequence[Any], *, sampled: bool, history: Sequence[float] | None = None
) -> Chain:
    """Return the chain for an output's validated stage configs.

    ``history`` (recent raw samples, oldest to newest) primes the first causal stage so that a
    replaced filter continues without a new warm-up.
    """
    stages = [build_stage(s, history=history if i == 0 else None) for i, s in enumerate(specs)]
    if sampled:
        kind = "samples"
    elif specs and isinstance(specs[-1], cfg.Bank3DStage):
        kind = "features"
    else:
        kind = "frame"
    return Chain(stages, kind)


@dataclass(frozen=True, slots=True)
class Output:
    """One filtered result of one input item."""

    name: str
    array: np.ndarray
    kind: str
    meta: dict[str, Any]


class StreamPipeline:
    """A stream's named outputs, each a chain, applied to every item of the stream.

    Outputs can be replaced at run time (:meth:`set_output`) from another thread: the swap is a
    single reference assignment, and a replaced causal filter is primed from the last raw
    samples (a bounded replay ring), so its output continues without a warm-up.
    """

    def __init__(self, name: str, stream: cfg.StreamConfig) -> None:
        self.name = name
        self.config = stream
        self.sampled = stream.items == "samples"
        self._replay: deque[float] = deque(maxlen=REPLAY_SAMPLES)
        self._lock = threading.Lock()
        self._specs: dict[str, list[Any]] = {k: list(v) for k, v in stream.outputs.items()}
        self._chains: Mapping[str, Chain] = {
            k: build_chain(v, sampled=self.sampled) for k, v in stream.outputs.items()
        }
        self.version = 0

    @property
    def outputs(self) -> dict[str, list[Any]]:
        """The current stage configs per output."""
        return dict(self._specs)

    @property
    def stateful(self) -> bool:
        """True when some output carries state across items (it must see every item)."""
        return any(c.stateful for c in self._chains.values())

    def chain(self, output: str) -> Chain:
        """Return the chain of ``output``."""
        return self._chains[output]

    def process(
        self,
        x: np.ndarray,
        *,
        on_error: Callable[[str, ValueError], None] | None = None,
        wanted: Callable[[str], bool] | None = None,
    ) -> list[Output]:
        """Apply every output's chain to one item (a chunk of samples or a frame).

        An output whose chain rejects the item (a ``ValueError``, e.g. a kernel larger than a
        frame from a camera that changed size) is left out and reported to ``on_error``; the
        other outputs go on.  Without ``on_error`` the error propagates.

        ``wanted(output)`` returning False skips a stateless output (nobody would receive it);
        stateful chains (causal windows over samples or frames) always run, so that their
        state stays exact for when somebody subscribes.
        """
        with self._lock:  # replay and chain set read together: a set_output sees both or neither
            if self.sampled:
                self._replay.extend(np.asarray(x, dtype=np.float64).tolist())
            chains = self._chains
        outputs = []
        for name, c in chains.items():
            if wanted is not None and not c.stateful and not wanted(name):
                continue
            try:
                outputs.append(Output(name, c.apply(x), c.kind, c.meta()))
            except ValueError as exc:
                if on_error is None:
                    raise
                on_error(name, exc)
        return outputs

    def set_output(self, output: str, specs: Sequence[Any]) -> Chain:
        """Replace (or add) ``output`` with validated stage configs; return the new chain."""
        for i, s in enumerate(specs):
            allowed = cfg.SAMPLE_STAGES if self.sampled else cfg.FRAME_STAGES
            if s.kind not in allowed:
                raise cfg.ConfigError(
                    f"stages.{i}: {s.kind!r} does not apply to stream {self.name!r}; "
                    f"expected one of {list(allowed)}"
                )
        with self._lock:
            history = list(self._replay) if self.sampled else None
            chain = build_chain(specs, sampled=self.sampled, history=history)
            chains = dict(self._chains)
            chains[output] = chain
            self._specs[output] = list(specs)
            self._chains = chains
            self.version += 1
        return chain

    def remove_output(self, output: str) -> None:
        """Stop computing ``output``."""
        with self._lock:
            chains = dict(self._chains)
            if output not in chains:
                raise cfg.ConfigError(f"stream {self.name!r} has no output {output!r}; has {sorted(chains)}")
            del chains[output]
            self._specs.pop(output, None)
            self._chains = chains
            self.version += 1

    def __repr__(self) -> str:
        return f"StreamPipeline({self.name!r}, outputs={sorted(self._chains)})"
