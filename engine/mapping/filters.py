"""Template filters for mapping files: rich-text documents <-> Kiro's plain text.

Atlassian Document Format (Jira Cloud v3 descriptions and comments) is a JSON tree of block
nodes (paragraphs, headings, lists...) holding inline nodes (text, hardBreak, mention...).

- ``adf_to_text``: blocks joined by a blank line, hard breaks as newlines, mentions and
  emoji by their text; None stays None.
- ``text_to_adf``: paragraphs split on blank lines, single newlines as hard breaks; None and
  "" give None.

Plain text with paragraphs survives the round trip text -> ADF -> text unchanged.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

_PARAGRAPHS = re.compile(r"\n\s*\n")


def adf_to_text(document: Any) -> str | None:
    if document is None:
        return None
    if isinstance(document, str):
        return document
    if not isinstance(document, dict):
        return str(document)
    blocks = [_block_text(node) for node in document.get("content") or []]
    return "\n\n".join(b for b in blocks if b is not None)


def _block_text(node: Any) -> str | None:
    if not isinstance(node, dict):
        return None
    kind = node.get("type")
    children = node.get("content") or []
    if kind in ("bulletList", "orderedList"):
        return "\n".join(f"- {_block_text(item) or ''}" for item in children)
    if kind in ("listItem", "blockquote", "panel", "expand"):
        parts = [_block_text(child) for child in children]
        return "\n".join(p for p in parts if p)
    if kind == "codeBlock" or (children and all(_is_inline(c) for c in children)):
        return "".join(_inline_text(c) for c in children)
    if kind == "rule":
        return "---"
    parts = [_block_text(child) for child in children]
    return "\n\n".join(p for p in parts if p is not None)


def _is_inline(node: Any) -> bool:
    return isinstance(node, dict) and node.get("type") in (
        "text",
        "hardBreak",
        "mention",
        "emoji",
        "inlineCard",
        "date",
        "status",
    )


def _inline_text(node: Any) -> str:
    kind = node.get("type")
    attrs = node.get("attrs") or {}
    if kind == "text":
        return str(node.get("text", ""))
    if kind == "hardBreak":
        return "\n"
    if kind == "inlineCard":
        return str(attrs.get("url", ""))
    return str(attrs.get("text") or attrs.get("shortName") or "")


def text_to_adf(text: Any) -> dict[str, Any] | None:
    if text is None or text == "":
        return None
    paragraphs = _PARAGRAPHS.split(str(text))
    return {"type": "doc", "version": 1, "content": [_paragraph(p) for p in paragraphs]}


def _paragraph(text: str) -> dict[str, Any]:
    content: list[dict[str, Any]] = []
    for index, line in enumerate(text.split("\n")):
        if index:
            content.append({"type": "hardBreak"})
        if line:
            content.append({"type": "text", "text": line})
    return {"type": "paragraph", "content": content}


MAPPING_FILTERS: dict[str, Callable[..., Any]] = {
    "adf_to_text": adf_to_text,
    "text_to_adf": text_to_adf,
}

__all__ = ["MAPPING_FILTERS", "adf_to_text", "text_to_adf"]
