"""Fixtures of the command-line tests: a data directory and a GitHub simulator on a thread
(the commands run their own event loop with ``asyncio.run``)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.simulators.base import serve
from tests.simulators.github import GitHubSim

TOKEN = "sim-cli-github-credential-01"
REPO = "octo/cli"


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in ("ENCRYPTION_KEY", "KIRO_SYNC_DATABASE_URL", "SUPABASE_JWT_SECRET", "SUPABASE_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("KIRO_SYNC_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


@pytest.fixture
def github_sim() -> GitHubSim:
    sim = GitHubSim(token=TOKEN)
    sim.seed_issues(REPO, count=25)
    return sim


@pytest.fixture
def github_url(github_sim: GitHubSim, secrets_seen) -> Iterator[str]:
    """The GitHub simulator on its own thread and loop."""
    sim = github_sim
    secrets_seen.add(TOKEN)
    ready: list[str] = []
    loop = asyncio.new_event_loop()
    stop = asyncio.Event()

    async def run() -> None:
        async with serve(sim) as url:
            ready.append(url)
            await stop.wait()

    thread = threading.Thread(target=loop.run_until_complete, args=(run(),), daemon=True)
    thread.start()
    while not ready:
        threading.Event().wait(0.01)
    yield ready[0]
    loop.call_soon_threadsafe(stop.set)
    thread.join(5)
    loop.close()
