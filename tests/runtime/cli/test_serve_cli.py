"""``kiro-sync serve`` as a real process: no configuration needed, data kept across restarts,
SIGTERM/SIGINT stop it within the bound after the running sync committed."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from runtime.auth import load_or_create_secret, mint_token
from runtime.cli import main
from tests.runtime.cli.conftest import REPO, TOKEN

KIRO_SYNC = str(Path(sys.executable).with_name("kiro-sync"))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def processes() -> Iterator[list[subprocess.Popen[bytes]]]:
    """Every server a test starts; one a failing test left running is killed here."""
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for process in started:
        if process.poll() is None:
            process.kill()
            process.wait(10)


class Server:
    """One ``kiro-sync serve`` process in ``cwd`` with nothing configured but the port."""

    def __init__(
        self, cwd: Path, port: int, started: list[subprocess.Popen[bytes]], **env: str
    ) -> None:
        clean = {k: v for k, v in os.environ.items() if not k.startswith(("KIRO_SYNC", "SUPA"))}
        clean.pop("ENCRYPTION_KEY", None)
        self.url = f"http://127.0.0.1:{port}"
        self.process = subprocess.Popen(
            [KIRO_SYNC, "serve", "--port", str(port)],
            cwd=cwd,
            env={**clean, **env},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        started.append(self.process)
        self._wait_ready()

    def _wait_ready(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process.poll() is None, self.process.stderr.read().decode()  # type: ignore[union-attr]
            try:
                with urllib.request.urlopen(f"{self.url}/readyz", timeout=1) as answer:
                    if answer.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError):
                time.sleep(0.05)
        raise AssertionError("the server did not become ready")

    def call(self, token: str, body: dict[str, Any]) -> tuple[int, Any]:
        request = urllib.request.Request(
            f"{self.url}/functions/v1/integration-service",
            data=json.dumps(body).encode(),
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as answer:
                return answer.status, json.loads(answer.read())
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read())

    def stop(self, sig: int = signal.SIGTERM, bound: float = 15.0) -> tuple[int, float, str]:
        started = time.monotonic()
        self.process.send_signal(sig)
        _, err = self.process.communicate(timeout=bound)
        return self.process.returncode, time.monotonic() - started, err.decode()


def test_serve_keeps_data_and_stops_gracefully(
    tmp_path: Path, github_sim, github_url: str, secrets_seen, monkeypatch, capsys, processes
) -> None:
    github_sim.inject_delay(0.3, times=5, path=f"/repos/{REPO}/issues")  # a sync that takes a while
    port = free_port()
    server = Server(tmp_path, port, processes, KIRO_SYNC_SHUTDOWN_TIMEOUT="10")
    home = tmp_path / ".kiro-sync"
    made = {p.name for p in home.iterdir()}
    assert {"encryption.key", "jwt.secret", "kiro-sync.duckdb"} <= made
    for secret_file in ("encryption.key", "jwt.secret"):
        assert (home / secret_file).stat().st_mode & 0o777 == 0o600
    token = mint_token(load_or_create_secret(home), "svc", "service_role")
    secrets_seen.add(token, load_or_create_secret(home))
    connect = {
        "action": "connect",
        "integrationType": "github",
        "projectId": "project-1",
        "data": {
            "credentials": {"token": TOKEN, "baseUrl": github_url},
            "config": {"filters": {"projects": [REPO]}},
        },
    }
    status, answer = server.call(token, connect)
    assert status == 200, answer
    integration_id = answer["data"]["id"]
    body = {
        "action": "sync",
        "integrationId": integration_id,
        "data": {"syncOptions": {"batchSize": 5}},
    }
    status, answer = server.call(token, body)
    assert status == 202

    monkeypatch.setenv("KIRO_SYNC_HOME", str(home))
    assert main(["integrations", "list"]) == 1  # DuckDB: one process at a time
    assert "stop `kiro-sync serve` first" in capsys.readouterr().err

    code, seconds, log = server.stop(signal.SIGTERM)  # while the sync runs
    assert code == 0 and seconds < 12
    lines = [json.loads(line) for line in log.splitlines() if line.startswith("{")]
    assert any(line["msg"] == "sync finished" for line in lines)
    assert TOKEN not in log and token not in log

    again = Server(tmp_path, port, processes)  # the same data directory
    status, answer = again.call(
        token, {"action": "get-sync-status", "integrationId": integration_id}
    )
    assert status == 200
    assert answer["data"]["sync_status"] == "success"
    assert answer["data"]["logs"][0]["items_created"] == 25  # the run committed before exit
    code, seconds, _ = again.stop(signal.SIGINT)
    assert code == 0 and seconds < 12


@pytest.mark.parametrize(
    ("argv", "env", "says"),
    [
        (["--db", "mysql://db/kiro"], {}, "unsupported database URL scheme 'mysql'"),
        (["--db", "postgresql://kiro:pw-9f8e7d@127.0.0.1:1/kiro"], {}, "connection failed"),
        ([], {"ENCRYPTION_KEY": "not-a-key"}, "ENCRYPTION_KEY: key 1 is not 32 bytes"),
        ([], {"KIRO_SYNC_SHUTDOWN_TIMEOUT": "soon"}, "invalid settings: KIRO_SYNC_SHUTDOWN"),
        ([], {"KIRO_SYNC_HOME": "a-file"}, "a-file/jwt.secret"),
    ],
)
def test_a_server_that_cannot_start_says_why_in_one_line(
    tmp_path: Path, argv: list[str], env: dict[str, str], says: str
) -> None:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("KIRO_SYNC", "SUPA"))}
    clean.pop("ENCRYPTION_KEY", None)
    (tmp_path / "a-file").write_text("")
    done = subprocess.run(
        [KIRO_SYNC, "serve", "--port", str(free_port()), *argv],
        cwd=tmp_path,
        env={**clean, **env},
        capture_output=True,
        timeout=60,
    )
    err = done.stderr.decode()
    assert done.returncode == 1, err
    assert "Traceback" not in err
    [line] = [line for line in err.splitlines() if not line.startswith("{")]
    assert line.startswith("error: ") and says in line, line
    assert "pw-9f8e7d" not in err


def test_a_port_in_use_is_one_line(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        clean = {k: v for k, v in os.environ.items() if not k.startswith(("KIRO_SYNC", "SUPA"))}
        done = subprocess.run(
            [KIRO_SYNC, "serve", "--port", str(port)],
            cwd=tmp_path,
            env=clean,
            capture_output=True,
            timeout=60,
        )
    err = done.stderr.decode()
    assert done.returncode == 1 and "Traceback" not in err
    assert "error: cannot start the server: " in err
    assert f"('127.0.0.1', {port})" in err and "address already in use" in err
