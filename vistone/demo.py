"""A small demo organization for a first start, built through the same commands the
API uses (so it appears in the log, the read models and the audit trail like any data)."""

from __future__ import annotations

from domain.base import AlreadyExists, CommandContext
from domain.roles import Role
from vistone.app import Vistone
from vistone.commands import organizations, users

DEMO_EMAIL = "demo@vistone.example"
DEMO_PASSWORD = "vistone-demo"  # noqa: S105 - a documented demo login, not a secret


def load_demo(app: Vistone, *, only_if_empty: bool) -> tuple[str, str] | None:
    """Load the demo data; returns the demo login, or None when nothing was loaded."""
    if only_if_empty and (app.recorder.max_notification_id() or 0) > 0:
        return None
    system = CommandContext(actor_id=None, correlation_id="demo", causation_id="demo")
    try:
        owner = users.register_user(app, system, email=DEMO_EMAIL, name="Dana Demo",
                                    password=DEMO_PASSWORD).id
    except AlreadyExists:
        return None
    people = {
        name: users.register_user(app, system, email=f"{name.lower()}@vistone.example",
                                  name=name, password=DEMO_PASSWORD).id
        for name in ("Maya", "Chris", "Clara")
    }
    ctx = CommandContext(actor_id=owner, correlation_id="demo", causation_id="demo")
    org = organizations.create_organization(app, ctx, name="Demo Agency", slug="demo-agency").id
    for name, role in (("Maya", Role.MANAGER), ("Chris", Role.CONTRIBUTOR),
                       ("Clara", Role.CLIENT)):
        organizations.add_member(app, ctx, org, user_id=people[name], role=role)
    return DEMO_EMAIL, DEMO_PASSWORD
