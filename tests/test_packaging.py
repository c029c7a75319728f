"""`pip install` of the wheel into a fresh venv finds the bundled providers and mappings.

The wheel is built from a copy of the source tree that also holds the example provider
(tests/engine/spec/data/acme.yaml) and a mapping for it, so the check means something
whatever providers/ holds today. The fresh venv gets only the wheel (``--no-deps``); the
dependencies come from this environment's site-packages through a .pth file, which keeps the
test fast and needs no index for them. It runs from a directory outside the checkout.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # builds a wheel and a venv: ~10 s

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "tests" / "engine" / "spec" / "data" / "acme.yaml"
SOURCES = ("engine", "runtime", "providers", "mappings", "setup.py", "pyproject.toml", "README.md")

PROBE = """
import json, engine
from engine.catalog import ProviderCatalog, bundled_sources
catalog = ProviderCatalog.default()
provider = catalog.get("acme")
print(json.dumps({
    "engine": engine.__file__,
    "names": catalog.names(),
    "path": str(catalog.path("acme")),
    "mapping": str(catalog.mapping_path("acme")),
    "streams": list(provider.spec.streams),
    "bundled": len(bundled_sources()),
}))
"""


def copy_sources(target: Path) -> None:
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")
    for name in SOURCES:
        source = REPO / name
        if source.is_dir():
            shutil.copytree(source, target / name, ignore=ignore)
        elif source.is_file():
            shutil.copy(source, target / name)
    if not (target / "providers" / "acme.yaml").exists():
        shutil.copy(EXAMPLE, target / "providers" / "acme.yaml")
        (target / "mappings" / "acme.yaml").write_text("# the example provider's mapping\n")


def run(*command: str | Path, cwd: Path) -> str:
    env = {
        k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "KIRO_SYNC_PROVIDERS_PATH")
    }
    done = subprocess.run(
        [str(c) for c in command], cwd=cwd, env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, f"{command} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def test_wheel_carries_providers_and_mappings(tmp_path: Path) -> None:
    source, wheels, venv, outside = (tmp_path / n for n in ("src", "wheels", "venv", "outside"))
    source.mkdir()
    outside.mkdir()
    copy_sources(source)
    run(
        sys.executable,
        "-m",
        "pip",
        "wheel",
        "--quiet",
        "--no-deps",
        "-w",
        wheels,
        source,
        cwd=tmp_path,
    )
    [wheel] = wheels.glob("kiro_sync-*.whl")

    run(sys.executable, "-m", "venv", "--without-pip", venv, cwd=tmp_path)
    python = venv / "bin" / "python"
    pip = (sys.executable, "-m", "pip", "--python", python)
    run(*pip, "install", "--quiet", "--no-deps", "--no-index", wheel, cwd=tmp_path)
    site = Path(
        run(
            python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))", cwd=outside
        ).strip()
    )
    (site / "zz_dependencies.pth").write_text(sysconfig.get_path("purelib") + "\n")

    found = json.loads(run(python, "-c", PROBE, cwd=outside))
    installed = site / "engine"
    assert Path(found["engine"]).parent == installed  # not the checkout
    expected = sorted(p.stem for p in (source / "providers").glob("*.yaml"))
    assert found["names"] == expected
    assert found["path"] == str(installed / "bundled_providers" / "acme.yaml")
    assert found["mapping"] == str(installed / "bundled_mappings" / "acme.yaml")
    assert found["streams"][:2] == ["projects", "issues"]
    assert found["bundled"] == 1

    listing = run(venv / "bin" / "kiro-sync", "providers", "list", cwd=outside)
    assert "acme\tAcme Tracker\t" in listing
