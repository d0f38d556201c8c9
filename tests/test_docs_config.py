"""docs/configuration.md must stay true of streamconv/config.py, configs/ and the CLI.

Checked:
- every field of every config model (all source and stage kinds) is named in the doc, and each
  model's field table (after ``<!-- fields: ModelName -->``) lists exactly its fields, with the
  right default, every allowed literal value and every numeric bound;
- every YAML block that is a full config (top-level ``streams:`` or ``service:``) validates,
  and blocks whose first line is ``# invalid: ...`` raise ConfigError; when such a block is
  followed by a ``run --check -c PATH`` console block, the command prints exactly what is shown;
- blocks marked ``<!-- file: PATH -->`` are verbatim copies of PATH, and the block marked
  ``<!-- print-config -->`` is what ``streamconv run --print-config`` prints;
- every shipped config, every control ``cmd`` and every ``streamconv ctl`` action is mentioned.
"""

from __future__ import annotations

import re
import typing
from pathlib import Path
from typing import Any

import annotated_types
import pytest
import yaml
from pydantic import BaseModel

from streamconv import cli
from streamconv import config as cfg
from streamconv.errors import ConfigError
from tests._docs import Block, code_blocks

ROOT = Path(__file__).resolve().parents[1]
DOC_PATH = ROOT / "docs" / "configuration.md"
DOC = DOC_PATH.read_text(encoding="utf-8")

#: The models the doc must cover; the scan below must find at least these.
EXPECTED_MODELS = {
    "Config", "ServiceConfig", "StreamConfig", "LaserSourceConfig", "SyntheticSourceConfig",
    "CameraSourceConfig", "CausalFIRStage", "Kernel2DStage", "Bank3DStage", "TemporalStage",
}


def _config_models() -> dict[str, type[BaseModel]]:
    return {
        name: obj
        for name, obj in vars(cfg).items()
        if isinstance(obj, type) and issubclass(obj, BaseModel) and obj.__module__ == cfg.__name__
        and obj.model_fields
    }


MODELS = _config_models()


# ------------------------------------------------------------------------------ doc parsing
BLOCKS = code_blocks(DOC)
YAML_BLOCKS = [b for b in BLOCKS if b.lang == "yaml"]


def _is_invalid(block: Block) -> bool:
    return block.text.lstrip().startswith("# invalid:")


def _table_after(marker: str) -> list[dict[str, str]]:
    """Return the rows (header -> cell) of the markdown table right after ``marker``."""
    lines = DOC.splitlines()
    idx = [i for i, line in enumerate(lines) if line.strip() == marker]
    assert len(idx) == 1, f"expected the marker {marker!r} once in {DOC_PATH.name}, found {len(idx)}"
    i = idx[0] + 1
    while i < len(lines) and not lines[i].strip():
        i += 1
    table = []
    while i < len(lines) and lines[i].startswith("|"):
        table.append(lines[i])
        i += 1
    assert len(table) >= 3, f"no table after {marker!r}"

    def cells(line: str) -> list[str]:
        # split on | that is not escaped as \|
        return [c.strip().replace("\\|", "|") for c in re.split(r"(?<!\\)\|", line.strip())[1:-1]]

    header = cells(table[0])
    return [dict(zip(header, cells(row), strict=True)) for row in table[2:]]


def _plain(text: str) -> str:
    return text.replace("`", "").replace("≥", ">=").replace("≤", "<=").strip()


# ------------------------------------------------------------------------------ field checks
def test_every_model_is_found():
    assert set(MODELS) >= EXPECTED_MODELS, sorted(EXPECTED_MODELS - set(MODELS))


@pytest.mark.parametrize(
    ("model", "field"),
    [(m, f) for m, cls in sorted(MODELS.items()) for f in cls.model_fields],
)
def test_every_field_name_is_in_the_doc(model, field):
    assert f"`{field}`" in DOC, f"{model}.{field} is not documented in {DOC_PATH.name}"


def _literals(annotation: Any) -> list[Any]:
    if typing.get_origin(annotation) is typing.Literal:
        return list(typing.get_args(annotation))
    return [v for arg in typing.get_args(annotation) for v in _literals(arg)]


def _renderings(value: Any) -> set[str] | None:
    """How a default may be written in the doc's Default column (None: not checked)."""
    if value is None:
        return {"null"}
    if isinstance(value, bool):
        return {"true" if value else "false"}
    if isinstance(value, int | float):
        out = {repr(value)}
        if float(value).is_integer():
            out |= {str(int(value)), f"{float(value):.1f}"}
        return out
    if isinstance(value, str | Path):
        return {str(value)}
    if isinstance(value, dict | list) and not value:
        return {"{}" if isinstance(value, dict) else "[]"}
    return None


def _number(v: Any) -> str:
    return str(int(v)) if float(v).is_integer() else repr(float(v))


def _bounds(field_info: Any) -> list[str]:
    """The texts a field's constraints must appear as, e.g. '> 0', '<= 8192', 'max length 64'."""
    out = []
    for meta in field_info.metadata:
        if isinstance(meta, annotated_types.Gt):
            out.append(f"> {_number(meta.gt)}")
        elif isinstance(meta, annotated_types.Ge):
            out.append(f">= {_number(meta.ge)}")
        elif isinstance(meta, annotated_types.Lt):
            out.append(f"< {_number(meta.lt)}")
        elif isinstance(meta, annotated_types.Le):
            out.append(f"<= {_number(meta.le)}")
        elif isinstance(meta, annotated_types.MinLen):
            out.append(f"min length {meta.min_length}")
        elif isinstance(meta, annotated_types.MaxLen):
            out.append(f"max length {meta.max_length}")
    return out


@pytest.mark.parametrize("model", sorted(MODELS))
def test_field_table_matches_the_model(model):
    cls = MODELS[model]
    rows = _table_after(f"<!-- fields: {model} -->")
    by_name = {_plain(r["Field"]): r for r in rows}
    assert len(by_name) == len(rows), f"{model}: a field is listed twice"
    assert set(by_name) == set(cls.model_fields), (
        f"{model}: the doc lists {sorted(by_name)}, the model has {sorted(cls.model_fields)}"
    )
    for name, info in cls.model_fields.items():
        row = by_name[name]
        text = " ".join(row.values())
        default_cell = _plain(row["Default"])
        if name == "kind" or info.is_required():
            # `kind` has a default in the model, but the tagged union needs it in every mapping
            assert default_cell == "required", f"{model}.{name}: Default should be 'required'"
        else:
            default = info.get_default(call_default_factory=True)
            allowed = _renderings(default)
            if allowed is not None:
                assert default_cell in allowed, f"{model}.{name}: Default {default_cell!r} not in {allowed}"
        for value in _literals(info.annotation):
            assert f"`{value}`" in text, f"{model}.{name}: allowed value {value!r} is not in its row"
        plain = _plain(text)
        for bound in _bounds(info):
            assert bound in plain, f"{model}.{name}: bound {bound!r} is not in its row: {plain!r}"


# ------------------------------------------------------------------------------ YAML blocks
def _full_config_blocks() -> list[Block]:
    out = []
    for b in YAML_BLOCKS:
        if _is_invalid(b):
            continue
        data = yaml.safe_load(b.text)
        if isinstance(data, dict) and ({"streams", "service"} & set(data)):
            out.append(b)
    return out


def test_the_doc_has_valid_and_invalid_examples():
    assert len(_full_config_blocks()) >= 4
    assert len([b for b in YAML_BLOCKS if _is_invalid(b)]) >= 3


@pytest.mark.parametrize("block", _full_config_blocks(), ids=lambda b: f"line{b.line}")
def test_full_config_blocks_validate(block):
    cfg.parse(yaml.safe_load(block.text), source=f"{DOC_PATH.name}:{block.line}")


@pytest.mark.parametrize(
    "block", [b for b in YAML_BLOCKS if _is_invalid(b)], ids=lambda b: f"line{b.line}"
)
def test_invalid_blocks_raise_and_print_what_the_doc_shows(block, tmp_path, capsys):
    path = tmp_path / "bad.yaml"
    path.write_text(block.text, encoding="utf-8")
    with pytest.raises(ConfigError):
        cfg.load(path)
    # the console block right after it shows `streamconv run --check -c PATH` and its output
    following = [b for b in BLOCKS if b.line > block.line]
    assert following and following[0].lang == "console", f"line {block.line}: no console output after it"
    console = following[0].text.splitlines()
    m = re.search(r"run --check -c (\S+?);", console[0])
    assert console[0].startswith("$ ") and m, f"line {following[0].line}: expected a `run --check -c` command"
    shown_path = m.group(1)
    expected_out = [line for line in console[1:] if not line.startswith("exit code")]
    expected_code = int(console[-1].removeprefix("exit code "))
    code = cli.main(["run", "--check", "-c", str(path)])
    err = capsys.readouterr().err.replace(str(path), shown_path)
    assert code == expected_code == 2
    assert err.splitlines() == expected_out


@pytest.mark.parametrize(
    "block", [b for b in YAML_BLOCKS if b.marker.startswith("<!-- file:")], ids=lambda b: b.marker
)
def test_file_copies_are_verbatim(block):
    rel = block.marker.removeprefix("<!-- file:").removesuffix("-->").strip()
    assert block.text == (ROOT / rel).read_text(encoding="utf-8"), f"{rel} differs from its copy in the doc"


def test_print_config_block_is_the_real_output(capsys):
    blocks = [b for b in YAML_BLOCKS if b.marker == "<!-- print-config -->"]
    assert len(blocks) == 1
    assert cli.main(["run", "--print-config"]) == 0
    assert blocks[0].text == capsys.readouterr().out


# ------------------------------------------------------------------------------ mentions
def test_every_shipped_config_is_mentioned():
    for path in sorted((ROOT / "configs").glob("*.yaml")):
        assert f"`configs/{path.name}`" in DOC, f"configs/{path.name} is not in {DOC_PATH.name}"


def test_every_control_cmd_and_ctl_action_is_documented():
    from streamconv.roles.publisher import CONTROL_CMDS

    cmds = list(CONTROL_CMDS)
    assert cmds
    for cmd in cmds:
        assert f'{{"cmd": "{cmd}"' in DOC, f"control cmd {cmd!r} is not documented"
    ctl = next(
        a for a in cli.build_parser()._subparsers._group_actions[0].choices["ctl"]._actions
        if a.dest == "action"
    )
    for action in ctl.choices:
        assert f"streamconv ctl {action}" in DOC, f"`streamconv ctl {action}` is not documented"


def test_stage_and_source_kinds_are_documented():
    for kind in (*cfg.STAGE_KINDS, "laser", "synthetic", "camera"):
        assert f"### `kind: {kind}`" in DOC, f"no section for kind {kind!r}"
