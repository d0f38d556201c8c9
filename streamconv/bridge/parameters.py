"""Each output's filter as flat, typed parameters, and a parameter change as a control ``set``.

Pure functions over the daemon's ``status`` reply (``streams -> outputs -> stages``): no socket.
An output ``S/O`` whose chain is one stage has the parameters ``S/O.<field>``; a chain of several
stages has ``S/O.<i>.<field>`` for stage ``i`` (from 0).  Every output also has ``S/O.stages``, the
whole chain as JSON text (what ``streamconv ctl set --stages`` takes), for what the fields below do
not cover (``flip``, ``dtype``, banks, adding or removing a stage).

=============== =========================== ===================================================
Stage kind      Field                       Value
=============== =========================== ===================================================
``kernel2d``    ``kernel``                  str: a catalogue name (``streamconv kernels``) or a
                                            matrix as JSON text, ``"[[0, 1, 0], ...]"``
``kernel2d``    ``size``                    int: the kernel's rows; settable for ``identity``,
                                            ``box`` and ``gaussian`` (their ``params.size``)
``kernel2d``    ``padding``                 str: ``same``, ``valid`` or an integer, ``"2"``
``kernel2d``    ``stride``                  int >= 1
``kernel2d``    ``border``                  str: ``zero``, ``replicate`` or ``reflect``
``causal_fir``  ``weights``                 float array, oldest to newest
``temporal``    ``weights``                 float array, oldest to newest
``causal_fir``, ``normalize``               bool
``temporal``
=============== =========================== ===================================================

Examples
--------
>>> status = {"streams": {"laser": {"outputs": {"smoothed": [
...     {"kind": "causal_fir", "weights": [0.5, 0.5], "normalize": False, "spec_hash": "ab"}]}}}}
>>> table = parameters_from_status(status)
>>> table["laser/smoothed.weights"]
[0.5, 0.5]
>>> changes_to_requests(table, status, {"laser/smoothed.weights": [0.25, 0.75]})
[('laser/smoothed', [{'kind': 'causal_fir', 'weights': [0.25, 0.75], 'normalize': False}])]
"""

from __future__ import annotations

import json
import math
from typing import Any

from streamconv.config import kernel_from_text
from streamconv.errors import StreamconvError

__all__ = [
    "FIELDS",
    "ParameterError",
    "changes_to_requests",
    "parameters_from_status",
    "topic_of",
]

#: The fields exposed per stage kind (anything else is reached through ``S/O.stages``).
FIELDS: dict[str, tuple[str, ...]] = {
    "kernel2d": ("kernel", "size", "padding", "stride", "border"),
    "causal_fir": ("weights", "normalize"),
    "temporal": ("weights", "normalize"),
}
STAGES = "stages"
BORDERS = ("reflect", "replicate", "zero")
#: Kernels whose ``size`` is a parameter (the others have a fixed size).
SIZED_KERNELS = ("identity", "box", "gaussian")
#: Keys of a status stage that are the daemon's own (not part of a ``set``).
_DERIVED = ("spec_hash",)


class ParameterError(StreamconvError):
    """A parameter name or value that cannot become a filter (the message quotes it)."""


def _outputs(status: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """Return ``{"S/O": stages}`` of every output in a ``status`` reply."""
    out: dict[str, list[dict[str, Any]]] = {}
    for stream, st in (status.get("streams") or {}).items():
        for output, stages in (st.get("outputs") or {}).items():
            out[f"{stream}/{output}"] = [{k: v for k, v in s.items() if k not in _DERIVED} for s in stages]
    return out


def _prefix(topic: str, index: int, n: int) -> str:
    return topic if n == 1 else f"{topic}.{index}"


def _kernel_size(stage: dict[str, Any]) -> int:
    kernel = stage.get("kernel")
    if isinstance(kernel, list):
        return len(kernel)
    size = (stage.get("params") or {}).get("size")
    if size is not None:
        return int(size)
    from streamconv.ops import kernels

    try:
        return int(kernels.get(str(kernel)).shape[0])
    except (ValueError, TypeError):
        return 0


def _stage_fields(stage: dict[str, Any]) -> dict[str, Any]:
    kind = stage.get("kind")
    if kind == "kernel2d":
        kernel = stage.get("kernel")
        return {
            "kernel": kernel if isinstance(kernel, str) else json.dumps(kernel),
            "size": _kernel_size(stage),
            "padding": str(stage.get("padding", "same")),
            "stride": int(stage.get("stride", 1)),
            "border": str(stage.get("border", "zero")),
        }
    if kind in ("causal_fir", "temporal"):
        return {"weights": [float(w) for w in stage.get("weights", [])],
                "normalize": bool(stage.get("normalize", False))}
    return {}


def parameters_from_status(status: dict[str, Any]) -> dict[str, Any]:
    """Return every output's parameters, ``{name: value}``, from a daemon's ``status`` reply."""
    table: dict[str, Any] = {}
    for topic, stages in sorted(_outputs(status).items()):
        for i, stage in enumerate(stages):
            prefix = _prefix(topic, i, len(stages))
            for field, value in _stage_fields(stage).items():
                table[f"{prefix}.{field}"] = value
        table[f"{topic}.{STAGES}"] = json.dumps(stages, separators=(", ", ": "))
    return table


def topic_of(name: str, topics: Any) -> str | None:
    """Return the output topic (one of ``topics``) that parameter ``name`` belongs to, or None.

    Examples
    --------
    >>> topic_of("camera/sharpen.kernel", ["camera/sharpen", "laser/smoothed"])
    'camera/sharpen'
    """
    best = None
    for topic in topics:
        if name.startswith(topic + ".") and (best is None or len(topic) > len(best)):
            best = topic
    return best


def changes_to_requests(
    table: dict[str, Any], status: dict[str, Any], changes: dict[str, Any]
) -> list[tuple[str, list[dict[str, Any]]]]:
    """Return the ``(topic, stages)`` control ``set`` requests that make ``changes`` true.

    Parameters
    ----------
    table : dict
        The current parameters (:func:`parameters_from_status` of ``status``).
    status : dict
        The daemon's ``status`` reply the table was made from.
    changes : dict
        ``{name: new value}``: values as a Foxglove client sends them (an int for a whole float).

    Raises
    ------
    ParameterError
        An unknown name, a value of the wrong type, or a combination that makes no filter
        (``size`` of a fixed kernel).  The daemon checks the rest (it answers ``set`` with an error).
    """
    outputs = _outputs(status)
    by_topic: dict[str, dict[str, Any]] = {}
    for name, value in changes.items():
        topic = topic_of(name, outputs)
        if topic is None or name not in table:
            known = ", ".join(sorted(table)[:8]) + (" ..." if len(table) > 8 else "")
            raise ParameterError(f"unknown parameter {name!r}; expected one of: {known or '(none yet)'}")
        by_topic.setdefault(topic, {})[name[len(topic) + 1:]] = value
    requests = []
    for topic, fields in by_topic.items():
        if STAGES in fields:
            stages = _parse_stages(topic, fields.pop(STAGES))
            if fields:
                raise ParameterError(f"{topic}.{STAGES} cannot be set together with {sorted(fields)}")
        else:
            stages = [dict(s) for s in outputs[topic]]
            for field, value in fields.items():
                index, key = _split_field(topic, field, len(stages))
                stages[index] = _set_field(f"{topic}.{field}", stages[index], key, value)
            for index, stage in enumerate(stages):
                if stage.get("kind") == "kernel2d":
                    stages[index] = _sized(_prefix(topic, index, len(stages)), stage, outputs[topic][index])
        requests.append((topic, stages))
    return requests


def _split_field(topic: str, field: str, n: int) -> tuple[int, str]:
    if n == 1:
        return 0, field
    head, _, key = field.partition(".")
    return int(head), key


def _parse_stages(topic: str, value: Any) -> Any:
    if not isinstance(value, str):
        raise ParameterError(f"invalid {topic}.{STAGES} {value!r}; expected JSON text of a stage or a list")
    try:
        return json.loads(value)
    except json.JSONDecodeError as exc:
        raise ParameterError(f"invalid {topic}.{STAGES}: not JSON ({exc})") from None


def _set_field(name: str, stage: dict[str, Any], key: str, value: Any) -> dict[str, Any]:
    out = dict(stage)
    if key == "kernel":
        if not isinstance(value, str) or not value.strip():
            raise ParameterError(f"invalid {name} {value!r}; expected a kernel name or a JSON matrix")
        try:
            out["kernel"] = kernel_from_text(value)
        except json.JSONDecodeError as exc:
            raise ParameterError(f"invalid {name}: not a JSON matrix ({exc})") from None
        out["_kernel_set"] = True
    elif key == "size":
        out["_size"] = _int(name, value, 1)
    elif key == "stride":
        out["stride"] = _int(name, value, 1)
    elif key == "padding":
        text = str(value).strip() if isinstance(value, (str, int)) and not isinstance(value, bool) else None
        if text is None or not (text in ("same", "valid") or text.lstrip("-").isdigit()):
            raise ParameterError(f"invalid {name} {value!r}; expected 'same', 'valid' or an integer")
        out["padding"] = int(text) if text.lstrip("-").isdigit() else text
    elif key == "border":
        if not isinstance(value, str):
            raise ParameterError(f"invalid {name} {value!r}; expected one of {list(BORDERS)}")
        out["border"] = value
    elif key == "weights":
        if not isinstance(value, list) or not value or not all(
            isinstance(w, (int, float)) and not isinstance(w, bool) and math.isfinite(w) for w in value
        ):
            raise ParameterError(f"invalid {name} {value!r}; expected a non-empty array of finite numbers")
        out["weights"] = [float(w) for w in value]
    elif key == "normalize":
        if not isinstance(value, bool):
            raise ParameterError(f"invalid {name} {value!r}; expected true or false")
        out["normalize"] = value
    else:  # pragma: no cover - the table only has the names above
        raise ParameterError(f"unknown parameter {name!r}")
    return out


def _int(name: str, value: Any, low: int) -> int:
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool) or value < low:
        raise ParameterError(f"invalid {name} {value!r}; expected an integer >= {low}")
    return value


def _sized(prefix: str, stage: dict[str, Any], before: dict[str, Any]) -> dict[str, Any]:
    """Resolve a kernel2d stage's ``size`` against its (maybe new) kernel."""
    stage = dict(stage)
    size = stage.pop("_size", None)
    kernel_set = stage.pop("_kernel_set", False)
    kernel = stage.get("kernel")
    params = dict(stage.get("params") or {})
    if isinstance(kernel, list):
        if size is not None and size != len(kernel):
            raise ParameterError(f"invalid {prefix}.size {size}: the kernel is a {len(kernel)}-row matrix "
                                 "(set the matrix itself)")
        stage.pop("params", None)
        return stage
    if kernel in SIZED_KERNELS:
        if size is None and (kernel_set or "size" not in params):
            size = _kernel_size(before) or None  # keep the size shown: sharpen 3 -> box 3
        if size is not None:
            params["size"] = size
        stage["params"] = params
        return stage
    if size is not None and size != _kernel_size({"kernel": kernel}):
        raise ParameterError(f"invalid {prefix}.size {size}: kernel {kernel!r} has a fixed size; "
                             f"size applies to {list(SIZED_KERNELS)}")
    params.pop("size", None)
    if kernel_set:
        params = {}
    if params:
        stage["params"] = params
    else:
        stage.pop("params", None)
    return stage
