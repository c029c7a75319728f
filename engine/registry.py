"""The registry of strategy classes, chosen in YAML by a ``type`` key.

A strategy family ("auth", "pagination", "signature", "handshake") maps type names to classes.
Each class owns its config model, a pydantic model whose ``type`` field is a Literal of its
name::

    class LinkHeaderPaginator(Paginator):
        class Config(StrategyConfig):
            type: Literal["link_header"] = "link_header"
            rel: str = "next"

        def __init__(self, config: Config) -> None: ...

    registry.register("pagination", LinkHeaderPaginator)

The registry is an object handed to the loader and the interpreter, never a module global:
``default_registry()`` builds a fresh one holding the built-in strategies, and a test or an
embedding application may add its own. Spec models validate strategy configs through the
registry found in the pydantic validation context (see ``strategy_config``), so the list of
valid names in errors and in the JSON Schema always comes from the registry in use.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Protocol, TypeVar

from pydantic import (
    BaseModel,
    ConfigDict,
    GetCoreSchemaHandler,
    GetJsonSchemaHandler,
    ValidationInfo,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import PydanticCustomError, core_schema


class StrictModel(BaseModel):
    """Base of every spec model: unknown keys are errors, instances are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class StrategyConfig(StrictModel):
    """Base of a strategy's config model; subclasses narrow ``type`` to a Literal."""

    type: str


class Strategy(Protocol):
    Config: ClassVar[type[StrategyConfig]]


S = TypeVar("S")

_active: ContextVar[Registry | None] = ContextVar("kiro_sync_registry", default=None)


class Registry:
    """Strategy families: kind -> type name -> class."""

    def __init__(self) -> None:
        self._kinds: dict[str, dict[str, type[Any]]] = {}

    def register(self, kind: str, cls: type[S]) -> type[S]:
        name = _type_name(cls)
        family = self._kinds.setdefault(kind, {})
        if name in family and family[name] is not cls:
            raise ValueError(f"{kind} type {name!r} is already registered")
        family[name] = cls
        return cls

    def names(self, kind: str) -> list[str]:
        return sorted(self._kinds.get(kind, {}))

    def kinds(self) -> list[str]:
        return sorted(self._kinds)

    def get(self, kind: str, name: str) -> type[Any]:
        try:
            return self._kinds[kind][name]
        except KeyError:
            valid = ", ".join(self.names(kind))
            raise KeyError(f"unknown {kind} type {name!r}; valid: {valid}") from None

    def parse(self, kind: str, data: Any) -> StrategyConfig:
        """Validate ``data`` as the config of the strategy its ``type`` names."""
        if isinstance(data, StrategyConfig):
            return data
        if not isinstance(data, dict) or "type" not in data:
            raise PydanticCustomError(
                "strategy_type_missing",
                "{kind} needs a 'type'; valid: {valid}",
                {"kind": kind, "valid": ", ".join(self.names(kind))},
            )
        name = data["type"]
        family = self._kinds.get(kind, {})
        if name not in family:
            raise PydanticCustomError(
                "strategy_type_unknown",
                "unknown {kind} type '{name}'; valid: {valid}",
                {"kind": kind, "name": str(name), "valid": ", ".join(self.names(kind))},
            )
        config: StrategyConfig = family[name].Config.model_validate(data)
        return config

    def create(self, kind: str, config: StrategyConfig, **kwargs: Any) -> Any:
        """Instantiate the strategy class for an already validated config."""
        return self.get(kind, config.type)(config, **kwargs)

    def json_schema(self, kind: str) -> dict[str, Any]:
        options = [self._kinds[kind][n].Config.model_json_schema() for n in self.names(kind)]
        return {"oneOf": options} if options else {"type": "object"}

    @contextmanager
    def active(self) -> Iterator[Registry]:
        """Make this registry the one strategy fields validate against (and describe)."""
        token = _active.set(self)
        try:
            yield self
        finally:
            _active.reset(token)


def _type_name(cls: type[Any]) -> str:
    field = cls.Config.model_fields.get("type")
    if field is None or field.default is None:
        raise ValueError(f"{cls.__name__}.Config needs a defaulted Literal 'type' field")
    return str(field.default)


def current_registry(info: ValidationInfo | None = None) -> Registry:
    """The registry in the validation context, else the one made active, else the default."""
    if info is not None and isinstance(info.context, dict):
        found = info.context.get("registry")
        if isinstance(found, Registry):
            return found
    active = _active.get()
    if active is not None:
        return active
    from engine.strategies import shared_default_registry

    return shared_default_registry()


class _StrategyField:
    """Pydantic hook: validate a strategy config through the registry in use."""

    def __init__(self, kind: str) -> None:
        self.kind = kind

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        kind = self.kind

        def validate(value: Any, info: ValidationInfo) -> StrategyConfig:
            return current_registry(info).parse(kind, value)

        return core_schema.with_info_plain_validator_function(
            validate,
            serialization=core_schema.plain_serializer_function_ser_schema(
                lambda v: {"type": v.type, **v.model_dump(mode="json", exclude_defaults=True)}
            ),
        )

    def __get_pydantic_json_schema__(
        self, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        return current_registry().json_schema(self.kind)


def strategy_config(kind: str) -> Any:
    """Annotation for a field holding the config of a ``kind`` strategy.

    Use it as a type, never as a default: ``pagination: PaginationConfig`` with the aliases
    below, or ``Annotated[StrategyConfig, _StrategyField(kind)]`` for a new kind.
    """
    return Annotated[StrategyConfig, _StrategyField(kind)]


# Field types for the built-in strategy kinds (plain StrategyConfig for the type checker).
if TYPE_CHECKING:
    AuthConfig = StrategyConfig
    PaginationConfig = StrategyConfig
    SignatureConfig = StrategyConfig
    HandshakeConfig = StrategyConfig
else:
    AuthConfig = strategy_config("auth")
    PaginationConfig = strategy_config("pagination")
    SignatureConfig = strategy_config("signature")
    HandshakeConfig = strategy_config("handshake")


Factory = Callable[[], Registry]
