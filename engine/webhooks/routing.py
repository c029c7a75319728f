"""Event routing: which declared event a verified delivery is, and which records it carries.

A delivery is one event, or a batch of them when ``webhooks.batch`` says where the items are
(Asana's ``payload.events``, Graph's ``payload.value``). Each item is routed on its own: the
first ``webhooks.events`` entry whose ``match`` holds wins; its ``records`` template yields
the record(s) the item carries. Templates here use the ``webhook.event`` names: ``payload``
(the whole delivery), ``event`` (the item; the payload when there is no batch),
``event_type``, ``headers`` and ``config``.

Routing needs only what ``webhook_logs`` keeps (payload, event type, delivery id), so a worker
can route a stored delivery long after the request is gone. ``match`` should therefore test
``event_type`` and the payload rather than headers, which are not stored.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from engine.errors import RecordError, TemplateError
from engine.spec.models import WebhookEventSpec, WebhookSpec
from engine.templating import CompiledTemplate, Templates
from engine.webhooks.templates import (
    PlaceProblem,
    compile_at,
    compile_optional,
    holds,
    render_soft,
)

Action = Literal["upsert", "delete", "refetch", "ack", "ignore"]
APPLYING: frozenset[str] = frozenset({"upsert", "delete", "refetch"})


@dataclass(frozen=True, slots=True)
class WebhookEvent:
    """One routed event: apply ``records`` to ``stream`` by ``action``."""

    name: str
    stream: str | None
    action: Action
    records: tuple[Any, ...]
    event_type: str | None
    delivery_id: str | None

    @property
    def applies(self) -> bool:
        """False for ``ack`` and ``ignore``: nothing to write."""
        return self.action in APPLYING


@dataclass(frozen=True, slots=True)
class _Route:
    spec: WebhookEventSpec
    match: CompiledTemplate
    records: CompiledTemplate | None


class EventRouter:
    """The compiled ``webhooks.batch`` and ``webhooks.events`` of one provider."""

    def __init__(self, spec: WebhookSpec, templates: Templates) -> None:
        self.problems: list[PlaceProblem] = []
        self.batch = self._try(lambda: compile_optional(templates, spec.batch, _PLACE, "batch"))
        self.routes: list[_Route] = []
        for index, event in enumerate(spec.events):
            route = self._try(lambda i=index, e=event: _compile_route(templates, e, i))
            if route is not None:
                self.routes.append(route)

    def _try(self, build: Any) -> Any:
        try:
            return build()
        except PlaceProblem as problem:
            self.problems.append(problem)
            return None

    def route(
        self, context: Mapping[str, Any], delivery_id: str | None, event_type: str | None
    ) -> list[WebhookEvent]:
        """Route every item of the delivery; items that match nothing are left out."""
        routed: list[WebhookEvent] = []
        for item in self._items(context):
            item_context = {**context, "event": item}
            for route in self.routes:
                if holds(route.match, item_context):
                    records = _records(route, item_context)
                    routed.append(
                        WebhookEvent(
                            name=route.spec.name,
                            stream=route.spec.stream,
                            action=route.spec.action,
                            records=records,
                            event_type=event_type,
                            delivery_id=delivery_id,
                        )
                    )
                    break
        return routed

    def _items(self, context: Mapping[str, Any]) -> list[Any]:
        if self.batch is None:
            return [context["payload"]]
        return _as_list(render_soft(self.batch, {**context, "event": context["payload"]}), "batch")


_PLACE = "webhook.event"


def _compile_route(templates: Templates, event: WebhookEventSpec, index: int) -> _Route:
    base = f"events[{index}]"
    return _Route(
        spec=event,
        match=compile_at(templates, event.match, _PLACE, f"{base}.match"),
        records=compile_optional(templates, event.records, _PLACE, f"{base}.records"),
    )


def _records(route: _Route, context: Mapping[str, Any]) -> tuple[Any, ...]:
    if route.records is None or route.spec.action not in APPLYING:
        return ()
    try:
        value = route.records.render(context, f"webhooks.events.{route.spec.name}.records")
    except TemplateError as exc:
        raise RecordError(
            f"webhook event {route.spec.name!r}: the payload lacks its records ({exc})",
            event=route.spec.name,
        ) from None
    return tuple(_as_list(value, f"events.{route.spec.name}.records"))


def _as_list(value: Any, where: str) -> list[Any]:
    if value is None:
        return []
    if callable(value):  # `payload.items` is dict.items in Jinja: the key needs payload['items']
        raise RecordError(
            f"webhooks.{where} yields a method, not data: write the key as payload['name']",
            where=where,
        )
    if isinstance(value, list | tuple):
        return [item for item in value if item is not None]
    return [value]
