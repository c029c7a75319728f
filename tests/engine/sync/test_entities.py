"""Kiro ids of imported entities: uuid5 of (integration, entity, external id)."""

import uuid

from hypothesis import given
from hypothesis import strategies as st

from engine.sync.entities import _NAMESPACE, kiro_id_for


@given(st.text(max_size=20), st.sampled_from(["work_item", "comment"]), st.text(max_size=40))
def test_kiro_ids_are_uuid5_of_the_external_identity(
    integration_id: str, entity: str, external_id: str
) -> None:
    expected = uuid.uuid5(_NAMESPACE, f"{integration_id}:{entity}:{external_id}")
    assert kiro_id_for(integration_id, entity, external_id) == str(expected)


def test_the_same_external_item_always_gets_the_same_id() -> None:
    first = kiro_id_for("i-1", "work_item", "octo/hello#7")
    assert first == kiro_id_for("i-1", "work_item", "octo/hello#7")
    assert first != kiro_id_for("i-2", "work_item", "octo/hello#7")
    assert uuid.UUID(first).version == 5
