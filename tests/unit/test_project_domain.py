"""Project invariants under random command sequences (hypothesis stateful test)."""

from __future__ import annotations

import dataclasses
import json
import string
from datetime import date
from decimal import Decimal
from uuid import UUID, uuid4

import pytest
from eventsourcing.application import Application
from eventsourcing.domain import Snapshot
from eventsourcing.persistence import StoredEvent
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from domain.base import InvalidValue, NotFound
from domain.client import Client, ClientArchived
from domain.project import (
    MAX_CLIENTS,
    TRANSITIONS,
    ClientAlreadyLinked,
    ClientMustBeViewer,
    ClientNotLinked,
    DatesOutOfOrder,
    IllegalTransition,
    Project,
    ProjectArchived,
    ProjectClientsFull,
    ProjectRole,
    ProjectStatus,
    normalized_name,
    require_role_allowed,
)
from domain.roles import Role

META: dict = {"actor_id": None}

dates = st.none() | st.dates(min_value=date(2000, 1, 1), max_value=date(2040, 12, 31))
money = st.none() | st.decimals(min_value=Decimal("-1000"), max_value=Decimal("1e9"),
                                allow_nan=False, allow_infinity=False, places=2)


ORG = uuid4()


def new_project(**kwargs: object) -> Project:
    return Project.create(id=uuid4(), organization_id=ORG, name="Apollo",
                          creator_id=uuid4(), meta=META, **kwargs)  # type: ignore[arg-type]


def new_client(organization_id: UUID = ORG, *, archived: bool = False) -> Client:
    client = Client.create(id=uuid4(), organization_id=organization_id, name="Acme",
                           meta=META)
    if archived:
        client.archive(META)
    return client


class ProjectMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.project = new_project()
        self.history: list[str] = [self.project.status]
        # Clients the project may be linked to, and two it may never be.
        self.clients = [new_client() for _ in range(4)] + [
            new_client(archived=True), new_client(uuid4())]

    def _refusal(self, client: Client) -> type[Exception] | None:
        """What linking ``client`` must raise, if anything, besides being linked."""
        if self.project.archived:
            return ProjectArchived
        if client.organization_id != self.project.organization_id:
            return NotFound
        if client.archived:
            return ClientArchived
        return None

    @rule(index=st.integers(0, 5))
    def link_client(self, index: int) -> None:
        client = self.clients[index]
        linked = list(self.project.client_ids)
        refusal = self._refusal(client) or (
            ClientAlreadyLinked if str(client.id) in linked else None)
        if refusal is not None:
            with pytest.raises(refusal):
                self.project.link_client(client, META)
            assert self.project.client_ids == linked
        else:
            self.project.link_client(client, META)
            assert self.project.client_ids == [*linked, str(client.id)]

    def _main_client(self) -> Client | None:
        return next((c for c in self.clients if c.id == self.project.client_id), None)

    @rule(index=st.integers(0, 5))
    def set_client_id(self, index: int) -> None:
        client, previous = self.clients[index], self._main_client()
        before = (self.project.client_id, list(self.project.client_ids))
        refusal = None if client is previous else self._refusal(client)
        if refusal is not None:
            with pytest.raises(refusal):
                self.project.update(META, client=client, previous_client=previous,
                                    client_id=client.id)
            assert (self.project.client_id, self.project.client_ids) == before
        elif not self.project.archived:
            self.project.update(META, client=client, previous_client=previous,
                                client_id=client.id)
            assert self.project.client_id == client.id
            assert str(client.id) in self.project.client_ids
            # The client it replaces is unlinked: its portal users lose the project.
            assert previous is None or previous is client or not self.project.has_client(
                previous.id)

    @rule()
    def clear_client_id(self) -> None:
        previous = self._main_client()
        if self.project.archived:
            with pytest.raises(ProjectArchived):
                self.project.update(META, previous_client=previous, client_id=None)
            return
        others = [c for c in self.project.client_ids if previous is None or c != str(previous.id)]
        self.project.update(META, previous_client=previous, client_id=None)
        assert self.project.client_id is None and self.project.client_ids == others

    @rule(index=st.integers(0, 5))
    def unlink_client(self, index: int) -> None:
        client = self.clients[index]
        if self.project.archived:
            with pytest.raises(ProjectArchived):
                self.project.unlink_client(client, META)
        elif str(client.id) not in self.project.client_ids:
            with pytest.raises(ClientNotLinked):
                self.project.unlink_client(client, META)
        else:
            self.project.unlink_client(client, META)
            assert str(client.id) not in self.project.client_ids
            assert self.project.client_id != client.id

    @rule(target_status=st.sampled_from(ProjectStatus))
    def change_status(self, target_status: ProjectStatus) -> None:
        current = ProjectStatus(self.project.status)
        version = self.project.version
        if self.project.archived:
            with pytest.raises(ProjectArchived):
                self.project.change_status(target_status, META)
        elif target_status is current or target_status in TRANSITIONS[current]:
            self.project.change_status(target_status, META)
            assert self.project.status == target_status.value
        else:
            with pytest.raises(IllegalTransition):
                self.project.change_status(target_status, META)
            assert self.project.version == version
        if self.project.status != self.history[-1]:
            self.history.append(self.project.status)

    @rule(start=dates, end=dates)
    def set_dates(self, start: date | None, end: date | None) -> None:
        before = (self.project.start_date, self.project.end_date)
        try:
            self.project.update(META, start_date=start, end_date=end)
        except (DatesOutOfOrder, ProjectArchived) as error:
            assert self.project.archived or (start and end and end < start)
            assert isinstance(error, ProjectArchived) == self.project.archived
            assert (self.project.start_date, self.project.end_date) == before
        else:
            assert (self.project.start_date, self.project.end_date) == (start, end)

    @rule(end=dates)
    def set_end_only(self, end: date | None) -> None:
        try:
            self.project.update(META, end_date=end)
        except DatesOutOfOrder:
            start = self.project.start_date
            assert start is not None and end is not None and end < start
        except ProjectArchived:
            assert self.project.archived

    @rule(budget=money, spent=money)
    def set_budgets(self, budget: Decimal | None, spent: Decimal | None) -> None:
        try:
            self.project.update(META, budget=budget, spent_budget=spent)
        except InvalidValue as error:
            assert error.field in ("budget", "spent_budget")
            assert spent is None or spent < 0 or (budget is not None and budget < 0)
        except ProjectArchived:
            assert self.project.archived

    @rule(progress=st.integers(min_value=-50, max_value=150))
    def set_progress(self, progress: int) -> None:
        try:
            self.project.update(META, progress=progress)
        except InvalidValue as error:
            assert error.field == "progress" and not 0 <= progress <= 100
        except ProjectArchived:
            assert self.project.archived

    @rule()
    def archive(self) -> None:
        self.project.archive(META)
        assert self.project.archived

    @invariant()
    def status_only_follows_transitions(self) -> None:
        for before, after in zip(self.history, self.history[1:], strict=False):
            assert ProjectStatus(after) in TRANSITIONS[ProjectStatus(before)]

    @invariant()
    def end_never_before_start(self) -> None:
        start, end = self.project.start_date, self.project.end_date
        assert start is None or end is None or end >= start

    @invariant()
    def budgets_never_negative(self) -> None:
        assert self.project.budget is None or self.project.budget >= 0
        assert self.project.spent_budget >= 0

    @invariant()
    def progress_within_bounds(self) -> None:
        assert 0 <= self.project.progress <= 100

    @invariant()
    def linked_clients_are_distinct_live_clients_of_the_organization(self) -> None:
        linked = self.project.client_ids
        assert len(linked) == len(set(linked)) <= MAX_CLIENTS
        allowed = {str(c.id) for c in self.clients[:4]}
        assert set(linked) <= allowed

    @invariant()
    def the_projects_client_is_a_linked_one(self) -> None:
        client_id = self.project.client_id
        assert client_id is None or str(client_id) in self.project.client_ids

    @invariant()
    def each_client_records_its_side_of_every_link(self) -> None:
        # Both sides change in one unit of work: a client has recorded exactly the links
        # and unlinks the project made (nothing for a refused change).
        for client in self.clients:
            names = [type(e).__name__ for e in client.pending_events]
            net = names.count("ProjectLinked") - names.count("ProjectUnlinked")
            assert net == (1 if self.project.has_client(client.id) else 0), names

    def teardown(self) -> None:
        # Replaying the recorded events rebuilds exactly the same state: the event
        # methods only mutate, they never re-check a rule that could have changed.
        events = self.project.collect_events()
        replayed = None
        for domain_event in events:
            replayed = domain_event.mutate(replayed)
        assert replayed is not None
        assert replayed.__dict__ == self.project.__dict__


TestProjectMachine = ProjectMachine.TestCase


@given(start=dates, end=dates)
def test_create_rejects_end_before_start(start: date | None, end: date | None) -> None:
    if start and end and end < start:
        with pytest.raises(DatesOutOfOrder) as raised:
            new_project(start_date=start, end_date=end)
        assert raised.value.field == "end_date"
    else:
        project = new_project(start_date=start, end_date=end)
        assert (project.start_date, project.end_date) == (start, end)


@given(budget=money)
def test_create_rejects_negative_budget(budget: Decimal | None) -> None:
    if budget is not None and budget < 0:
        with pytest.raises(InvalidValue):
            new_project(budget=budget)
    else:
        assert new_project(budget=budget).budget == budget


@given(words=st.lists(st.text(alphabet=string.ascii_letters + "0123456789-", min_size=1,
                               max_size=8), min_size=1, max_size=5),
       gap=st.text(alphabet=" \t", min_size=1, max_size=3))
def test_name_key_ignores_case_and_spacing(words: list[str], gap: str) -> None:
    plain = " ".join(words)
    spaced = gap + gap.join(w.upper() for w in words) + gap
    assert normalized_name(spaced) == normalized_name(plain.lower()) == plain.lower()


@given(role=st.sampled_from(ProjectRole), organization_role=st.sampled_from(Role))
def test_clients_are_only_viewers(role: ProjectRole, organization_role: Role) -> None:
    if organization_role is Role.CLIENT and role is not ProjectRole.VIEWER:
        with pytest.raises(ClientMustBeViewer):
            require_role_allowed(role, organization_role)
    else:
        require_role_allowed(role, organization_role)


def test_archived_project_is_read_only() -> None:
    project = new_project()
    member = uuid4()
    project.add_member(member, ProjectRole.MEMBER, META)
    project.archive(META)
    for attempt in (
        lambda: project.update(META, name="Other"),
        lambda: project.change_status(ProjectStatus.ACTIVE, META),
        lambda: project.add_member(uuid4(), ProjectRole.VIEWER, META),
        lambda: project.change_member_role(member, ProjectRole.LEAD, META),
        lambda: project.remove_member(member, META),
    ):
        with pytest.raises(ProjectArchived):
            attempt()


def test_a_client_given_at_creation_is_linked() -> None:
    client = new_client()
    project = new_project(client=client)
    assert project.client_id == client.id and project.client_ids == [str(client.id)]
    assert [type(e).__name__ for e in project.collect_events()] == ["Created", "ClientLinked"]
    assert [type(e).__name__ for e in client.collect_events()] == ["Created", "ProjectLinked"]
    for refused, error in ((new_client(uuid4()), NotFound),
                           (new_client(archived=True), ClientArchived)):
        with pytest.raises(error) as raised:
            new_project(client=refused)
        assert raised.value.field == "client_id"


def test_a_project_links_at_most_max_clients() -> None:
    project = new_project()
    clients = [new_client() for _ in range(MAX_CLIENTS)]
    for client in clients:
        project.link_client(client, META)
    extra = new_client()
    with pytest.raises(ProjectClientsFull):
        project.link_client(extra, META)
    with pytest.raises(ProjectClientsFull):
        project.update(META, client=extra, client_id=extra.id)
    assert project.client_id is None
    # Naming a client already linked needs no room.
    project.update(META, client=clients[0], client_id=clients[0].id)
    assert project.client_id == clients[0].id and len(project.client_ids) == MAX_CLIENTS
    # Replacing it makes the room: the client it replaces is unlinked.
    project.update(META, client=extra, previous_client=clients[0], client_id=extra.id)
    assert project.client_ids == [*(str(c.id) for c in clients[1:]), str(extra.id)]


def test_a_new_client_id_must_come_with_its_client() -> None:
    project = new_project()
    with pytest.raises(NotFound) as raised:
        project.update(META, client_id=uuid4())
    assert raised.value.field == "client_id"
    with pytest.raises(NotFound):
        project.update(META, client=new_client(), client_id=uuid4())


def _stored_as_version_1(app: Application, event: object, dropped: tuple[str, ...]) -> object:
    """``event`` as stored before its class carried ``dropped``, decoded again."""
    stored = app.mapper.to_stored_event(event)  # type: ignore[arg-type]
    state = json.loads(stored.state)
    for name in (*dropped, "class_version"):
        del state[name]
    return app.mapper.to_domain_event(StoredEvent(
        stored.originator_id, stored.originator_version, stored.topic,
        json.dumps(state).encode()))


def test_created_events_stored_before_they_carried_the_initial_state_still_read() -> None:
    project = new_project(budget=Decimal("12.50"))
    created = project.collect_events()[0]
    assert (created.status, created.creator_role) == ("PLANNED", "Lead")  # type: ignore[attr-defined]
    old = _stored_as_version_1(Application(), created, (
        "status", "creator_role", "spent_budget", "progress"))
    assert (old.status, old.creator_role, old.spent_budget, old.progress) == (  # type: ignore[attr-defined]
        "PLANNED", "Lead", Decimal(0), 0)
    replayed = old.mutate(None)  # type: ignore[attr-defined]
    assert replayed.status == "PLANNED" and replayed.budget == Decimal("12.50")
    assert replayed.members == project.members and replayed.client_ids == []


def test_snapshots_taken_before_clients_could_be_linked_still_load() -> None:
    project = new_project()
    snapshot = Snapshot.take(project)
    assert snapshot.state["class_version"] == 2
    state = {k: v for k, v in snapshot.state.items() if k not in ("client_ids", "class_version")}
    loaded = dataclasses.replace(snapshot, state=state).mutate(None)
    assert loaded.client_ids == [] and loaded.members == project.members


def test_replacing_or_clearing_the_projects_client_unlinks_it_on_both_sides() -> None:
    first, second = new_client(), new_client()
    project = new_project(client=first)
    for client in (first, second):
        client.collect_events()
    project.update(META, client=second, previous_client=first, client_id=second.id)
    assert (project.client_id, project.client_ids) == (second.id, [str(second.id)])
    assert [type(e).__name__ for e in first.collect_events()] == ["ProjectUnlinked"]
    assert [type(e).__name__ for e in second.collect_events()] == ["ProjectLinked"]
    project.update(META, previous_client=second, client_id=None)
    assert (project.client_id, project.client_ids) == (None, [])
    assert [type(e).__name__ for e in second.collect_events()] == ["ProjectUnlinked"]
    # The previous client is needed to unlink it: a command that forgot it fails loudly.
    project.update(META, client=first, client_id=first.id)
    with pytest.raises(ValueError):
        project.update(META, client_id=None)
    assert project.client_ids == [str(first.id)]


def test_an_archived_client_may_still_be_unlinked_but_not_linked() -> None:
    client = new_client()
    project, other = new_project(client=client), new_project()
    client.archive(META)
    with pytest.raises(ClientArchived):
        other.link_client(client, META)
    with pytest.raises(ClientArchived):
        new_project(client=client)
    project.unlink_client(client, META)
    assert project.client_ids == [] and project.client_id is None
    assert type(client.collect_events()[-1]).__name__ == "ProjectUnlinked"
