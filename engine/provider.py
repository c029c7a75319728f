"""A loaded provider: its validated spec and the templates compiled for it.

``engine.spec.loader`` builds these from YAML (templates compiled and their names checked at
load); tests may build one from a ``ProviderSpec`` directly. The interpreter renders every
template through ``render``/``render_tree``/``condition`` so that a template error names the
spec location it came from.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.spec.models import ProviderSpec
from engine.templating import Templates

_FALSE_WORDS = frozenset({"", "false", "0", "none", "null", "no", "off"})


@dataclass(frozen=True)
class Provider:
    spec: ProviderSpec
    templates: Templates
    path: Path | None = None

    @property
    def name(self) -> str:
        return self.spec.name

    def render(self, source: Any, context: Mapping[str, Any], where: str = "") -> Any:
        """Render one template (non-strings pass through unchanged)."""
        return self.templates.render(source, context, self._where(where))

    def render_tree(self, value: Any, context: Mapping[str, Any], where: str = "") -> Any:
        """Render every string leaf of a nested dict/list."""
        return self.templates.render_tree(value, context, self._where(where))

    def condition(self, source: str | None, context: Mapping[str, Any], where: str = "") -> bool:
        """A template used as a condition; None (no condition) holds."""
        if source is None:
            return True
        return truthy(self.render(source, context, where))

    def _where(self, where: str) -> str:
        return f"{self.name}: {where}" if where else self.name


def truthy(value: Any) -> bool:
    """Truth of a rendered condition: typed values by Python truth, rendered text by word."""
    if isinstance(value, str):
        return value.strip().lower() not in _FALSE_WORDS
    return bool(value)
