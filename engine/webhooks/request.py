"""An inbound webhook request as the engine sees it: method, headers, query, raw body, URL.

The body stays bytes: signatures are verified over exactly the bytes that arrived, never over
re-serialized JSON. Templates see it as ``body``, a str decoded with ``surrogateescape`` so
that encoding it back (``body_bytes``) reproduces the original bytes even when they are not
valid UTF-8.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlsplit


def text_of(body: bytes) -> str:
    """The body as text for templates; ``body_bytes`` inverts it exactly."""
    return body.decode("utf-8", "surrogateescape")


def body_bytes(text: str) -> bytes:
    return text.encode("utf-8", "surrogateescape")


class Headers(Mapping[str, str]):
    """Read-only, case-insensitive header mapping; iteration yields the names as received."""

    __slots__ = ("_items",)

    def __init__(self, items: Mapping[str, str] | None = None) -> None:
        source = items._items.values() if isinstance(items, Headers) else (items or {}).items()
        self._items: dict[str, tuple[str, str]] = {
            str(name).lower(): (str(name), str(value)) for name, value in source
        }

    def __getitem__(self, name: str) -> str:
        return self._items[name.lower()][1]

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._items

    def __iter__(self) -> Iterator[str]:
        return (original for original, _ in self._items.values())

    def __len__(self) -> int:
        return len(self._items)

    def __repr__(self) -> str:  # names only: header values may carry secrets
        return f"Headers({sorted(self)!r})"


@dataclass(frozen=True, slots=True)
class InboundRequest:
    """One request to the webhook endpoint.

    ``url`` is the public URL the provider called, exactly as it was registered (Trello signs
    it); ``query`` holds URL-decoded values. Build it with ``InboundRequest.build`` to have
    ``query`` parsed from ``url``.
    """

    method: str
    headers: Mapping[str, str]  # made a case-insensitive ``Headers`` on construction
    query: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""
    url: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.headers, Headers):
            object.__setattr__(self, "headers", Headers(self.headers))
        object.__setattr__(self, "method", self.method.upper())

    @classmethod
    def build(
        cls, method: str, url: str, headers: Mapping[str, str] | None = None, body: bytes = b""
    ) -> InboundRequest:
        query = dict(parse_qsl(urlsplit(url).query, keep_blank_values=True))
        return cls(method=method, headers=Headers(headers), query=query, body=body, url=url)

    @property
    def content_type(self) -> str:
        return self.headers.get("Content-Type", "").split(";", 1)[0].strip().lower()

    def template_context(self, payload: Any, **names: Any) -> dict[str, Any]:
        """The names of the ``webhook`` template place for this request."""
        return {
            "headers": self.headers,
            "body": text_of(self.body),
            "payload": payload,
            "query": dict(self.query),
            "url": self.url,
            **names,
        }

    def __repr__(self) -> str:  # no header values, no body: either may carry a secret
        path = urlsplit(self.url).path
        return f"InboundRequest({self.method} {path!r}, {len(self.body)} bytes)"
