"""``kiro-sync serve``: the action API, provider webhooks, the scheduler and the worker.

With no configuration it keeps everything in ``./.kiro-sync`` (DuckDB file, generated JWT
secret, generated encryption key) and listens on 127.0.0.1:8080. SIGTERM and SIGINT stop it
gracefully: the listener closes, requests in flight get ``shutdown_timeout`` seconds, the
scheduler and the worker stop taking work, running sync batches commit (bounded by the same
timeout), then the store closes.

A server that cannot start (an unreachable or malformed database URL, a malformed
ENCRYPTION_KEY, a port in use, an invalid setting) prints one ``error: ...`` line and exits 1.
"""

from __future__ import annotations

import argparse
import logging
import socket
from typing import Any

from aiohttp import web

from engine.errors import ConfigError, KiroSyncError, error_class
from runtime.cli.common import report
from runtime.logging import Redactor, configure_logging
from runtime.settings import Settings

log = logging.getLogger("runtime.serve")


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "serve",
        help="run the HTTP server (action API, webhooks, scheduler)",
        description=__doc__.split("\n\n", 1)[0] if __doc__ else None,
    )
    parser.add_argument("--host", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, help="port to listen on (default 8080)")
    parser.add_argument(
        "--db", help="postgresql://... or a DuckDB file (default: the data directory's)"
    )
    parser.set_defaults(handler=serve)


def serve(args: argparse.Namespace) -> int:
    from runtime.server.app import create_app  # the server's imports only when serving

    settings = Settings.load(host=args.host, port=args.port, database_url=args.db)
    redactor = Redactor(settings.secrets())
    configure_logging(redactor)
    app = create_app(settings, redactor=redactor)
    app.on_startup.append(_announce)
    try:
        web.run_app(
            app,
            host=settings.host,
            port=settings.port,
            shutdown_timeout=settings.shutdown_timeout,
            access_log=None,
            print=None,
            reuse_address=True,
        )
    except OSError as exc:  # the port is taken, the host is not an address of this machine
        raise ConfigError(f"cannot start the server: {exc.strerror or exc}") from None
    except KiroSyncError as exc:  # the store, the key or the JWT secret could not be opened
        log.error("kiro-sync could not start", extra={"error_class": error_class(exc)})
        return report(exc, settings.secrets())
    return 0


async def _announce(app: web.Application) -> None:
    from runtime.server.state import SETTINGS

    settings = app[SETTINGS]
    log.info(
        "kiro-sync listening",
        extra={
            "url": f"http://{settings.host}:{settings.port}",
            "home": str(settings.home),
            "node": socket.gethostname(),
        },
    )
