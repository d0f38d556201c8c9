"""Pydantic models of the YAML config and ``load()``, whose errors name the field and the reason."""

from __future__ import annotations

import hashlib
import ipaddress
import json
import math
import os
import stat
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal
from urllib.parse import urlsplit

import numpy as np
import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    StringConstraints,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from streamconv import limits
from streamconv.errors import ConfigError, StreamconvError
from streamconv.ops import kernels
from streamconv.ops.conv2d import Conv2D
from streamconv.ops.conv3d import Bank3D
from streamconv.ops.fir import NONFINITE_POLICIES, WARMUPS, CausalFIR, CausalWeights
from streamconv.ops.temporal import TemporalFIR

__all__ = [
    "DEFAULT_WEIGHTS",
    "FRAME_DEPTH",
    "ITEMS",
    "LINK_NAMES",
    "STAGE_KINDS",
    "Bank3DStage",
    "CameraSourceConfig",
    "CausalFIRStage",
    "ClusterConfig",
    "Config",
    "Items",
    "Kernel2DStage",
    "LaserSourceConfig",
    "LinkAddress",
    "LinksConfig",
    "ReplaySourceConfig",
    "ServiceConfig",
    "StageConfig",
    "StreamConfig",
    "SyntheticSourceConfig",
    "TemporalStage",
    "ValidationError",
    "check_chain",
    "check_output_name",
    "default_config",
    "dump_yaml",
    "format_validation_error",
    "is_loopback_endpoint",
    "is_loopback_host",
    "kernel_from_text",
    "load",
    "metrics_address",
    "parse",
    "parse_stages",
]

#: The lecture's weights, oldest to newest: the newest sample weighs 0.5.
DEFAULT_WEIGHTS = (0.01, 0.01, 0.02, 0.02, 0.04, 0.4, 0.5)


class _Model(BaseModel):
    """Config models are pure data: frozen, unknown keys are errors."""

    model_config = ConfigDict(frozen=True, extra="forbid")


def _finite_list(name: str, values: Any) -> Any:
    arr = np.asarray(values, dtype=np.float64)
    if arr.size == 0:
        raise ValueError(f"{name} must not be empty")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must be finite numbers, got {values!r}")
    return values


# --------------------------------------------------------------------------------------- stages
#: What a source delivers and a stage applies to: chunks of samples (1D) or frames (images).
Items = Literal["samples", "frames"]
ITEMS: tuple[Items, ...] = ("samples", "frames")
#: Every frame source delivers BGR frames, and kernel2d/temporal keep the channels.
FRAME_DEPTH = 3


def _check_padding(v: int | str) -> int | str:
    if isinstance(v, int) and not 0 <= v <= limits.MAX_PADDING:
        raise ValueError(f"padding must be 0 to {limits.MAX_PADDING} (the limit), 'same' or 'valid'")
    return v


def _nested_shape(data: Any, ndim: int) -> tuple[int, ...]:
    """Return the lengths along the first item of each of ``ndim`` nesting levels (before any copy)."""
    shape = []
    for _ in range(ndim):
        if not isinstance(data, list | tuple):
            break
        shape.append(len(data))
        if not data:
            break
        data = data[0]
    return tuple(shape)


def _check_bank_shape(shape: Sequence[int]) -> None:
    ceilings = (limits.MAX_BANK_FILTERS, limits.MAX_BANK_DEPTH, limits.MAX_BANK_SIDE, limits.MAX_BANK_SIDE)
    for name, n, top in zip(("K", "D", "F", "F"), shape, ceilings, strict=False):
        if n > top:
            raise ValueError(f"the bank's {name}={n} is over the limit of {top} (shape {list(shape)})")
    if len(shape) == 4 and math.prod(shape) > limits.MAX_BANK_VALUES:
        raise ValueError(
            f"the bank has {math.prod(shape)} weights (shape {list(shape)}), over the limit of "
            f"{limits.MAX_BANK_VALUES}"
        )


class _Refused(ValueError):
    """A bank file refused by a ceiling (its message is final)."""


def _check_kernel_shape(shape: Sequence[int]) -> None:
    if len(shape) != 2:
        raise ValueError(f"a kernel file must hold a 2D (F_h, F_w) array, got shape {list(shape)}")
    if any(n > limits.MAX_KERNEL_SIDE for n in shape):
        raise ValueError(
            f"the kernel's shape {list(shape)} is over the limit of {limits.MAX_KERNEL_SIDE} per side"
        )


def _load_bank_file(path: Path) -> np.ndarray:
    """Load a ``.npy`` bank: only a regular file, at most MAX_BANK_FILE_BYTES, never blocking on open."""
    return _load_npy_file(path, "bank", _check_bank_shape)


def _load_kernel_file(path: Path) -> np.ndarray:
    """Load a ``.npy`` 2D kernel (what ``learn kernel2d --out`` writes), checked like a bank file."""
    return _load_npy_file(path, "kernel", _check_kernel_shape)


def _load_npy_file(path: Path, what: str, check_shape: Any) -> np.ndarray:
    """Load a ``.npy`` array: a regular file of at most MAX_BANK_FILE_BYTES, its shape checked first."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)  # a FIFO must not block the open
    except OSError as exc:
        raise ValueError(f"cannot load {what} file {str(path)!r}: {exc.strerror or exc}") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise _Refused(f"{what} file {str(path)!r} is not a regular file")
        if st.st_size > limits.MAX_BANK_FILE_BYTES:
            raise _Refused(
                f"{what} file {str(path)!r} is {st.st_size} bytes, over the limit of "
                f"{limits.MAX_BANK_FILE_BYTES}"
            )
        os.set_blocking(fd, True)
        with os.fdopen(fd, "rb") as f:
            fd = -1
            header = np.lib.format.read_magic(f)
            shape, _, _ = (
                np.lib.format.read_array_header_1_0(f) if header == (1, 0)
                else np.lib.format.read_array_header_2_0(f)
            )
            try:
                check_shape(shape)
            except ValueError as exc:
                raise _Refused(f"{what} file {str(path)!r}: {exc}") from None
            f.seek(0)
            arr = np.load(f, allow_pickle=False)
    except _Refused:
        raise
    except (OSError, ValueError) as exc:
        raise ValueError(f"cannot load {what} file {str(path)!r}: {exc}") from None
    finally:
        if fd >= 0:
            os.close(fd)
    return np.asarray(arr, dtype=np.float64)


#: A stage field whose JSON is larger than this goes into output headers by shape only.
HEADER_FIELD_BYTES = 1024


class _Derived:
    """What a stage computes from its fields once (matrix, bank, hash): takes no part in equality."""

    def __init__(self) -> None:
        self.matrix: np.ndarray | None = None
        self.bank: np.ndarray | None = None
        self.hash: str | None = None

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Derived)

    def __hash__(self) -> int:
        return 0


class _Stage(_Model):
    """A stage kind: what it applies to, whether it carries state, and how it builds its op.

    ``build(history=...)`` returns the op that filters the items (called with one item, it
    returns the filtered item; a stateful op also has ``reset()``); ``meta()`` returns the
    JSON-ready full spec, and ``header_meta()`` the small form output headers carry under
    ``meta["filter"]``.
    """

    #: ``'samples'`` or ``'frames'``: the items of the streams this kind applies to.
    applies_to: ClassVar[Items]
    #: True when the op carries state across items, so skipping an item would change outputs.
    stateful: ClassVar[bool]
    #: Derived once from the (frozen) fields: the spec is validated, hashed and run as one.
    _cache: _Derived = PrivateAttr(default_factory=_Derived)

    def build(self, *, history: Sequence[float] | None = None) -> Any:
        """Return the op this stage applies (``history`` only primes a sample window)."""
        raise NotImplementedError

    def meta(self) -> dict[str, Any]:
        """Return the full spec, JSON-ready (``ctl status`` shows it; headers carry :meth:`header_meta`)."""
        return self.model_dump(mode="json")

    def spec_hash(self) -> str:
        """Return 16 hex digits of SHA-256 over the full spec: equal specs, equal hashes (computed once)."""
        if self._cache.hash is None:
            self._cache.hash = self._digest().hexdigest()[:16]
        return self._cache.hash

    def _digest(self) -> Any:
        text = json.dumps(self.meta(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode())

    def header_meta(self) -> dict[str, Any]:
        """Return the spec as output headers carry it: small fields as they are, large ones by shape.

        A field whose JSON is over :data:`HEADER_FIELD_BYTES` (a large kernel matrix, a bank, a
        long weight list) is replaced by ``<field>_shape``; ``spec_hash`` names the whole spec,
        which ``ctl status`` shows.
        """
        out: dict[str, Any] = {}
        for key, value in self.meta().items():
            if isinstance(value, list) and len(json.dumps(value)) > HEADER_FIELD_BYTES:
                out[f"{key}_shape"] = list(np.shape(value))
            else:
                out[key] = value
        out["spec_hash"] = self.spec_hash()
        return out


class CausalFIRStage(_Stage):
    """Causal weighted window over a sample stream (weights oldest to newest)."""

    applies_to: ClassVar[Items] = "samples"
    stateful: ClassVar[bool] = True
    kind: Literal["causal_fir"] = "causal_fir"
    weights: list[float] = Field(min_length=1, max_length=4096)
    normalize: bool = False
    warmup: Literal[WARMUPS] = "renormalize"  # type: ignore[valid-type]
    nonfinite: Literal[NONFINITE_POLICIES] = "hold"  # type: ignore[valid-type]

    @field_validator("weights")
    @classmethod
    def _finite(cls, v: list[float]) -> list[float]:
        return _finite_list("weights", v)

    @model_validator(mode="after")
    def _normalizable(self) -> CausalFIRStage:
        if self.normalize and math.fsum(self.weights) == 0.0:
            raise ValueError("normalize: true needs weights whose sum is not 0")
        return self

    def build(self, *, history: Sequence[float] | None = None) -> CausalFIR:
        """Return the :class:`~streamconv.ops.fir.CausalFIR`, primed from the newest raw samples.

        ``history`` (recent raw samples, oldest to newest) makes a replaced filter continue
        without a new warm-up; only its newest ``m - 1`` samples are used.
        """
        m = len(self.weights)
        initial = None
        if history is not None and len(history) > 0:
            initial = list(history)[-(m - 1) :] if m > 1 else []
        return CausalFIR(
            self.weights, normalize=self.normalize, warmup=self.warmup, nonfinite=self.nonfinite,
            initial=initial,
        )

    def meta(self) -> dict[str, Any]:
        """Return the spec with the weight order and the window's lag in samples."""
        d = self.model_dump(mode="json")
        d["order"] = "oldest_to_newest"
        d["lag_samples"] = CausalWeights(self.weights, normalize=self.normalize).lag
        return d


class Kernel2DStage(_Stage):
    """A 2D kernel (catalogue name, matrix or ``.npy`` file) applied per channel to frames."""

    applies_to: ClassVar[Items] = "frames"
    stateful: ClassVar[bool] = False

    kind: Literal["kernel2d"] = "kernel2d"
    kernel: str | list[list[float]] | None = None
    file: Path | None = Field(default=None, description="a .npy (F_h, F_w) kernel, e.g. from learn kernel2d")
    params: dict[str, float | int] = Field(default_factory=dict)
    padding: int | Literal["same", "valid"] = "same"
    stride: int = Field(default=1, ge=1, le=limits.MAX_STRIDE)
    border: Literal["zero", "replicate", "reflect"] = "zero"
    flip: bool = False
    dtype: Literal["auto", "uint8", "float32"] = "auto"
    threads: int | None = Field(default=None, ge=1, le=64, description="row strips at once; null = auto")

    @field_validator("padding")
    @classmethod
    def _padding(cls, v: int | str) -> int | str:
        return _check_padding(v)

    @model_validator(mode="after")
    def _kernel(self) -> Kernel2DStage:
        if (self.kernel is None) == (self.file is None):
            raise ValueError(
                "give exactly one of 'kernel' (a catalogue name or a matrix) or 'file' (a .npy path)"
            )
        if self.file is not None and self.params:
            raise ValueError("params apply only to catalogue kernels, not to a kernel file")
        try:
            k = self.matrix()
        except StreamconvError as exc:
            raise ValueError(str(exc)) from None
        if self.padding == "same" and (k.shape[0] % 2 == 0 or k.shape[1] % 2 == 0):
            raise ValueError(f"padding 'same' needs an odd-sized kernel, got shape {list(k.shape)}")
        return self

    def matrix(self) -> np.ndarray:
        """Return the kernel matrix this stage applies (float64, read-only; built once)."""
        if self._cache.matrix is None:
            if self.file is not None:
                self._cache.matrix = kernels.from_matrix(_load_kernel_file(self.file))
            elif isinstance(self.kernel, str):
                self._cache.matrix = kernels.get(self.kernel, **self.params)
            elif self.params:
                raise StreamconvError("params apply only to catalogue kernels, not to a matrix")
            else:
                self._cache.matrix = kernels.from_matrix(self.kernel)
        return self._cache.matrix

    def build(self, *, history: Sequence[float] | None = None) -> Conv2D:
        """Return the :class:`~streamconv.ops.conv2d.Conv2D` (``history`` does not apply)."""
        return Conv2D(
            self.matrix(), padding=self.padding, stride=self.stride, border=self.border,
            flip=self.flip, dtype=None if self.dtype == "auto" else np.dtype(self.dtype),
            threads=self.threads,
        )

    def meta(self) -> dict[str, Any]:
        """Return the spec with the kernel as nested lists (and its catalogue name, if any)."""
        d = self.model_dump(mode="json")
        if d["file"] is None:  # specs without a file keep the form (and hash) they had before 'file'
            del d["file"]
        if isinstance(self.kernel, str):
            d["name"] = self.kernel
        d["kernel"] = self.matrix().tolist()
        return d


class Bank3DStage(_Stage):
    """A bank of K depth-spanning filters: (K, D, F, F) from a list or a ``.npy`` file."""

    applies_to: ClassVar[Items] = "frames"
    stateful: ClassVar[bool] = False

    kind: Literal["bank3d"] = "bank3d"
    filters: list[list[list[list[float]]]] | None = None
    file: Path | None = None
    bias: list[float] | None = None
    padding: int | Literal["same", "valid"] = "same"
    stride: int = Field(default=1, ge=1, le=limits.MAX_STRIDE)
    border: Literal["zero", "replicate", "reflect"] = "zero"

    @field_validator("padding")
    @classmethod
    def _padding(cls, v: int | str) -> int | str:
        return _check_padding(v)

    @model_validator(mode="after")
    def _one_source(self) -> Bank3DStage:
        if (self.filters is None) == (self.file is None):
            raise ValueError("give exactly one of 'filters' (a K x D x F x F list) or 'file' (a .npy path)")
        bank = self._load()
        if bank.ndim != 4 or 0 in bank.shape:
            raise ValueError(f"the bank must have shape (K, D, F, F), got {list(bank.shape)}")
        _check_bank_shape(bank.shape)
        if not np.all(np.isfinite(bank)):
            raise ValueError("the bank must hold only finite numbers")
        if self.bias is not None and len(self.bias) != bank.shape[0]:
            raise ValueError(f"bias has {len(self.bias)} values; the bank has K={bank.shape[0]} filters")
        if self.bias is not None and not all(math.isfinite(b) for b in self.bias):
            raise ValueError(f"bias must be finite numbers, got {self.bias}")
        if self.padding == "same" and (bank.shape[2] % 2 == 0 or bank.shape[3] % 2 == 0):
            raise ValueError(f"padding 'same' needs odd-sized filters, got shape {list(bank.shape)}")
        bank.setflags(write=False)
        self._cache.bank = bank
        return self

    def bank(self) -> np.ndarray:
        """Return the (K, D, F, F) bank as float64, read-only.

        A ``file`` is read once, at validation: what runs is what was checked.
        """
        if self._cache.bank is None:
            self._cache.bank = self._load()
            self._cache.bank.setflags(write=False)
        return self._cache.bank

    def _load(self) -> np.ndarray:
        if self.filters is not None:
            _check_bank_shape(_nested_shape(self.filters, 4))
            try:
                return np.asarray(self.filters, dtype=np.float64)
            except ValueError as exc:
                raise ValueError(f"filters must be a regular K x D x F x F nested list ({exc})") from None
        assert self.file is not None
        return _load_bank_file(self.file)

    def build(self, *, history: Sequence[float] | None = None) -> Bank3D:
        """Return the :class:`~streamconv.ops.conv3d.Bank3D`, float32 feature maps (no history)."""
        return Bank3D(
            self.bank(), padding=self.padding, stride=self.stride, bias=self.bias,
            border=self.border, dtype=np.float32,
        )

    def meta(self) -> dict[str, Any]:
        """Return the spec with the bank's shape (the weights themselves only when given inline)."""
        bank = self.bank()
        d = self.model_dump(mode="json", exclude={"filters"})
        d["bank_shape"] = list(bank.shape)
        d["layout"] = "K,D,F,F"
        if bank.size <= 4096:
            d["filters"] = bank.tolist()
        return d

    def _digest(self) -> Any:
        """Hash the bank's values (inline or from its file alike) and the other fields."""
        bank = np.ascontiguousarray(self.bank(), dtype="<f8")
        rest = json.dumps(self.model_dump(mode="json", exclude={"filters", "file"}), sort_keys=True)
        return hashlib.sha256(bank.tobytes() + str(bank.shape).encode() + rest.encode())


class TemporalStage(_Stage):
    """The causal weighted window applied to every pixel across the last m frames."""

    applies_to: ClassVar[Items] = "frames"
    stateful: ClassVar[bool] = True

    kind: Literal["temporal"] = "temporal"
    weights: list[float] = Field(min_length=1, max_length=64)
    normalize: bool = False
    warmup: Literal[WARMUPS] = "renormalize"  # type: ignore[valid-type]

    @field_validator("weights")
    @classmethod
    def _finite(cls, v: list[float]) -> list[float]:
        return _finite_list("weights", v)

    @model_validator(mode="after")
    def _normalizable(self) -> TemporalStage:
        if self.normalize and math.fsum(self.weights) == 0.0:
            raise ValueError("normalize: true needs weights whose sum is not 0")
        return self

    def build(self, *, history: Sequence[float] | None = None) -> TemporalFIR:
        """Return the :class:`~streamconv.ops.temporal.TemporalFIR` (``history`` does not apply)."""
        return TemporalFIR(self.weights, normalize=self.normalize, warmup=self.warmup)

    def meta(self) -> dict[str, Any]:
        """Return the spec with the weight order."""
        d = self.model_dump(mode="json")
        d["order"] = "oldest_to_newest"
        return d


StageConfig = Annotated[
    CausalFIRStage | Kernel2DStage | Bank3DStage | TemporalStage, Field(discriminator="kind")
]
#: Every stage kind (the YAML ``kind``) and its model.
STAGE_KINDS: dict[str, type[_Stage]] = {
    m.model_fields["kind"].default: m for m in (CausalFIRStage, Kernel2DStage, Bank3DStage, TemporalStage)
}
_ITEM_WORD = {"samples": "sample", "frames": "frame"}


def check_chain(
    items: Items, output_name: str, chain: Sequence[Any], *, depth: int | None = FRAME_DEPTH
) -> None:
    """Raise ValueError unless ``chain`` (validated stage models) can filter ``items``.

    Parameters
    ----------
    items : {'samples', 'frames'}
        What the stream delivers (:attr:`StreamConfig.items`).
    output_name : str
        The output the chain computes, named in the messages.
    chain : sequence of stage models
        The output's stages, in order.
    depth : int or None
        The frames' depth, which a ``bank3d``'s ``D`` must equal (:data:`FRAME_DEPTH`: every
        frame source delivers BGR); ``None`` when it is not known in advance (offline images).

    Raises
    ------
    ValueError
        An empty chain, a stage that does not apply to ``items``, a ``bank3d`` that is not the
        last stage, or a bank whose depth is not ``depth``.

    Examples
    --------
    >>> check_chain("samples", "s", [Kernel2DStage(kernel="blur")])  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: output 's' stage 0: 'kernel2d' does not apply to a sample stream; expected one of [...]
    """
    if items not in ITEMS:
        raise ValueError(f"invalid items {items!r}; expected one of {list(ITEMS)}")
    if not chain:
        raise ValueError(f"output {output_name!r} has no stages")
    for i, stage in enumerate(chain):
        if stage.applies_to != items:
            allowed = [k for k, m in STAGE_KINDS.items() if m.applies_to == items]
            raise ValueError(
                f"output {output_name!r} stage {i}: {stage.kind!r} does not apply to a "
                f"{_ITEM_WORD[items]} stream; expected one of {allowed}"
            )
    if any(isinstance(s, Bank3DStage) for s in chain[:-1]):
        raise ValueError(f"output {output_name!r}: bank3d gives feature maps and must be the last stage")
    last = chain[-1]
    if depth is not None and isinstance(last, Bank3DStage):
        d = last.bank().shape[1]
        if d != depth:
            bgr = " (BGR)" if depth == FRAME_DEPTH else ""
            raise ValueError(
                f"output {output_name!r}: the bank's depth D={d} does not match the frames' depth "
                f"{depth}{bgr}; the bank's layout is (K, D, F, F)"
            )


# -------------------------------------------------------------------------------------- sources

class LaserSourceConfig(_Model):
    """The simulated spaceship laser range sensor (publishes ``raw`` and ``truth``)."""

    #: What the source delivers: every source kind says it in one place.
    items: ClassVar[Items] = "samples"
    kind: Literal["laser"] = "laser"
    rate_hz: float = Field(default=100.0, gt=0, le=1_000_000)
    noise_std: float = Field(default=0.5, ge=0)
    outlier_prob: float = Field(default=0.0, ge=0, le=1)
    dropout_prob: float = Field(default=0.0, ge=0, le=1)
    seed: int = Field(default=0, ge=0)
    batch: int = Field(default=1, ge=1, le=100_000, description="samples per message")
    max_batch_delay_ms: float = Field(default=50.0, gt=0)


class SyntheticSourceConfig(_Model):
    """A moving test pattern; ``fps: 0`` is unthrottled (for benchmarks)."""

    items: ClassVar[Items] = "frames"
    kind: Literal["synthetic"] = "synthetic"
    width: int = Field(default=640, ge=8, le=8192)
    height: int = Field(default=480, ge=8, le=8192)
    fps: float = Field(default=30.0, ge=0, le=1000)
    seed: int = Field(default=0, ge=0)


DeviceIndex = Annotated[int, Field(ge=0)]
DevicePath = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]


class CameraSourceConfig(_Model):
    """A webcam (device index), a video file path or a URL, read with OpenCV."""

    items: ClassVar[Items] = "frames"
    kind: Literal["camera"] = "camera"
    device: DeviceIndex | DevicePath = 0
    width: int | None = Field(default=None, ge=8, le=8192)
    height: int | None = Field(default=None, ge=8, le=8192)
    fps: float | None = Field(default=None, gt=0, le=1000)
    loop: bool = False


class ReplaySourceConfig(_Model):
    """A recorded topic played again as a source (``streamconv record``'s MCAP file): the tuning loop.

    ``topics`` is the recorded input, ``[laser/raw]``, optionally with its truth,
    ``[laser/raw, laser/truth]``; a frame topic must hold uint8 BGR frames (``camera/raw``).
    ``rate`` scales the recorded rate (samples/s or frames/s, from the file).  What the stream
    delivers, its rate and frame size are read from the file when the config is validated, so a
    missing file or topic is a config error.
    """

    kind: Literal["replay"] = "replay"
    path: Path
    topics: list[str] = Field(min_length=1, max_length=2)
    rate: float = Field(default=1.0, gt=0, le=1000)
    loop: bool = False
    _probe: Any = PrivateAttr(default=None)

    @model_validator(mode="after")
    def _read_file(self) -> ReplaySourceConfig:
        from streamconv.sources.replay import probe

        self._probe = probe(self.path, self.topics)
        return self

    @property
    def items(self) -> Items:
        """``'samples'`` or ``'frames'``: what the recorded topic is."""
        return self._probe.items

    @property
    def width(self) -> int | None:
        """Frame width of the recorded frames (None for samples)."""
        return self._probe.width

    @property
    def height(self) -> int | None:
        """Frame height of the recorded frames (None for samples)."""
        return self._probe.height

    @property
    def recorded_rate_hz(self) -> float:
        """Samples or frames per second in the recording."""
        return self._probe.rate_hz


SourceConfig = Annotated[
    LaserSourceConfig | SyntheticSourceConfig | CameraSourceConfig | ReplaySourceConfig,
    Field(discriminator="kind"),
]


def _as_chain(v: Any) -> Any:
    return [v] if isinstance(v, dict) else v


#: A Ray resource name: what ``ray start --resources`` accepts and ``node:<ip>`` (Ray's own per node).
_RESOURCE_NAME = r"^[A-Za-z0-9_.:/-]+$"


class PlacementConfig(_Model):
    """Where a stream runs on a Ray cluster (read only with a ``cluster:`` section).

    ``workers`` gives the stream worker actors of its own, which serve no other stream; without
    it the stream shares the ``cluster.workers``.  ``node`` pins the stream's source (the
    producer actor, which runs every source) to the host that offers that Ray resource, e.g. a
    host started with ``ray start --resources='{"camera": 1}'``, or ``node:<ip>``, the resource
    Ray gives every node; ``worker_node`` does the same for the stream's own workers.
    """

    workers: int | None = Field(default=None, ge=1, le=256, description="worker actors of this stream only")
    cpus_per_worker: float | None = Field(
        default=None, gt=0, le=256, description="Ray CPUs each reserves; null = cluster.cpus_per_worker"
    )
    node: str | None = Field(
        default=None, min_length=1, max_length=128, pattern=_RESOURCE_NAME,
        description="a Ray resource only the source's host offers: pins the producer there",
    )
    worker_node: str | None = Field(
        default=None, min_length=1, max_length=128, pattern=_RESOURCE_NAME,
        description="a Ray resource of the hosts for this stream's own workers (needs workers)",
    )

    @model_validator(mode="after")
    def _worker_node_needs_workers(self) -> PlacementConfig:
        if self.worker_node is not None and self.workers is None:
            raise ValueError("worker_node pins this stream's own workers: set workers too")
        return self


class StreamConfig(_Model):
    """One stream: a source and named outputs, each a chain of stages."""

    source: SourceConfig
    outputs: dict[str, list[StageConfig]] = Field(default_factory=dict)
    publish_raw: bool = True
    placement: PlacementConfig | None = None

    @property
    def items(self) -> Items:
        """``'samples'`` or ``'frames'``: what this stream's source delivers."""
        return self.source.items

    @field_validator("outputs", mode="before")
    @classmethod
    def _chains(cls, v: Any) -> Any:
        if isinstance(v, dict):
            return {name: _as_chain(chain) for name, chain in v.items()}
        return v

    @model_validator(mode="after")
    def _stages_fit_source(self) -> StreamConfig:
        for name, chain in self.outputs.items():
            check_output_name(name)
            check_chain(self.items, name, chain)
            size = (getattr(self.source, "height", None), getattr(self.source, "width", None))
            if self.items == "frames" and None not in size:
                _check_output_bytes(name, chain, size)  # type: ignore[arg-type]
        return self


def output_geometry(output: str, chain: Sequence[Any], size: tuple[int, int]) -> tuple[int, int, int]:
    """Return ``(depth, height, width)`` of what ``chain`` makes of frames of ``size`` (h, w).

    Raises
    ------
    ValueError
        When a stage's kernel does not fit the (padded) frame it gets.
    """
    from streamconv.ops.conv2d import output_size, resolve_padding

    h, w = size
    depth = FRAME_DEPTH
    for i, stage in enumerate(chain):
        if isinstance(stage, Kernel2DStage | Bank3DStage):
            shape = stage.matrix().shape if isinstance(stage, Kernel2DStage) else stage.bank().shape[2:]
            ph, pw = resolve_padding(stage.padding, shape)
            try:
                h = output_size(h, shape[0], ph, stage.stride)
                w = output_size(w, shape[1], pw, stage.stride)
            except StreamconvError as exc:
                raise ValueError(f"output {output!r} stage {i}: {exc}") from None
            if isinstance(stage, Bank3DStage):
                depth = stage.bank().shape[0]
    return depth, h, w


def _check_output_bytes(output: str, chain: Sequence[Any], size: tuple[int, int]) -> None:
    """Raise ValueError if ``chain`` on frames of ``size`` (h, w) gives a message over the limit.

    Counted as float32 (the widest dtype an output can have), so the bound holds for every dtype.
    """
    depth, h, w = output_geometry(output, chain, size)
    nbytes = h * w * depth * 4
    if nbytes > limits.MAX_OUTPUT_BYTES:
        raise ValueError(
            f"output {output!r}: one message would be {nbytes} bytes ({depth} x {h} x {w} float32), "
            f"over the limit of {limits.MAX_OUTPUT_BYTES}"
        )


def check_output_name(name: str) -> None:
    """Raise ValueError unless ``name`` is a valid, non-reserved output name."""
    _check_name("output", name)
    if name in ("raw", "truth"):
        raise ValueError(f"output name {name!r} is reserved for the source's own topics")


def kernel_from_text(text: str) -> str | list[Any]:
    """Return a ``kernel2d`` stage's ``kernel`` from text: a JSON matrix (``[...]``) or a catalogue name.

    Raises
    ------
    json.JSONDecodeError
        When the text starts with ``[`` but is not valid JSON (the caller names the option).

    Examples
    --------
    >>> kernel_from_text(" box "), kernel_from_text("[[0, 1], [1, 0]]")
    ('box', [[0, 1], [1, 0]])
    """
    text = text.strip()
    return json.loads(text) if text.startswith("[") else text


def _check_name(what: str, name: str) -> None:
    if not name or not all(c.isalnum() or c in "-_." for c in name):
        raise ValueError(f"{what} name {name!r} must be non-empty letters, digits, '-', '_' or '.'")


# -------------------------------------------------------------------------------------- service
def is_loopback_endpoint(endpoint: str) -> bool:
    """Return True for ``inproc``/``ipc`` endpoints and tcp on localhost or a loopback address."""
    scheme, _, rest = endpoint.partition("://")
    if scheme in ("inproc", "ipc"):
        return True
    return is_loopback_host(urlsplit(f"tcp://{rest}").hostname or "")


def is_loopback_host(host: str) -> bool:
    """Return True for ``localhost`` and a loopback address (``127.0.0.0/8``, ``::1``)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class ServiceConfig(_Model):
    """Endpoints, intervals and security of the daemon."""

    publish: str = "tcp://127.0.0.1:5555"
    control: str | None = "tcp://127.0.0.1:5556"
    stats_interval_s: float = Field(default=1.0, gt=0)
    status_interval_s: float = Field(default=5.0, gt=0)
    shutdown_timeout_s: float = Field(default=2.0, gt=0)
    video_queue: int = Field(default=2, ge=1, le=1000, description="frames in flight per video stream")
    sensor_queue: int = Field(default=100_000, ge=1, description="messages in flight per sensor stream")
    publish_hwm: int | None = Field(
        default=None, ge=1, description="PUB send queue per subscriber; null = 10000, or 100 with video"
    )
    insecure: bool = False
    curve_secret_key_file: Path | None = None
    curve_public_keys_dir: Path | None = None
    metrics: str | None = Field(
        default=None, description="HOST:PORT of the Prometheus /metrics HTTP server; null = off"
    )

    @field_validator("publish", "control")
    @classmethod
    def _endpoint(cls, v: str | None) -> str | None:
        return None if v is None else _check_endpoint(v)

    @field_validator("metrics")
    @classmethod
    def _metrics(cls, v: str | None, info: ValidationInfo) -> str | None:
        if v is None:
            return None
        host, _ = metrics_address(v)
        if not is_loopback_host(host) and not info.data.get("insecure"):
            raise ValueError(
                f"{v!r} is not loopback: /metrics is plain HTTP that anyone who can connect reads; "
                "use 127.0.0.1:PORT or, knowingly, insecure: true"
            )
        return v

    @property
    def metrics_address(self) -> tuple[str, int] | None:
        """``(host, port)`` of the ``/metrics`` server, or None when it is off."""
        return None if self.metrics is None else metrics_address(self.metrics)

    @model_validator(mode="after")
    def _security(self) -> ServiceConfig:
        for name in ("publish", "control"):
            endpoint = getattr(self, name)
            if endpoint and not is_loopback_endpoint(endpoint):
                if not self.insecure and self.curve_secret_key_file is None:
                    raise ValueError(
                        f"{name} endpoint {endpoint!r} is not loopback: set curve_secret_key_file "
                        "and curve_public_keys_dir (CurveZMQ) or, knowingly, insecure: true"
                    )
        # CurveZMQ authenticates: a server key without the clients' keys would admit nobody.
        if self.curve_secret_key_file is not None and self.curve_public_keys_dir is None:
            raise ValueError(
                "curve_secret_key_file needs curve_public_keys_dir: the directory of the client "
                "public keys (*.pub) that may connect; CurveZMQ admits no other key"
            )
        if self.curve_public_keys_dir is not None and self.curve_secret_key_file is None:
            raise ValueError(
                "curve_public_keys_dir needs curve_secret_key_file: client keys are checked by "
                "CurveZMQ, which runs only with the daemon's secret key"
            )
        return self


def metrics_address(v: str) -> tuple[str, int]:
    """Return ``(host, port)`` of a ``service.metrics`` value ``HOST:PORT`` or ``http://HOST:PORT``.

    Port 0 picks a free port (the log line at start shows it).

    Examples
    --------
    >>> metrics_address("127.0.0.1:9464"), metrics_address("http://[::1]:9464")
    (('127.0.0.1', 9464), ('::1', 9464))
    """
    rest = v.removeprefix("http://")
    if "://" in rest or "/" in rest:
        raise ValueError(f"{v!r} must look like HOST:PORT or http://HOST:PORT, e.g. 127.0.0.1:9464")
    parts = urlsplit(f"http://{rest}")
    try:
        port = parts.port
    except ValueError:
        raise ValueError(f"{v!r} has no valid port (0 to 65535), e.g. 127.0.0.1:9464") from None
    if port is None or not parts.hostname:
        raise ValueError(f"{v!r} must look like HOST:PORT or http://HOST:PORT, e.g. 127.0.0.1:9464")
    return parts.hostname, port


def _check_endpoint(v: str) -> str:
    scheme, sep, rest = v.partition("://")
    if not sep or scheme not in ("tcp", "ipc", "inproc") or not rest:
        raise ValueError(f"endpoint {v!r} must look like tcp://HOST:PORT, ipc://PATH or inproc://NAME")
    if scheme == "tcp":
        parts = urlsplit(v)
        try:
            port = parts.port
        except ValueError:
            port = None
        if port is None and not v.endswith(":*"):
            raise ValueError(f"endpoint {v!r} needs a port, e.g. tcp://127.0.0.1:5555")
    return v


Endpoint = Annotated[str, AfterValidator(_check_endpoint)]


class LinkAddress(_Model):
    """A link whose bind and connect addresses differ (e.g. ``tcp://0.0.0.0:5560`` and ``tcp://producer:5560``)."""

    bind: Endpoint
    connect: Endpoint


class LinksConfig(_Model):
    """The links between the roles: where each binds, where its peers connect, and their timing.

    ``dispatch`` is bound by the producer (workers connect and ask for work); ``collect`` is
    bound by the publisher (workers send results, the producer its heartbeats).  ``inproc://``
    links only join roles of one process; across processes use ``ipc://`` or ``tcp://``.
    """

    dispatch: Endpoint | LinkAddress = "inproc://streamconv/dispatch"
    collect: Endpoint | LinkAddress = "inproc://streamconv/collect"
    heartbeat_ms: float = Field(default=100.0, ge=10, le=10_000, description="heartbeat interval")
    dead_after_ms: float = Field(default=300.0, ge=20, le=60_000, description="silence that means dead")
    workers: int | None = Field(
        default=None, ge=1, le=64, description="worker threads when every role runs in one process; "
        "null = one per stream"
    )
    reorder_window: int = Field(default=16, ge=1, le=1000, description="frames held behind a lost one")
    frame_deadline_ms: float = Field(default=400.0, gt=0, le=60_000,
                                     description="longest a frame waits behind a lost one")
    sample_deadline_ms: float = Field(default=3000.0, gt=0, le=600_000,
                                      description="longest a chunk waits behind a missing one")
    replay_samples: int = Field(default=1_000_000, ge=1, le=100_000_000,
                                description="unpublished samples kept per sample stream for replay")
    curve_on_loopback: bool = Field(default=False, description="CurveZMQ on tcp loopback and ipc links too")

    @model_validator(mode="after")
    def _timing(self) -> LinksConfig:
        if self.dead_after_ms < 2 * self.heartbeat_ms:
            raise ValueError(
                f"dead_after_ms ({self.dead_after_ms:g}) must be at least twice heartbeat_ms "
                f"({self.heartbeat_ms:g}): one late beat must not declare a peer dead"
            )
        return self

    def bind_address(self, name: str) -> str:
        """Where the owner of link ``name`` binds."""
        v = getattr(self, name)
        return v.bind if isinstance(v, LinkAddress) else v

    def connect_address(self, name: str) -> str:
        """Where the peers of link ``name`` connect (a wildcard bind address becomes 127.0.0.1)."""
        from streamconv.sockets import connectable_endpoint

        v = getattr(self, name)
        return v.connect if isinstance(v, LinkAddress) else connectable_endpoint(v)

    def endpoints(self) -> list[tuple[str, str]]:
        """Every ``(field, endpoint)`` of the links, bind and connect sides."""
        out = []
        for name in LINK_NAMES:
            out.append((f"links.{name}", self.bind_address(name)))
            if isinstance(getattr(self, name), LinkAddress):
                out.append((f"links.{name}.connect", self.connect_address(name)))
        return out


#: The links between roles, in the order data flows.
LINK_NAMES = ("dispatch", "collect")


class ClusterConfig(_Model):
    """Run the producer and the workers as actors of a Ray cluster (the ``streamconv[cluster]`` extra).

    Ray places, supervises and restarts them; the frames still travel over the ZeroMQ links, and
    the publisher stays in the ``streamconv run`` process (the ingress host).
    """

    engine: Literal["ray"] = "ray"
    address: str = Field(
        default="local", min_length=1,
        description="'local' starts a cluster in this process; 'auto' or HOST:PORT joins a running one",
    )
    workers: int = Field(default=2, ge=1, le=256, description="worker actors")
    cpus_per_worker: float = Field(default=0.5, gt=0, le=256, description="Ray CPUs each worker reserves")
    producer_cpus: float = Field(default=0.5, gt=0, le=256, description="Ray CPUs the producer reserves")
    num_cpus: int | None = Field(
        default=None, ge=1, le=4096, description="CPUs of a local cluster; null = this machine's"
    )
    max_restarts: int = Field(default=-1, ge=-1, description="restarts of a dead actor by Ray; -1 = always")
    link_gbps: float = Field(
        default=10.0, gt=0, le=10_000,
        description="the network between hosts, Gbit/s: an output that needs more is warned about at load",
    )


class Config(_Model):
    """The whole daemon configuration."""

    service: ServiceConfig = Field(default_factory=ServiceConfig)
    links: LinksConfig = Field(default_factory=LinksConfig)
    streams: dict[str, StreamConfig] = Field(default_factory=dict)
    cluster: ClusterConfig | None = None

    @model_validator(mode="after")
    def _names(self) -> Config:
        for name in self.streams:
            _check_name("stream", name)
            if name.startswith("_"):
                raise ValueError(f"stream name {name!r} must not start with '_' (reserved for _stats)")
        return self

    @model_validator(mode="after")
    def _one_source_node(self) -> Config:
        pins = {f"streams.{n}.placement.node": s.placement.node for n, s in self.streams.items()
                if s.placement is not None and s.placement.node is not None}
        if len(set(pins.values())) > 1:
            named = ", ".join(f"{k} {v!r}" for k, v in pins.items())
            raise ValueError(
                f"{named}: one producer runs every source, so the pinned sources must name one node"
            )
        return self

    @model_validator(mode="after")
    def _links_secure(self) -> Config:
        svc = self.service
        for field_name, endpoint in self.links.endpoints():
            if not is_loopback_endpoint(endpoint) and not svc.insecure and svc.curve_secret_key_file is None:
                raise ValueError(
                    f"{field_name} {endpoint!r} is not loopback: set service.curve_secret_key_file "
                    "(CurveZMQ) or, knowingly, service.insecure: true"
                )
        if self.links.curve_on_loopback and svc.curve_secret_key_file is None:
            raise ValueError(
                "links.curve_on_loopback needs service.curve_secret_key_file: the key the links run "
                "CurveZMQ with"
            )
        return self


# ----------------------------------------------------------------------------------- functions
_UNION_TAGS = frozenset((*STAGE_KINDS, "laser", "synthetic", "camera"))
_TYPE_PARTS = ("list[", "literal[", "Literal[", "function-", "dict[", "tuple[", "constrained-")


def _clean_loc(loc: tuple[Any, ...]) -> str:
    """Drop the union-member names pydantic inserts into error locations."""
    parts: list[str] = []
    prev: Any = None
    for part in loc:
        tag = part in _UNION_TAGS and (prev == "source" or isinstance(prev, int))
        typename = isinstance(part, str) and (
            part in ("int", "str", "float", "bool", "none") or part.startswith(_TYPE_PARTS)
        )
        if not (tag or typename):
            parts.append(str(part))
        prev = part
    return ".".join(parts)


def format_validation_error(exc: ValidationError, *, prefix: str = "") -> str:
    """Return one line per error: ``field.path: reason (got VALUE)``."""
    lines = []
    seen = set()
    for err in exc.errors():
        loc = _clean_loc(err["loc"])
        loc = f"{prefix}.{loc}" if prefix and loc else (prefix or loc)
        msg = err["msg"].removeprefix("Value error, ")
        got = err.get("input")
        shown = repr(got)
        if len(shown) > 60:
            shown = shown[:57] + "..."
        suffix = f" (got {shown})" if err["type"] != "missing" and not isinstance(got, dict) else ""
        line = f"{loc or '<root>'}: {msg}{suffix}"
        if line not in seen:
            seen.add(line)
            lines.append(line)
    return "\n".join(lines)


def parse(data: Any, *, source: str = "config") -> Config:
    """Validate a plain-data config (as loaded from YAML); raise ConfigError naming each bad field."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: expected a mapping at the top level, got {type(data).__name__}")
    try:
        return Config.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(f"{source}: invalid configuration\n{format_validation_error(exc)}") from None


def parse_stages(data: Any, *, source: str = "stages") -> list[Any]:
    """Validate one output's chain (a stage mapping or a list of them), e.g. from a control request."""
    from pydantic import TypeAdapter

    try:
        return TypeAdapter(list[StageConfig]).validate_python(_as_chain(data))
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc, prefix=source)) from None


def load(path: str | Path | None = None) -> Config:
    """Load and validate a YAML config file; ``None`` gives the embedded default."""
    if path is None:
        return default_config()
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{p}: cannot read the config file ({exc.strerror or exc})") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(f"{p}: not valid YAML{where}: {problem}") from None
    return parse(data, source=str(p))


def default_config() -> Config:
    """Return the embedded default: the laser with ``smoothed``, the synthetic camera with two outputs."""
    return Config(
        streams={
            "laser": StreamConfig(
                source=LaserSourceConfig(),
                outputs={"smoothed": [CausalFIRStage(weights=list(DEFAULT_WEIGHTS))]},
            ),
            "camera": StreamConfig(
                source=SyntheticSourceConfig(width=640, height=480, fps=30.0),
                outputs={
                    "sharpen": [Kernel2DStage(kernel="sharpen", padding="same")],
                    "edges": [Kernel2DStage(kernel="edge_detect", padding="same")],
                },
            ),
        }
    )


def dump_yaml(config: Config) -> str:
    """Return the config as YAML text (every field, defaults included)."""
    data = config.model_dump(mode="json")
    if data.get("cluster") is None:  # optional sections, absent unless given
        data.pop("cluster", None)
    for stream in data.get("streams", {}).values():
        if stream.get("placement") is None:
            stream.pop("placement", None)
        for chain in stream.get("outputs", {}).values():
            for stage in chain:
                if stage.get("kind") == "kernel2d" and stage.get("file") is None:
                    stage.pop("file", None)  # a kernel2d has a kernel or a file: show the one it has
    return yaml.safe_dump(data, sort_keys=False, default_flow_style=None)
