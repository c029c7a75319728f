"""engine.config: the seed's camelCase config and syncOptions, strictly validated."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from engine.config import (
    IntegrationConfig,
    check_extra,
    parse_config,
    parse_sync_options,
)
from engine.errors import ValidationError

SEED_CONFIG = {
    "syncDirection": "bidirectional",
    "syncFrequency": "hourly",
    "fieldMappings": {"summary": "title", "customfield_10016": "custom.story_points"},
    "filters": {
        "projects": ["KAN"],
        "labels": ["bug"],
        "assignees": ["dev@example.com"],
        "statuses": ["In Progress"],
        "dateRange": {"start": "2025-01-01", "end": "2025-06-30T23:59:59Z"},
    },
    "webhookEvents": ["jira:issue_updated"],
    "conflictResolution": "manual",
}


def test_seed_config_round_trips_in_wire_names() -> None:
    config = parse_config(SEED_CONFIG)
    assert config.sync_direction == "bidirectional"
    assert config.filters.date_range is not None
    assert config.filters.date_range.start == datetime(2025, 1, 1, tzinfo=UTC)
    wire = config.wire()
    assert wire["fieldMappings"] == SEED_CONFIG["fieldMappings"]
    assert wire["filters"]["dateRange"]["end"] == "2025-06-30T23:59:59Z"
    assert parse_config(wire) == config


def test_defaults_fill_every_key_templates_read() -> None:
    wire = parse_config({}).wire()
    assert wire["syncDirection"] == "import"
    assert wire["conflictResolution"] == "latest_wins"
    assert wire["filters"] == {
        "projects": [],
        "labels": [],
        "assignees": [],
        "statuses": [],
        "dateRange": None,
    }


def test_every_unknown_key_is_reported_with_its_path() -> None:
    with pytest.raises(ValidationError) as caught:
        parse_config({"syncDirection": "sideways", "filters": {"lables": ["x"]}, "colour": "red"})
    problems = caught.value.problems
    assert "config.filters.lables: unknown key" in problems
    assert "config.colour: unknown key" in problems
    assert any(p.startswith("config.syncDirection: ") and "bidirectional" in p for p in problems)


def test_a_non_object_is_refused() -> None:
    with pytest.raises(ValidationError, match="expected an object"):
        parse_config(["syncDirection"])  # type: ignore[arg-type]


def test_sync_options_wire_names_bounds_and_order() -> None:
    options = parse_sync_options(
        {"includeComments": False, "batchSize": 250, "startDate": "2025-02-01T10:00:00+02:00"}
    )
    assert options.include_comments is False
    assert options.batch_size == 250
    assert options.start_date == datetime(2025, 2, 1, 8, 0, tzinfo=UTC)
    with pytest.raises(ValidationError) as caught:
        parse_sync_options({"batchSize": 0, "includeComment": True})
    assert caught.value.problems == [
        "syncOptions.batchSize: Input should be greater than or equal to 1",
        "syncOptions.includeComment: unknown key",
    ]
    with pytest.raises(ValidationError, match="startDate is after endDate"):
        parse_sync_options({"startDate": "2025-03-01", "endDate": "2025-02-01"})


def test_options_say_which_gated_streams_run() -> None:
    options = parse_sync_options({"includeAttachments": True, "includeComments": False})
    assert options.enabled("includeAttachments")
    assert not options.enabled("includeComments")
    assert options.enabled(None)


def test_active_filters_and_date_range() -> None:
    config = parse_config(SEED_CONFIG)
    assert config.filters.active() == ["projects", "labels", "assignees", "statuses", "dateRange"]
    assert IntegrationConfig().filters.active() == []
    assert config.filters.date_range is not None
    assert config.filters.date_range.contains(datetime(2025, 3, 1, tzinfo=UTC))
    assert not config.filters.date_range.contains(datetime(2025, 7, 1, tzinfo=UTC))


def test_extra_keys_are_checked_against_the_providers_schema() -> None:
    schema = {
        "properties": {"site": {"type": "string"}, "pageLimit": {"type": "integer"}},
        "required": ["site"],
    }
    check_extra({"site": "acme", "pageLimit": 3}, schema, "acme")
    with pytest.raises(ValidationError) as caught:
        check_extra({"pageLimit": True, "colour": 1}, schema, "acme")
    assert sorted(caught.value.problems) == [
        "config.extra.colour: unknown key",
        "config.extra.pageLimit: expected integer",
        "config.extra.site: required by acme",
    ]
