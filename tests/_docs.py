"""Code blocks of the Markdown docs, for the tests that check what the docs show."""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Block:
    """One fenced block: its language, its text, the fence's line and the line above it."""

    lang: str
    text: str
    line: int  # 1-based line of the opening fence
    marker: str  # the nearest non-blank line above the fence


def code_blocks(doc: str) -> list[Block]:
    """Return every fenced code block of ``doc`` with its language, text, line and marker line."""
    lines = doc.splitlines()
    out: list[Block] = []
    i = 0
    while i < len(lines):
        m = re.match(r"^```(\w*)\s*$", lines[i])
        if not m:
            i += 1
            continue
        j = i - 1
        while j >= 0 and not lines[j].strip():
            j -= 1
        marker = lines[j].strip() if j >= 0 else ""
        k = i + 1
        while k < len(lines) and not lines[k].startswith("```"):
            k += 1
        assert k < len(lines), f"unclosed code block at line {i + 1}"
        out.append(Block(m.group(1), "\n".join(lines[i + 1 : k]) + "\n", i + 1, marker))
        i = k + 1
    return out
