"""Builds a stream's chains of filter stages from config and applies them to one item."""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from streamconv import config as cfg

__all__ = [
    "Chain",
    "Output",
    "StreamPipeline",
    "build_chain",
]

#: Raw samples kept per sample stream so a replaced filter restarts with a full window.
REPLAY_SAMPLES = 4096


class Chain:
    """An output's stages, applied in order: each stage model with the op it built.

    Parameters
    ----------
    specs : sequence of stage models
        The validated stage configs (:data:`streamconv.config.StageConfig`).
    ops : sequence of ops
        What each spec's ``build()`` returned: called with an item, each returns the filtered
        item (:class:`~streamconv.ops.fir.CausalFIR`, :class:`~streamconv.ops.conv2d.Conv2D`,
        :class:`~streamconv.ops.conv3d.Bank3D`, :class:`~streamconv.ops.temporal.TemporalFIR`).
    kind : {'samples', 'frame', 'features'}
        The wire ``kind`` of the chain's output.
    """

    def __init__(self, specs: Sequence[Any], ops: Sequence[Any], kind: str) -> None:
        self.specs = list(specs)
        self.stages = list(ops)
        self.kind = kind
        #: True when a stage carries state across items, so skipping an item would change outputs.
        self.stateful = any(s.stateful for s in self.specs)
        # The specs are frozen, so their header dicts are computed once (a bank file is read once).
        self._meta = [s.header_meta() for s in self.specs]

    def apply(self, x: np.ndarray) -> np.ndarray:
        """Run ``x`` through every stage."""
        for op in self.stages:
            x = op(x)
        return x

    def meta(self) -> dict[str, Any]:
        """Return ``{'filter': [stage header specs]}`` for output headers (the dicts are shared)."""
        return {"filter": list(self._meta)}

    def reset(self) -> None:
        """Reset every stateful stage."""
        for spec, op in zip(self.specs, self.stages, strict=True):
            if spec.stateful:
                op.reset()

    def __repr__(self) -> str:
        return f"Chain({self.stages!r})"


def build_chain(
    specs: Sequence[Any], *, items: cfg.Items, history: Sequence[float] | None = None
) -> Chain:
    """Return the chain for an output's stage configs, which passed :func:`~streamconv.config.check_chain`.

    ``items`` is what the stream delivers; ``history`` (recent raw samples, oldest to newest)
    primes the first stage so that a replaced filter continues without a new warm-up.
    """
    ops = [s.build(history=history if i == 0 else None) for i, s in enumerate(specs)]
    if items == "samples":
        kind = "samples"
    elif specs and isinstance(specs[-1], cfg.Bank3DStage):
        kind = "features"
    else:
        kind = "frame"
    return Chain(specs, ops, kind)


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
        #: ``'samples'`` or ``'frames'``: what the stream delivers.
        self.items: cfg.Items = stream.items
        self._replay: deque[float] = deque(maxlen=REPLAY_SAMPLES)
        self._lock = threading.Lock()
        self._specs: dict[str, list[Any]] = {k: list(v) for k, v in stream.outputs.items()}
        self._chains: Mapping[str, Chain] = {
            k: build_chain(v, items=self.items) for k, v in stream.outputs.items()
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
            if self.items == "samples":
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
        """Replace (or add) ``output`` with validated stage configs; return the new chain.

        Raises
        ------
        ConfigError
            The chain does not fit the stream (:func:`streamconv.config.check_chain`).
        """
        try:
            cfg.check_chain(self.items, output, specs)
        except ValueError as exc:
            raise cfg.ConfigError(f"stream {self.name!r}: {exc}") from None
        with self._lock:
            history = list(self._replay) if self.items == "samples" else None
            chain = build_chain(specs, items=self.items, history=history)
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
