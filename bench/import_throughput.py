"""Benchmark: a full import of 20,000 GitHub issues into DuckDB against a raw read loop.

Both walk the same pages of the GitHub simulator (tests/simulators/github.py, served on
127.0.0.1; an untimed first walk makes it render and keep every issue, so its own JSON
encoding stays out of the timing):

- raw:    aiohttp + orjson only: GET /repos/octo/hello/issues page by page, follow
          Link rel="next", parse every body. The floor of what any import can cost.
- import: ``SyncService.run`` with the bundled providers/github.yaml and mappings/github.yaml
          into a fresh DuckDB file: requests rendered from templates, rate-limit and error
          rules, records mapped (template ids, value maps, users by email), links looked up,
          snapshot hashes, bulk upserts with cursor checkpoints, batches pipelined.

Prints records/s for both, the ratio (the aim is >= 0.6) and the peak RSS of the process.

    .venv/bin/python bench/import_throughput.py                 # 20,000 issues, batchSize 1000
    .venv/bin/python bench/import_throughput.py --count 5000 --batch-size 100
    .venv/bin/python bench/import_throughput.py --switch-interval 0.0005

Results go to docs/performance.md by hand (section "Import throughput").
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import resource
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import orjson

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine.catalog import ProviderCatalog
from engine.store.base import Integration
from engine.store.duckdb import DuckDBStore
from engine.sync import SyncService
from tests.simulators.base import SimClock, serve
from tests.simulators.github import GitHubSim

REPO = "octo/hello"
TOKEN = "ghp_sim_token"
HEADERS = {
    "Authorization": f"Bearer {TOKEN}",
    "Accept": "application/vnd.github+json",
    "X-GitHub-Api-Version": "2022-11-28",
    "User-Agent": "kiro-sync-bench",
}


def make_sim(count: int) -> GitHubSim:
    sim = GitHubSim(clock=SimClock(datetime(2025, 3, 1, tzinfo=UTC)))
    sim.add_repo(REPO)
    sim.seed_issues(REPO, count=count, pull_requests=0)
    sim.rate.limit = sim.rate.remaining = 10**9  # the benchmark is not about rate limits
    return sim


async def warm_up(base_url: str) -> None:
    """One untimed walk: the simulator renders every issue for the address it is served on
    and keeps the bytes. Its 20,000 issues are then millions of long-lived objects that a
    real importer's process does not hold; frozen, the cyclic GC stops rescanning them (they
    would add ~0.3 s to an import, whose allocations trigger full collections)."""
    await raw_loop(base_url)
    gc.collect()
    gc.freeze()


async def raw_loop(base_url: str) -> tuple[int, float, float]:
    """Walk every page with aiohttp + orjson; (records, wall seconds, CPU seconds)."""
    query = "state=all&sort=updated&direction=asc&per_page=100"
    url: str | None = f"{base_url}/repos/{REPO}/issues?{query}"
    records = 0
    started, cpu = time.perf_counter(), time.process_time()
    async with aiohttp.ClientSession(headers=HEADERS) as session:
        while url:
            async with session.get(url) as answer:
                body = await answer.read()
                records += len(orjson.loads(body))
                following = answer.links.get("next")
                url = str(following["url"]) if following else None
    return records, time.perf_counter() - started, time.process_time() - cpu


async def full_import(
    base_url: str, sim: GitHubSim, batch_size: int, catalog: ProviderCatalog
) -> tuple[int, float, float, dict[str, int]]:
    """A full import into a new DuckDB file; (created, wall s, CPU s, counts). The provider
    catalog is loaded once, as an Engine does; the mapping is compiled inside the timing."""
    with tempfile.TemporaryDirectory() as directory:
        store = DuckDBStore(Path(directory) / "bench.duckdb")
        await store.open()
        try:
            await store.ensure_project("bench")
            config = {"syncDirection": "import", "filters": {"projects": [REPO]}}
            integration = await store.create_integration(
                Integration(id="bench", project_id="bench", type="github", name="gh", config=config)
            )
            service = SyncService(store, catalog, clock=lambda: sim.clock.now)
            credentials = {"token": TOKEN, "baseUrl": base_url}
            options = {"batchSize": batch_size, "includeComments": False}
            started, cpu = time.perf_counter(), time.process_time()
            result = await service.run(integration, credentials, options)
            seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
        finally:
            await store.close()
    if result.status != "success":
        raise SystemExit(f"import failed: {result.error_message} {result.errors}")
    return result.imported.created, seconds, cpu, result.imported.to_dict()


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux


async def main(count: int, batch_size: int, rounds: int) -> None:
    sim = make_sim(count)
    catalog = ProviderCatalog.default()
    catalog.get("github")
    best = {"raw": 0.0, "import": 0.0, "raw_cpu": 0.0, "import_cpu": 0.0}
    async with serve(sim) as base_url:
        await warm_up(base_url)
        print(f"simulator: {count} issues in {REPO}, rendered; peak RSS {peak_rss_mb():.0f} MB")
        for _ in range(rounds):
            records, wall, cpu = await raw_loop(base_url)
            report("raw aiohttp+orjson", records, wall, cpu, best, "raw")
            created, wall, cpu, _counts = await full_import(base_url, sim, batch_size, catalog)
            report("full import", created, wall, cpu, best, "import")
    print(f"best of {rounds} (wall): raw {best['raw']:,.0f}/s, import {best['import']:,.0f}/s")
    print(f"ratio import/raw (wall): {best['import'] / best['raw']:.2f} (aim >= 0.60)")
    print(f"ratio import/raw (CPU):  {best['import_cpu'] / best['raw_cpu']:.2f}")
    interval = sys.getswitchinterval() * 1000
    print(
        f"batchSize {batch_size}; switch interval {interval:g} ms; peak RSS: {peak_rss_mb():.0f} MB"
    )


def report(
    label: str, records: int, wall: float, cpu: float, best: dict[str, float], key: str
) -> None:
    print(
        f"{label:20} {records} records in {wall:.2f}s = {records / wall:,.0f}/s "
        f"({cpu:.2f} CPU-s = {records / cpu:,.0f}/CPU-s; the simulator's share included)"
    )
    best[key] = max(best[key], records / wall)
    best[f"{key}_cpu"] = max(best[f"{key}_cpu"], records / cpu)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=20_000)
    parser.add_argument("--batch-size", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--switch-interval",
        type=float,
        default=None,
        help="sys.setswitchinterval for the run (seconds; Python's default is 0.005): how "
        "soon the DuckDB thread gets the GIL back while the event loop's thread maps records",
    )
    args = parser.parse_args()
    if args.switch_interval is not None:
        sys.setswitchinterval(args.switch_interval)
    asyncio.run(main(args.count, args.batch_size, args.rounds))
