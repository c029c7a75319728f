"""Plain-Python renderers for the simple templates that fill provider and mapping YAML.

Most templates on the hot path of a sync are a few lookups: ``{{ record.fields.summary }}``,
``{{ 'pull_request' not in record }}``,
``{{ record.repository_url.split('/repos/')[-1] }}#{{ record.number }}``. Jinja2 renders each
through a new sandboxed context (10-25 µs); ``fast_renderer`` turns the parsed template into
nested Python closures that do the same lookups directly (about 1 µs).

It covers a small subset: names, ``a.b`` on dicts, ``a[0]``/``a['k']`` on dicts, lists and
strings, calls of side-effect-free ``str`` methods and ``dict.get``, comparisons, ``not``,
``and``/``or``, ``x if c else y``, ``is none``, and literal text around expressions. Anything
else is left to Jinja2 (``fast_renderer`` answers None). A fast renderer never decides an
unusual case: it raises ``Slow`` (or lets any exception through) for a missing name or key, a
value of another type, a failing call, and the caller renders that record with Jinja2, so
values, errors and sandbox rules stay exactly Jinja2's.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping
from typing import Any

from jinja2 import nodes
from jinja2.environment import Environment
from jinja2.exceptions import TemplateError as JinjaTemplateError

Getter = Callable[[Mapping[str, Any]], Any]


class Slow(Exception):
    """This value needs Jinja2's own rules (an unusual type, a missing key)."""


class _Unsupported(Exception):
    """The template uses something outside the subset."""


_DICT_ATTRIBUTES = frozenset(dir(dict))
# str methods that only read (the sandbox lets templates call them; format/format_map are
# intercepted by the sandbox, so they are not here)
_STR_METHODS = frozenset(
    {
        "capitalize",
        "casefold",
        "endswith",
        "find",
        "isdigit",
        "lower",
        "lstrip",
        "replace",
        "rfind",
        "rsplit",
        "rstrip",
        "split",
        "startswith",
        "strip",
        "title",
        "upper",
    }
)
_COMPARE: dict[str, Callable[[Any, Any], Any]] = {
    "eq": operator.eq,
    "ne": operator.ne,
    "lt": operator.lt,
    "lteq": operator.le,
    "gt": operator.gt,
    "gteq": operator.ge,
    "in": lambda a, b: a in b,
    "notin": lambda a, b: a not in b,
}


def fast_renderer(env: Environment, source: str, single: bool) -> Getter | None:
    """A Python renderer for ``source``, or None when it uses more than the subset.

    ``single``: the template is one expression and renders to the value itself; otherwise
    literal text and ``str()`` of each expression are joined, as Jinja2 renders them.
    """
    try:
        body = env.parse(source).body
        if len(body) != 1 or not isinstance(body[0], nodes.Output):
            return None
        parts = body[0].nodes
        if single:
            expressions = [p for p in parts if not isinstance(p, nodes.TemplateData)]
            return _expr(expressions[0]) if len(expressions) == 1 else None
        return _joined([_part(p) for p in parts])
    except (_Unsupported, JinjaTemplateError):
        return None


def _part(node: nodes.Node) -> Getter | str:
    if isinstance(node, nodes.TemplateData):
        return node.data
    return _expr(node)


def _joined(parts: list[Getter | str]) -> Getter:
    if len(parts) == 1 and not isinstance(parts[0], str):
        only = parts[0]
        return lambda ctx: str(only(ctx))
    first, between, last = parts if len(parts) == 3 else (None, None, None)
    if callable(first) and isinstance(between, str) and callable(last):  # "{{ a }}#{{ b }}"
        return lambda ctx: f"{first(ctx)!s}{between}{last(ctx)!s}"
    steps = [(p, None) if isinstance(p, str) else ("", p) for p in parts]

    def render(ctx: Mapping[str, Any]) -> str:
        return "".join([text if get is None else str(get(ctx)) for text, get in steps])

    return render


def _expr(node: nodes.Node) -> Getter:
    constant = _constant(node)
    if constant is not _NOT_CONSTANT:
        return lambda _ctx: constant
    builder = _BUILDERS.get(type(node))
    if builder is None:
        raise _Unsupported(type(node).__name__)
    return builder(node)


_NOT_CONSTANT = object()


def _constant(node: nodes.Node) -> Any:
    if not isinstance(node, nodes.Const | nodes.Neg | nodes.Pos | nodes.Tuple | nodes.List):
        return _NOT_CONSTANT
    try:
        value = node.as_const()
    except nodes.Impossible:
        return _NOT_CONSTANT
    plain = isinstance(value, str | int | float | bool | tuple | type(None))
    return value if plain else _NOT_CONSTANT


def _name(node: nodes.Name) -> Getter:
    if node.ctx != "load":
        raise _Unsupported("assignment")
    name = node.name

    def get(ctx: Mapping[str, Any]) -> Any:
        return ctx[name]  # missing: KeyError, Jinja2 decides

    return get


def _attribute_chain(node: nodes.Node) -> tuple[str, tuple[str, ...]] | None:
    """``a.b.c`` (dict keys only) as ("a", ("b", "c"))."""
    keys: list[str] = []
    while isinstance(node, nodes.Getattr):
        if node.attr in _DICT_ATTRIBUTES:
            return None
        keys.append(node.attr)
        node = node.node
    if not isinstance(node, nodes.Name) or node.ctx != "load":
        return None
    return node.name, tuple(reversed(keys))


def _getattr(node: nodes.Getattr) -> Getter:
    chain = _attribute_chain(node)
    if chain is None:
        raise _Unsupported(f".{node.attr}")
    root, keys = chain
    if len(keys) == 1:
        key = keys[0]

        def one(ctx: Mapping[str, Any]) -> Any:
            value = ctx[root]
            if type(value) is not dict:
                raise Slow
            return value[key]

        return one

    def walk(ctx: Mapping[str, Any]) -> Any:
        value = ctx[root]
        for key in keys:
            if type(value) is not dict:
                raise Slow
            value = value[key]
        return value

    return walk


def _getitem(node: nodes.Getitem) -> Getter:
    index = _constant(node.arg)
    if index is _NOT_CONSTANT or not isinstance(index, str | int) or isinstance(index, bool):
        raise _Unsupported("computed subscript")
    inner = _expr(node.node)

    def get(ctx: Mapping[str, Any]) -> Any:
        value = inner(ctx)
        if type(value) not in (dict, list, str):
            raise Slow
        return value[index]

    return get


def _call(node: nodes.Call) -> Getter:
    target = node.node
    if node.kwargs or node.dyn_args or node.dyn_kwargs or not isinstance(target, nodes.Getattr):
        raise _Unsupported("call")
    method = target.attr
    if method not in _STR_METHODS and method != "get":
        raise _Unsupported(f"call of {method}")
    receiver = _expr(target.node)
    args = [_expr(a) for a in node.args]

    def call(ctx: Mapping[str, Any]) -> Any:
        value = receiver(ctx)
        kind = type(value)
        if not ((kind is str and method in _STR_METHODS) or (kind is dict and method == "get")):
            raise Slow
        return getattr(value, method)(*(a(ctx) for a in args))

    return call


def _compare(node: nodes.Compare) -> Getter:
    if len(node.ops) != 1 or node.ops[0].op not in _COMPARE:
        raise _Unsupported("comparison")
    op, first, second = _COMPARE[node.ops[0].op], _expr(node.expr), _expr(node.ops[0].expr)
    return lambda ctx: op(first(ctx), second(ctx))


def _not(node: nodes.Not) -> Getter:
    inner = _expr(node.node)
    return lambda ctx: not inner(ctx)


def _and(node: nodes.And) -> Getter:
    left, right = _expr(node.left), _expr(node.right)
    return lambda ctx: left(ctx) and right(ctx)


def _or(node: nodes.Or) -> Getter:
    left, right = _expr(node.left), _expr(node.right)
    return lambda ctx: left(ctx) or right(ctx)


def _cond(node: nodes.CondExpr) -> Getter:
    if node.expr2 is None:
        raise _Unsupported("if without else")
    test, yes, no = _expr(node.test), _expr(node.expr1), _expr(node.expr2)
    return lambda ctx: yes(ctx) if test(ctx) else no(ctx)


def _test(node: nodes.Test) -> Getter:
    if node.name != "none" or node.args or node.kwargs or node.dyn_args or node.dyn_kwargs:
        raise _Unsupported(f"test {node.name}")
    inner = _expr(node.node)
    return lambda ctx: inner(ctx) is None


_BUILDERS: dict[type[nodes.Node], Callable[[Any], Getter]] = {
    nodes.Name: _name,
    nodes.Getattr: _getattr,
    nodes.Getitem: _getitem,
    nodes.Call: _call,
    nodes.Compare: _compare,
    nodes.Not: _not,
    nodes.And: _and,
    nodes.Or: _or,
    nodes.CondExpr: _cond,
    nodes.Test: _test,
}

__all__ = ["Slow", "fast_renderer"]
