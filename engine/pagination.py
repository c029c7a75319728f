"""Paginators: how a stream walks from one page to the next, chosen in YAML by ``type``.

Each paginator is a small class in the style of dlt's rest_client paginators::

    init_request(request)            first page: page size, first offset/page number
    update_state(response, records)  pure and synchronous: read the next token, decide to stop
    update_request(request)          write the token into the next request
    has_next_page                    False once a stop rule fired

The one async loop that sends requests lives in engine.reader. Every paginator stops when
there is no next token, when a page is empty (``stop_on_empty_page``, default true) and after
``max_pages`` (the stream's); a token that comes back a second time raises
PaginationLoopError instead of looping forever.

    none            one request
    link_header     follow the Link header's rel="next" URL verbatim (GitHub)
    offset          offset/limit parameters; stop on ``total_path`` or a short page
    page_number     page parameter from ``start``; stop on ``total_pages_path`` or a short page
    cursor          token from ``cursor_path`` (JSONPath) or ``cursor_header``, sent as
                    ``cursor_param`` (query) or ``cursor_body_path`` (JSON body); stop when
                    ``is_last_path`` is true (Jira isLast) or ``has_more_path`` is false
                    (Slack, Notion has_more)
    next_url        follow a full URL found in the body (``@odata.nextLink``, Asana's
                    ``next_page.uri``)
    graphql_relay   ``variables.<cursor_variable>`` from ``pageInfo.endCursor`` while
                    ``pageInfo.hasNextPage``

The page size enters a request through ``page_size_param`` (``limit_param`` for offset,
``page_size_variable`` for GraphQL) or through templates that use ``page.size``.

``position_based`` tells whether the next page is named by its position in the result
(link_header, offset, page_number): an item that moves while the list is walked shifts
the later ones, so one can be passed over. Tokens (cursor, next_url, graphql_relay) name
the next page by what was last read, or a snapshot, and do not shift (engine.sync.checkpoint).
"""

from __future__ import annotations

import re
from typing import Any, ClassVar, Literal
from urllib.parse import urljoin

from pydantic import Field, model_validator

from engine.errors import PaginationLoopError
from engine.jsonpath import compile_path
from engine.registry import Registry, StrategyConfig
from engine.wire import OutgoingRequest, Response

JSONPath = str


class PaginatorConfig(StrategyConfig):
    stop_on_empty_page: bool = Field(True, description="A page without records is the last.")


class Paginator:
    """Shared stop rules; subclasses implement ``next_token`` and ``update_request``."""

    Config: ClassVar[type[PaginatorConfig]]
    position_based: ClassVar[bool] = False  # pages named by position: see the module doc

    def __init__(
        self, config: PaginatorConfig, page_size: int = 100, max_pages: int | None = None
    ) -> None:
        self.config = config
        self.page_size = page_size
        self.max_pages = max_pages
        self.pages = 0
        self.has_next_page = True
        self.token: Any = None
        self._seen: set[str] = set()

    def init_request(self, request: OutgoingRequest) -> None:
        """Prepare the first request (page size, first page); nothing by default."""

    def update_state(self, response: Response, records: list[Any]) -> None:
        self.pages += 1
        token = self.next_token(response, records)
        if (
            token is None
            or token == ""
            or (not records and self.config.stop_on_empty_page)
            or (self.max_pages is not None and self.pages >= self.max_pages)
        ):
            self.has_next_page = False
            return
        seen = repr(token)
        if seen in self._seen:
            shown = seen if len(seen) <= 60 else seen[:57] + "..."
            raise PaginationLoopError(
                f"the provider returned the page token {shown} a second time", token=shown
            )
        self._seen.add(seen)
        self.token = token

    def next_token(self, response: Response, records: list[Any]) -> Any:
        """The token of the next page, or None when this was the last."""
        raise NotImplementedError

    def update_request(self, request: OutgoingRequest) -> None:
        raise NotImplementedError


def _number(path: JSONPath | None, response: Response) -> float | None:
    """A number read from the body (totals), or None when absent or not a number."""
    if not path:
        return None
    value = compile_path(path).first(response.data)
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        return float(value)
    except ValueError:
        return None


def _set_page_size(request: OutgoingRequest, name: str | None, size: int) -> None:
    if name:
        request.set_param(name, size)


class NonePaginator(Paginator):
    class Config(PaginatorConfig):
        type: Literal["none"] = "none"

    def next_token(self, response: Response, records: list[Any]) -> Any:
        return None

    def update_request(self, request: OutgoingRequest) -> None:
        """Never called: there is no second page."""


_LINK = re.compile(r"<(?P<url>[^>]*)>(?P<params>[^,<]*)")
_REL = re.compile(r"""rel\s*=\s*"?(?P<rel>[^";]+)"?""", re.IGNORECASE)


def parse_link_header(value: str) -> dict[str, str]:
    """``<url>; rel="next", <url>; rel="last"`` -> {"next": url, "last": url}."""
    links: dict[str, str] = {}
    for match in _LINK.finditer(value):
        rel = _REL.search(match["params"])
        if rel:
            for name in rel["rel"].split():
                links.setdefault(name.lower(), match["url"].strip())
    return links


class LinkHeaderPaginator(Paginator):
    position_based = True

    class Config(PaginatorConfig):
        type: Literal["link_header"] = "link_header"
        rel: str = Field("next", description="The link relation to follow.")
        header: str = Field("Link", description="The header holding the links.")
        page_size_param: str | None = Field(None, description="Query parameter for page size.")

    config: Config

    def init_request(self, request: OutgoingRequest) -> None:
        _set_page_size(request, self.config.page_size_param, self.page_size)

    def next_token(self, response: Response, records: list[Any]) -> Any:
        value = response.headers.get(self.config.header)
        found = parse_link_header(value).get(self.config.rel.lower()) if value else None
        return urljoin(response.url, found) if found else None

    def update_request(self, request: OutgoingRequest) -> None:
        request.follow(self.token)


class OffsetPaginator(Paginator):
    position_based = True

    class Config(PaginatorConfig):
        type: Literal["offset"] = "offset"
        offset_param: str = Field("offset", description="Query parameter for the offset.")
        limit_param: str | None = Field("limit", description="Query parameter for page size.")
        start: int = Field(default=0, ge=0, description="The first offset.")
        total_path: JSONPath | None = Field(
            None, description="JSONPath to the total count; without it a short page is the last."
        )

    config: Config

    def __init__(self, config: Config, page_size: int = 100, max_pages: int | None = None):
        super().__init__(config, page_size, max_pages)
        self.offset = config.start

    def init_request(self, request: OutgoingRequest) -> None:
        _set_page_size(request, self.config.limit_param, self.page_size)
        request.set_param(self.config.offset_param, self.offset)

    def next_token(self, response: Response, records: list[Any]) -> Any:
        following = self.offset + len(records)
        total = _number(self.config.total_path, response)
        if total is not None:
            return None if following >= total else following
        return None if len(records) < self.page_size else following

    def update_request(self, request: OutgoingRequest) -> None:
        self.offset = self.token
        request.set_param(self.config.offset_param, self.offset)


class PageNumberPaginator(Paginator):
    position_based = True

    class Config(PaginatorConfig):
        type: Literal["page_number"] = "page_number"
        page_param: str = Field("page", description="Query parameter for the page number.")
        start: int = Field(default=1, ge=0, description="The first page number.")
        page_size_param: str | None = Field(None, description="Query parameter for page size.")
        total_pages_path: JSONPath | None = Field(
            None, description="JSONPath to the page count; without it a short page is the last."
        )

    config: Config

    def __init__(self, config: Config, page_size: int = 100, max_pages: int | None = None):
        super().__init__(config, page_size, max_pages)
        self.page = config.start

    def init_request(self, request: OutgoingRequest) -> None:
        _set_page_size(request, self.config.page_size_param, self.page_size)
        request.set_param(self.config.page_param, self.page)

    def next_token(self, response: Response, records: list[Any]) -> Any:
        total = _number(self.config.total_pages_path, response)
        if total is not None:
            return None if self.page >= self.config.start + total - 1 else self.page + 1
        return None if len(records) < self.page_size else self.page + 1

    def update_request(self, request: OutgoingRequest) -> None:
        self.page = self.token
        request.set_param(self.config.page_param, self.page)


class CursorPaginator(Paginator):
    class Config(PaginatorConfig):
        type: Literal["cursor"] = "cursor"
        cursor_path: JSONPath | None = Field(None, description="JSONPath to the next token.")
        cursor_header: str | None = Field(None, description="Or: the header with the token.")
        cursor_param: str | None = Field(None, description="Query parameter the token goes to.")
        cursor_body_path: JSONPath | None = Field(
            None, description="Or: plain path of the JSON body field the token goes to."
        )
        is_last_path: JSONPath | None = Field(None, description="Stop when this is true.")
        has_more_path: JSONPath | None = Field(None, description="Stop when this is false.")
        page_size_param: str | None = Field(None, description="Query parameter for page size.")

        @model_validator(mode="after")
        def _one_source_one_target(self) -> CursorPaginator.Config:
            if (self.cursor_path is None) == (self.cursor_header is None):
                raise ValueError("give exactly one of cursor_path, cursor_header")
            if (self.cursor_param is None) == (self.cursor_body_path is None):
                raise ValueError("give exactly one of cursor_param, cursor_body_path")
            if self.cursor_body_path is not None:
                compile_path(self.cursor_body_path).keys  # noqa: B018 (must be a plain path)
            return self

    config: Config

    def init_request(self, request: OutgoingRequest) -> None:
        _set_page_size(request, self.config.page_size_param, self.page_size)

    def next_token(self, response: Response, records: list[Any]) -> Any:
        config = self.config
        if config.is_last_path and compile_path(config.is_last_path).first(response.data):
            return None
        if config.has_more_path and not compile_path(config.has_more_path).first(response.data):
            return None
        if config.cursor_header:
            return response.headers.get(config.cursor_header)
        assert config.cursor_path is not None
        return compile_path(config.cursor_path).first(response.data)

    def update_request(self, request: OutgoingRequest) -> None:
        if self.config.cursor_param:
            request.set_param(self.config.cursor_param, self.token)
            return
        assert self.config.cursor_body_path is not None
        body = request.json if isinstance(request.json, dict) else {}
        compile_path(self.config.cursor_body_path).set(body, self.token)
        request.json = body


class NextUrlPaginator(Paginator):
    class Config(PaginatorConfig):
        type: Literal["next_url"] = "next_url"
        next_url_path: JSONPath = Field(description="JSONPath to the next page's full URL.")
        page_size_param: str | None = Field(
            None, description="Query parameter for page size (first request)."
        )

    config: Config

    def init_request(self, request: OutgoingRequest) -> None:
        _set_page_size(request, self.config.page_size_param, self.page_size)

    def next_token(self, response: Response, records: list[Any]) -> Any:
        found = compile_path(self.config.next_url_path).first(response.data)
        return urljoin(response.url, found) if isinstance(found, str) and found else None

    def update_request(self, request: OutgoingRequest) -> None:
        request.follow(self.token)


class GraphQLRelayPaginator(Paginator):
    class Config(PaginatorConfig):
        type: Literal["graphql_relay"] = "graphql_relay"
        page_info_path: JSONPath = Field(description="JSONPath to the connection's pageInfo.")
        cursor_variable: str = Field("after", description="Variable the end cursor goes to.")
        page_size_variable: str | None = Field(None, description="Variable for page size.")
        end_cursor_field: str = Field("endCursor", description="pageInfo's cursor field.")
        has_next_field: str = Field("hasNextPage", description="pageInfo's has-next field.")

    config: Config

    def init_request(self, request: OutgoingRequest) -> None:
        if self.config.page_size_variable:
            self._variables(request)[self.config.page_size_variable] = self.page_size

    def next_token(self, response: Response, records: list[Any]) -> Any:
        info = compile_path(self.config.page_info_path).first(response.data)
        if not isinstance(info, dict) or not info.get(self.config.has_next_field):
            return None
        return info.get(self.config.end_cursor_field)

    def update_request(self, request: OutgoingRequest) -> None:
        self._variables(request)[self.config.cursor_variable] = self.token

    @staticmethod
    def _variables(request: OutgoingRequest) -> dict[str, Any]:
        body = request.json if isinstance(request.json, dict) else {}
        request.json = body
        variables = body.get("variables")
        if not isinstance(variables, dict):
            variables = body["variables"] = {}
        return variables


BUILTIN: tuple[type[Paginator], ...] = (
    NonePaginator,
    LinkHeaderPaginator,
    OffsetPaginator,
    PageNumberPaginator,
    CursorPaginator,
    NextUrlPaginator,
    GraphQLRelayPaginator,
)


def register(registry: Registry) -> None:
    for cls in BUILTIN:
        registry.register("pagination", cls)
