"""A small JQL: the subset a sync engine sends, parsed and evaluated honestly.

    clause   := or ( "OR" or )*          and := not ( "AND" not )*
    not      := "NOT" not | "(" clause ")" | field op value
    op       := = != > >= < <= ~ !~ IN "NOT IN" IS "IS NOT"
    value    := word | "string" | 'string' | function() | "(" value, ... ")" | EMPTY | NULL
    query    := [clause] [ "ORDER BY" field [ASC|DESC] ("," field [ASC|DESC])* ]

Fields: project, key/issuekey, id, summary, description, text, status, statusCategory,
labels, assignee, reporter, priority, issuetype/type, parent, created, updated, duedate/due.
Dates take Jira's formats (``yyyy-MM-dd HH:mm``, ``yyyy/MM/dd HH:mm``, ``yyyy-MM-dd``,
``yyyy/MM/dd``) at minute resolution, or relative periods (``-15m``, ``-1d``, ``4w 2d``).
Errors carry Jira's own wording; the simulator answers them as 400.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

KEYWORDS = {"and", "or", "not", "in", "is", "empty", "null", "order", "by", "asc", "desc"}
DATE_FIELDS = {"created", "updated", "duedate"}
ALIASES = {
    "issuekey": "key",
    "type": "issuetype",
    "due": "duedate",
    "createddate": "created",
    "updateddate": "updated",
    "statuscategory": "statuscategory",
}
FIELDS = {
    "project",
    "key",
    "id",
    "summary",
    "description",
    "text",
    "status",
    "statuscategory",
    "labels",
    "assignee",
    "reporter",
    "priority",
    "issuetype",
    "parent",
    *DATE_FIELDS,
}
ORDERABLE = {"updated", "created", "key", "id", "priority", "status", "summary", "duedate"}
DATE_FORMATS = ("%Y-%m-%d %H:%M", "%Y/%m/%d %H:%M", "%Y-%m-%d", "%Y/%m/%d")
OPERATORS = ("=", "!=", ">", ">=", "<", "<=", "~", "!~", "in", "not in", "is", "is not")
TOKEN = re.compile(
    r"""\s*(?:
      (?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')
    | (?P<op>!=|>=|<=|!~|=|>|<|~)
    | (?P<punct>[(),])
    | (?P<word>[^\s"'(),=!<>~]+)
    )""",
    re.VERBOSE,
)


class JqlError(ValueError):
    """The query is invalid; ``str()`` is Jira's error message."""


class JqlContext(Protocol):
    """What evaluation needs from the simulator."""

    now: datetime

    def values(self, issue: Any, field_name: str) -> list[Any]: ...

    def known(self, field_name: str) -> set[str] | None: ...

    def function(self, name: str) -> list[str]: ...


@dataclass
class Term:
    field: str
    op: str
    values: list[Any]  # str, datetime, or None for EMPTY


@dataclass
class Node:
    kind: str  # and | or | not
    children: list[Node | Term]


@dataclass
class Query:
    where: Node | Term | None
    order: list[tuple[str, bool]] = field(default_factory=list)  # (field, descending)

    def matches(self, ctx: JqlContext, issue: Any) -> bool:
        return self.where is None or _evaluate(self.where, ctx, issue)


@dataclass
class _Tok:
    kind: str
    text: str
    pos: int


def tokenize(jql: str) -> list[_Tok]:
    tokens, pos = [], 0
    while pos < len(jql):
        if jql[pos:].strip() == "":
            break
        m = TOKEN.match(jql, pos)
        if m is None or m.end() == pos:
            raise JqlError(
                f"Error in the JQL Query: The character '{jql[pos]}' is a reserved "
                f"JQL character. (line 1, character {pos + 1})"
            )
        kind = m.lastgroup or "word"
        text = m.group(kind)
        if kind == "string":
            text = re.sub(r"\\(.)", r"\1", text[1:-1])
        tokens.append(_Tok(kind, text, m.start(kind) + 1))
        pos = m.end()
    return tokens


class _Parser:
    def __init__(self, jql: str, ctx: JqlContext):
        self.tokens = tokenize(jql)
        self.i = 0
        self.ctx = ctx

    def peek(self, offset: int = 0) -> _Tok | None:
        j = self.i + offset
        return self.tokens[j] if j < len(self.tokens) else None

    def is_word(self, word: str, offset: int = 0) -> bool:
        tok = self.peek(offset)
        return tok is not None and tok.kind == "word" and tok.text.lower() == word

    def take(self) -> _Tok:
        tok = self.peek()
        if tok is None:
            raise JqlError(
                "Error in the JQL Query: Expecting either a value, list or function "
                "but got the end of the query."
            )
        self.i += 1
        return tok

    def fail(self, expected: str) -> JqlError:
        tok = self.peek()
        got = f"'{tok.text}'" if tok else "the end of the query"
        where = f" (line 1, character {tok.pos})" if tok else ""
        return JqlError(f"Error in the JQL Query: Expecting {expected} but got {got}.{where}")

    def parse(self) -> Query:
        where = None
        if not self.is_word("order"):
            where = self.clause()
        order = self.order_by() if self.is_word("order") else []
        if self.peek() is not None:
            raise self.fail("either 'OR' or 'AND'")
        return Query(where, order)

    def clause(self) -> Node | Term:
        parts = [self.conjunction()]
        while self.is_word("or"):
            self.take()
            parts.append(self.conjunction())
        return parts[0] if len(parts) == 1 else Node("or", parts)

    def conjunction(self) -> Node | Term:
        parts = [self.negation()]
        while self.is_word("and"):
            self.take()
            parts.append(self.negation())
        return parts[0] if len(parts) == 1 else Node("and", parts)

    def negation(self) -> Node | Term:
        if self.is_word("not"):
            self.take()
            return Node("not", [self.negation()])
        tok = self.peek()
        if tok is not None and tok.kind == "punct" and tok.text == "(":
            self.take()
            inner = self.clause()
            if self.take().text != ")":
                raise self.fail("')'")
            return inner
        return self.term()

    def term(self) -> Term:
        tok = self.take()
        if tok.kind not in ("word", "string") or tok.text.lower() in KEYWORDS:
            self.i -= 1
            raise self.fail("a field name")
        name = ALIASES.get(tok.text.lower(), tok.text.lower())
        if name not in FIELDS:
            raise JqlError(
                f"Field '{tok.text}' does not exist or you do not have permission to view it."
            )
        op = self.operator()
        values = self.operand(name, op)
        return Term(name, op, values)

    def operator(self) -> str:
        tok = self.peek()
        if tok is not None and tok.kind == "op":
            return self.take().text
        for words in (("not", "in"), ("is", "not"), ("in",), ("is",)):
            if all(self.is_word(w, k) for k, w in enumerate(words)):
                self.i += len(words)
                return " ".join(words)
        valid = "'=', '!=', '<', '>', '<=', '>=', '~', '!~', 'IN', 'NOT IN', 'IS' and 'IS NOT'"
        raise self.fail(f"operator. The valid operators are {valid}")

    def operand(self, name: str, op: str) -> list[Any]:
        if op in ("is", "is not"):
            if not (self.is_word("empty") or self.is_word("null")):
                raise self.fail("'EMPTY' or 'NULL'")
            self.take()
            return [None]
        tok = self.peek()
        if op in ("in", "not in"):
            if tok is None or tok.text != "(" or tok.kind != "punct":
                raise self.fail("'('")
            self.take()
            values = self.value(name)
            while self.peek() is not None and self.peek().text == ",":  # type: ignore[union-attr]
                self.take()
                values += self.value(name)
            if self.take().text != ")":
                raise self.fail("')'")
            return values
        return self.value(name)

    def value(self, name: str) -> list[Any]:
        tok = self.take()
        if tok.kind == "punct":
            self.i -= 1
            raise self.fail("either a value, list or function")
        if tok.kind == "word" and tok.text.lower() in ("empty", "null"):
            return [None]
        text = tok.text
        if self.peek() is not None and self.peek().text == "(" and tok.kind == "word":  # type: ignore[union-attr]
            self.take()
            if self.take().text != ")":
                raise self.fail("')'")
            return list(self.ctx.function(text))
        if name in DATE_FIELDS:
            return [parse_jql_date(text, name, self.ctx.now)]
        known = self.ctx.known(name)
        if known is not None and text.lower() not in known:
            raise JqlError(f"The value '{text}' does not exist for the field '{name}'.")
        return [text]

    def order_by(self) -> list[tuple[str, bool]]:
        self.take()
        if not self.is_word("by"):
            raise self.fail("'by'")
        self.take()
        order = []
        while True:
            tok = self.take()
            name = ALIASES.get(tok.text.lower(), tok.text.lower())
            if name not in ORDERABLE:
                raise JqlError(
                    f"Field '{tok.text}' does not exist or you do not have permission to view it."
                )
            desc = False
            if self.is_word("asc") or self.is_word("desc"):
                desc = self.take().text.lower() == "desc"
            order.append((name, desc))
            if self.peek() is None or self.peek().text != ",":  # type: ignore[union-attr]
                break
            self.take()
        if len(order) > 7:
            raise JqlError("The ORDER BY clause can contain a maximum of 7 fields.")
        return order


def parse(jql: str, ctx: JqlContext) -> Query:
    return _Parser(jql, ctx).parse()


PERIOD = re.compile(r"^([-+]?)\s*((?:\d+[wdhm]\s*)+)$", re.IGNORECASE)


def parse_jql_date(text: str, field_name: str, now: datetime) -> datetime:
    for fmt in DATE_FORMATS:
        try:
            return datetime.strptime(text.strip(), fmt).replace(tzinfo=UTC)
        except ValueError:
            continue
    m = PERIOD.match(text.strip())
    if m:
        units = {"w": "weeks", "d": "days", "h": "hours", "m": "minutes"}
        delta = timedelta()
        for amount, unit in re.findall(r"(\d+)([wdhm])", m.group(2).lower()):
            delta += timedelta(**{units[unit]: int(amount)})
        return now - delta if m.group(1) == "-" else now + delta
    raise JqlError(
        f"Date value '{text}' for field '{field_name}' is invalid. Valid formats include: "
        "'yyyy/MM/dd HH:mm', 'yyyy-MM-dd HH:mm', 'yyyy/MM/dd', 'yyyy-MM-dd', or a period "
        "format e.g. '-5d', '4w 2d'."
    )


def _evaluate(node: Node | Term, ctx: JqlContext, issue: Any) -> bool:
    if isinstance(node, Term):
        return _term(node, ctx.values(issue, node.field))
    if node.kind == "and":
        return all(_evaluate(c, ctx, issue) for c in node.children)
    if node.kind == "or":
        return any(_evaluate(c, ctx, issue) for c in node.children)
    return not _evaluate(node.children[0], ctx, issue)


def _norm(value: Any) -> Any:
    return value.lower() if isinstance(value, str) else value


def _term(term: Term, actual: list[Any]) -> bool:
    present = [_norm(v) for v in actual if v is not None]
    wanted = [_norm(v) for v in term.values]
    op = term.op
    if op in ("is", "=") and wanted == [None]:
        return not present
    if op in ("is not", "!=") and wanted == [None]:
        return bool(present)
    compare: dict[str, Callable[[Any, Any], bool]] = {
        ">": lambda a, b: a > b,
        ">=": lambda a, b: a >= b,
        "<": lambda a, b: a < b,
        "<=": lambda a, b: a <= b,
        "~": lambda a, b: isinstance(a, str) and str(b) in a,
    }
    if op in ("=", "in"):
        return any(v in wanted for v in present) or (None in wanted and not present)
    if op in ("!=", "not in"):
        return bool(present) and not any(v in wanted for v in present)
    if op == "!~":
        return not any(compare["~"](a, b) for a in present for b in wanted)
    return any(compare[op](a, b) for a in present for b in wanted if b is not None)
