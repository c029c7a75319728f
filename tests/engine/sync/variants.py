"""Provider variants for tests: a bundled provider file changed in one place, in a temporary
catalog directory that overrides the bundled one (the mapping is copied beside it)."""

from __future__ import annotations

import io
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

from engine.catalog import ProviderCatalog


def variant_catalog(
    directory: Path, name: str, edit: Callable[[dict[str, Any]], None]
) -> ProviderCatalog:
    bundled = ProviderCatalog.default()
    yaml = YAML(typ="safe")
    document = yaml.load(bundled.path(name).read_text(encoding="utf-8"))
    edit(document)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "mappings").mkdir(exist_ok=True)
    out = io.StringIO()
    yaml.dump(document, out)
    (directory / f"{name}.yaml").write_text(out.getvalue(), encoding="utf-8")
    mapping = bundled.mapping_path(name)
    assert mapping is not None
    shutil.copy(mapping, directory / "mappings" / f"{name}.yaml")
    return ProviderCatalog([directory], include_bundled=True, env={})
