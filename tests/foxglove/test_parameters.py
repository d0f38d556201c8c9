"""The parameter table of a ``status`` reply and the ``set`` requests a change becomes (pure, no socket)."""

from __future__ import annotations

import json

import pytest

from streamconv.bridge.parameters import ParameterError, changes_to_requests, parameters_from_status

STATUS = {"streams": {
    "camera": {"outputs": {
        "sharpen": [{"kind": "kernel2d", "kernel": "sharpen", "params": {}, "padding": "same", "stride": 1,
                     "border": "zero", "spec_hash": "x"}],
        "chain": [{"kind": "kernel2d", "kernel": "box", "params": {"size": 3}, "padding": "same"},
                  {"kind": "temporal", "weights": [0.5, 0.5]}],
        "custom": [{"kind": "kernel2d", "kernel": [[0, 1, 0], [1, -4, 1], [0, 1, 0]], "padding": 1}],
    }},
    "laser": {"outputs": {"smoothed": [{"kind": "causal_fir", "weights": [0.2, 0.8], "normalize": False}]}},
}}


def table() -> dict:
    return parameters_from_status(STATUS)


def test_the_table_names_and_values() -> None:
    t = table()
    assert t["camera/sharpen.kernel"] == "sharpen" and t["camera/sharpen.size"] == 3
    assert t["camera/sharpen.padding"] == "same" and t["camera/sharpen.border"] == "zero"
    assert t["camera/chain.0.kernel"] == "box" and t["camera/chain.1.weights"] == [0.5, 0.5]
    assert json.loads(t["camera/custom.kernel"]) == [[0, 1, 0], [1, -4, 1], [0, 1, 0]]
    assert t["camera/custom.padding"] == "1"
    assert t["laser/smoothed.weights"] == [0.2, 0.8] and t["laser/smoothed.normalize"] is False
    stages = json.loads(t["camera/sharpen.stages"])
    assert "spec_hash" not in stages[0] and stages[0]["kernel"] == "sharpen"


def req(changes: dict) -> list:
    return changes_to_requests(table(), STATUS, changes)


def test_a_kernel_and_size_become_one_set() -> None:
    [(topic, stages)] = req({"camera/sharpen.kernel": "box", "camera/sharpen.size": 5})
    assert topic == "camera/sharpen"
    assert stages == [{"kind": "kernel2d", "kernel": "box", "params": {"size": 5}, "padding": "same",
                       "stride": 1, "border": "zero"}]


def test_a_sized_kernel_keeps_the_size_shown() -> None:
    [(_, stages)] = req({"camera/sharpen.kernel": "gaussian"})
    assert stages[0]["params"] == {"size": 3}
    [(_, stages)] = req({"camera/chain.0.kernel": "emboss"})  # fixed: no params
    assert "params" not in stages[0] and stages[1] == {"kind": "temporal", "weights": [0.5, 0.5]}


def test_weights_matrix_padding_and_stages() -> None:
    [(_, stages)] = req({"laser/smoothed.weights": [1, 2, 3]})
    assert stages[0]["weights"] == [1.0, 2.0, 3.0]
    [(_, stages)] = req({"camera/custom.kernel": "[[1, 2, 1]]", "camera/custom.padding": "valid"})
    assert stages[0]["kernel"] == [[1, 2, 1]] and stages[0]["padding"] == "valid"
    [(_, stages)] = req({"camera/sharpen.padding": "2", "camera/sharpen.stride": 2.0})
    assert stages[0]["padding"] == 2 and stages[0]["stride"] == 2
    [(_, stages)] = req({"camera/sharpen.stages": '{"kind": "kernel2d", "kernel": "blur"}'})
    assert stages == {"kind": "kernel2d", "kernel": "blur"}


@pytest.mark.parametrize(("changes", "message"), [
    ({"camera/nope.kernel": "box"}, "unknown parameter 'camera/nope.kernel'"),
    ({"camera/sharpen.size": 5}, "kernel 'sharpen' has a fixed size"),
    ({"camera/custom.size": 5}, "3-row matrix"),
    ({"camera/sharpen.size": 0}, "expected an integer >= 1"),
    ({"camera/sharpen.size": True}, "expected an integer >= 1"),
    ({"camera/sharpen.stride": "2"}, "expected an integer >= 1"),
    ({"camera/sharpen.kernel": ""}, "expected a kernel name or a JSON matrix"),
    ({"camera/sharpen.kernel": "[[1, 2"}, "not a JSON matrix"),
    ({"camera/sharpen.padding": "wide"}, "expected 'same', 'valid' or an integer"),
    ({"camera/sharpen.border": 3}, "expected one of ['reflect', 'replicate', 'zero']"),
    ({"laser/smoothed.weights": []}, "non-empty array of finite numbers"),
    ({"laser/smoothed.weights": "0.5 0.5"}, "non-empty array of finite numbers"),
    ({"laser/smoothed.weights": [float("nan")]}, "non-empty array of finite numbers"),
    ({"laser/smoothed.normalize": 1}, "expected true or false"),
    ({"camera/sharpen.stages": "{"}, "not JSON"),
    ({"camera/sharpen.stages": "[]", "camera/sharpen.kernel": "box"}, "cannot be set together"),
])
def test_bad_values_are_errors_naming_them(changes: dict, message: str) -> None:
    with pytest.raises(ParameterError, match=None) as info:
        req(changes)
    assert message in str(info.value)
    assert isinstance(info.value, ValueError)
