"""Project invariants under random command sequences (hypothesis stateful test)."""

from __future__ import annotations

import string
from datetime import date
from decimal import Decimal
from uuid import uuid4

import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from domain.base import InvalidValue
from domain.project import (
    TRANSITIONS,
    ClientMustBeViewer,
    IllegalTransition,
    Project,
    ProjectArchived,
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


def new_project(**kwargs: object) -> Project:
    return Project.create(id=uuid4(), organization_id=uuid4(), name="Apollo",
                          creator_id=uuid4(), meta=META, **kwargs)  # type: ignore[arg-type]


class ProjectMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.project = new_project()
        self.history: list[str] = [self.project.status]

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
        except (InvalidValue, ProjectArchived) as error:
            assert self.project.archived or (start and end and end < start)
            assert isinstance(error, ProjectArchived) == self.project.archived
            assert (self.project.start_date, self.project.end_date) == before
        else:
            assert (self.project.start_date, self.project.end_date) == (start, end)

    @rule(end=dates)
    def set_end_only(self, end: date | None) -> None:
        try:
            self.project.update(META, end_date=end)
        except InvalidValue:
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
        with pytest.raises(InvalidValue) as raised:
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
