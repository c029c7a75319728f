"""The ``import-data`` and ``export-data`` actions (bulk import/export, issue 6).

Until the bulk engine lands these answer 400 with a message saying so; the caller has
already been authenticated and authorized (import: admin, export: viewer) by the action
route. The bulk work replaces both handlers; their request models are in models.py.
"""

from __future__ import annotations

from engine.errors import ConfigError
from runtime.server.calls import Call, Reply


async def import_data(call: Call) -> Reply:
    raise ConfigError("import-data is not available yet")


async def export_data(call: Call) -> Reply:
    raise ConfigError("export-data is not available yet")
