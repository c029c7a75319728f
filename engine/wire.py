"""The values passed between the connection, auth strategies and paginators.

``OutgoingRequest`` is a request being prepared: templates rendered, not yet sent. Paginators
change it between pages (a query parameter, a JSON body field, the whole URL), auth
strategies decorate a copy of it just before each attempt. ``Response`` is what came back,
already read and parsed. ``Secrets`` knows which values must never be shown and masks them
in URLs and messages.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

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
        if isinstance(value, str) and len(value) >= 4:
            self._values.add(value)

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
