"""``kiro-sync token | members add | integrations list | sync | status`` on a real DuckDB file,
syncing from the GitHub simulator (served on a thread: the commands run their own loop)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from engine.facade import Engine
from runtime.auth import TokenVerifier, load_or_create_secret
from runtime.cli import main
from tests.runtime.cli.conftest import REPO, TOKEN


def connect(home: Path, base_url: str) -> str:
    async def run() -> str:
        engine = await Engine.open(None, home)
        try:
            result = await engine.connect(
                project_id="p1",
                integration_type="github",
                credentials={"token": TOKEN, "baseUrl": base_url},
                config={"filters": {"projects": [REPO]}},
                create_project=True,
            )
            return str(result.integration["id"])
        finally:
            await engine.close()

    return asyncio.run(run())


def test_token_is_minted_with_the_generated_secret(home: Path, capsys) -> None:
    assert main(["token", "--sub", "user-7", "--ttl", "120"]) == 0
    token = capsys.readouterr().out.strip()
    secret = load_or_create_secret(home)  # the file the token command generated

    principal = asyncio.run(TokenVerifier(secret, None).verify(token))
    assert (principal.subject, principal.role) == ("user-7", "authenticated")
    assert main(["token", "--sub", "svc", "--role", "service_role"]) == 0
    service = asyncio.run(TokenVerifier(secret, None).verify(capsys.readouterr().out.strip()))
    assert service.is_service


def test_token_with_only_jwks_cannot_be_minted(home, monkeypatch, capsys) -> None:
    monkeypatch.setenv("SUPABASE_URL", "https://project.supabase.co")
    assert main(["token", "--sub", "u"]) == 1
    assert "SUPABASE_JWT_SECRET" in capsys.readouterr().err


def test_members_add_creates_the_project(home: Path, capsys) -> None:
    assert main(["members", "add", "project-9", "user-1", "admin"]) == 0
    assert "user-1 is admin of project project-9" in capsys.readouterr().out

    async def role() -> str | None:
        async with await Engine.open(None, home) as engine:
            return await engine.member_role("project-9", "user-1")

    assert asyncio.run(role()) == "admin"
    with pytest.raises(SystemExit):  # argparse refuses an unknown role
        main(["members", "add", "project-9", "user-1", "emperor"])


def test_integrations_sync_and_status(home: Path, github_url: str, capsys) -> None:
    integration_id = connect(home, github_url)
    assert main(["integrations", "list", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [(item["id"], item["type"]) for item in listed] == [(integration_id, "github")]
    assert main(["integrations", "list"]) == 0
    assert integration_id[:8] in capsys.readouterr().out  # the table

    assert main(["sync", integration_id, "--wait"]) == 0
    out = capsys.readouterr().out
    assert "success" in out and "created 25" in out

    assert main(["status", integration_id, "--json"]) == 0
    status = json.loads(capsys.readouterr().out)
    assert status["sync_status"] == "success" and status["logs"][0]["items_created"] == 25
    assert main(["status", integration_id]) == 0
    assert "status success" in capsys.readouterr().out


def test_errors_are_one_line(home: Path, tmp_path: Path, capsys) -> None:
    assert main(["status", "no-such-integration"]) == 1
    err = capsys.readouterr().err
    assert "no-such-integration" in err and "Traceback" not in err

    long_name = "x" * 150  # longer than a terminal line: still one line, never wrapped
    assert main(["status", long_name]) == 1
    assert capsys.readouterr().err == f"error: integration {long_name} does not exist\n"

    url = "postgresql://kiro:hunter2-pw@[::1"  # the store's error quotes the URL
    assert main(["integrations", "list", "--db", url]) == 1
    [line] = capsys.readouterr().err.splitlines()
    assert line.startswith("error: invalid Postgres URL") and "hunter2-pw" not in line

    (tmp_path / "a-file").write_text("")
    assert main(["integrations", "list", "--db", str(tmp_path / "a-file" / "x.duckdb")]) == 1
    [line] = capsys.readouterr().err.splitlines()
    assert line.startswith("error: cannot open the store")


def test_members_add_refuses_empty_ids_and_token_an_empty_subject(home: Path, capsys) -> None:
    assert main(["members", "add", "", "user-1", "owner"]) == 1
    assert capsys.readouterr().err == (
        "error: Invalid member: project: must be a non-empty string\n"
    )
    assert main(["token", "--sub", " "]) == 2
    assert "--sub must name a user" in capsys.readouterr().err


def test_invalid_settings_are_one_line(home: Path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("KIRO_SYNC_SHUTDOWN_TIMEOUT", "soon")
    for argv in (
        ["token", "--sub", "u"],
        ["integrations", "list"],
        ["import", "x.csv", "--project", "p"],
    ):
        assert main(argv) == 1
        [line] = capsys.readouterr().err.splitlines()
        assert line.startswith("error: invalid settings: KIRO_SYNC_SHUTDOWN_TIMEOUT: ")
