"""The contract run: schemathesis, with every check, against a real uvicorn server holding
real fixtures, so path parameters name organizations, projects, tasks... that exist.

CI runs a bounded version (tests/contract/test_schemathesis.py); the long run is

    python -m tests.contract.run --max-examples 200

which starts its own embedded PostgreSQL in a temporary directory and prints the figures
(operations, test cases, failures, duration). Both use the same harness:

1. ``ContractServer``: ``bench.server`` (the real app behind uvicorn) as a child process on
   a free local port, on an existing database (``DATABASE_URL``); the read models are run
   by the caller's runtime (the test session's, or the long run's own).
2. ``seed``: fixtures created over HTTP as a user would, one per role and, for every
   operation that destroys what it names, a disposable one of its own.
3. ``write_config``: a schemathesis.toml fixing each path parameter to a fixture id, and a
   Web Fuzzing Commons auth file with two users of different organizations (``owner``
   runs the tests; ``outsider`` is the peer ``object_level_authorization`` replays reads
   as: another tenant must get a 404, never the owner's object).
4. ``run_schemathesis``: the ``st`` command line (its report is the failure report) with
   a JSON report for the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from bench.server_process import ServerProcess

# Every check schemathesis 4.32 has. object_level_authorization replays a read of the
# owner's object as the outsider (a user of another organization) and fails if the
# outsider gets it: the tenant rule says it must be a 404.
CHECKS = (
    "not_a_server_error", "status_code_conformance", "content_type_conformance",
    "response_headers_conformance", "response_schema_conformance", "negative_data_rejection",
    "positive_data_acceptance", "missing_required_header", "unsupported_method",
    "allow_header_conformance", "use_after_free", "ensure_resource_availability",
    "ignored_auth", "object_level_authorization",
)
CI_PHASES = ("examples", "coverage", "fuzzing")
ALL_PHASES = (*CI_PHASES, "stateful")
PASSWORD = "correct horse battery staple"
# What positive_data_acceptance accepts by default (schemathesis' own list).
POSITIVE_STATUSES = ("2xx", "3xx", "401", "403", "404", "409", "429", "5xx")


class ContractServer(ServerProcess):
    """The real app behind uvicorn (``bench.server``) on a free port; the read models are
    run by the runtime of whoever started it (``VISTONE_PROJECTIONS=external``)."""

    def __init__(self, database_url: str, jwt_secret: str, data_dir: Path) -> None:
        super().__init__(database_url, jwt_secret, data_dir, log_name="contract-server.log",
                         extra_env={"VISTONE_PROJECTIONS": "external"})


@dataclass
class Fixtures:
    """Ids of what ``seed`` created. ``path`` fixes every path parameter; ``operations``
    gives destructive operations their own disposable ids; ``body`` fixes body fields that
    must name an existing record, by operation."""

    owner_email: str
    outsider_email: str
    path: dict[str, str] = field(default_factory=dict)
    operations: dict[str, dict[str, str]] = field(default_factory=dict)
    body: dict[str, dict[str, str]] = field(default_factory=dict)


class Seeder:
    """Requests as one user (``token``); reads wait for every write made so far."""

    def __init__(self, http: httpx.Client) -> None:
        self.http = http
        self.token: str | None = None
        self.position = 0

    def call(self, method: str, path: str, body: Any = None, *, status: int = 201,
             anonymous: bool = False) -> dict[str, Any]:
        headers = {} if anonymous else {"Authorization": f"Bearer {self.token}"}
        if method == "GET":
            headers["X-Min-Position"] = str(self.position)
        r = self.http.request(method, path, json=body, headers=headers)
        if r.status_code != status:
            raise RuntimeError(f"seeding: {method} {path} answered {r.status_code}: {r.text}")
        answer: dict[str, Any] = r.json()
        if isinstance(answer.get("position"), int):
            self.position = max(self.position, answer["position"])
        return answer

    def person(self, name: str) -> tuple[str, str]:
        email = f"{name.lower()}-{uuid.uuid4().hex[:10]}@contract.example"
        answer = self.call("POST", "/v1/auth/register",
                           {"email": email, "name": name, "password": PASSWORD},
                           anonymous=True)
        return answer["id"], email

    def login(self, email: str) -> None:
        self.token = self.call("POST", "/v1/auth/login", {"email": email, "password": PASSWORD},
                               status=200, anonymous=True)["access_token"]

    def organization(self, name: str) -> str:
        slug = f"{name.lower()}-{uuid.uuid4().hex[:8]}"
        return str(self.call("POST", "/v1/organizations",
                             {"name": f"{name} {slug}", "slug": slug})["id"])


def seed(base_url: str) -> Fixtures:
    """Create the fixtures over HTTP: what the path parameters name, one member of each
    role, and a disposable record for each operation that removes or freezes one."""
    with httpx.Client(base_url=base_url, timeout=30.0) as http:
        return _seed(Seeder(http))


def _seed(s: Seeder) -> Fixtures:
    owner, owner_email = s.person("Owner")
    _, outsider_email = s.person("Outsider")
    people = {role: s.person(role)[0] for role in (
        "Manager", "Contributor", "Client", "Leaver", "Promoted", "ProjectLeaver",
        "ProjectPromoted", "ChannelLeaver", "Portal", "PortalLeaver", "PortalCandidate")}

    s.login(outsider_email)
    s.organization("Elsewhere")  # the outsider's own tenant
    s.login(owner_email)
    org = s.organization("Acme")
    doomed_org = s.organization("Doomed")
    o = f"/v1/organizations/{org}"
    for name, user in people.items():
        role = (name if name in ("Manager", "Contributor", "Client")
                else "Client" if name.startswith("Portal") else "Contributor")
        s.call("POST", f"{o}/members", {"user_id": user, "role": role})

    project = s.call("POST", f"{o}/projects", {"name": "Website"})["id"]
    archived_project = s.call("POST", f"{o}/projects", {"name": "To archive"})["id"]
    status_project = s.call("POST", f"{o}/projects", {"name": "Status changes"})["id"]
    p = f"{o}/projects/{project}"
    for name in ("Contributor", "ProjectLeaver", "ProjectPromoted"):
        s.call("POST", f"{p}/members", {"user_id": people[name], "role": "Member"})

    task = s.call("POST", f"{p}/tasks", {"title": "Landing page",
                                         "assignee_id": people["Contributor"]})["id"]
    blocker = s.call("POST", f"{p}/tasks", {"title": "Wireframes"})["id"]
    removable_blocker = s.call("POST", f"{p}/tasks", {"title": "Copy"})["id"]
    next_blocker = s.call("POST", f"{p}/tasks", {"title": "Review"})["id"]
    t = f"{o}/tasks/{task}"
    s.call("POST", f"{t}/dependencies", {"depends_on_id": blocker})
    s.call("POST", f"{t}/dependencies", {"depends_on_id": removable_blocker})
    item = s.call("POST", f"{t}/checklist", {"text": "Hero image"})["item_id"]
    removable_item = s.call("POST", f"{t}/checklist", {"text": "Footer"})["item_id"]

    channel = s.call("POST", f"{o}/channels", {"kind": "team", "name": "general"})["id"]
    c = f"{o}/channels/{channel}"
    s.call("POST", f"{c}/members", {"user_id": people["ChannelLeaver"]})
    message = s.call("POST", f"{c}/messages", {"content": "Hello"})["id"]
    removable_message = s.call("POST", f"{c}/messages", {"content": "Typo"})["id"]

    log = {"task_id": task, "work_date": "2026-01-05", "hours": "2.50"}
    time_log = s.call("POST", f"{o}/time-logs", log)["id"]
    removable_time_log = s.call("POST", f"{o}/time-logs",
                                {**log, "work_date": "2026-01-06"})["id"]
    client = s.call("POST", f"{o}/clients", {"name": "Northwind", "portal_access": True})["id"]
    archivable_client = s.call("POST", f"{o}/clients", {"name": "To archive"})["id"]
    archived_client = s.call("POST", f"{o}/clients", {"name": "Archived"})["id"]
    s.call("POST", f"{o}/clients/{archived_client}/archive", status=200)
    linkable_client = s.call("POST", f"{o}/clients", {"name": "To link"})["id"]
    unlinkable_client = s.call("POST", f"{o}/clients", {"name": "To unlink"})["id"]
    for linked in (client, unlinkable_client):
        s.call("POST", f"{p}/clients", {"client_id": linked})
    for portal in ("Portal", "PortalLeaver"):
        s.call("POST", f"{o}/clients/{client}/portal-users", {"user_id": people[portal]})
    proposals = f"{o}/clients/{client}/proposals"
    proposal, to_send, to_withdraw, to_accept, to_reject = (
        s.call("POST", proposals, {"title": title, "amount": "1200.00"})["id"]
        for title in ("Relaunch", "To send", "To withdraw", "To accept", "To reject"))
    for sent in (to_withdraw, to_accept, to_reject):
        s.call("POST", f"{o}/proposals/{sent}/send", status=200)
    feedback = s.call("POST", f"{o}/clients/{client}/feedback",
                      {"rating": 5, "project_id": project})["id"]

    conversation = s.call("POST", f"{o}/assistant/conversations", {"title": "Launch"})["id"]

    # The read models have everything before the run starts.
    s.call("GET", f"{o}/time-logs/{time_log}", status=200)

    member = "/v1/organizations/{organization_id}/members/{user_id}"
    project_member = "/v1/organizations/{organization_id}/projects/{project_id}/members/{user_id}"
    return Fixtures(
        owner_email=owner_email, outsider_email=outsider_email,
        path={
            "organization_id": org, "project_id": project, "task_id": task,
            "channel_id": channel, "message_id": message, "time_log_id": time_log,
            "user_id": owner, "item_id": item, "depends_on_id": blocker,
            "client_id": client, "proposal_id": proposal, "feedback_id": feedback,
            "conversation_id": conversation,
        },
        operations={
            "DELETE /v1/organizations/{organization_id}": {"organization_id": doomed_org},
            f"PATCH {member}": {"user_id": people["Promoted"]},
            f"DELETE {member}": {"user_id": people["Leaver"]},
            f"PATCH {project_member}": {"user_id": people["ProjectPromoted"]},
            f"DELETE {project_member}": {"user_id": people["ProjectLeaver"]},
            "POST /v1/organizations/{organization_id}/projects/{project_id}/archive":
                {"project_id": archived_project},
            "POST /v1/organizations/{organization_id}/projects/{project_id}/status":
                {"project_id": status_project},
            "DELETE /v1/organizations/{organization_id}/channels/{channel_id}/members/{user_id}":
                {"user_id": people["ChannelLeaver"]},
            "DELETE /v1/organizations/{organization_id}/messages/{message_id}":
                {"message_id": removable_message},
            "DELETE /v1/organizations/{organization_id}/time-logs/{time_log_id}":
                {"time_log_id": removable_time_log},
            "DELETE /v1/organizations/{organization_id}/tasks/{task_id}/checklist/{item_id}":
                {"item_id": removable_item},
            "DELETE /v1/organizations/{organization_id}/tasks/{task_id}/dependencies/"
            "{depends_on_id}": {"depends_on_id": removable_blocker},
            "POST /v1/organizations/{organization_id}/clients/{client_id}/archive":
                {"client_id": archivable_client},
            "POST /v1/organizations/{organization_id}/clients/{client_id}/restore":
                {"client_id": archived_client},
            "DELETE /v1/organizations/{organization_id}/projects/{project_id}/clients/"
            "{client_id}": {"client_id": unlinkable_client},
            "DELETE /v1/organizations/{organization_id}/clients/{client_id}/portal-users/"
            "{user_id}": {"user_id": people["PortalLeaver"]},
            "POST /v1/organizations/{organization_id}/proposals/{proposal_id}/send":
                {"proposal_id": to_send},
            "POST /v1/organizations/{organization_id}/proposals/{proposal_id}/withdraw":
                {"proposal_id": to_withdraw},
            "POST /v1/organizations/{organization_id}/proposals/{proposal_id}/accept":
                {"proposal_id": to_accept},
            "POST /v1/organizations/{organization_id}/proposals/{proposal_id}/reject":
                {"proposal_id": to_reject},
        },
        # Bodies naming a record that must exist for the request to get past a 404 (the
        # first one succeeds, the next ones conflict); the login of a real user, so its
        # answer is checked too.
        body={
            "POST /v1/auth/login": {"email": owner_email, "password": PASSWORD},
            "POST /v1/organizations/{organization_id}/time-logs": {"task_id": task},
            "POST /v1/organizations/{organization_id}/tasks/{task_id}/dependencies":
                {"depends_on_id": next_blocker},
            "POST /v1/organizations/{organization_id}/channels/{channel_id}/members":
                {"user_id": people["Manager"]},
            "POST /v1/organizations/{organization_id}/projects/{project_id}/members":
                {"user_id": people["Manager"]},
            "POST /v1/organizations/{organization_id}/projects/{project_id}/clients":
                {"client_id": linkable_client},
            "POST /v1/organizations/{organization_id}/clients/{client_id}/portal-users":
                {"user_id": people["PortalCandidate"]},
        },
    )


def _toml(value: Any) -> str:
    # JSON strings are valid TOML basic strings for the ASCII values written here.
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{json.dumps(k)} = {_toml(v)}" for k, v in value.items()) + " }"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    return json.dumps(value)


def cursor_operations(document: dict[str, Any]) -> set[str]:
    """The lists: operations taking a ``cursor`` query parameter."""
    return {f"{method.upper()} {path}" for path, item in document["paths"].items()
            for method, operation in item.items()
            if any(p["name"] == "cursor" and p["in"] == "query"
                   for p in operation.get("parameters", []))}


def write_config(fixtures: Fixtures, document: dict[str, Any], directory: Path, *,
                 stateful: bool = False) -> Path:
    """A schemathesis config in ``directory``: the WFC auth of the two users, and for the
    unit phases fixture ids for the path parameters, disposable ids and bodies per
    operation. The stateful phase gets no fixed ids: its ids come from the responses it
    links (an id fixed in the config would win over the one just created)."""
    login = {"verb": "POST", "endpoint": "/v1/auth/login", "contentType": "application/json",
             "token": {"extractFrom": "body", "extractSelector": "/access_token",
                       "sendIn": "header", "sendName": "Authorization",
                       "sendTemplate": "Bearer {token}"}}
    auth = {"auth": [
        {"name": name, "loginEndpointAuth": {
            **login, "payloadRaw": json.dumps({"email": email, "password": PASSWORD})}}
        for name, email in (("owner", fixtures.owner_email),
                            ("outsider", fixtures.outsider_email))]}
    auth_path = directory / "wfc-auth.json"
    auth_path.write_text(json.dumps(auth, indent=2))
    lines = ["[auth.wfc]", f"path = {_toml(str(auth_path))}", 'user = "owner"',
             'peers = ["owner", "outsider"]']
    path_parameters = {} if stateful else fixtures.path
    operations = {} if stateful else fixtures.operations
    bodies = {} if stateful else fixtures.body
    if path_parameters:
        lines += ["", "[parameters]",
                  *(f"{_toml('path.' + k)} = {_toml(v)}" for k, v in path_parameters.items())]
    # A cursor is opaque: only one the API issued is valid, which no schema can say, so a
    # list answers a generated one with 400 invalid-cursor (documented) even when the
    # request is otherwise schema-valid. Nothing else in a list's query answers 400.
    lists = cursor_operations(document)
    states = {f"GET {path}" for path in document["paths"] if path.endswith("/state")}
    for name in sorted(set(operations) | set(bodies) | lists | states):
        parameters = {f"path.{k}": v for k, v in operations.get(name, {}).items()}
        parameters |= {f"body.{k}": v for k, v in bodies.get(name, {}).items()}
        lines += ["", "[[operations]]", f"include-name = {_toml(name)}"]
        if parameters:
            lines.append(f"parameters = {_toml(parameters)}")
        # Time travel takes exactly one of as_of_version and as_of, which no OpenAPI
        # schema can say: a schema-valid request with neither or both answers 422.
        extra = (["400"] if name in lists else []) + (["422"] if name in states else [])
        if extra:
            accepted = [*POSITIVE_STATUSES, *extra]
            lines.append("checks = { positive_data_acceptance = { expected-statuses = "
                         f"{_toml(accepted)} }} }}")
    path = directory / ("schemathesis-stateful.toml" if stateful else "schemathesis.toml")
    path.write_text("\n".join(lines) + "\n")
    return path


@dataclass
class Outcome:
    """One or two schemathesis runs (the unit phases, then the stateful one)."""

    exit_code: int
    output: str
    reports: list[dict[str, Any]]
    seconds: float
    server_log: str = ""

    def _count(self, key: str) -> int:
        return sum(group["count"] for report in self.reports for group in report.get(key, []))

    @property
    def failures(self) -> int:
        return self._count("failures")

    @property
    def errors(self) -> int:
        return self._count("errors")

    def figures(self) -> str:
        tested = max(((r.get("operations") or {}).get("tested") or 0 for r in self.reports),
                     default=0)
        total = max(((r.get("operations") or {}).get("total") or 0 for r in self.reports),
                    default=0)
        cases = [r.get("test_cases") or {} for r in self.reports]
        generated = sum(c.get("generated") or 0 for c in cases)
        with_failures = sum(c.get("with_failures") or 0 for c in cases)
        kinds = {group["code"] for r in self.reports for group in r.get("failures", [])}
        return (f"operations: {tested} tested of {total} | test cases: {generated} generated,"
                f" {with_failures} with failures | failures: {self.failures}"
                f" ({len(kinds)} kinds) | errors: {self.errors} | {self.seconds:.0f} s")

    def __add__(self, other: Outcome) -> Outcome:
        return Outcome(max(self.exit_code, other.exit_code), self.output + other.output,
                       self.reports + other.reports, self.seconds + other.seconds)


def run_schemathesis(base_url: str, config: Path, *, max_examples: int,
                     phases: tuple[str, ...] = CI_PHASES, seed_value: int | None = 1,
                     workers: int = 1) -> Outcome:
    report = config.with_suffix(".report.json")
    command = [
        str(Path(sys.executable).with_name("st")), "--no-color", "--config-file", str(config),
        "run", f"{base_url}/openapi.json",
        "--checks", ",".join(CHECKS), "--phases", ",".join(phases),
        "--max-examples", str(max_examples), "--workers", str(workers),
        "--report", "json", "--report-json-path", str(report),
        "--generation-database", "none", "--request-timeout", "30",
        # The live activity feed is an endless stream: a request never completes, so
        # no check can judge it (tests/integration/test_activity_feed.py covers it).
        "--exclude-path-regex", "/activity/stream$",
        *(("--seed", str(seed_value)) if seed_value is not None else ()),
    ]
    started = time.monotonic()
    done = subprocess.run(command, capture_output=True, text=True, cwd=config.parent,
                          env={**os.environ, "SCHEMATHESIS_TELEMETRY": "false"})
    seconds = time.monotonic() - started
    reports = [json.loads(report.read_text())] if report.exists() else []
    return Outcome(done.returncode, done.stdout + done.stderr, reports, seconds)


def contract_run(database_url: str, jwt_secret: str, work_dir: Path, *, max_examples: int,
                 phases: tuple[str, ...] = CI_PHASES, seed_value: int | None = 1,
                 workers: int = 1) -> Outcome:
    """Start the server, seed it, run schemathesis (the unit phases on the fixtures, then
    the stateful phase if asked), stop the server."""
    server = ContractServer(database_url, jwt_secret, work_dir)
    try:
        server.wait_ready()
        document = httpx.get(f"{server.base_url}/openapi.json", timeout=30).json()
        fixtures = seed(server.base_url)
        runs = [(tuple(p for p in phases if p != "stateful"), False)]
        if "stateful" in phases:
            runs.append((("stateful",), True))
        outcome = Outcome(0, "", [], 0.0)
        for run_phases, stateful in runs:
            if run_phases:
                config = write_config(fixtures, document, work_dir, stateful=stateful)
                outcome += run_schemathesis(server.base_url, config, max_examples=max_examples,
                                            phases=run_phases, seed_value=seed_value,
                                            workers=workers)
        # The server's own account of any 500 (its traceback), for the failure report.
        outcome.server_log = server.log_tail(80)
        return outcome
    finally:
        server.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="The long contract run (schemathesis, "
                                     "every check) against a real server and fixtures")
    parser.add_argument("--max-examples", type=int, default=200)
    parser.add_argument("--phases", default=",".join(ALL_PHASES))
    parser.add_argument("--seed", type=int, default=None, help="default: random")
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args(argv)

    # Cheaper password hashing for the many registrations the run makes.
    os.environ.setdefault("VISTONE_ARGON2_MEMORY_KIB", "8192")
    os.environ.setdefault("VISTONE_ARGON2_TIME_COST", "1")
    from vistone.config import Settings
    from vistone.runtime import Runtime

    data_dir = Path(tempfile.mkdtemp(prefix="vistone-contract-"))
    runtime = Runtime.open(Settings(data_dir=data_dir, jwt_secret=uuid.uuid4().hex * 2))
    try:
        runtime.start_projections()
        outcome = contract_run(runtime.database.url, runtime.settings.resolve_jwt_secret(),
                               data_dir / "run", max_examples=args.max_examples,
                               phases=tuple(args.phases.split(",")), seed_value=args.seed,
                               workers=args.workers)
    finally:
        runtime.close()
        runtime.database.release()
        shutil.rmtree(data_dir, ignore_errors=True)
    print(outcome.output)
    print(outcome.figures())
    return 0 if outcome.exit_code == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
