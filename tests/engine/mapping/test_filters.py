"""ADF <-> plain text: paragraphs and line breaks survive the round trip."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from engine.mapping.filters import adf_to_text, text_to_adf
from tests.simulators.base import load_fixture


def test_real_comment_body_reads_as_text() -> None:
    comment = load_fixture("jira/rest/comment.json")
    assert adf_to_text(comment["body"]) == "Test comment from Nango action"


def test_lists_mentions_and_breaks_become_text() -> None:
    doc = {
        "type": "doc",
        "version": 1,
        "content": [
            {
                "type": "paragraph",
                "content": [
                    {"type": "text", "text": "Ask "},
                    {"type": "mention", "attrs": {"id": "1", "text": "@Ada"}},
                    {"type": "hardBreak"},
                    {"type": "text", "text": "today"},
                ],
            },
            {
                "type": "bulletList",
                "content": [
                    {
                        "type": "listItem",
                        "content": [
                            {"type": "paragraph", "content": [{"type": "text", "text": "one"}]}
                        ],
                    },
                    {
                        "type": "listItem",
                        "content": [
                            {"type": "paragraph", "content": [{"type": "text", "text": "two"}]}
                        ],
                    },
                ],
            },
        ],
    }
    assert adf_to_text(doc) == "Ask @Ada\ntoday\n\n- one\n- two"


def test_nothing_stays_nothing() -> None:
    assert adf_to_text(None) is None
    assert text_to_adf(None) is None
    assert text_to_adf("") is None


paragraph = st.text(
    alphabet=st.characters(
        blacklist_categories=("Cs", "Zl", "Zp"), blacklist_characters="\r\n\x0b\x0c\x1c\x1d\x1e\x85"
    ),
    min_size=1,
    max_size=30,
).filter(lambda s: s.strip() == s and s)


@given(st.lists(st.lists(paragraph, min_size=1, max_size=3), min_size=1, max_size=4))
def test_plain_text_with_paragraphs_round_trips(blocks: list[list[str]]) -> None:
    text = "\n\n".join("\n".join(lines) for lines in blocks)
    assert adf_to_text(text_to_adf(text)) == text
