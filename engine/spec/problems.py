"""One finding about a spec file, and how it prints: ``file:line:col: path: message``."""

from __future__ import annotations

import re
from dataclasses import dataclass

from engine.spec.yamlsource import Anchor, KeyPath, SourceMap

_PLAIN_KEY = re.compile(r"^[^.\[\]\s]+$")


@dataclass(frozen=True, slots=True)
class Problem:
    """What is wrong at ``path``; ``anchor`` says whether to point at its key or its value."""

    path: KeyPath
    message: str
    anchor: Anchor = "value"


def dotted(path: KeyPath) -> str:
    """``("streams", "issues", "request")`` -> ``streams.issues.request``; items as ``[i]``."""
    text = ""
    for key in path:
        if isinstance(key, int):
            text += f"[{key}]"
        elif _PLAIN_KEY.match(key):
            text += f".{key}" if text else key
        else:
            text += f"[{key!r}]"
    return text or "(top level)"


def render(problems: list[Problem], source: SourceMap) -> list[str]:
    """Print each problem at its place, in file order, each once."""
    placed = []
    for problem in problems:
        mark = source.locate(problem.path, problem.anchor)
        line = f"{source.filename}:{mark.line}:{mark.column}: {dotted(problem.path)}: "
        placed.append(((mark.line, mark.column), line + problem.message))
    placed.sort(key=lambda item: item[0])
    return list(dict.fromkeys(text for _, text in placed))


__all__ = ["Problem", "dotted", "render"]
