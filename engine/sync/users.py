"""Provider users -> Kiro users, by email.

``UserResolver.resolve(refs)`` looks every email of a batch up in one query. An email Kiro
does not know gets a new user whose id is derived from the email (uuid5), so two batches, two
runs or a webhook and a poll never create the same person twice; the new users are handed
to the batch that first refers to them and stored with it.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from engine.mapping.compiled import UserRef
from engine.store.base import Store, User

_NAMESPACE = uuid.UUID("6f1c7a52-3d4b-5e8a-9c0d-1b2e3f405162")


def user_id_for(email: str) -> str:
    """The id a new Kiro user with this email gets."""
    return str(uuid.uuid5(_NAMESPACE, "user:" + email.strip().lower()))


class UserResolver:
    def __init__(self, store: Store) -> None:
        self.store = store
        self.known: dict[str, str] = {}  # email -> Kiro user id, cached for the run
        self.new: dict[str, User] = {}  # users to create with the next batch

    async def resolve(self, refs: Iterable[UserRef | None]) -> None:
        """Make ``id_of`` answer for every ref (one store query for the unknown emails)."""
        wanted = {ref.email: ref for ref in refs if ref is not None}
        missing = [email for email in wanted if email not in self.known]
        if not missing:
            return
        found = await self.store.get_users_by_email(missing)
        for email in missing:
            user = found.get(email)
            if user is not None:
                self.known[email] = user.id
                continue
            ref = wanted[email]
            created = User(id=user_id_for(email), email=email, name=ref.name)
            self.known[email] = created.id
            self.new[email] = created

    def id_of(self, ref: UserRef | None) -> str | None:
        return None if ref is None else self.known[ref.email]

    def take_new(self, ids: Iterable[str | None]) -> list[User]:
        """The users still to be created among ``ids`` (each handed out once)."""
        wanted = {i for i in ids if i}
        taken = [u for e, u in self.new.items() if u.id in wanted]
        for user in taken:
            self.new.pop(user.email or "", None)
        return taken

    def forget_new(self, users: Iterable[User]) -> None:
        """Put users back when the batch that carried them failed."""
        for user in users:
            if user.email:
                self.new[user.email] = user


__all__ = ["UserResolver", "user_id_for"]
