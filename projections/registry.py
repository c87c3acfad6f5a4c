"""Every read model the system runs, in one list (the server, the worker, the CLI)."""

from __future__ import annotations

from projections.assistant import AssistantReadModel
from projections.base import ReadModel
from projections.channels import ChannelsReadModel
from projections.clients import ClientsReadModel
from projections.messages import MessagesReadModel
from projections.organizations import OrganizationsReadModel
from projections.projects import ProjectsReadModel
from projections.search_index import SearchIndexReadModel
from projections.tasks import TasksReadModel
from projections.timeline import TimelineReadModel
from projections.timelogs import TimeLogsReadModel
from projections.users import UsersReadModel
from vistone.ai.embedders import configured_spec


def all_read_models() -> list[ReadModel]:
    return [
        OrganizationsReadModel(),
        UsersReadModel(),
        ChannelsReadModel(),
        MessagesReadModel(),
        ProjectsReadModel(),
        TasksReadModel(),
        TimeLogsReadModel(),
        ClientsReadModel(),
        AssistantReadModel(),
        # Its version includes the configured embedding model (a new model, a new index).
        SearchIndexReadModel(configured_spec()),
        TimelineReadModel(),
    ]


def read_models_named(names: list[str] | None) -> list[ReadModel]:
    models = all_read_models()
    if not names:
        return models
    known = {m.name: m for m in models}
    unknown = [n for n in names if n not in known]
    if unknown:
        raise KeyError(f"unknown read model(s): {', '.join(unknown)}; known: {', '.join(known)}")
    return [known[n] for n in names]
