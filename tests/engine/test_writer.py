"""Writes: steps in order, conditions, extracted values, required values, classified failures."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from engine.errors import AuthError, ConfigError, RecordError
from engine.http import Connection
from tests.engine.fakeapi import BEARER, FakeApi, Scripted, provider, registry, serve

WRITES = {
    "work_item": {
        "create": {
            "steps": [
                {
                    "name": "create",
                    "request": {
                        "method": "POST",
                        "path": "/issues",
                        "body": {
                            "fields": {
                                "summary": "{{ item.title }}",
                                "project": {"key": "{{ config.project }}"},
                                "labels": "{{ item.labels }}",
                            }
                        },
                    },
                    "extract": {"id": "{{ response.id }}", "key": "{{ response.key }}"},
                    "require": ["id"],
                }
            ],
            "id": "{{ steps.create.id }}",
            "key": "{{ steps.create.key }}",
            "url": "{{ credentials.baseUrl }}/browse/{{ steps.create.key }}",
            "updated_at": "{{ response.updated }}",
        },
        # Jira's status is not a field: find the transition to the wanted status, then take it.
        "update": {
            "steps": [
                {
                    "name": "transitions",
                    "when": "{{ item.status is defined and item.status }}",
                    "request": {"path": "/issues/{{ link.key }}/transitions"},
                    "extract": {
                        "transition_id": "{{ (response.transitions"
                        " | selectattr('to.name', 'equalto', item.status) | first).id }}"
                    },
                    "require": {"transition_id": "no transition to status '{{ item.status }}'"},
                },
                {
                    "name": "move",
                    "when": "{{ not steps.transitions.skipped }}",
                    "request": {
                        "method": "POST",
                        "path": "/issues/{{ link.key }}/transitions",
                        "body": {"transition": {"id": "{{ steps.transitions.transition_id }}"}},
                    },
                },
            ],
            "id": "{{ link.id }}",
            "key": "{{ link.key }}",
        },
    }
}
LINK = {"id": "10001", "key": "FAKE-1"}


@pytest.fixture
async def fake(aiohttp_server: Any) -> tuple[FakeApi, str]:
    return await serve(aiohttp_server)


def connect(base: str) -> Connection:
    return Connection(
        provider(writes=WRITES), {"accessToken": BEARER, "baseUrl": base}, {"project": "FAKE"},
        registry=registry(),
    )  # fmt: skip


async def test_create_returns_id_key_and_url(fake: Any) -> None:
    api, base = fake
    item = {"title": "Fix login", "labels": ["bug"]}
    async with connect(base) as conn:
        result = await conn.write("work_item", "create", item=item)
    assert (result.id, result.key, result.url) == ("10001", "FAKE-1", f"{base}/browse/FAKE-1")
    assert result.updated_at is None  # the answer has no `updated`
    assert result.steps["create"]["status"] == 201
    sent = api.requests[-1]
    assert sent.headers["Content-Type"] == "application/json"
    assert orjson.loads(sent.body) == {
        "fields": {"summary": "Fix login", "project": {"key": "FAKE"}, "labels": ["bug"]}
    }


async def test_a_rejected_write_is_a_record_error_with_the_providers_reason(fake: Any) -> None:
    api, base = fake
    async with connect(base) as conn:
        with pytest.raises(RecordError) as caught:
            await conn.write("work_item", "create", item={"title": "", "labels": []})
    error = caught.value
    assert error.details == "summary: Summary is required"  # type: ignore[attr-defined]
    assert error.status == 400 and error.step == "create"  # type: ignore[attr-defined]
    assert api.count("/issues") == 1


async def test_auth_failures_stay_config_errors(fake: Any) -> None:
    api, base = fake
    api.script("/issues", Scripted(401, {"message": "expired"}))
    async with connect(base) as conn:
        with pytest.raises(AuthError):
            await conn.write("work_item", "create", item={"title": "x", "labels": []})


async def test_two_step_update_finds_and_takes_the_transition(fake: Any) -> None:
    api, base = fake
    async with connect(base) as conn:
        result = await conn.write("work_item", "update", item={"status": "Done"}, link=LINK)
    assert api.transitions == [("FAKE-1", "31")]
    assert result.steps["transitions"]["transition_id"] == "31"
    assert result.steps["move"] == {"skipped": False, "response": None, "status": 204}
    assert (result.id, result.key) == ("10001", "FAKE-1")
    assert [(r.method, r.path) for r in api.requests] == [
        ("GET", "/issues/FAKE-1/transitions"),
        ("POST", "/issues/FAKE-1/transitions"),
    ]


async def test_a_missing_required_value_names_what_is_missing(fake: Any) -> None:
    api, base = fake
    async with connect(base) as conn:
        with pytest.raises(RecordError) as caught:
            await conn.write("work_item", "update", item={"status": "Blocked"}, link=LINK)
    assert str(caught.value) == "fake: work_item update: no transition to status 'Blocked'"
    assert caught.value.missing == "transition_id"  # type: ignore[attr-defined]
    assert api.transitions == [] and api.count("/issues/FAKE-1/transitions", "POST") == 0


async def test_steps_whose_condition_fails_are_skipped(fake: Any) -> None:
    api, base = fake
    async with connect(base) as conn:
        result = await conn.write("work_item", "update", item={"title": "only"}, link=LINK)
    assert api.requests == []
    assert result.steps["transitions"] == {
        "transition_id": None, "skipped": True, "response": None, "status": None,
    }  # fmt: skip
    assert result.steps["move"]["skipped"] is True and result.id == "10001"


async def test_unknown_entity_or_operation_is_a_config_error(fake: Any) -> None:
    _, base = fake
    async with connect(base) as conn:
        with pytest.raises(ConfigError, match="cannot write 'comment'; it writes: work_item"):
            await conn.write("comment", "create", item={})
        with pytest.raises(
            ConfigError, match="cannot delete a work_item; operations: create, update"
        ):
            await conn.write("work_item", "delete", item={})


async def test_any_write_spec_runs_with_its_own_location(fake: Any) -> None:
    from engine.spec.models import WriteSpec
    from engine.writer import Writer

    _, base = fake
    spec = WriteSpec.model_validate(
        {
            "steps": [
                {
                    "name": "hook",
                    "request": {
                        "method": "POST",
                        "path": "/issues",
                        "body": {"fields": "{{ item }}"},
                    },
                    "extract": {"id": "{{ response.id }}"},
                    "require": ["id"],
                }
            ],
            "id": "{{ steps.hook.id }}",
        }
    )
    async with connect(base) as conn:
        result = await Writer(conn).run(spec, "webhooks.register.create", item={"summary": "x"})
        assert result.id == "10001" and result.raw["key"] == "FAKE-1"
        with pytest.raises(RecordError, match=r"fake: webhooks.register.create: step hook"):
            await Writer(conn).run(spec, "webhooks.register.create", item={"summary": ""})
