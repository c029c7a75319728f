"""Request models of the action API, as the seed writes them (camelCase).

``POST /functions/v1/integration-service`` takes ``{action, integrationType?, projectId?,
integrationId?, data?}``. Every action has its own model: the same top-level keys, with the
ones it needs made required and ``data`` typed for it. Unknown keys are errors with their
path. The OpenAPI document (``runtime/server/openapi.py``) is generated from these models.

``config``, ``syncOptions`` and ``filters`` are the engine's own models (engine/config.py), so
the API and the engine accept exactly the same keys; the engine checks what needs the
provider (a field mapping to an unknown Kiro field, ``config.extra``).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from engine.config import Filters, IntegrationConfig, SyncOptions

NonEmpty = Field(min_length=1, max_length=200)


class WireModel(BaseModel):
    """Strict, camelCase on the wire; unknown keys rejected."""

    model_config = ConfigDict(extra="forbid", populate_by_name=False)


Credentials = dict[str, Any]


class ConnectData(WireModel):
    credentials: Credentials = Field(repr=False)  # never in a repr, a log or a traceback
    config: IntegrationConfig | None = None
    name: str | None = Field(None, max_length=200)


class TestConnectionData(WireModel):
    credentials: Credentials = Field(repr=False)
    config: IntegrationConfig | None = None


class SyncData(WireModel):
    syncOptions: SyncOptions | None = None


class WebhookData(WireModel):
    """The ``webhook`` action: a payload the caller already received from the provider."""

    payload: dict[str, Any]
    eventType: str | None = Field(None, max_length=200)


class ImportData(WireModel):
    # Rows are validated one by one by the bulk importer (engine/bulk/validation.py): a row
    # that is not an object is reported with its index while the other rows go in.
    workItems: list[Any] = Field(default_factory=list)
    projects: list[Any] = Field(default_factory=list)
    users: list[Any] = Field(default_factory=list)


class ImportDataData(WireModel):
    importData: ImportData


class ExportDataData(WireModel):
    exportFormat: Literal["json", "csv", "xlsx"] = "json"
    filters: Filters | None = None


class ResolveConflictData(WireModel):
    conflictId: str = NonEmpty
    resolution: Literal["kiro", "external", "value"]
    value: Any = None


class ActionRequest(WireModel):
    """The fields every action accepts; subclasses narrow ``action`` and require what they use."""

    action: str
    integrationType: str | None = Field(None, min_length=1, max_length=100)
    projectId: str | None = Field(None, min_length=1, max_length=200)
    integrationId: str | None = Field(None, min_length=1, max_length=200)
    data: dict[str, Any] | None = None


class ConnectRequest(ActionRequest):
    action: Literal["connect"]
    integrationType: str = Field(min_length=1, max_length=100)
    projectId: str = NonEmpty
    data: ConnectData  # type: ignore[assignment]


class DisconnectRequest(ActionRequest):
    action: Literal["disconnect"]
    integrationId: str = NonEmpty


class SyncRequest(ActionRequest):
    action: Literal["sync"]
    integrationId: str = NonEmpty
    data: SyncData | None = None  # type: ignore[assignment]


class WebhookRequest(ActionRequest):
    action: Literal["webhook"]
    integrationId: str = NonEmpty
    data: WebhookData  # type: ignore[assignment]


class GetIntegrationsRequest(ActionRequest):
    action: Literal["get-integrations"]
    projectId: str = NonEmpty


class TestConnectionRequest(ActionRequest):
    action: Literal["test-connection"]
    integrationType: str = Field(min_length=1, max_length=100)
    data: TestConnectionData  # type: ignore[assignment]


class ImportDataRequest(ActionRequest):
    action: Literal["import-data"]
    data: ImportDataData  # type: ignore[assignment]


class ExportDataRequest(ActionRequest):
    action: Literal["export-data"]
    data: ExportDataData | None = None  # type: ignore[assignment]


class GetSyncStatusRequest(ActionRequest):
    action: Literal["get-sync-status"]
    integrationId: str = NonEmpty


class ResolveConflictRequest(ActionRequest):
    action: Literal["resolve-conflict"]
    integrationId: str = NonEmpty
    data: ResolveConflictData  # type: ignore[assignment]


REQUEST_MODELS: dict[str, type[ActionRequest]] = {
    "connect": ConnectRequest,
    "disconnect": DisconnectRequest,
    "sync": SyncRequest,
    "webhook": WebhookRequest,
    "get-integrations": GetIntegrationsRequest,
    "test-connection": TestConnectionRequest,
    "import-data": ImportDataRequest,
    "export-data": ExportDataRequest,
    "get-sync-status": GetSyncStatusRequest,
    "resolve-conflict": ResolveConflictRequest,
}


def wire_dict(model: BaseModel | None) -> dict[str, Any] | None:
    """A validated sub-model back to the camelCase dict the engine takes (unset keys left
    out, so the engine fills its own defaults)."""
    if model is None:
        return None
    return model.model_dump(mode="json", by_alias=True, exclude_unset=True)
