"""Provider YAML -> ``Provider``: parsed with positions, validated, templates compiled.

    provider = load_provider("providers/github.yaml", registry)

Three passes, and every problem of the second and third is collected before anything is
raised, so one run of ``kiro-sync providers validate`` lists all of them:

1. YAML (``engine.spec.yamlsource``): a syntax error or a duplicate key stops here;
2. the spec models (``engine.spec.validation``), with strategy blocks checked through the
   registry in use;
3. the checks pydantic cannot make (``engine.spec.checks``): template names per place,
   JSONPaths, references between streams, writes and webhooks.

Any problem raises ``SpecError``; its ``problems`` are ``file:line:col: path: message``
lines, in file order.
"""

from __future__ import annotations

from pathlib import Path

from engine.errors import SpecError
from engine.provider import Provider
from engine.registry import Registry
from engine.spec.checks import check_spec
from engine.spec.problems import Problem, render
from engine.spec.validation import validate_spec
from engine.spec.yamlsource import parse_yaml
from engine.templating import Templates


def load_provider(
    path: str | Path,
    registry: Registry | None = None,
    *,
    expected_name: str | None = None,
    display_name: str | None = None,
) -> Provider:
    """Load and check a provider file.

    ``expected_name`` (the catalog passes the file's stem) must equal the spec's ``name``;
    ``display_name`` is how the file is named in problems (default: ``path`` as given).
    """
    filename = display_name or str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise SpecError(f"{filename}:1:1: file: cannot read: {reason}", file=filename) from None
    return load_provider_text(
        text, filename, registry, path=Path(path), expected_name=expected_name
    )


def load_provider_text(
    text: str,
    filename: str = "<string>",
    registry: Registry | None = None,
    *,
    path: Path | None = None,
    expected_name: str | None = None,
) -> Provider:
    """Load and check provider YAML given as text; ``filename`` names it in problems."""
    registry = registry if registry is not None else _default_registry()
    data, source = parse_yaml(text, filename)
    if data is None:
        raise SpecError(f"{filename}:1:1: (top level): the file is empty", file=filename)
    spec, problems = validate_spec(data, registry)
    templates = Templates()
    problems = [*problems, *check_spec(data, templates, expected_name)]
    if problems or spec is None:
        raise SpecError(render(problems or [_unexplained()], source), file=filename)
    return Provider(spec=spec, templates=templates, path=path)


def provider_problems(
    path: str | Path, registry: Registry | None = None, *, display_name: str | None = None
) -> list[str]:
    """Every problem of a provider file (empty when it is valid); never raises SpecError."""
    try:
        load_provider(path, registry, display_name=display_name)
    except SpecError as exc:
        return exc.problems
    return []


def _unexplained() -> Problem:
    return Problem((), "the spec did not validate")


def _default_registry() -> Registry:
    from engine.strategies import shared_default_registry

    return shared_default_registry()


__all__ = ["load_provider", "load_provider_text", "provider_problems"]
