"""Compiling and rendering the templates of a webhook declaration.

Templates are compiled through the provider's ``Templates`` against the names of their place
(``webhook`` for anything read off the request, ``webhook.event`` for routing), so a typo fails
when the YAML loads. At run time there are two ways to render:

- ``render_strict``: a failure is the caller's error to raise (a signature message that cannot
  be built means the request cannot be verified);
- ``render_soft``: a value the delivery does not carry is ``None`` (an optional header, the
  delivery id of a provider that sends none); a condition that cannot be evaluated is false.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from engine.errors import TemplateError
from engine.spec.models import PLACES
from engine.templating import CompiledTemplate, TemplateProblem, Templates


class PlaceProblem(ValueError):
    """A template of a webhook declaration is invalid; ``path`` is relative to its block."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}")
        self.path = path
        self.message = message


def compile_at(templates: Templates, source: str, place: str, path: str) -> CompiledTemplate:
    """Compile ``source`` for ``place``; a problem names ``path``."""
    try:
        return templates.compile(source, PLACES[place])
    except TemplateProblem as exc:
        raise PlaceProblem(path, str(exc)) from None


def compile_optional(
    templates: Templates, source: str | None, place: str, path: str
) -> CompiledTemplate | None:
    return None if source is None else compile_at(templates, source, place, path)


def render_soft(template: CompiledTemplate | None, context: Mapping[str, Any]) -> Any:
    """The value, or None when the template is absent or the data lacks what it reads."""
    if template is None:
        return None
    try:
        return template.render(context)
    except TemplateError:
        return None


def holds(template: CompiledTemplate, context: Mapping[str, Any]) -> bool:
    """A condition: true when it renders truthy; a missing key makes it false, not an error."""
    value = render_soft(template, context)
    if isinstance(value, str):
        return value.strip().lower() not in ("", "false", "0", "none", "no")
    return bool(value)


def as_text(value: Any) -> str | None:
    """A rendered id or type as text; None and "" mean absent."""
    if value is None:
        return None
    text = str(value)
    return text or None
