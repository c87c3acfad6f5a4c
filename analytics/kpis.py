"""The KPIs the analytics consumers measure (seed: ``monitoring.KpiDefinition``).

Definitions are data: ``analytics.store`` writes this list into
``monitoring.kpi_definitions`` at setup, and the API serves them from there. A
measurement (``monitoring.kpi_measurements``) is one value of one KPI for one subject
(a project, a channel or the organization) and one period (a UTC day or an ISO week,
named by its first day). Member performance (``monitoring.member_performance``) is one
value of one metric for one person and one week.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import date, timedelta
from enum import StrEnum
from typing import Any


class Period(StrEnum):
    DAY = "day"
    WEEK = "week"  # ISO week, Monday to Sunday, named by its Monday
    CURRENT = "current"  # measured when read (overdue tasks depend on today's date)


class Subject(StrEnum):
    ORGANIZATION = "organization"
    PROJECT = "project"
    CHANNEL = "channel"


class MemberMetric(StrEnum):
    HOURS_LOGGED = "hours_logged"
    TASKS_COMPLETED = "tasks_completed"


class KpiKey(StrEnum):
    HOURS_LOGGED = "hours_logged"
    TASKS_COMPLETED = "tasks_completed"
    LEAD_TIME_P50 = "task_lead_time_p50"
    LEAD_TIME_P90 = "task_lead_time_p90"
    CYCLE_TIME_P50 = "task_cycle_time_p50"
    CYCLE_TIME_P90 = "task_cycle_time_p90"
    OVERDUE_OPEN_TASKS = "overdue_open_tasks"
    MESSAGES_POSTED = "messages_posted"
    ACTIVE_PEOPLE = "active_people"
    BUDGET_SPENT = "budget_spent"
    BUDGET_BURN = "budget_burn"



@dataclass(frozen=True)
class KpiDefinition:
    key: KpiKey
    name: str
    unit: str
    period: Period
    subject: Subject
    description: str

    def row(self) -> dict[str, Any]:
        return {k: str(v) for k, v in asdict(self).items()}

DEFINITIONS: tuple[KpiDefinition, ...] = (
    KpiDefinition(KpiKey.HOURS_LOGGED, "Hours logged", "hours", Period.WEEK, Subject.PROJECT,
                  "Hours logged on the project's tasks, by the week of the work date."),
    KpiDefinition(KpiKey.TASKS_COMPLETED, "Tasks completed", "tasks", Period.WEEK, Subject.PROJECT,
                  "Tasks whose last completion fell in the week (a reopened task counts "
                  "only when completed again)."),
    KpiDefinition(KpiKey.LEAD_TIME_P50, "Lead time, median", "hours", Period.WEEK, Subject.PROJECT,
                  "Median time from a task's creation to its completion, over the tasks "
                  "completed in the week."),
    KpiDefinition(KpiKey.LEAD_TIME_P90, "Lead time, 90th percentile", "hours", Period.WEEK,
                  Subject.PROJECT, "90th percentile of creation to completion."),
    KpiDefinition(KpiKey.CYCLE_TIME_P50, "Cycle time, median", "hours", Period.WEEK,
                  Subject.PROJECT, "Median time from a task's last start (IN_PROGRESS) to its "
                  "completion, over the tasks completed in the week."),
    KpiDefinition(KpiKey.CYCLE_TIME_P90, "Cycle time, 90th percentile", "hours", Period.WEEK,
                  Subject.PROJECT, "90th percentile of last start to completion."),
    KpiDefinition(KpiKey.OVERDUE_OPEN_TASKS, "Overdue open tasks", "tasks", Period.CURRENT,
                  Subject.PROJECT, "Tasks not completed whose due date is before today "
                  "(UTC), counted when read."),
    KpiDefinition(KpiKey.MESSAGES_POSTED, "Messages posted", "messages", Period.DAY,
                  Subject.CHANNEL, "Messages posted in the channel during the day (a later "
                  "deletion does not undo that a message was sent)."),
    KpiDefinition(KpiKey.ACTIVE_PEOPLE, "Active people", "people", Period.DAY, Subject.ORGANIZATION,
                  "People who did anything recorded in the organization during the day."),
    KpiDefinition(KpiKey.BUDGET_SPENT, "Budget spent", "currency", Period.WEEK, Subject.PROJECT,
                  "The project's spent budget at its last change in the week."),
    KpiDefinition(KpiKey.BUDGET_BURN, "Budget burn", "percent", Period.WEEK, Subject.PROJECT,
                  "Spent budget against budget, in percent, at its last change in the "
                  "week (projects with a budget above zero)."),
)


def week_of(day: date) -> date:
    """The Monday of ``day``'s ISO week."""
    return day - timedelta(days=day.weekday())
