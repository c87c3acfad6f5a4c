"""The dependency graph of one project's tasks: the consistency boundary of the
no-cycle rule.

Whether an edge closes a cycle depends on every other edge of the project, so all of
them live in one aggregate per project (id derived from the project id). Every
dependency change of a project appends to it; two concurrent requests that would
together close a cycle both try to write the same next version, the event store lets
one in, and the other decides again on the fresh graph, where it sees the cycle.
"""

from __future__ import annotations

from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain.base import AlreadyExists, InvalidValue, NotFound, RuleViolation, derived_id
from domain.task import Task


def dependency_graph_id(project_id: UUID) -> UUID:
    return derived_id("task-dependencies", project_id)


class DependencyCycle(RuleViolation):
    code = "dependency-cycle"

    def __init__(self, path: list[str]) -> None:
        super().__init__("the dependency would close a cycle: " + " → ".join(path),
                         field="depends_on_id")
        self.path = path


class SelfDependency(InvalidValue):
    code = "self-dependency"


class DuplicateDependency(AlreadyExists):
    code = "duplicate-dependency"


class DependencyInOtherProject(InvalidValue):
    code = "dependency-in-other-project"


class DependencyNotFound(NotFound):
    code = "dependency-not-found"


class TaskDependencyGraph(Aggregate):
    @event("Created")
    def __init__(self, id: UUID, project_id: UUID, meta: dict) -> None:
        self.project_id = project_id
        # task id -> ids of the tasks it depends on (str keys: snapshot-safe).
        self.edges: dict[str, list[str]] = {}

    @classmethod
    def for_project(cls, project_id: UUID, meta: dict) -> TaskDependencyGraph:
        return cls(id=dependency_graph_id(project_id), project_id=project_id, meta=meta)

    # --- queries ----------------------------------------------------------
    def depends_on(self, task_id: UUID) -> list[str]:
        return list(self.edges.get(str(task_id), []))

    def has_edge(self, task_id: UUID, depends_on_id: UUID) -> bool:
        return str(depends_on_id) in self.edges.get(str(task_id), [])

    def path_between(self, start: str, goal: str) -> list[str] | None:
        """A path start → … → goal along the edges, or None."""
        parents: dict[str, str | None] = {start: None}
        stack = [start]
        while stack:
            node = stack.pop()
            if node == goal:
                path = [node]
                while parents[path[-1]] is not None:
                    path.append(parents[path[-1]])  # type: ignore[arg-type]
                return list(reversed(path))
            for nxt in self.edges.get(node, []):
                if nxt not in parents:
                    parents[nxt] = node
                    stack.append(nxt)
        return None

    # --- commands ---------------------------------------------------------
    def add_dependency(self, task: Task, depends_on: Task, meta: dict) -> None:
        """Record that ``task`` cannot proceed before ``depends_on``."""
        for member in (task, depends_on):
            if member.project_id != self.project_id:
                raise DependencyInOtherProject(
                    "both tasks of a dependency must belong to the same project",
                    field="depends_on_id")
        source, target = str(task.id), str(depends_on.id)
        if source == target:
            raise SelfDependency("a task cannot depend on itself", field="depends_on_id")
        if target in self.edges.get(source, []):
            raise DuplicateDependency("the task already depends on this task",
                                      field="depends_on_id")
        # The new edge source → target closes a cycle iff source is reachable from target.
        back = self.path_between(target, source)
        if back is not None:
            raise DependencyCycle([source, *back])
        self._dependency_added(task_id=source, depends_on_id=target, meta=meta)

    @event("DependencyAdded")
    def _dependency_added(self, task_id: str, depends_on_id: str, meta: dict) -> None:
        self.edges.setdefault(task_id, []).append(depends_on_id)

    def remove_dependency(self, task_id: UUID, depends_on_id: UUID, meta: dict) -> None:
        if not self.has_edge(task_id, depends_on_id):
            raise DependencyNotFound("the task does not depend on this task",
                                     field="depends_on_id")
        self._dependency_removed(task_id=str(task_id), depends_on_id=str(depends_on_id),
                                 meta=meta)

    @event("DependencyRemoved")
    def _dependency_removed(self, task_id: str, depends_on_id: str, meta: dict) -> None:
        remaining = [d for d in self.edges[task_id] if d != depends_on_id]
        if remaining:
            self.edges[task_id] = remaining
        else:
            del self.edges[task_id]
