"""Offline filtering of files (a video, an image or a CSV of samples) with the service's pipeline code.

The stages are the config models of :mod:`streamconv.config` and they are applied by the chains of
:func:`streamconv.pipeline.build_chain`, so a file filtered here gives exactly what the daemon
publishes for the same input.  ``streamconv filter`` is a thin command over :func:`filter_file`.

Output conversions (documented in ``docs/logging-and-plots.md``):

- **Video** output is 8-bit BGR.  The output's extension picks the codec (:data:`VIDEO_CODECS`):
  ``.mkv`` and ``.avi`` get the lossless FFV1 (falling back to MJPG where FFV1 is missing), ``.mp4``
  and ``.mov`` get ``mp4v`` (lossy).  The input's frame rate is kept.
- **Float results** (edge detectors, derivatives) going to an 8-bit file are converted by
  :func:`to_uint8`: ``|x|`` rounded half to even and clipped to 0..255.  Choose ``dtype='uint8'``
  in the stage instead to saturate the signed result (negatives become 0), or write ``.npy``
  (images only) to keep the floats exactly.
- **Samples**: the output CSV is the input CSV with the value column replaced by the filtered
  values (``repr`` of each float, so the text reads back to the same double; NaN as ``nan``).

Examples
--------
>>> import numpy as np
>>> from streamconv import config as cfg
>>> to_uint8(np.array([[-3.6, 300.0, 7.5]], dtype=np.float32))
array([[  4, 255,   8]], dtype=uint8)
>>> chain = build_offline_chain([cfg.CausalFIRStage(weights=[0.5, 0.5])], "samples")
>>> chain.apply(np.array([2.0, 4.0, 6.0])).tolist()
[2.0, 3.0, 5.0]
"""

from __future__ import annotations

import csv
import logging
import os
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import cv2
import numpy as np
from numpy.typing import NDArray

from streamconv import config as cfg
from streamconv.errors import StreamconvError
from streamconv.pipeline import Chain, build_chain

__all__ = [
    "CSV_EXTENSIONS",
    "IMAGE_EXTENSIONS",
    "VIDEO_CODECS",
    "FileKind",
    "FilterReport",
    "build_offline_chain",
    "file_kind",
    "filter_csv",
    "filter_file",
    "filter_image",
    "filter_video",
    "open_video_writer",
    "to_bgr",
    "to_uint8",
]

logger = logging.getLogger(__name__)

FileKind = Literal["video", "image", "samples"]

#: Extensions read and written as still images (``.npy``: a numpy array, kept exactly).
IMAGE_EXTENSIONS = frozenset(
    {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".pgm", ".ppm", ".pbm", ".npy"}
)
#: Extensions read as a CSV of samples.
CSV_EXTENSIONS = frozenset({".csv"})
#: Video container extension -> FourCC codes tried in order (the first that this OpenCV build opens).
#: FFV1 is lossless (frames read back bit for bit); MJPG and mp4v are lossy fallbacks.
VIDEO_CODECS: dict[str, tuple[str, ...]] = {
    ".mkv": ("FFV1", "MJPG"),
    ".avi": ("FFV1", "MJPG"),
    ".mp4": ("mp4v",),
    ".mov": ("mp4v", "MJPG"),
}
_ITEMS: dict[FileKind, cfg.Items] = {"video": "frames", "image": "frames", "samples": "samples"}
_DEFAULT_FPS = 30.0
_KIND_TEXT = {"video": "a video", "image": "an image", "samples": "a CSV of samples"}
_KIND_OUTPUT = {
    "video": f"a video file ({', '.join(sorted(VIDEO_CODECS))})",
    "image": "an image file (.png, .npy, ...)",
    "samples": "a .csv file",
}
_CSV_CHUNK = 4096


# ---------------------------------------------------------------------------------------- helpers
def file_kind(path: str | os.PathLike[str]) -> FileKind:
    """Return what a file holds, from its extension: ``'image'``, ``'samples'`` (CSV) or ``'video'``.

    Examples
    --------
    >>> file_kind("a.PNG"), file_kind("log/laser__raw.csv"), file_kind("clip.mkv")
    ('image', 'samples', 'video')
    """
    ext = Path(path).suffix.lower()
    if ext in IMAGE_EXTENSIONS:
        return "image"
    if ext in CSV_EXTENSIONS:
        return "samples"
    return "video"


def to_uint8(frame: NDArray[Any]) -> NDArray[np.uint8]:
    """Return an 8-bit version of a frame for display files: ``clip(rint(|x|), 0, 255)``.

    ``uint8`` frames are returned as they are.  Anything else (signed float edge responses,
    16-bit, ...) takes the absolute value, rounds half to even and saturates at 255, so an edge of
    either sign shows bright; non-finite values are 0.  This is
    :func:`streamconv.sinks.render.to_grey8`, the mapping the windows use.

    Examples
    --------
    >>> to_uint8(np.array([-1.5, 0.4, 254.5, 1e6])).tolist()
    [2, 0, 254, 255]
    """
    from streamconv.sinks.render import to_grey8

    return to_grey8(frame, "abs")  # the one display mapping, shared with the windows


def to_bgr(frame: NDArray[Any]) -> NDArray[np.uint8]:
    """Return a 3-channel 8-bit BGR frame for a video writer (grey is repeated, alpha dropped).

    Raises
    ------
    StreamconvError
        For a frame of another number of channels (feature maps): no video codec holds them.
    """
    img = to_uint8(frame)
    if img.ndim == 2 or (img.ndim == 3 and img.shape[2] == 1):
        return cv2.cvtColor(img.reshape(img.shape[:2]), cv2.COLOR_GRAY2BGR)
    if img.ndim == 3 and img.shape[2] == 3:
        return np.ascontiguousarray(img)
    if img.ndim == 3 and img.shape[2] == 4:
        return cv2.cvtColor(img, cv2.COLOR_BGRA2BGR)
    raise StreamconvError(
        f"invalid frame of shape {list(frame.shape)} for a video: expected 1, 3 or 4 channels"
        " (feature maps with K channels go to .npy files)"
    )


def open_video_writer(
    path: str | os.PathLike[str], fps: float, size: tuple[int, int], *, fourcc: str | None = None
) -> tuple[cv2.VideoWriter, str]:
    """Open a BGR :class:`cv2.VideoWriter` on ``path``, choosing the codec from the extension.

    Parameters
    ----------
    path : path-like
        Output file; its extension must be one of :data:`VIDEO_CODECS`'s unless ``fourcc`` is given.
    fps : float
        Frame rate written into the file (> 0).
    size : (width, height)
        Frame size in pixels.
    fourcc : str, optional
        Four characters (e.g. ``'FFV1'``, ``'MJPG'``, ``'png '``) to use instead of the extension's.

    Returns
    -------
    (cv2.VideoWriter, str)
        The open writer and the FourCC it uses.

    Raises
    ------
    StreamconvError
        An unknown extension, a bad ``fourcc`` or no codec that this OpenCV build can open.
    """
    p = Path(path)
    ext = p.suffix.lower()
    if fourcc is not None:
        if len(fourcc) != 4:
            raise StreamconvError(f"invalid fourcc {fourcc!r}; expected 4 characters, e.g. 'FFV1' or 'MJPG'")
        candidates: tuple[str, ...] = (fourcc,)
    elif ext in VIDEO_CODECS:
        candidates = VIDEO_CODECS[ext]
    else:
        raise StreamconvError(
            f"invalid video extension {ext or '(none)'!r} of {str(p)!r};"
            f" expected one of {sorted(VIDEO_CODECS)} (or give a fourcc)"
        )
    for code in candidates:
        writer = cv2.VideoWriter(str(p), cv2.VideoWriter_fourcc(*code), float(fps), size, True)
        if writer.isOpened():
            if code != candidates[0]:
                logger.warning("codec %s is not available for %s; using %s", candidates[0], p.name, code)
            return writer, code
        writer.release()
    raise StreamconvError(f"cannot open a video writer for {str(p)!r} with codec(s) {list(candidates)}")


def build_offline_chain(stages: Sequence[Any], kind: FileKind, *, output: str = "output") -> Chain:
    """Return the pipeline chain for validated stage configs, checking they fit the file kind.

    The checks are the daemon's (:func:`streamconv.config.check_chain`, whose messages name
    ``output``, e.g. the output file), except the bank's depth: an image file may have any
    number of channels.

    Raises
    ------
    StreamconvError
        No stages, or a sample stage on frames (or a frame stage on samples), or a ``bank3d``
        that is not the last stage.
    """
    if not stages:
        raise StreamconvError("no filter given: expected at least one stage")
    items = _ITEMS[kind]
    try:
        cfg.check_chain(items, output, stages, depth=None)
    except ValueError as exc:
        raise StreamconvError(str(exc)) from None
    return build_chain(list(stages), items=items)


def _check_paths(src: Path, dst: Path) -> None:
    if not src.exists():
        raise StreamconvError(f"no such file: {str(src)!r}")
    if src.is_dir():
        raise StreamconvError(f"{str(src)!r} is a directory; expected a file")
    if dst.exists() and dst.resolve() == src.resolve():
        raise StreamconvError(f"output {str(dst)!r} is the input file; give another output path")
    if dst.parent and not dst.parent.is_dir():
        raise StreamconvError(f"no such directory for the output: {str(dst.parent)!r}")


def _progress(total: int | None, unit: str, enabled: bool, desc: str) -> Any:
    from tqdm import tqdm

    return tqdm(total=total, unit=unit, disable=not enabled, desc=desc, dynamic_ncols=True, leave=False)


def _frame_text(shape: tuple[int, ...]) -> str:
    """``'640x480'`` (width x height) and the channels, e.g. ``'640x480x3'``."""
    if len(shape) < 2:
        return "x".join(str(d) for d in shape)
    return "x".join(str(d) for d in (shape[1], shape[0], *shape[2:]))


@dataclass(frozen=True, slots=True)
class FilterReport:
    """What :func:`filter_file` did.

    Attributes
    ----------
    kind : {'video', 'image', 'samples'}
        The kind of file filtered.
    items : int
        Frames (1 for an image) or samples.
    shape_in, shape_out : tuple of int
        One item's shape in and out: a frame's ``(H, W[, C])``; ``(n,)`` for a column of samples.
    dtype_in, dtype_out : str
        numpy dtype names before and after the chain (before any 8-bit conversion for the file).
    seconds : float
        Wall time spent.
    output : Path
        The file written.
    codec : str or None
        The video FourCC used.
    fps : float or None
        The video frame rate (the input's, kept).
    detail : str
        For samples: which column was filtered.
    """

    kind: FileKind
    items: int
    shape_in: tuple[int, ...]
    shape_out: tuple[int, ...]
    dtype_in: str
    dtype_out: str
    seconds: float
    output: Path
    codec: str | None = None
    fps: float | None = None
    detail: str = ""

    @property
    def rate(self) -> float:
        """Items per second of wall time."""
        return self.items / self.seconds if self.seconds > 0 else float("inf")

    def summary(self) -> str:
        """Return a one-line summary for the command line."""
        if self.kind == "samples":
            what = f"{self.items} samples{f' ({self.detail})' if self.detail else ''}"
        else:
            count = "1 image" if self.kind == "image" else f"{self.items} frames"
            what = (
                f"{count} {_frame_text(self.shape_in)} {self.dtype_in} -> {_frame_text(self.shape_out)}"
                f" {self.dtype_out}"
            )
        line = f"{what} in {self.seconds:.2f} s"
        if self.kind == "video":
            line += f" ({self.rate:.1f} frames/s)"
        elif self.kind == "samples":
            line += f" ({self.rate:.0f} samples/s)"
        line += f" -> {self.output}"
        if self.codec:
            line += f" [{self.codec.strip()}, {self.fps:g} fps]"
        return line


# ------------------------------------------------------------------------------------------ video
def _read_frames(cap: cv2.VideoCapture) -> Iterator[NDArray[np.uint8]]:
    while True:
        ok, frame = cap.read()
        if not ok:
            return
        yield frame


def filter_video(
    input: str | os.PathLike[str],
    output: str | os.PathLike[str],
    stages: Sequence[Any],
    *,
    fourcc: str | None = None,
    progress: bool = False,
) -> FilterReport:
    """Filter every frame of a video file and write the results as a video at the same frame rate.

    Parameters
    ----------
    input : path-like
        Any video OpenCV reads.
    output : path-like
        ``.mkv``/``.avi`` (lossless FFV1), ``.mp4``/``.mov`` (mp4v), or any extension with ``fourcc``.
    stages : sequence of stage configs
        Frame stages (:class:`~streamconv.config.Kernel2DStage`, ``Bank3DStage``, ``TemporalStage``),
        applied in order to each frame as the daemon does.
    fourcc : str, optional
        Force a codec, e.g. ``'MJPG'``.
    progress : bool
        Show a tqdm progress bar on stderr.

    Returns
    -------
    FilterReport

    Raises
    ------
    StreamconvError
        Missing or unreadable input, a video without frames, a bad output extension or codec,
        or a chain whose output has neither 1, 3 nor 4 channels.
    """
    src, dst = Path(input), Path(output)
    _check_paths(src, dst)
    if fourcc is None and dst.suffix.lower() not in VIDEO_CODECS:
        raise StreamconvError(
            f"invalid video extension {dst.suffix or '(none)'!r} of {str(dst)!r};"
            f" expected one of {sorted(VIDEO_CODECS)} (or give a fourcc)"
        )
    chain = build_offline_chain(stages, "video", output=dst.name)
    cap = cv2.VideoCapture(str(src))
    if not cap.isOpened():
        cap.release()
        raise StreamconvError(f"cannot read video {str(src)!r}: OpenCV cannot open it")
    fps = cap.get(cv2.CAP_PROP_FPS) or 0.0
    if not fps or not np.isfinite(fps) or fps <= 0:
        logger.warning("%s has no frame rate; writing %g fps", src.name, _DEFAULT_FPS)
        fps = _DEFAULT_FPS
    total = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0) or None
    writer: cv2.VideoWriter | None = None
    code: str | None = None
    n = 0
    shape_in: tuple[int, ...] = ()
    shape_out: tuple[int, ...] = ()
    dtype_in = dtype_out = ""
    t0 = time.perf_counter()
    bar = _progress(total, "frame", progress, src.name)
    try:
        for frame in _read_frames(cap):
            out = chain.apply(frame)
            img = to_bgr(out)
            if writer is None:
                shape_in, dtype_in = frame.shape, frame.dtype.name
                shape_out, dtype_out = out.shape, out.dtype.name
                writer, code = open_video_writer(dst, fps, (img.shape[1], img.shape[0]), fourcc=fourcc)
            writer.write(img)
            n += 1
            bar.update(1)
    finally:
        bar.close()
        cap.release()
        if writer is not None:
            writer.release()
    if n == 0:
        raise StreamconvError(f"cannot read video {str(src)!r}: no frame could be decoded")
    return FilterReport(
        "video", n, tuple(shape_in), tuple(shape_out), dtype_in, dtype_out, time.perf_counter() - t0,
        dst, code, float(fps),
    )


# ------------------------------------------------------------------------------------------ image
def _read_image(path: Path) -> NDArray[Any]:
    if path.suffix.lower() == ".npy":
        try:
            arr = np.load(path, allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise StreamconvError(f"cannot read image {str(path)!r}: {exc}") from None
        if arr.ndim not in (2, 3) or arr.dtype.kind not in "biuf":
            raise StreamconvError(
                f"cannot use {str(path)!r} as an image: a {arr.dtype} array of shape {list(arr.shape)};"
                " expected (H, W) or (H, W, C) numbers"
            )
        return arr
    img = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if img is None:
        raise StreamconvError(f"cannot read image {str(path)!r}: not an image OpenCV can decode")
    return img


def _write_image(path: Path, img: NDArray[Any]) -> None:
    if path.suffix.lower() == ".npy":
        np.save(path, img, allow_pickle=False)
        return
    if img.dtype not in (np.uint8, np.uint16) or (img.dtype == np.uint16 and path.suffix.lower() not in
                                                  (".png", ".tif", ".tiff", ".pgm", ".ppm")):
        img = to_uint8(img)
    if img.ndim == 3 and img.shape[2] not in (1, 3, 4):
        raise StreamconvError(
            f"cannot write {img.shape[2]} channels to {str(path)!r}; use a .npy output for feature maps"
        )
    try:
        ok = cv2.imwrite(str(path), img)
    except cv2.error as exc:
        reason = str(exc).strip().splitlines()[-1]
        raise StreamconvError(f"cannot write image {str(path)!r}: {reason}") from None
    if not ok:
        raise StreamconvError(f"cannot write image {str(path)!r}")


def filter_image(
    input: str | os.PathLike[str], output: str | os.PathLike[str], stages: Sequence[Any]
) -> FilterReport:
    """Filter one image file (or ``.npy`` array) and write the result.

    The input is read unchanged (8 or 16 bit, grey, colour or with alpha).  A ``.npy`` output keeps
    the chain's result exactly; other formats take 8-bit (and 16-bit PNG/TIFF) as it is and
    convert anything else with :func:`to_uint8`.

    Raises
    ------
    StreamconvError
        Missing or unreadable input, or an output OpenCV cannot write.
    """
    src, dst = Path(input), Path(output)
    _check_paths(src, dst)
    if dst.suffix.lower() not in IMAGE_EXTENSIONS:
        raise StreamconvError(
            f"invalid image output {str(dst)!r}; expected an extension in {sorted(IMAGE_EXTENSIONS)}"
        )
    chain = build_offline_chain(stages, "image", output=dst.name)
    t0 = time.perf_counter()
    img = _read_image(src)
    out = chain.apply(img)
    _write_image(dst, out)
    return FilterReport(
        "image", 1, tuple(img.shape), tuple(out.shape), img.dtype.name, out.dtype.name,
        time.perf_counter() - t0, dst,
    )


# ------------------------------------------------------------------------------------------ CSV
def _column_index(header: list[str], column: str | int | None, path: Path) -> int:
    if column is None:
        return len(header) - 1
    if isinstance(column, int) or (isinstance(column, str) and column.lstrip("-").isdigit()):
        idx = int(column)
        if not -len(header) <= idx < len(header):
            raise StreamconvError(
                f"invalid column {idx} for {str(path)!r}: it has {len(header)} columns {header}"
            )
        return idx % len(header)
    if column not in header:
        raise StreamconvError(f"invalid column {column!r} for {str(path)!r}; expected one of {header}")
    return header.index(column)


def _parse_value(text: str, line: int, path: Path) -> float:
    text = text.strip()
    if not text:
        return float("nan")
    try:
        return float(text)
    except ValueError:
        raise StreamconvError(f"{path}: line {line}: {text!r} is not a number") from None


def filter_csv(
    input: str | os.PathLike[str],
    output: str | os.PathLike[str],
    stages: Sequence[Any],
    *,
    column: str | int | None = None,
    progress: bool = False,
) -> FilterReport:
    """Filter one column of a CSV of samples (with a header row), in row order, as one stream.

    Parameters
    ----------
    input, output : path-like
        CSV files.  The output has the same header and rows, the chosen column replaced by its
        filtered values (``repr`` of each float; NaN as ``nan``).  An empty field is NaN.
    stages : sequence of stage configs
        Sample stages (:class:`~streamconv.config.CausalFIRStage`), weights oldest to newest.
    column : str or int, optional
        Column name or index (negative from the end); default the last column.
    progress : bool
        Show a tqdm progress bar on stderr.

    Returns
    -------
    FilterReport

    Raises
    ------
    StreamconvError
        Missing file, no header, an unknown column or a field that is not a number.
    """
    src, dst = Path(input), Path(output)
    _check_paths(src, dst)
    chain = build_offline_chain(stages, "samples", output=dst.name)
    t0 = time.perf_counter()
    with src.open(newline="", encoding="utf-8") as fh:
        total_rows = max(sum(1 for _ in fh) - 1, 0)
    n = 0
    bar = _progress(total_rows, "sample", progress, src.name)
    try:
        with (
            src.open(newline="", encoding="utf-8") as fin,
            dst.open("w", newline="", encoding="utf-8") as fout,
        ):
            reader = csv.reader(fin)
            header = next(reader, None)
            if not header:
                raise StreamconvError(f"{str(src)!r} is empty; expected a CSV with a header row")
            col = _column_index(header, column, src)
            writer = csv.writer(fout, lineterminator="\n")
            writer.writerow(header)
            rows: list[list[str]] = []
            values: list[float] = []
            for row in reader:
                if not row:
                    continue
                if len(row) <= col:
                    raise StreamconvError(
                        f"{src}: line {reader.line_num}: {len(row)} fields; column {header[col]!r} is missing"
                    )
                values.append(_parse_value(row[col], reader.line_num, src))
                rows.append(row)
                if len(rows) >= _CSV_CHUNK:
                    n += _write_chunk(writer, chain, rows, values, col)
                    bar.update(len(rows))
                    rows, values = [], []
            if rows:
                n += _write_chunk(writer, chain, rows, values, col)
                bar.update(len(rows))
    except BaseException:
        bar.close()
        dst.unlink(missing_ok=True)
        raise
    bar.close()
    return FilterReport(
        "samples", n, (n,), (n,), "float64", "float64", time.perf_counter() - t0, dst,
        detail=f"column {header[col]!r}",
    )


def _write_chunk(writer: Any, chain: Chain, rows: list[list[str]], values: list[float], col: int) -> int:
    out = chain.apply(np.asarray(values, dtype=np.float64))
    for row, v in zip(rows, out.tolist(), strict=True):
        row[col] = repr(v)
        writer.writerow(row)
    return len(rows)


# --------------------------------------------------------------------------------------- dispatch
def filter_file(
    input: str | os.PathLike[str],
    output: str | os.PathLike[str],
    stages: Sequence[Any],
    *,
    column: str | int | None = None,
    fourcc: str | None = None,
    progress: bool = False,
) -> FilterReport:
    """Filter a video, an image or a CSV of samples, chosen by the input's extension.

    Images are the extensions in :data:`IMAGE_EXTENSIONS`, CSV files end in ``.csv``; anything
    else is read as a video.  The output must be of the same kind.

    Raises
    ------
    StreamconvError
        See :func:`filter_video`, :func:`filter_image` and :func:`filter_csv`; also an output of
        another kind than the input.
    """
    kind = file_kind(input)
    out_kind = file_kind(output)
    if out_kind != kind:
        raise StreamconvError(
            f"input {str(input)!r} is {_KIND_TEXT[kind]} but output {str(output)!r} is not;"
            f" expected {_KIND_OUTPUT[kind]}"
        )
    if kind == "samples":
        return filter_csv(input, output, stages, column=column, progress=progress)
    if kind == "image":
        return filter_image(input, output, stages)
    return filter_video(input, output, stages, fourcc=fourcc, progress=progress)
