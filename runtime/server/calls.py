"""What an action handler receives and returns.

A handler is ``async def handler(call: Call) -> Reply``: ``call.body`` is the validated
request model of its action, ``call.scope`` the project (and integration) it was authorized
for. Handlers stay a few lines: they call one ``Engine`` method and shape its answer.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from engine.facade import Engine
from runtime.auth import Principal
from runtime.server.access import Scope


@dataclass(frozen=True, slots=True)
class Call:
    """One authorized action call, as its handler sees it."""

    http: web.Request
    engine: Engine
    principal: Principal
    body: Any  # the action's ActionRequest subclass
    scope: Scope

    @property
    def integration_id(self) -> str:
        assert self.scope.integration is not None
        return str(self.scope.integration["id"])


@dataclass(frozen=True, slots=True)
class Reply:
    """The ``data`` of a success envelope and its status (200, or 202 for queued work)."""

    data: Any
    status: int = 200


Handler = Callable[[Call], Awaitable[Reply]]
