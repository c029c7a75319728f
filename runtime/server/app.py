"""The aiohttp application of ``kiro-sync serve``.

``create_app(settings)`` wires the routes, the middlewares and the lifecycles. Each
long-lived service starts and stops in its own ``cleanup_ctx``, in this order (stopped in
reverse, so the server stops taking work before the store closes):

    token verifier   the JWT secret / JWKS cache (the generated secret is created here)
    engine           ``Engine.open`` on the configured store, unless one was handed in
    runs             watchers of running syncs; at shutdown running batches get
                     ``shutdown_timeout`` seconds to commit
    worker           the webhook worker (drains the backlog at start)
    scheduler        APScheduler jobs per integration, health checks

The steps share one shutdown budget (``shutdown_timeout`` seconds, ``Deadline``); aiohttp
first gives requests in flight up to the same number of seconds, so ``serve`` exits within
about twice ``shutdown_timeout`` at worst.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Callable

from aiohttp import web

from engine.facade import Engine
from runtime.auth import build_verifier
from runtime.logging import Redactor
from runtime.metrics import Metrics
from runtime.ratelimit import RateLimiter
from runtime.runs import Runs
from runtime.scheduler import SyncScheduler
from runtime.server import actions, bulk, ops, webhooks
from runtime.server.middleware import MIDDLEWARES
from runtime.server.state import (
    ENGINE,
    IP_LIMITER,
    METRICS,
    REDACTOR,
    RUNS,
    SCHEDULER,
    SETTINGS,
    USER_LIMITER,
    VERIFIER,
    WORKER,
)
from runtime.settings import Settings
from runtime.worker import WebhookWorker

log = logging.getLogger("runtime.server")


class Deadline:
    """One shutdown budget shared by every cleanup step, so stopping stays bounded."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._ends: float | None = None

    def start(self) -> None:
        self._ends = time.monotonic() + self.seconds

    def remaining(self) -> float:
        if self._ends is None:
            return self.seconds
        return max(0.1, self._ends - time.monotonic())


SHUTDOWN = web.AppKey("shutdown", Deadline)


async def _shutdown_ctx(app: web.Application) -> AsyncIterator[None]:
    yield
    log.info("shutting down", extra={"budget_seconds": app[SHUTDOWN].seconds})
    app[SHUTDOWN].start()


def create_app(
    settings: Settings,
    *,
    engine: Engine | None = None,
    redactor: Redactor | None = None,
    clock: Callable[[], float] | None = None,
) -> web.Application:
    """The server for ``settings``. A given ``engine`` is used as is and not closed."""
    app = web.Application(
        middlewares=MIDDLEWARES,
        client_max_size=settings.max_body_bytes,
        handler_args={"access_log": None},
    )
    app[SETTINGS] = settings
    app[REDACTOR] = redactor or Redactor(settings.secrets())
    app[METRICS] = Metrics()
    limits = (settings.rate_limit_per_minute, settings.rate_limit_burst)
    app[IP_LIMITER] = RateLimiter(*limits, clock=clock)
    app[USER_LIMITER] = RateLimiter(*limits, clock=clock)
    app.cleanup_ctx.append(_verifier_ctx)
    app.cleanup_ctx.append(_engine_ctx(engine))
    app.cleanup_ctx.append(_runs_ctx)
    if settings.worker_enabled:
        app.cleanup_ctx.append(_worker_ctx)
    if settings.scheduler_enabled:
        app.cleanup_ctx.append(_scheduler_ctx)
    app[SHUTDOWN] = Deadline(settings.shutdown_timeout)
    app.cleanup_ctx.append(_shutdown_ctx)  # last in, so its cleanup starts the clock first
    actions.setup(app)
    bulk.setup(app)
    webhooks.setup(app)
    ops.setup(app)
    return app


async def _verifier_ctx(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    secret = settings.supabase_jwt_secret
    verifier = build_verifier(
        settings.home, secret.get_secret_value() if secret else None, settings.supabase_url
    )
    app[REDACTOR].add(verifier.secret)
    app[VERIFIER] = verifier
    yield
    await verifier.close()


def _engine_ctx(given: Engine | None) -> Callable[[web.Application], AsyncIterator[None]]:
    async def engine_ctx(app: web.Application) -> AsyncIterator[None]:
        settings = app[SETTINGS]
        engine = given
        if engine is None:
            engine = await Engine.open(
                settings.database, settings.home, public_url=settings.base_url
            )
        app[ENGINE] = engine
        log.info("engine ready", extra={"store": _store_kind(settings), "home": str(settings.home)})
        yield
        if given is None:
            await engine.close(timeout=app[SHUTDOWN].remaining())

    return engine_ctx


def _store_kind(settings: Settings) -> str:
    return "postgres" if settings.database.startswith("postgres") else "duckdb"


async def _runs_ctx(app: web.Application) -> AsyncIterator[None]:
    runs = Runs(app[ENGINE], app[METRICS])
    app[RUNS] = runs
    yield
    await runs.close(app[SHUTDOWN].remaining())


async def _worker_ctx(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    worker = WebhookWorker(
        app[ENGINE],
        app[METRICS],
        batch=settings.worker_batch,
        idle_seconds=settings.worker_idle_seconds,
    )
    app[WORKER] = worker
    worker.start()
    yield
    await worker.stop(app[SHUTDOWN].remaining())


async def _scheduler_ctx(app: web.Application) -> AsyncIterator[None]:
    scheduler = SyncScheduler(app[ENGINE], app[RUNS], app[SETTINGS], app[METRICS])
    app[SCHEDULER] = scheduler
    await scheduler.start()
    yield
    await scheduler.stop()
