"""Organization membership invariants under random command sequences."""

from __future__ import annotations

from uuid import UUID, uuid4

import pytest
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from domain.base import NotFound, RuleViolation
from domain.organization import LastOrganizer, Organization
from domain.roles import Role

META: dict = {"actor_id": None}
PEOPLE = [uuid4() for _ in range(5)]

people = st.sampled_from(PEOPLE)
roles = st.sampled_from(Role)


class MembershipMachine(RuleBasedStateMachine):
    """A plain dict models who holds which role; the aggregate must agree with it and
    refuse exactly the changes that would leave the organization without an Organizer."""

    def __init__(self) -> None:
        super().__init__()
        founder = PEOPLE[0]
        self.organization = Organization(id=uuid4(), name="Acme", slug="acme",
                                         founder_id=founder, meta=META)
        self.model: dict[UUID, Role] = {founder: Role.ORGANIZER}

    def _organizers(self) -> set[UUID]:
        return {user for user, role in self.model.items() if role is Role.ORGANIZER}

    def _would_lose_last_organizer(self, user: UUID, new_role: Role | None) -> bool:
        return self._organizers() == {user} and new_role is not Role.ORGANIZER

    @rule(user=people, role=roles)
    def add(self, user: UUID, role: Role) -> None:
        if user in self.model:
            with pytest.raises(RuleViolation):
                self.organization.add_member(user, role, META)
        else:
            self.organization.add_member(user, role, META)
            self.model[user] = role

    @rule(user=people, role=roles)
    def change_role(self, user: UUID, role: Role) -> None:
        if user not in self.model:
            with pytest.raises(NotFound):
                self.organization.change_role(user, role, META)
        elif self._would_lose_last_organizer(user, role):
            with pytest.raises(LastOrganizer):
                self.organization.change_role(user, role, META)
        else:
            self.organization.change_role(user, role, META)
            self.model[user] = role

    @rule(user=people)
    def remove(self, user: UUID) -> None:
        if user not in self.model:
            with pytest.raises(NotFound):
                self.organization.remove_member(user, META)
        elif self._would_lose_last_organizer(user, None):
            with pytest.raises(LastOrganizer):
                self.organization.remove_member(user, META)
        else:
            self.organization.remove_member(user, META)
            del self.model[user]

    @invariant()
    def agrees_with_the_model(self) -> None:
        assert {UUID(k): Role(v) for k, v in self.organization.members.items()} == self.model

    @invariant()
    def always_has_an_organizer(self) -> None:
        assert any(role == Role.ORGANIZER.value
                   for role in self.organization.members.values())


TestMembershipMachine = MembershipMachine.TestCase
