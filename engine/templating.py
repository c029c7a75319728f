"""Jinja2 templates for provider and mapping YAML.

- An immutable sandbox (no attribute writes, no unsafe calls) with ``StrictUndefined``:
  a name that is not in the data is an error, never a silent empty string.
- A template that is one expression (``"{{ cursor }}"``) yields the value with its type;
  anything else renders to a string. Strings without ``{{``/``{%`` are constants and never
  touch Jinja2.
- Each template is compiled once per ``Templates`` (one per loaded spec) and cached by its
  source; ``compile(..., place=...)`` checks the names it uses against the names that place
  offers (``engine.spec.models.PLACES``), so a typo fails at load, not at run.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import orjson
from jinja2 import StrictUndefined, Undefined, meta
from jinja2 import TemplateError as JinjaTemplateError
from jinja2.sandbox import ImmutableSandboxedEnvironment

from engine.errors import TemplateError
from engine.templating_fast import Slow, fast_renderer

_SINGLE_EXPRESSION = re.compile(r"^\s*\{\{(?P<expr>(?:(?!\}\}|\{\{|\{%).)*)\}\}\s*$", re.S)


class TemplateProblem(ValueError):
    """A template that cannot be compiled or uses names its place does not offer."""


def _to_datetime(value: Any) -> datetime | None:
    if type(value) is str:
        try:  # the usual ISO 8601 text ("2025-03-01T10:00:00Z"), parsed as it is
            parsed = datetime.fromisoformat(value)
        except ValueError:
            pass
        else:
            return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, int | float):
        seconds = value / 1000 if value > 10_000_000_000 else value
        return datetime.fromtimestamp(seconds, tz=UTC)
    text = str(value).strip()
    if re.fullmatch(r"[+-]\d{4}$", text[-5:]) and text[-5] in "+-" and ":" not in text[-5:]:
        text = text[:-2] + ":" + text[-2:]  # "+0000" -> "+00:00" (Jira's offsets)
    parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _iso(value: Any) -> str | None:
    moment = _to_datetime(value)
    if moment is None:
        return None
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _strftime(value: Any, pattern: str, tz: str | None = None) -> str | None:
    """``value`` as text in UTC, or in the IANA time zone ``tz`` (JQL reads a date literal
    in the time zone of the account that runs the query)."""
    moment = _to_datetime(value)
    if moment is None:
        return None
    return moment.astimezone(ZoneInfo(tz) if tz else UTC).strftime(pattern)


def _b64encode(value: Any) -> str:
    data = value if isinstance(value, bytes) else str(value).encode()
    return base64.b64encode(data).decode()


def _b64decode(value: Any) -> bytes:
    return base64.b64decode(value)


def _sha256(value: Any) -> str:
    data = value if isinstance(value, bytes) else str(value).encode()
    return hashlib.sha256(data).hexdigest()


def _json(value: Any) -> str:
    return orjson.dumps(value, default=str).decode()


def _compact(value: Any) -> Any:
    """Drop None values from a mapping (or None items from a list)."""
    if isinstance(value, Mapping):
        return {k: v for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [v for v in value if v is not None]
    return value


DEFAULT_FILTERS: dict[str, Callable[..., Any]] = {
    "to_datetime": _to_datetime,
    "iso8601": _iso,
    "strftime": _strftime,
    "b64encode": _b64encode,
    "b64decode": _b64decode,
    "sha256": _sha256,
    "json": _json,
    "compact": _compact,
}


class CompiledTemplate:
    """One compiled template; ``render(context)`` returns a typed value or a string.

    ``fast``, when the template is simple enough (engine.templating_fast), renders it with
    plain Python lookups; whatever it cannot decide (a missing key, an unusual type) is
    rendered by Jinja2, so results and errors are Jinja2's either way.
    """

    __slots__ = ("_render", "fast", "names", "source")

    def __init__(
        self,
        source: str,
        render: Callable[[Mapping[str, Any]], Any],
        names: frozenset[str],
        fast: Callable[[Mapping[str, Any]], Any] | None = None,
    ):
        self.source = source
        self._render = render
        self.names = names
        self.fast = fast

    def render(self, context: Mapping[str, Any], where: str = "") -> Any:
        if self.fast is not None:
            try:
                return self.fast(context)
            except Exception:
                pass  # not decided here: Jinja2 renders it below
        try:
            return self._render(context)
        except JinjaTemplateError as exc:
            raise TemplateError(_one_line(f"{where or self.source}: {exc}"), where=where) from None
        except (TypeError, ValueError, KeyError, AttributeError, ArithmeticError) as exc:
            raise TemplateError(_one_line(f"{where or self.source}: {exc}"), where=where) from None

    def __repr__(self) -> str:
        return f"CompiledTemplate({self.source!r})"


def _constant(value: str) -> Callable[[Mapping[str, Any]], Any]:
    def render(_context: Mapping[str, Any]) -> Any:
        return value

    return render


def _defined(value: Any) -> Any:
    """A single expression that evaluates to an undefined name fails like a rendered one."""
    if isinstance(value, Undefined):
        value._fail_with_undefined_error()
    return value


def _typed(fast: Callable[[Mapping[str, Any]], Any]) -> Callable[[Mapping[str, Any]], Any]:
    """A single expression's fast renderer; an Undefined value is left to Jinja2."""

    def render(context: Mapping[str, Any]) -> Any:
        value = fast(context)
        if isinstance(value, Undefined):
            raise Slow
        return value

    return render


def _one_line(text: str) -> str:
    return " ".join(text.split())[:500]


class Templates:
    """A compile-once cache of templates sharing one sandboxed environment."""

    def __init__(self, filters: Mapping[str, Callable[..., Any]] | None = None) -> None:
        self.env = ImmutableSandboxedEnvironment(
            undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True
        )
        self.env.filters.update(DEFAULT_FILTERS)
        self.env.filters.update(filters or {})
        self._cache: dict[str, CompiledTemplate] = {}

    def compile(self, source: str, allowed: Iterable[str] | None = None) -> CompiledTemplate:
        """Compile (or fetch) ``source``; with ``allowed``, reject names outside it."""
        compiled = self._cache.get(source)
        if compiled is None:
            compiled = self._build(source)
            self._cache[source] = compiled
        if allowed is not None:
            unknown = sorted(compiled.names - set(allowed))
            if unknown:
                offered = ", ".join(sorted(allowed))
                raise TemplateProblem(
                    f"unknown name {', '.join(map(repr, unknown))} in template {source!r}; "
                    f"names available here: {offered}"
                )
        return compiled

    def _build(self, source: str) -> CompiledTemplate:
        if "{{" not in source and "{%" not in source and "{#" not in source:
            return CompiledTemplate(source, _constant(source), frozenset())
        try:
            names = frozenset(meta.find_undeclared_variables(self.env.parse(source)))
            match = _SINGLE_EXPRESSION.match(source)
            fast = fast_renderer(self.env, source, single=match is not None)
            if match:
                expression = self.env.compile_expression(match["expr"], undefined_to_none=False)
                if fast is not None:
                    fast = _typed(fast)
                return CompiledTemplate(
                    source, lambda ctx: _defined(expression(**ctx)), names, fast
                )
            template = self.env.from_string(source)
        except JinjaTemplateError as exc:
            raise TemplateProblem(f"invalid template {source!r}: {exc}") from None
        return CompiledTemplate(source, lambda ctx: template.render(**ctx), names, fast)

    def render(self, source: Any, context: Mapping[str, Any], where: str = "") -> Any:
        """Render a template string; non-strings are returned as they are."""
        if not isinstance(source, str):
            return source
        return self.compile(source).render(context, where)

    def render_tree(self, value: Any, context: Mapping[str, Any], where: str = "") -> Any:
        """Render every string leaf of a nested dict/list structure."""
        if isinstance(value, str):
            return self.compile(value).render(context, where)
        if isinstance(value, dict):
            return {
                self.render(k, context, where): self.render_tree(v, context, f"{where}.{k}")
                for k, v in value.items()
            }
        if isinstance(value, list):
            return [self.render_tree(v, context, f"{where}[{i}]") for i, v in enumerate(value)]
        return value

    def check_tree(self, value: Any, allowed: Iterable[str]) -> list[tuple[str, str]]:
        """Compile every string leaf of ``value``; return (relative path, problem) pairs."""
        allowed = frozenset(allowed)
        problems: list[tuple[str, str]] = []
        for path, leaf in _leaves(value, ""):
            try:
                self.compile(leaf, allowed)
            except TemplateProblem as exc:
                problems.append((path, str(exc)))
        return problems


def _leaves(value: Any, path: str) -> Iterable[tuple[str, str]]:
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, dict):
        for key, item in value.items():
            if isinstance(key, str) and ("{{" in key or "{%" in key):
                yield f"{path}.{key}" if path else key, key
            yield from _leaves(item, f"{path}.{key}" if path else str(key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _leaves(item, f"{path}[{index}]")


def is_template(value: Any) -> bool:
    return isinstance(value, str) and ("{{" in value or "{%" in value)


__all__ = [
    "DEFAULT_FILTERS",
    "CompiledTemplate",
    "TemplateProblem",
    "Templates",
    "is_template",
]
