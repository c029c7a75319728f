"""Where providers come from: the bundled providers/ and mappings/ plus extra directories.

    catalog = ProviderCatalog.default()      # extra dirs from $KIRO_SYNC_PROVIDERS_PATH + bundled
    catalog.names()                          # ["asana", "github", ...] (nothing is loaded)
    provider = catalog.get("github")         # loaded and checked once, then cached
    catalog.mapping_path("github")           # mappings/github.yaml, or None

Bundled files are found in a checkout (the repository's top-level ``providers/`` and
``mappings/``) and in an installed wheel, which carries them as the data packages
``engine.bundled_providers`` and ``engine.bundled_mappings`` (see setup.py).

An extra directory holds provider files ``<name>.yaml``; their mappings live in its
``mappings/`` subdirectory. Directories are searched in order: the ones given to the
constructor, then those of ``$KIRO_SYNC_PROVIDERS_PATH`` (``os.pathsep``-separated), then
the bundled ones; the first file for a name wins, so a directory can override a bundled
provider.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path

from engine.errors import NotFoundError, SpecError
from engine.provider import Provider
from engine.registry import Registry
from engine.spec.loader import load_provider_text

PROVIDERS_PATH_ENV = "KIRO_SYNC_PROVIDERS_PATH"
BUNDLED_PROVIDERS = "engine.bundled_providers"
BUNDLED_MAPPINGS = "engine.bundled_mappings"
_SUFFIX = ".yaml"


@dataclass(frozen=True)
class Source:
    """One directory searched for providers, and the directory of their mappings."""

    providers: Traversable
    mappings: Traversable | None
    bundled: bool = False


class ProviderCatalog:
    """Provider files by name, loaded on first use and cached (thread-safe)."""

    def __init__(
        self,
        directories: Iterable[str | Path] = (),
        *,
        registry: Registry | None = None,
        include_bundled: bool = True,
        env: Mapping[str, str] | None = None,
    ) -> None:
        environ = os.environ if env is None else env
        extra = [Path(d) for d in directories]
        extra += [Path(d) for d in environ.get(PROVIDERS_PATH_ENV, "").split(os.pathsep) if d]
        sources = [Source(d, d / "mappings") for d in extra]
        if include_bundled:
            sources += bundled_sources()
        self.sources: tuple[Source, ...] = tuple(sources)
        self._registry = registry
        self._loaded: dict[str, Provider] = {}
        self._lock = threading.Lock()

    @classmethod
    def default(cls, registry: Registry | None = None) -> ProviderCatalog:
        """Bundled providers plus the directories of ``$KIRO_SYNC_PROVIDERS_PATH``."""
        return cls(registry=registry)

    @property
    def registry(self) -> Registry:
        if self._registry is None:
            from engine.strategies import shared_default_registry

            self._registry = shared_default_registry()
        return self._registry

    def names(self) -> list[str]:
        """Every provider name, sorted; nothing is loaded."""
        return sorted(self._files())

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name in self._files()

    def path(self, name: str) -> Path:
        """The provider file for ``name``; NotFoundError when there is none."""
        return _as_path(self._file(name))

    def mapping_path(self, name: str) -> Path | None:
        """The mapping file of provider ``name`` (beside where it was found), or None."""
        self._file(name)
        for source in self.sources:
            if source.mappings is None:
                continue
            candidate = source.mappings.joinpath(name + _SUFFIX)
            if candidate.is_file():
                return _as_path(candidate)
        return None

    def get(self, name: str) -> Provider:
        """The loaded provider; SpecError when its file is invalid, NotFoundError if absent."""
        with self._lock:
            provider = self._loaded.get(name)
            if provider is None:
                provider = self._load(name)
                self._loaded[name] = provider
            return provider

    def problems(self, name: str) -> list[str]:
        """Every problem of provider ``name``'s file (empty when it loads)."""
        try:
            self.get(name)
        except SpecError as exc:
            return exc.problems
        return []

    def mapping_problems(self, name: str) -> list[str]:
        """Every problem of provider ``name``'s mapping file, checked against the provider
        (empty when it loads or there is none; SpecError when the provider is invalid)."""
        path = self.mapping_path(name)
        if path is None:
            return []
        from engine.mapping.loader import load_mapping

        spec = self.get(name).spec
        try:
            load_mapping(path, spec, display_name=display_path(path))
        except SpecError as exc:
            return exc.problems
        return []

    def _load(self, name: str) -> Provider:
        file = self._file(name)
        shown = display_path(file)
        try:
            text = file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise SpecError(f"{shown}:1:1: file: cannot read: {exc}", file=shown) from None
        return load_provider_text(
            text, shown, self.registry, path=_as_path(file), expected_name=name
        )

    def _file(self, name: str) -> Traversable:
        found = self._files().get(name)
        if found is None:
            known = ", ".join(self.names()) or "none"
            raise NotFoundError(f"unknown provider '{name}'; known providers: {known}", name=name)
        return found

    def _files(self) -> dict[str, Traversable]:
        files: dict[str, Traversable] = {}
        for source in self.sources:
            for entry in _yaml_files(source.providers):
                files.setdefault(entry.name.removesuffix(_SUFFIX), entry)
        return files


def bundled_sources() -> list[Source]:
    """The providers/ and mappings/ shipped with kiro-sync (checkout or installed wheel)."""
    root = Path(__file__).resolve().parent.parent
    if (root / "pyproject.toml").is_file() and (root / "providers").is_dir():
        return [Source(root / "providers", root / "mappings", bundled=True)]
    providers = _package_files(BUNDLED_PROVIDERS)
    if providers is None:
        return []
    return [Source(providers, _package_files(BUNDLED_MAPPINGS), bundled=True)]


def _package_files(package: str) -> Traversable | None:
    try:
        return resources.files(package)
    except ModuleNotFoundError:  # nothing bundled of that kind in this installation
        return None


def _yaml_files(directory: Traversable) -> Sequence[Traversable]:
    try:
        if not directory.is_dir():
            return []
        entries = list(directory.iterdir())
    except OSError:
        return []
    return sorted(
        (e for e in entries if e.name.endswith(_SUFFIX) and e.is_file()), key=lambda e: e.name
    )


def _as_path(entry: Traversable) -> Path:
    return entry if isinstance(entry, Path) else Path(str(entry))


def display_path(entry: Traversable | Path) -> str:
    """A file as problems name it: relative to the working directory when inside it."""
    path = _as_path(entry)
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except (ValueError, OSError):
        return str(path)


__all__ = [
    "BUNDLED_MAPPINGS",
    "BUNDLED_PROVIDERS",
    "PROVIDERS_PATH_ENV",
    "ProviderCatalog",
    "Source",
    "bundled_sources",
    "display_path",
]
