"""``max_cursor``'s shortcut for ISO dates picks what the general comparison picks."""

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from engine.reader import _sort_key, max_cursor
from engine.spec.models import CursorSpec

SPEC = CursorSpec(field="updated")


def reference(values: list[Any]) -> Any:
    """The general rule: the first value with the greatest ``_sort_key``."""
    best, best_key = None, None
    for value in values:
        if value is None or value == "":
            continue
        key = _sort_key(value)
        if best_key is None or key > best_key:
            best, best_key = value, key
    return best


moments = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2030, 1, 1), timezones=st.just(UTC)
)
offsets = st.sampled_from([timedelta(0), timedelta(hours=2), timedelta(hours=-5, minutes=-30)])


@st.composite
def iso_texts(draw: Any) -> str:
    moment = draw(moments).astimezone(timezone(draw(offsets)))
    text = moment.isoformat(timespec=draw(st.sampled_from(["seconds", "milliseconds"])))
    style = draw(st.sampled_from(["as is", "Z", "+0000"]))
    if style == "Z" and text.endswith("+00:00"):
        return text[:-6] + "Z"
    if style == "+0000" and text[-6] in "+-":
        return text[:-3] + text[-2:]
    return text


values = st.one_of(
    iso_texts(), st.none(), st.just(""), st.sampled_from(["10.5", "1700000000", "not a date"])
)


@given(st.lists(iso_texts(), max_size=8))
def test_iso_dates_compare_as_instants(texts: list[str]) -> None:
    records = [{"updated": text} for text in texts]
    assert max_cursor(SPEC, records) == reference(texts)


@given(st.lists(values, max_size=8))
def test_mixed_values_fall_back_to_the_general_rule(texts: list[Any]) -> None:
    records = [{"updated": text} for text in texts]
    assert max_cursor(SPEC, records) == reference(texts)
