"""Engine.import_data and Engine.export_data: what the server, the CLI and embedders call."""

from __future__ import annotations

import json

import pytest

from engine.errors import NotFoundError, ValidationError
from engine.facade import Engine
from engine.store.sqlstore import SqlStore
from engine.vault import Vault


@pytest.fixture
def engine(store: SqlStore) -> Engine:
    return Engine(store, vault=Vault([b"k" * 32]))


async def test_import_then_export_through_the_engine(engine: Engine) -> None:
    data = {
        "projects": [{"statuses": ["Review"]}],
        "users": [{"email": "e@example.com"}],
        "workItems": ({"id": f"i{n}", "title": f"t{n}", "status": "review"} for n in range(3)),
    }
    result = await engine.import_data("p", data, create_project=True, batch_size=2)
    assert result.to_dict()["created"] == 4 and result.to_dict()["projects"]["updated"] == 1

    export = await engine.export_data("p", "json", {"statuses": ["Review"]})
    rows = json.loads(b"".join([chunk async for chunk in export.chunks()]))
    assert [(r["id"], r["status"]) for r in rows] == [
        ("i0", "Review"),
        ("i1", "Review"),
        ("i2", "Review"),
    ]


async def test_bad_shapes_and_unknown_targets(engine: Engine) -> None:
    with pytest.raises(ValidationError) as caught:
        await engine.import_data("p", {"workItems": "title", "rows": []}, create_project=True)
    assert caught.value.problems == [
        "importData.rows: unknown key",
        "importData.workItems: must be an array of rows",
    ]
    with pytest.raises(NotFoundError, match="Project not found"):
        await engine.import_data("absent", {"workItems": [{"title": "t"}]})
    with pytest.raises(NotFoundError, match="Project not found"):
        await engine.export_data("absent")
