"""`kiro-sync providers ...`: list, validate, schema and try, as a user runs them."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import sys
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from engine.catalog import PROVIDERS_PATH_ENV
from runtime.cli import main
from runtime.cli.providers import schema_text
from tests.runtime.cli.conftest import REPO as CLI_REPO
from tests.runtime.cli.conftest import TOKEN as CLI_TOKEN

REPO = Path(__file__).resolve().parents[3]
EXAMPLE = REPO / "tests" / "engine" / "spec" / "data" / "acme.yaml"
SCHEMA_FILE = REPO / "docs" / "provider.schema.json"

TINY = """\
name: tiny
title: Tiny Tracker
category: work_tracking
base_url: https://tiny.example
auth_modes:
  token:
    title: Token
    fields:
      - {name: accessToken, secret: true}
    auth: {type: bearer}
test_connection:
  request: {path: /me}
  identity_path: $.login
streams:
  items:
    request:
      path: /items
      query: {per_page: "{{ page.size }}"}
    records_path: $.items[*]
    page_size: 2
    pagination: {type: page_number, page_param: page}
"""


TINY_MAPPING = """\
provider: tiny
streams:
  items:
    entity: work_item
    fields:
      title: {path: title}
"""


@pytest.fixture
def providers_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    directory = tmp_path / "providers"
    directory.mkdir()
    (directory / "tiny.yaml").write_text(TINY)
    shutil.copy(EXAMPLE, directory / "acme.yaml")
    monkeypatch.setenv(PROVIDERS_PATH_ENV, str(directory))
    return directory


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    status = main(["providers", *argv])
    out, err = capsys.readouterr()
    return status, out, err


# --- validate -----------------------------------------------------------------------------


def test_validate_a_clean_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    file = tmp_path / "tiny.yaml"
    file.write_text(TINY)
    status, out, err = run(capsys, "validate", str(file))
    assert status == 0
    assert out == f"{file}: ok\n"
    assert err == "1 checked, 0 invalid\n"


def test_validate_prints_every_problem_and_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = tmp_path / "tiny.yaml"
    good.write_text(TINY)
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        TINY.replace("type: page_number", "type: pages").replace(
            "{{ page.size }}", "{{ page_size }}"
        )
    )
    status, out, err = run(capsys, "validate", str(good), str(bad))
    assert status == 2
    assert out.splitlines() == [
        f"{good}: ok",
        f"{bad}:18:25: streams.items.request.query.per_page: unknown name 'page_size' in "
        "template '{{ page_size }}'; names available here: config, credentials, cursor, now, "
        "page, parent, partition, window",
        f"{bad}:21:24: streams.items.pagination.type: unknown pagination type 'pages'; valid: "
        "cursor, graphql_relay, link_header, next_url, none, offset, page_number",
    ]
    assert err == "2 checked, 1 invalid\n"


def test_validate_yaml_error_and_missing_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text("name: x\nname: y\n")
    missing = tmp_path / "missing.yaml"
    status, out, _ = run(capsys, "validate", str(broken), str(missing))
    assert status == 2
    assert out.splitlines() == [
        f"{broken}:2:1: yaml: duplicate key 'name' (first at line 1)",
        f"{missing}:1:1: file: cannot read: No such file or directory",
    ]


def test_validate_without_files_checks_the_catalog(
    providers_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status, out, _ = run(capsys, "validate")
    assert status == 0, out
    assert f"{providers_dir / 'tiny.yaml'}: ok" in out.splitlines()
    assert f"{providers_dir / 'acme.yaml'}: ok" in out.splitlines()

    (providers_dir / "mappings").mkdir()
    mapping = providers_dir / "mappings" / "tiny.yaml"
    mapping.write_text(TINY_MAPPING)
    status, out, _ = run(capsys, "validate")
    assert status == 0, out
    assert f"{mapping}: ok" in out.splitlines()

    mapping.write_text(TINY_MAPPING.replace("  items:", "  itemz:"))
    status, out, _ = run(capsys, "validate")
    assert status == 2
    assert f"{mapping}:3:3: streams.itemz: tiny has no stream 'itemz'; streams: items" in out

    mapping.unlink()
    (providers_dir / "wrong.yaml").write_text(TINY)  # name: tiny in wrong.yaml
    status, out, err = run(capsys, "validate")
    assert status == 2
    assert f"{providers_dir / 'wrong.yaml'}:1:7: name: 'tiny' does not match the file name " in out
    assert "1 invalid" in err


# --- list ---------------------------------------------------------------------------------


def test_list_shows_name_title_auth_and_streams(
    providers_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status, out, err = run(capsys, "list")
    assert status == 0, err
    lines = out.splitlines()
    assert lines[0] == "NAME\tTITLE\tAUTH\tSTREAMS"
    assert "tiny\tTiny Tracker\tbearer\titems" in lines
    assert (
        "acme\tAcme Tracker\tbearer, basic, api_key, header, query, oauth2\t"
        "projects, issues, comments, events, messages, boards, users"
    ) in lines


def test_list_reports_invalid_providers(
    providers_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (providers_dir / "zzz.yaml").write_text("name: zzz\n")
    status, out, err = run(capsys, "list")
    assert status == 2
    assert "tiny\tTiny Tracker\tbearer\titems" in out.splitlines()
    assert "zzz: invalid (6 problems): " in err
    assert "kiro-sync providers validate" in err


# --- schema -------------------------------------------------------------------------------


def test_committed_schema_is_up_to_date(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run(capsys, "schema")
    assert status == 0
    assert out == SCHEMA_FILE.read_text(), (
        "docs/provider.schema.json is stale: run "
        "`kiro-sync providers schema --output docs/provider.schema.json`"
    )


def test_schema_lists_strategy_types_and_spec_keys(tmp_path: Path) -> None:
    target = tmp_path / "schema.json"
    assert main(["providers", "schema", "--output", str(target)]) == 0
    assert target.read_text() == schema_text()
    schema = json.loads(target.read_text())
    pagination = schema["$defs"]["StreamSpec"]["properties"]["pagination"]["oneOf"]
    assert [o["title"] for o in pagination] == [
        "cursor",
        "graphql_relay",
        "link_header",
        "next_url",
        "none",
        "offset",
        "page_number",
    ]
    assert all(o["required"][0] == "type" for o in pagination)
    assert schema["additionalProperties"] is False
    assert set(schema["required"]) == {
        "name",
        "title",
        "category",
        "base_url",
        "auth_modes",
        "test_connection",
        "streams",
    }
    assert "register" in schema["$defs"]["WebhookSpec"]["properties"]


def test_valid_providers_satisfy_the_committed_schema() -> None:
    # Editors check files against the schema: it must accept what the loader accepts
    # (status codes as numbers, strategy blocks, the `register` alias...).
    from jsonschema import Draft202012Validator

    from engine.catalog import ProviderCatalog
    from engine.spec.yamlsource import parse_yaml

    validator = Draft202012Validator(json.loads(SCHEMA_FILE.read_text()))
    catalog = ProviderCatalog(env={})
    files = [EXAMPLE, *(catalog.path(name) for name in catalog.names())]
    for file in files:
        data, _ = parse_yaml(file.read_text(), str(file))
        errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(data)]
        assert errors == [], file
    broken, _ = parse_yaml(TINY.replace("type: page_number", "type: pages"), "tiny.yaml")
    assert list(validator.iter_errors(broken))


# --- try ----------------------------------------------------------------------------------

TOKEN = "tiny-secret-token-123"


def tiny_app() -> web.Application:
    items = [{"id": n, "title": f"item {n}"} for n in range(1, 6)]

    async def list_items(request: web.Request) -> web.Response:
        if request.headers.get("Authorization") != f"Bearer {TOKEN}":
            return web.json_response({"message": "Bad credentials"}, status=401)
        size = int(request.query["per_page"])
        page = int(request.query.get("page", "1"))
        return web.json_response({"items": items[(page - 1) * size : page * size]})

    app = web.Application()
    app.router.add_get("/items", list_items)
    return app


async def run_cli(*argv: str) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        "from runtime.cli import run; run()",
        "providers",
        *argv,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, PROVIDERS_PATH_ENV: ""},
        cwd=REPO,
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def test_try_prints_records_as_json_lines(tmp_path: Path) -> None:
    server = TestServer(tiny_app(), host="127.0.0.1")
    await server.start_server()
    try:
        provider = tmp_path / "tiny.yaml"
        provider.write_text(TINY)
        credentials = tmp_path / "credentials.json"
        credentials.write_text(
            json.dumps({"accessToken": TOKEN, "baseUrl": str(server.make_url(""))})
        )
        status, out, err = await run_cli(
            "try", str(provider), "items", "--credentials", str(credentials), "--limit", "3"
        )
        assert status == 0, err
        assert [json.loads(line) for line in out.splitlines()] == [
            {"id": 1, "title": "item 1"},
            {"id": 2, "title": "item 2"},
            {"id": 3, "title": "item 3"},
        ]
        assert err == "3 records from tiny.items\n"

        credentials.write_text(
            json.dumps({"accessToken": "wrong-" + TOKEN, "baseUrl": str(server.make_url(""))})
        )
        status, out, err = await run_cli(
            "try", str(provider), "items", "--credentials", str(credentials)
        )
        assert status == 1
        assert out == ""
        assert err.startswith("error (config): ")
        assert TOKEN not in err
    finally:
        await server.close()


async def test_try_gives_templates_the_config_connect_would(
    tmp_path: Path, github_url: str
) -> None:
    credentials = tmp_path / "credentials.yaml"
    credentials.write_text(f"token: {CLI_TOKEN}\nbaseUrl: {github_url}\n")
    status, out, err = await run_cli("try", "github", "issues", "--credentials", str(credentials))
    assert (status, out) == (0, ""), err  # no config: no repository to read, not a crash
    assert err == "0 records from github.issues\n"

    config = tmp_path / "config.yaml"
    config.write_text(f"filters:\n  projects: [{CLI_REPO}]\n")
    status, out, err = await run_cli(
        "try",
        "github",
        "issues",
        "--credentials",
        str(credentials),
        "--config",
        str(config),
        "--limit",
        "2",
    )
    assert status == 0, err
    assert len(out.splitlines()) == 2

    config.write_text("filtres: {}\nsyncFrequency: weekly\n")
    status, out, err = await run_cli(
        "try", "github", "issues", "--credentials", str(credentials), "--config", str(config)
    )
    assert status == 2 and out == ""
    assert err.splitlines()[0].startswith("error: invalid config: ")
    assert "  config.filtres: unknown key" in err.splitlines()[1:]


def test_try_reads_files_like_provider_files(tmp_path: Path, capsys) -> None:
    provider = tmp_path / "tiny.yaml"
    provider.write_text(TINY)
    credentials = tmp_path / "credentials.yaml"
    credentials.write_text("accessToken: a\naccessToken: b\n")
    status, _, err = run(capsys, "try", str(provider), "items", "--credentials", str(credentials))
    assert status == 2
    assert err == f"{credentials}:2:1: yaml: duplicate key 'accessToken' (first at line 1)\n"
    depth = 20_000  # the C parser would crash the process, not raise
    credentials.write_text("a: " + "[" * depth + "]" * depth + "\n")
    status, _, err = run(capsys, "try", str(provider), "items", "--credentials", str(credentials))
    assert status == 2 and err.endswith("yaml: nested deeper than 64 levels\n")


def test_try_rejects_an_unknown_stream_and_bad_files(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    provider = tmp_path / "tiny.yaml"
    provider.write_text(TINY)
    credentials = tmp_path / "credentials.yaml"
    credentials.write_text("accessToken: x\n")
    status, _, err = run(capsys, "try", str(provider), "itemz", "--credentials", str(credentials))
    assert (status, err) == (2, "error: tiny has no stream 'itemz'; streams: items\n")

    credentials.write_text("- not\n- a mapping\n")
    status, _, err = run(capsys, "try", str(provider), "items", "--credentials", str(credentials))
    assert status == 2
    assert err == f"{credentials}:1:1: credentials: expected a mapping of names to values\n"

    status, _, err = run(capsys, "try", "nosuch", "items", "--credentials", str(credentials))
    assert status == 2
    assert err.startswith("error: unknown provider 'nosuch'; known providers: ")

    credentials.write_text("acessToken: x\n")  # checked as connect checks them
    status, _, err = run(capsys, "try", str(provider), "items", "--credentials", str(credentials))
    assert status == 2
    assert err.splitlines() == [
        "error: Invalid credentials",
        "  credentials.acessToken: unknown field; valid: accessToken, authType, baseUrl",
    ]


def test_providers_without_a_command_prints_usage(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = run(capsys)
    assert status == 2
    assert "validate" in err and out == ""
