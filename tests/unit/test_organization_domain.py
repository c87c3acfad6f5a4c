"""Organization membership invariants under random command sequences, and the
Organizer-only rules over every pair of roles."""

from __future__ import annotations

import json
from typing import Any
from uuid import UUID, uuid4

import pytest
from eventsourcing.application import Application
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from domain.base import Forbidden, NotFound, RuleViolation
from domain.organization import LastOrganizer, Organization
from domain.roles import Role

META: dict = {"actor_id": None}
PEOPLE = [uuid4() for _ in range(5)]

people = st.sampled_from(PEOPLE)
roles = st.sampled_from(Role)


def new_organization(founder: UUID | None = None) -> Organization:
    return Organization.create(id=uuid4(), name="Acme", slug="acme",
                               founder_id=founder or uuid4(), meta=META)


def organizer_only(actor: Role, *roles_involved: Role | None) -> bool:
    """True when the change involves the Organizer role and the actor is no Organizer."""
    return actor is not Role.ORGANIZER and Role.ORGANIZER in roles_involved


class MembershipMachine(RuleBasedStateMachine):
    """A plain dict models who holds which role; the aggregate must agree with it and
    refuse exactly the changes that would leave the organization without an Organizer,
    or that involve the Organizer role when the actor is not an Organizer."""

    def __init__(self) -> None:
        super().__init__()
        founder = PEOPLE[0]
        self.organization = new_organization(founder)
        self.model: dict[UUID, Role] = {founder: Role.ORGANIZER}

    def _organizers(self) -> set[UUID]:
        return {user for user, role in self.model.items() if role is Role.ORGANIZER}

    def _would_lose_last_organizer(self, user: UUID, new_role: Role | None) -> bool:
        return self._organizers() == {user} and new_role is not Role.ORGANIZER

    @rule(user=people, role=roles, actor=roles)
    def add(self, user: UUID, role: Role, actor: Role) -> None:
        if organizer_only(actor, role):
            with pytest.raises(Forbidden):
                self.organization.add_member(user, role, actor, META)
        elif user in self.model:
            with pytest.raises(RuleViolation):
                self.organization.add_member(user, role, actor, META)
        else:
            self.organization.add_member(user, role, actor, META)
            self.model[user] = role

    @rule(user=people, role=roles, actor=roles)
    def change_role(self, user: UUID, role: Role, actor: Role) -> None:
        if organizer_only(actor, role):
            with pytest.raises(Forbidden):
                self.organization.change_role(user, role, actor, META)
        elif user not in self.model:
            with pytest.raises(NotFound):
                self.organization.change_role(user, role, actor, META)
        elif organizer_only(actor, self.model[user]):
            with pytest.raises(Forbidden):
                self.organization.change_role(user, role, actor, META)
        elif self._would_lose_last_organizer(user, role):
            with pytest.raises(LastOrganizer):
                self.organization.change_role(user, role, actor, META)
        else:
            self.organization.change_role(user, role, actor, META)
            self.model[user] = role

    @rule(user=people, actor=roles)
    def remove(self, user: UUID, actor: Role) -> None:
        if user not in self.model:
            with pytest.raises(NotFound):
                self.organization.remove_member(user, actor, META)
        elif organizer_only(actor, self.model[user]):
            with pytest.raises(Forbidden):
                self.organization.remove_member(user, actor, META)
        elif self._would_lose_last_organizer(user, None):
            with pytest.raises(LastOrganizer):
                self.organization.remove_member(user, actor, META)
        else:
            self.organization.remove_member(user, actor, META)
            del self.model[user]

    @invariant()
    def agrees_with_the_model(self) -> None:
        assert {UUID(k): Role(v) for k, v in self.organization.members.items()} == self.model

    @invariant()
    def always_has_an_organizer(self) -> None:
        assert any(role == Role.ORGANIZER.value
                   for role in self.organization.members.values())


TestMembershipMachine = MembershipMachine.TestCase


@given(actor=roles, role=roles)
def test_only_an_organizer_grants_the_organizer_role(actor: Role, role: Role) -> None:
    organization = new_organization()
    user = uuid4()
    if role is Role.ORGANIZER and actor is not Role.ORGANIZER:
        with pytest.raises(Forbidden):
            organization.add_member(user, role, actor, META)
        assert organization.role_of(user) is None
    else:
        organization.add_member(user, role, actor, META)
        assert organization.role_of(user) is role


@given(actor=roles, current=roles, new=roles)
def test_only_an_organizer_changes_or_grants_an_organizer(actor: Role, current: Role,
                                                          new: Role) -> None:
    organization = new_organization()  # its founder stays an Organizer
    user = uuid4()
    organization.add_member(user, current, Role.ORGANIZER, META)
    refused = actor is not Role.ORGANIZER and Role.ORGANIZER in (current, new)
    if refused:
        with pytest.raises(Forbidden):
            organization.change_role(user, new, actor, META)
    else:
        organization.change_role(user, new, actor, META)
    assert organization.role_of(user) is (current if refused else new)


@given(actor=roles, target=roles)
def test_only_an_organizer_removes_an_organizer(actor: Role, target: Role) -> None:
    organization = new_organization()
    user = uuid4()
    organization.add_member(user, target, Role.ORGANIZER, META)
    if target is Role.ORGANIZER and actor is not Role.ORGANIZER:
        with pytest.raises(Forbidden):
            organization.remove_member(user, actor, META)
        assert organization.role_of(user) is Role.ORGANIZER
    else:
        organization.remove_member(user, actor, META)
        assert organization.role_of(user) is None


def test_the_created_event_carries_the_founders_role_and_the_settings() -> None:
    founder = uuid4()
    organization = new_organization(founder)
    created = organization.collect_events()[0]
    assert isinstance(created, Organization.Created)
    assert (created.founder_id, created.founder_role, created.settings) == (
        founder, Organization.FOUNDER_ROLE.value, {})
    assert organization.role_of(founder) is Organization.FOUNDER_ROLE


def test_a_created_event_stored_before_it_carried_them_reads_as_it_was_then() -> None:
    """Version 1 of the event had no founder_role and no settings: read back, it has the
    values every organization started with then."""
    mapper = Application().mapper
    created = new_organization().collect_events()[0]
    stored = mapper.to_stored_event(created)
    state: dict[str, Any] = json.loads(stored.state)
    for key in ("founder_role", "settings", "class_version"):
        del state[key]
    old = stored.__class__(originator_id=stored.originator_id,
                           originator_version=stored.originator_version,
                           topic=stored.topic, state=json.dumps(state).encode())
    read = mapper.to_domain_event(old)
    assert isinstance(read, Organization.Created)
    assert (read.founder_role, read.settings) == (Role.ORGANIZER.value, {})
    organization = read.mutate(None)
    assert organization is not None and organization.role_of(created.founder_id) is Role.ORGANIZER
