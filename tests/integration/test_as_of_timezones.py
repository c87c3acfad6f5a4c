"""``?as_of=<time>`` names an instant: the answer is the same whatever the time zone of the
server process (``TZ``) and of the database (its ``timezone`` setting, in effect on every
connection the application opens), and the same instant written with different offsets
(``Z``, ``+05:30``, ``-08:00``...) answers the same version.

Each combination of zones gets a new runtime (new event-store and read-model connections,
opened after the database's zone was changed), on a database of its own, and its own HTTP
app; the answers to a fixed set of moments are compared with the expected versions."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from itertools import product
from typing import Any

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict

from api.main import create_app
from tests.conftest import ContractClient
from tests.helpers import Person, fresh, new_organization, new_person
from vistone.config import Settings
from vistone.runtime import Runtime

PROCESS_ZONES = ["UTC", "Asia/Kolkata", "America/Los_Angeles", "Pacific/Chatham"]
DATABASE_ZONES = ["UTC", "Asia/Kathmandu", "America/St_Johns"]
OFFSETS = [timedelta(0), timedelta(hours=5, minutes=30), timedelta(hours=-8),
           timedelta(hours=13, minutes=45)]
# Commands a little apart, so the moment between two versions is a real instant apart
# from both.
GAP_SECONDS = 0.02


@pytest.fixture
def process_zone() -> Iterator[Any]:
    """Sets the process's time zone (``TZ`` and tzset) for the test; restores it after."""
    original = os.environ.get("TZ")

    def set_zone(zone: str) -> None:
        os.environ["TZ"] = zone
        time.tzset()

    yield set_zone
    if original is None:
        os.environ.pop("TZ", None)
    else:
        os.environ["TZ"] = original
    time.tzset()


def written(moment: datetime, offset: timedelta) -> str:
    """``moment`` in RFC 3339 with ``offset`` (UTC as ``Z``)."""
    text = moment.astimezone(timezone(offset)).isoformat()
    return text.replace("+00:00", "Z")


def test_as_of_a_time_ignores_the_servers_and_the_databases_time_zones(
    fresh_runtime: Runtime, settings: Settings, process_zone: Any,
) -> None:
    fresh_runtime.start_projections()
    with ContractClient(create_app(fresh_runtime, run_projections=False)) as client:
        ann = new_person(client, "Ann")
        org = new_organization(client, ann)["id"]
        project = client.post(f"/v1/organizations/{org}/projects", json={"name": "Zones"},
                              headers=ann.headers).json()
        task = client.post(f"/v1/organizations/{org}/projects/{project['id']}/tasks",
                           json={"title": "v1"}, headers=ann.headers).json()
        path = f"/v1/organizations/{org}/tasks/{task['id']}/state"
        position = task["position"]
        for title in ("v2", "v3"):
            time.sleep(GAP_SECONDS)
            position = client.patch(f"/v1/organizations/{org}/tasks/{task['id']}",
                                    json={"title": title}, headers=ann.headers
                                    ).json()["position"]
        versions = [client.get(path, params={"as_of_version": n},
                               headers={**ann.headers, **fresh(position)}).json()
                    for n in (1, 2, 3)]
    t1, t2, t3 = (datetime.fromisoformat(v["recorded_at"]) for v in versions)
    assert t1 < t2 < t3
    # The moments asked about, and the version each must answer (None: not created yet).
    expected: dict[str, tuple[datetime, int | None]] = {
        "before creation": (t1 - timedelta(microseconds=1), None),
        "at creation": (t1, 1),
        "between 1 and 2": (t1 + (t2 - t1) / 2, 1),
        "just before 2": (t2 - timedelta(microseconds=1), 1),
        "at 2": (t2, 2),
        "between 2 and 3": (t2 + (t3 - t2) / 2, 2),
        "a day after 3": (t3 + timedelta(days=1), 3),
    }
    url = fresh_runtime.database.url
    database = conninfo_to_dict(url)["dbname"]
    for process, db_zone in product(PROCESS_ZONES, DATABASE_ZONES):
        process_zone(process)
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(f"ALTER DATABASE \"{database}\" SET timezone = '{db_zone}'")
        answers = answers_in_new_runtime(url, settings, ann, path, expected, db_zone)
        for label, (_, version) in expected.items():
            for offset in OFFSETS:
                status, found = answers[(label, offset)]
                where = (process, db_zone, label, offset)
                if version is None:
                    assert status == 404, where
                else:
                    assert (status, found["version"]) == (200, version), where
                    assert found["state"] == versions[version - 1]["state"], where
                    assert found["recorded_at"] == versions[version - 1]["recorded_at"], where


def answers_in_new_runtime(url: str, settings: Settings, who: Person, path: str,
                           moments: dict[str, tuple[datetime, int | None]],
                           db_zone: str) -> dict[tuple[str, timedelta], tuple[int, Any]]:
    """Every moment, written with every offset, asked of a runtime opened now (so every
    connection it uses has the database's current zone)."""
    runtime = Runtime.open(Settings(database_url=url, data_dir=settings.data_dir,
                                    jwt_secret=settings.jwt_secret, db_pool_size=2))
    try:
        # The zones really are in effect where the answer is computed.
        with runtime.app.recorder.datastore.transaction(commit=False) as cursor:  # type: ignore[attr-defined]
            cursor.execute("SHOW TimeZone")
            assert cursor.fetchone()["TimeZone"] == db_zone
        with runtime.pool.connection() as conn:
            assert conn.execute("SHOW TimeZone").fetchone() == (db_zone,)
        local = datetime(2026, 7, 1, 12).astimezone()  # summer: zones differ most
        assert (local.utcoffset() == timedelta(0)) == (os.environ["TZ"] == "UTC")
        answers = {}
        with ContractClient(create_app(runtime, run_projections=False)) as client:
            for label, (moment, _) in moments.items():
                for offset in OFFSETS:
                    r = client.get(path, params={"as_of": written(moment, offset)},
                                   headers=who.headers)
                    answers[(label, offset)] = (r.status_code, r.json())
        return answers
    finally:
        runtime.close()
