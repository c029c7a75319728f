"""How long loading provider YAML takes: parse with positions, validate, compile templates.

    .venv/bin/python bench/spec_load.py [--rounds 5]

Loads every bundled provider plus the complete example (tests/engine/spec/data/acme.yaml)
with a fresh catalog each round, the way a process does at startup, and prints the time per
file and for all of them. Target: all bundled providers well under a second.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from engine.catalog import ProviderCatalog
from engine.spec.loader import load_provider
from engine.strategies import shared_default_registry

EXAMPLE = Path(__file__).resolve().parents[1] / "tests" / "engine" / "spec" / "data" / "acme.yaml"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--rounds", type=int, default=5)
    rounds = parser.parse_args().rounds
    registry = shared_default_registry()
    names = ProviderCatalog(env={}, registry=registry).names()
    timings: dict[str, list[float]] = {name: [] for name in [*names, "acme (example)"]}
    for _ in range(rounds):
        catalog = ProviderCatalog(env={}, registry=registry)
        for name in names:
            started = time.perf_counter()
            catalog.get(name)
            timings[name].append(time.perf_counter() - started)
        started = time.perf_counter()
        load_provider(EXAMPLE, registry)
        timings["acme (example)"].append(time.perf_counter() - started)
    for name, spent in timings.items():
        lines = sum(
            1
            for _ in (
                EXAMPLE if name.startswith("acme") else ProviderCatalog(env={}).path(name)
            ).open()
        )
        print(f"{name:16} {lines:5} lines  {min(spent) * 1000:7.1f} ms (best of {rounds})")
    bundled = sum(min(timings[name]) for name in names)
    print(f"all {len(names)} bundled providers: {bundled * 1000:.1f} ms")


if __name__ == "__main__":
    main()
