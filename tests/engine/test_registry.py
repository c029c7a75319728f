from typing import Literal

import pytest
from pydantic import ValidationError

from engine.registry import PaginationConfig, Registry, StrategyConfig, StrictModel


class Alpha:
    class Config(StrategyConfig):
        type: Literal["alpha"] = "alpha"
        size: int = 1

    def __init__(self, config: Config) -> None:
        self.config = config


class Beta:
    class Config(StrategyConfig):
        type: Literal["beta"] = "beta"
        name: str

    def __init__(self, config: Config) -> None:
        self.config = config


class Holder(StrictModel):
    pagination: PaginationConfig


@pytest.fixture
def registry() -> Registry:
    registry = Registry()
    registry.register("pagination", Alpha)
    registry.register("pagination", Beta)
    return registry


def test_names_come_from_the_registry(registry: Registry) -> None:
    assert registry.names("pagination") == ["alpha", "beta"]
    assert registry.names("auth") == []


def test_config_is_validated_by_its_own_model(registry: Registry) -> None:
    held = Holder.model_validate(
        {"pagination": {"type": "alpha", "size": 3}}, context={"registry": registry}
    )
    assert isinstance(held.pagination, Alpha.Config)
    assert held.pagination.size == 3
    strategy = registry.create("pagination", held.pagination)
    assert isinstance(strategy, Alpha)


def test_unknown_type_lists_valid_names(registry: Registry) -> None:
    with pytest.raises(
        ValidationError, match=r"unknown pagination type 'alfa'; valid: alpha, beta"
    ):
        Holder.model_validate({"pagination": {"type": "alfa"}}, context={"registry": registry})


def test_missing_type_and_extra_keys_are_errors(registry: Registry) -> None:
    with pytest.raises(ValidationError, match="needs a 'type'"):
        Holder.model_validate({"pagination": {"size": 2}}, context={"registry": registry})
    with pytest.raises(ValidationError, match="Extra inputs are not permitted"):
        Holder.model_validate(
            {"pagination": {"type": "beta", "name": "x", "oops": 1}}, context={"registry": registry}
        )


def test_active_registry_is_used_without_context(registry: Registry) -> None:
    with registry.active():
        held = Holder.model_validate({"pagination": {"type": "beta", "name": "n"}})
    assert isinstance(held.pagination, Beta.Config)


def test_registering_a_second_class_under_a_taken_name_fails(registry: Registry) -> None:
    class Other:
        class Config(StrategyConfig):
            type: Literal["alpha"] = "alpha"

    with pytest.raises(ValueError, match="already registered"):
        registry.register("pagination", Other)


def test_json_schema_lists_each_strategy(registry: Registry) -> None:
    with registry.active():
        schema = Holder.model_json_schema()
    options = schema["properties"]["pagination"]["oneOf"]
    assert [o["properties"]["type"]["const"] for o in options] == ["alpha", "beta"]


def test_config_serializes_without_defaults(registry: Registry) -> None:
    held = Holder.model_validate(
        {"pagination": {"type": "beta", "name": "n"}}, context={"registry": registry}
    )
    assert held.model_dump(mode="json") == {"pagination": {"type": "beta", "name": "n"}}
