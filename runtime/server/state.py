"""Typed application state: every service the handlers reach, under a ``web.AppKey``.

``SCHEDULER`` and ``WORKER`` are absent when disabled in the settings; read them with
``app.get(...)``.
"""

from __future__ import annotations

from aiohttp import web

from engine.facade import Engine
from runtime.auth import TokenVerifier
from runtime.logging import Redactor
from runtime.metrics import Metrics
from runtime.ratelimit import RateLimiter
from runtime.runs import Runs
from runtime.scheduler import SyncScheduler
from runtime.settings import Settings
from runtime.worker import WebhookWorker

SETTINGS = web.AppKey("settings", Settings)
REDACTOR = web.AppKey("redactor", Redactor)
METRICS = web.AppKey("metrics", Metrics)
ENGINE = web.AppKey("engine", Engine)
VERIFIER = web.AppKey("verifier", TokenVerifier)
IP_LIMITER = web.AppKey("ip_limiter", RateLimiter)
USER_LIMITER = web.AppKey("user_limiter", RateLimiter)
RUNS = web.AppKey("runs", Runs)
SCHEDULER = web.AppKey("scheduler", SyncScheduler)
WORKER = web.AppKey("worker", WebhookWorker)

# Per-request values set by the middleware and the action route.
REQUEST_ID = web.RequestKey("request_id", str)
ACTION = web.RequestKey("action", str)  # the action name, for metrics and logs
ROUTE = web.RequestKey("route", str)  # the route's name, for metrics
