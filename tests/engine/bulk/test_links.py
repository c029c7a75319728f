"""Download links: sealed, opaque, expiring, and readable after a key rotation."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta

import pytest

from engine.bulk.links import ExportLinks
from engine.bulk.query import ExportQuery
from engine.errors import NotFoundError
from tests.conftest import ManualClock

OLD, NEW = b"o" * 32, b"n" * 32
QUERY = ExportQuery.from_filters(
    "project-1",
    "integ-1",
    {"statuses": ["Done"], "labels": ["bug"], "dateRange": {"start": "2025-01-01T00:00:00Z"}},
)


def test_a_link_names_the_export_it_was_issued_for(clock: ManualClock) -> None:
    links = ExportLinks([OLD], clock)
    token, expires = links.issue(QUERY, "csv", "kiro-project-1.csv", 900)
    assert expires == clock.now + timedelta(seconds=900)
    opened = links.open(token)
    assert (opened.query, opened.format, opened.file_name) == (QUERY, "csv", "kiro-project-1.csv")
    assert opened.query.created_from == datetime(2025, 1, 1, tzinfo=UTC)


def test_a_token_is_opaque(clock: ManualClock) -> None:
    token, _ = ExportLinks([OLD], clock).issue(QUERY, "csv", "f.csv", 900)
    raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    for visible in (b"project-1", b"integ-1", b"Done", b"bug", b"csv"):
        assert visible not in raw
    assert token.replace("-", "").replace("_", "").isalnum()  # URL-safe as it is


def test_a_link_expires(clock: ManualClock) -> None:
    links = ExportLinks([OLD], clock)
    token, _ = links.issue(QUERY, "json", "f.json", 60)
    clock.advance(59)
    links.open(token)
    clock.advance(1)
    with pytest.raises(NotFoundError, match="Export link has expired"):
        links.open(token)


@pytest.mark.parametrize("mangle", ["flip", "truncate", "garbage", "empty"])
def test_a_tampered_or_foreign_token_is_not_valid(clock: ManualClock, mangle: str) -> None:
    token, _ = ExportLinks([OLD], clock).issue(QUERY, "csv", "f.csv", 900)
    bad = {
        "flip": token[:-2] + ("A" if token[-2] != "A" else "B") + token[-1],
        "truncate": token[:20],
        "garbage": "%%%not-base64%%%",
        "empty": "",
    }[mangle]
    with pytest.raises(NotFoundError, match="Export link is not valid"):
        ExportLinks([OLD], clock).open(bad)


def test_links_survive_a_key_rotation_while_the_old_key_is_listed(clock: ManualClock) -> None:
    token, _ = ExportLinks([OLD], clock).issue(QUERY, "xlsx", "f.xlsx", 900)
    assert ExportLinks([NEW, OLD], clock).open(token).format == "xlsx"
    with pytest.raises(NotFoundError, match="not valid"):
        ExportLinks([NEW], clock).open(token)
