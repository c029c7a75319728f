"""The values passed between the connection, auth strategies and paginators.

``OutgoingRequest`` is a request being prepared: templates rendered, not yet sent. Paginators
change it between pages (a query parameter, a JSON body field, the whole URL), auth
strategies decorate a copy of it just before each attempt. ``Response`` is what came back,
already read and parsed. ``Secrets`` knows which values must never be shown and masks them
in URLs and messages.

JSON that arrives from outside (action bodies, webhook deliveries) is checked with
``json_problem`` before it is kept: nested deeper than ``MAX_JSON_DEPTH`` (orjson, which
encodes it for the store, stops at 255 levels) or holding a NUL character (Postgres text and
JSON cannot store U+0000); ``without_nul`` replaces NUL characters where the sender cannot
be asked to fix them.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, quote, quote_plus, urlencode, urlsplit, urlunsplit

from multidict import CIMultiDict, CIMultiDictProxy

MASK = "****"

# Query parameter names that carry credentials whatever the provider calls its fields.
_SECRET_PARAM = re.compile(
    r"(key|token|secret|password|passwd|signature|sig|auth|session|credential|code)s?$",
    re.IGNORECASE,
)

_USER_INFO = re.compile(r"//[^/?#]*@")

Params = list[tuple[str, str]]


@dataclass(slots=True)
class OutgoingRequest:
    """An HTTP request ready to send. ``params`` are appended to ``url``'s own query.

    ``verbatim`` marks a URL handed over by the provider (a Link header, ``@odata.nextLink``):
    it is sent exactly as given. ``secret_params`` names query parameters to mask in errors.
    ``auth_token`` is set by the auth strategy that decorated this copy (for refresh races).
    """

    method: str
    url: str
    params: Params = field(default_factory=list)
    headers: dict[str, str] = field(default_factory=dict)
    json: Any = None
    form: dict[str, str] | None = None
    verbatim: bool = False
    secret_params: set[str] = field(default_factory=set)
    auth_token: str | None = None

    def copy(self) -> OutgoingRequest:
        return OutgoingRequest(
            self.method,
            self.url,
            list(self.params),
            dict(self.headers),
            copy.deepcopy(self.json),
            dict(self.form) if self.form is not None else None,
            self.verbatim,
            set(self.secret_params),
            self.auth_token,
        )

    def set_param(self, name: str, value: Any) -> None:
        """Replace every value of ``name`` with ``value`` (dropped when None or "")."""
        self.params = [(k, v) for k, v in self.params if k != name]
        self.params.extend(query_pairs(name, value))

    def follow(self, url: str) -> None:
        """Continue at a URL the provider gave: its query replaces ours."""
        self.url = url
        self.params = []
        self.verbatim = True


def query_pairs(name: str, value: Any) -> Params:
    """How one rendered query value becomes parameters: None and "" are left out, lists
    repeat the name, booleans are lowercase words."""
    if value is None or value == "":
        return []
    if isinstance(value, list | tuple):
        return [pair for item in value for pair in query_pairs(name, item)]
    if isinstance(value, bool):
        return [(name, "true" if value else "false")]
    return [(name, str(value))]


@dataclass(frozen=True, slots=True)
class Response:
    """A response read in full: ``data`` is the parsed JSON (None for an empty body).

    ``problem`` says why the body could not be parsed ("an HTML page", "a truncated JSON
    body", "a non-JSON body") and is None when it parsed or was empty.
    """

    status: int
    headers: CIMultiDictProxy[str]
    data: Any
    url: str
    problem: str | None = None
    body: bytes = b""

    @classmethod
    def empty(cls, status: int = 200, url: str = "") -> Response:
        return cls(status, CIMultiDictProxy(CIMultiDict()), None, url)


class Secrets:
    """The secret values of one connection; masks them in URLs and scrubs them from text."""

    def __init__(self, values: Iterable[Any] = ()) -> None:
        self._values: set[str] = set()
        for value in values:
            self.add(value)

    def add(self, value: Any) -> None:
        """Hide ``value`` (4 characters or more), and its URL-encoded forms, which a
        provider quoting our request back may show."""
        if isinstance(value, str) and len(value) >= 4:
            self._values.update({value, quote(value), quote(value, safe=""), quote_plus(value)})

    def scrub(self, text: str) -> str:
        for value in sorted(self._values, key=len, reverse=True):
            text = text.replace(value, MASK)
        return text

    def is_secret_param(self, name: str, value: str, extra: Iterable[str] = ()) -> bool:
        return name in extra or bool(_SECRET_PARAM.search(name)) or value in self._values

    def mask_url(
        self,
        url: str,
        params: Iterable[tuple[str, str]] = (),
        secret_params: Iterable[str] = (),
    ) -> str:
        """``url`` plus ``params`` with every credential-carrying query value as ****."""
        names = set(secret_params)
        try:
            parts = urlsplit(url)
        except ValueError:  # unparsable ("http://[::1"): no user info, no query shown
            bare = _USER_INFO.sub("//", url.split("?", 1)[0].split("#", 1)[0])
            return self.scrub(bare) + (f"?{MASK}" if "?" in url or params else "")
        pairs = parse_qsl(parts.query, keep_blank_values=True) + list(params)
        masked = [(k, MASK if self.is_secret_param(k, v, names) else v) for k, v in pairs]
        netloc = parts.netloc.rsplit("@", 1)[-1]  # never user:password@host
        query = urlencode(masked, safe="*/:,$@")
        return self.scrub(urlunsplit((parts.scheme, netloc, parts.path, query, "")))


def secret_values(credentials: Mapping[str, Any], secret_fields: Iterable[str]) -> list[Any]:
    """Credential values to hide: the fields marked secret plus any whose name says so."""
    names = set(secret_fields)
    return [
        value for key, value in credentials.items() if key in names or _SECRET_PARAM.search(key)
    ]


# --- JSON from outside -------------------------------------------------------------------

MAX_JSON_DEPTH = 100
NUL = "\x00"
_Frame = tuple[Any, "_Frame | None", "str | int | None", int, bool]


def json_problem(
    value: Any, max_depth: int = MAX_JSON_DEPTH, nul_allowed_in: Any = None
) -> str | None:
    """``path: message`` for the first part of ``value`` that cannot be kept: nesting past
    ``max_depth`` or a NUL character in a string or key (except inside the object
    ``nul_allowed_in``, which checks its own). None when everything can be kept."""
    stack: list[_Frame] = [(value, None, None, 0, False)]
    while stack:
        frame = stack.pop()
        item, _, _, depth, exempt = frame
        if isinstance(item, str):
            if not exempt and NUL in item:
                return f"{_path(frame)}: contains a NUL character (U+0000)"
            continue
        if not isinstance(item, dict | list):
            continue
        if depth >= max_depth:
            return f"{_path(frame)}: nested deeper than {max_depth} levels"
        inner = exempt or item is nul_allowed_in
        pairs = item.items() if isinstance(item, dict) else enumerate(item)
        for key, child in pairs:
            if not inner and isinstance(key, str) and NUL in key:
                return f"{_path((None, frame, key, 0, False))}: a key contains a NUL character"
            stack.append((child, frame, key, depth + 1, inner))
    return None


def _path(frame: _Frame, limit: int = 120) -> str:
    parts: list[str] = []
    current: _Frame | None = frame
    while current is not None and current[1] is not None:
        key = current[2]
        parts.append(f"[{key}]" if isinstance(key, int) else "." + str(key).replace(NUL, "\\0"))
        current = current[1]
    text = "".join(reversed(parts)).lstrip(".") or "(the whole value)"
    return text if len(text) <= limit else text[: limit - 3] + "..."


def without_nul(value: Any) -> Any:
    """``value`` with every NUL character in its strings and keys replaced by U+FFFD."""
    if isinstance(value, str):
        return value.replace(NUL, "\ufffd")
    if isinstance(value, dict):
        return {without_nul(key): without_nul(item) for key, item in value.items()}
    if isinstance(value, list):
        return [without_nul(item) for item in value]
    return value
