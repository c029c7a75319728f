"""Writes: one entity operation sent through the steps its WriteSpec declares.

``await conn.write("work_item", "update", item={...}, link=link)`` runs the steps of
``writes.work_item.update`` in order. Each step:

- is skipped when its ``when`` condition does not hold (``steps.<name>.skipped`` is true);
- sends its request (templates see ``item``, ``link``, ``steps``, ``credentials``,
  ``config``, ``now``);
- extracts values from the answer (``extract`` templates over ``response``) into
  ``steps.<name>.<key>``; ``steps.<name>.response`` and ``.status`` hold the answer itself.
  An extract template that finds nothing yields None;
- checks ``require``: a listed value that is None/""/[] makes the write fail with
  RecordError, with the step's own message when ``require`` maps names to messages
  (``transition_id: "no transition to status '{{ item.status }}'"``).

A provider's 4xx to a write (other than auth and rate limits) is about this record: it
becomes RecordError, so the run goes on and ends partial. The spec's ``id``, ``key``, ``url``,
``updated_at`` and ``record`` templates then describe the written item; they see ``steps`` and
``response`` (the last answer) and yield None when they find nothing.
"""

from __future__ import annotations

from contextlib import suppress
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from engine.errors import ConfigError, ProviderError, RecordError, TemplateError
from engine.spec.models import WriteSpec, WriteStep

if TYPE_CHECKING:
    from engine.http import Connection
    from engine.wire import Response


@dataclass(frozen=True, slots=True)
class WriteResult:
    """What a write produced: the external id/key/url/updated time and every step's data."""

    id: str | None
    key: str | None = None
    url: str | None = None
    updated_at: Any = None
    steps: dict[str, dict[str, Any]] = field(default_factory=dict)
    raw: Any = None  # the answer to the last step that ran
    record: Any = None  # the written item as its stream reads it (WriteSpec.record)


class Writer:
    def __init__(self, connection: Connection) -> None:
        self.conn = connection
        self.provider = connection.provider

    def write_spec(self, entity: str, operation: str) -> WriteSpec:
        operations = self.conn.spec.writes.get(entity)
        if operations is None:
            known = ", ".join(sorted(self.conn.spec.writes)) or "none"
            raise ConfigError(f"{self.conn.name} cannot write {entity!r}; it writes: {known}")
        spec = operations.get(operation)
        if spec is None:
            known = ", ".join(sorted(operations))
            raise ConfigError(
                f"{self.conn.name} cannot {operation} a {entity}; operations: {known}"
            )
        return spec

    async def write(
        self, entity: str, operation: str, *, item: Any = None, link: Any = None
    ) -> WriteResult:
        spec = self.write_spec(entity, operation)
        where = f"writes.{entity}.{operation}"
        return await self.run(spec, where, f"{entity} {operation}", item=item, link=link)

    async def run(
        self, spec: WriteSpec, where: str, what: str = "", *, item: Any = None, link: Any = None
    ) -> WriteResult:
        """Run the steps of any ``WriteSpec`` (webhook registration uses this); ``where``
        names its spec location in errors, ``what`` the operation."""
        what = what or where
        steps: dict[str, dict[str, Any]] = {}
        context = self.conn.context(item=item, link=link, steps=steps)
        last: Any = None
        for index, step in enumerate(spec.steps):
            step_where = f"{where}.steps[{index}]"
            if not self.provider.condition(step.when, context, f"{step_where}.when"):
                steps[step.name] = {key: None for key in step.extract} | {
                    "skipped": True,
                    "response": None,
                    "status": None,
                }
                continue
            response = await self._send(step, context, step_where, what)
            steps[step.name] = self._extract(step, context, response, step_where)
            self._require(step, steps[step.name], context, step_where, what)
            last = response.data
        return self._result(spec, context, where, last)

    async def _send(
        self, step: WriteStep, context: dict[str, Any], where: str, what: str
    ) -> Response:
        try:
            return await self.conn.request(step.request, context, where=f"{where}.request")
        except ProviderError as exc:
            status = getattr(exc, "status", None)
            if isinstance(status, int) and 400 <= status < 500:
                reason = getattr(exc, "details", None) or exc.message
                raise RecordError(
                    f"{self.conn.name}: {what}: step {step.name}: {exc.message}",
                    provider=self.conn.name,
                    step=step.name,
                    status=status,
                    details=reason,
                ) from None
            raise

    def _extract(
        self, step: WriteStep, context: dict[str, Any], response: Response, where: str
    ) -> dict[str, Any]:
        scope = {**context, "response": response.data}
        values: dict[str, Any] = {}
        for key, template in step.extract.items():
            try:
                values[key] = self.provider.render(template, scope, f"{where}.extract.{key}")
            except TemplateError:
                values[key] = None
        return values | {"skipped": False, "response": response.data, "status": response.status}

    def _require(
        self,
        step: WriteStep,
        values: dict[str, Any],
        context: dict[str, Any],
        where: str,
        what: str,
    ) -> None:
        required = step.require if isinstance(step.require, dict) else dict.fromkeys(step.require)
        for key, message in required.items():
            if values.get(key) not in (None, "", [], {}):
                continue
            text = f"step {step.name}: no value for {key!r}"
            if message:
                with suppress(TemplateError):
                    text = str(self.provider.render(message, context, f"{where}.require.{key}"))
            raise RecordError(
                f"{self.conn.name}: {what}: {text}",
                provider=self.conn.name,
                step=step.name,
                missing=key,
            )

    def _result(
        self, spec: WriteSpec, context: dict[str, Any], where: str, last: Any
    ) -> WriteResult:
        scope = {**context, "response": last}

        def value(template: str | None, name: str) -> Any:
            if template is None:
                return None
            try:
                return self.provider.render(template, scope, f"{where}.{name}")
            except TemplateError:
                return None

        found_id, key, url = (value(spec.id, "id"), value(spec.key, "key"), value(spec.url, "url"))
        return WriteResult(
            id=None if found_id in (None, "") else str(found_id),
            key=None if key in (None, "") else str(key),
            url=None if url in (None, "") else str(url),
            updated_at=value(spec.updated_at, "updated_at"),
            steps=context["steps"],
            raw=last,
            record=value(spec.record, "record"),
        )
