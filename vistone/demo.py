"""A small demo organization for a first start, built through the same commands the
API uses (so it appears in the log, the read models and the audit trail like any data)."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from domain.base import AlreadyExists, CommandContext
from domain.channel import ChannelKind
from domain.project import ProjectRole, ProjectStatus
from domain.roles import Role
from domain.task import TaskPriority, TaskStatus
from vistone.app import Command, Vistone
from vistone.commands import (
    channels,
    client_feedback,
    clients,
    organizations,
    projects,
    proposals,
    tasks,
    timelogs,
    users,
)

DEMO_EMAIL = "demo@vistone.example"
DEMO_PASSWORD = "vistone-demo"  # noqa: S105 - a documented demo login, not a secret


def load_demo(app: Vistone, *, only_if_empty: bool) -> tuple[str, str] | None:
    """Load the demo data; returns the demo login, or None when nothing was loaded."""
    if only_if_empty and (app.recorder.max_notification_id() or 0) > 0:
        return None
    system = CommandContext(actor_id=None, correlation_id="demo", causation_id="demo")
    try:
        owner = users.register_user(Command(app, system), email=DEMO_EMAIL, name="Dana Demo",
                                    password=DEMO_PASSWORD).id
    except AlreadyExists:
        return None
    people = {
        name: users.register_user(Command(app, system), email=f"{name.lower()}@vistone.example",
                                  name=name, password=DEMO_PASSWORD).id
        for name in ("Maya", "Chris", "Clara")
    }
    ctx = CommandContext(actor_id=owner, correlation_id="demo", causation_id="demo")
    command = Command(app, ctx)  # the owner's
    org = organizations.create_organization(command, name="Demo Agency", slug="demo-agency").id
    for name, role in (("Maya", Role.MANAGER), ("Chris", Role.CONTRIBUTOR),
                       ("Clara", Role.CLIENT)):
        organizations.add_member(command, org, user_id=people[name], role=role)

    today = date.today()
    project = projects.create_project(
        command, org, name="Website relaunch", description="New site for Northwind Coffee",
        start_date=today - timedelta(days=14), end_date=today + timedelta(days=60),
        budget=Decimal("48000")).id
    projects.change_project_status(command, org, project, status=ProjectStatus.ACTIVE)
    for name, project_role in (("Maya", ProjectRole.LEAD), ("Chris", ProjectRole.MEMBER),
                               ("Clara", ProjectRole.VIEWER)):
        projects.add_project_member(command, org, project, user_id=people[name],
                                    role=project_role)

    design = tasks.create_task(
        command, org, project, title="Design the home page", priority=TaskPriority.HIGH,
        description="A hero with the new coffee photography, the seasonal drinks menu and "
        "a teaser of the store locator. Colours from the brand book.",
        due_date=today + timedelta(days=7), assignee_id=people["Chris"]).id
    build = tasks.create_task(
        command, org, project, title="Build the home page",
        description="Responsive templates in the CMS; pages load in under two seconds on "
        "a phone; the TLS certificate of the new domain renewed before launch.",
        due_date=today + timedelta(days=21), assignee_id=people["Chris"]).id
    tasks.add_dependency(command, org, build, depends_on_id=design)
    for item in ("Moodboard", "Wireframe", "Client review"):
        tasks.add_checklist_item(command, org, design, text=item)
    tasks.change_task_status(command, org, design, status=TaskStatus.IN_PROGRESS)

    channel = channels.create_channel(command, org, kind=ChannelKind.PROJECT,
                                      name="website-relaunch", project_id=project).id
    channels.add_channel_member(command, org, channel, user_id=people["Chris"])
    channels.post_message(command, org, channel, mentions=[people["Chris"]],
                          content="Kick-off is done: Chris, the home page design is yours.")

    # Team chat on three topics: the chat clusters have something to show.
    general = channels.create_channel(command, org, kind=ChannelKind.TEAM, name="general").id
    for content in (
        "The invoice for the September retainer is still unpaid.",
        "Northwind paid the August invoice yesterday, the September one is overdue.",
        "Can someone send the payment reminder for the overdue invoice?",
        "Deploy of the staging server failed: the database migration timed out.",
        "Staging is back up after the migration fix; deploying to production tonight.",
        "Production deploy done, the servers look healthy.",
        "New logo colours are in the brand book: deep green and cream.",
        "The designers want a bolder font for the logo on the packaging.",
        "Brand book updated with the logo, fonts and colour palette.",
    ):
        channels.post_message(command, org, general, content=content)

    chris = CommandContext(actor_id=people["Chris"], correlation_id="demo", causation_id="demo")
    timelogs.log_time(Command(app, chris), org, task_id=design, work_date=today - timedelta(days=1),
                      hours=Decimal("6.5"), description="Moodboard and first wireframe")

    # The client context: Northwind Coffee, its portal (Clara), a proposal it was sent and
    # its feedback on the relaunch, answered.
    northwind = clients.create_client(
        command, org, name="Northwind Coffee", email="hello@northwind.example.com",
        phone="+33 1 23 45 67 89", portal_access=True,
        address={"line1": "12 rue des Lilas", "city": "Paris", "postal_code": "75011",
                 "country": "FR"}).id
    clients.link_portal_user(command, org, northwind, user_id=people["Clara"])
    projects.update_project(command, org, project, changes={"client_id": northwind})
    offer = proposals.create_proposal(
        command, org, northwind, title="Online shop (phase 2)",
        content="A shop for beans and gift boxes, after the relaunch.",
        amount=Decimal("18500"), project_id=project).id
    proposals.send_proposal(command, org, offer)
    clara = CommandContext(actor_id=people["Clara"], correlation_id="demo", causation_id="demo")
    feedback = client_feedback.give_feedback(
        Command(app, clara), org, northwind, rating=5, project_id=project,
        comment="The new home page design is exactly what we wanted.").id
    client_feedback.respond_to_feedback(command, org, feedback,
                                        response="Thank you, Clara! The build starts Monday.")
    return DEMO_EMAIL, DEMO_PASSWORD
