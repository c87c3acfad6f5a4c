"""Client: an organization's customer, its contact details and its portal.

A client belongs to one organization; its name is unique there, case-insensitively
and ignoring runs of whitespace (``normalized_name``, the same key projects use). That
rule spans every client of the organization, so it is a UniqueClaim
(``client_name_claim_id``) that the command saves in the same append as the client,
exactly as ``vistone/commands/projects.py`` does for project names. The name stays
claimed while the client is archived (references must not become ambiguous).

Portal: with ``portal_access`` on, users of the organization holding the Client role
can be linked to the client (``PortalUserLinked``); they then see the client's linked
projects, its sent proposals and its feedback. A user is linked to at most one client
per organization: a UniqueClaim (``portal_user_claim_id``) held by the client, saved
with the link and released with the unlink. Turning ``portal_access`` off keeps the
links (turning it back on restores them) but a portal user may act only while
``portal_active`` is true and they are linked (``portal_allows``).

Archiving is separate from everything else: an archived client is read-only
(``ClientArchived``) until restored. Refused while archived: changing its details or portal
access, linking a portal user, and attaching anything to it: linking a project (by
``POST .../projects/{p}/clients``, a new project's or a changed ``client_id``; making an
already linked archived client a project's own client is refused too), opening a proposal,
sending one, and receiving feedback.

Still allowed, because they only take something away or close what was attached before the
archive: unlinking a portal user (removing a person from the organization must always be
able to revoke their link and release their claim) or a project, withdrawing a proposal,
recording the client's answer to a proposal it was sent (staff on its behalf: its portal is
closed while archived), editing feedback it gave (likewise) and responding to it.

The client is the consistency boundary of what is attached to it: each attaching command
records an event here in the same append as what it attaches (``ProjectLinked``,
``ProposalOpened``, ``ProposalSent``, ``FeedbackReceived``; unlinking a project records
``ProjectUnlinked``), so an archive racing it conflicts on the client's version and the
loser re-runs on fresh state: everything attached precedes the archive in the log. These
events keep no state (no rule here needs the attached ids; the records hold the links),
and the history they grow is cut by snapshots (``vistone.app``).

Contact details are validated at the door (docs/values.md): the email by
``email_validator`` (syntax only, no DNS) and stored in its normalized form; the phone
by a plain pattern; the address as a dict with exactly ``ADDRESS_FIELDS`` (events hold
JSON values only).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from uuid import UUID

from email_validator import EmailNotValidError, validate_email
from eventsourcing.domain import Aggregate, event

from domain.base import (
    AlreadyExists,
    InvalidValue,
    NotFound,
    RuleViolation,
    require_text,
    valid_text,
)
from domain.roles import Role
from domain.uniqueness import claim_id

MAX_NAME = 200
MAX_ADDRESS_FIELD = 200
# A short list of people; the cap keeps the aggregate (and its replay) small.
MAX_PORTAL_USERS = 100
PHONE_MIN, PHONE_MAX, PHONE_MIN_DIGITS = 5, 32, 5
ADDRESS_FIELDS = ("line1", "line2", "city", "postal_code", "region", "country")
UPDATABLE_FIELDS = frozenset({"name", "email", "phone", "address"})

_PHONE = re.compile(r"\+?[0-9 ().\-]+")

# ISO 3166-1 alpha-2, officially assigned codes (249).
_COUNTRY_CODES_TEXT = """
AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO
BQ BR BS BT BV BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ
DK DM DO DZ EC EE EG EH ER ES ET FI FJ FK FM FO FR GA GB GD GE GF GG GH GI GL GM GN GP
GQ GR GS GT GU GW GY HK HM HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP KE KG
KH KI KM KN KP KR KW KY KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML
MM MN MO MP MQ MR MS MT MU MV MW MX MY MZ NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE
PF PG PH PK PL PM PN PR PS PT PW PY QA RE RO RS RU RW SA SB SC SD SE SG SH SI SJ SK SL
SM SN SO SR SS ST SV SX SY SZ TC TD TF TG TH TJ TK TL TM TN TO TR TT TV TW TZ UA UG UM
US UY UZ VA VC VE VG VI VN VU WF WS YE YT ZA ZM ZW
"""
COUNTRY_CODES = frozenset(_COUNTRY_CODES_TEXT.split())


class ClientArchived(RuleViolation):
    code = "client-archived"


class PortalAccessDisabled(RuleViolation):
    code = "portal-access-disabled"


class PortalUserAlreadyLinked(AlreadyExists):
    code = "portal-user-already-linked"


class PortalUserNotLinked(NotFound):
    code = "portal-user-not-linked"


class PortalUsersFull(RuleViolation):
    code = "portal-users-full"


class PortalUserNotClient(RuleViolation):
    code = "portal-user-not-client"


def require_portal_role(role: Role) -> None:
    """Only members holding the organization role Client are portal users: the portal is
    the external, read-mostly view of the organization."""
    if role is not Role.CLIENT:
        raise PortalUserNotClient(
            f"only members with the {Role.CLIENT.value} role can be portal users "
            f"(this member is a {role.value})", field="user_id")


# --- uniqueness claims (saved by the commands with the client) ----------------------

def normalized_name(name: str) -> str:
    """The key under which a client name is unique within its organization (the same
    rule as project names: case and runs of whitespace do not matter)."""
    return " ".join(name.split()).lower()


def client_name_scope(organization_id: UUID) -> str:
    return f"client-name:{organization_id}"


def client_name_claim_id(organization_id: UUID, name: str) -> UUID:
    """The UniqueClaim id of ``name`` among the organization's clients; use it with
    scope ``client_name_scope(organization_id)`` and key ``normalized_name(name)``."""
    return claim_id(client_name_scope(organization_id), normalized_name(name))


def portal_user_scope(organization_id: UUID) -> str:
    return f"client-portal-user:{organization_id}"


def portal_user_claim_id(organization_id: UUID, user_id: UUID) -> UUID:
    """The UniqueClaim id that links ``user_id`` to at most one client of the
    organization; scope ``portal_user_scope(organization_id)``, key ``str(user_id)``."""
    return claim_id(portal_user_scope(organization_id), str(user_id))


# --- value rules ----------------------------------------------------------------------

def validate_name(name: Any) -> str:
    return require_text(name, "name", max_length=MAX_NAME)


def validate_email_address(email: Any) -> str | None:
    """``None`` (no email) or a syntactically valid address, normalized (domain
    lower-cased, Unicode NFC). No DNS lookup: the domain stays pure."""
    if email is None:
        return None
    if not isinstance(email, str):
        raise InvalidValue("email must be text", field="email")
    stripped = valid_text(email, "email").strip()
    if not stripped:
        raise InvalidValue("email must not be empty (send null to remove it)", field="email")
    try:
        # strict: also the RFC 5321 limit of 64 characters before the @.
        return validate_email(stripped, check_deliverability=False, strict=True).normalized
    except EmailNotValidError as error:
        raise InvalidValue(f"email is not a valid address: {error}", field="email") from None


def validate_phone(phone: Any) -> str | None:
    """``None`` or an optional '+' then digits, spaces and ``-().``: 5 to 32 characters
    (after trimming) with at least 5 digits."""
    if phone is None:
        return None
    if not isinstance(phone, str):
        raise InvalidValue("phone must be text", field="phone")
    stripped = valid_text(phone, "phone").strip()
    if not PHONE_MIN <= len(stripped) <= PHONE_MAX:
        raise InvalidValue(f"phone must be {PHONE_MIN} to {PHONE_MAX} characters long",
                           field="phone")
    if (not _PHONE.fullmatch(stripped)
            or sum(c.isdigit() for c in stripped) < PHONE_MIN_DIGITS):
        raise InvalidValue("phone must be an optional + then digits, spaces and -(). "
                           f"with at least {PHONE_MIN_DIGITS} digits", field="phone")
    return stripped


def validate_country(country: Any) -> str | None:
    """``None`` or an ISO 3166-1 alpha-2 code, stored upper-case ("fr" becomes "FR")."""
    if country is None:
        return None
    field_name = "address.country"
    if not isinstance(country, str):
        raise InvalidValue("address.country must be text", field=field_name)
    code = valid_text(country, field_name).strip().upper()
    if not code:
        return None
    if code not in COUNTRY_CODES:
        raise InvalidValue("address.country must be an ISO 3166-1 alpha-2 code (e.g. FR)",
                           field=field_name)
    return code


def validate_address(address: Any) -> dict[str, str | None] | None:
    """``None`` or a dict with exactly the keys ``ADDRESS_FIELDS``: ``line1`` required,
    the others optional (missing, null or blank become ``None``), each trimmed and at
    most 200 characters; ``country`` an ISO 3166-1 alpha-2 code."""
    if address is None:
        return None
    if not isinstance(address, Mapping):
        raise InvalidValue("address must be an object", field="address")
    unknown = sorted(str(k) for k in address if k not in ADDRESS_FIELDS)
    if unknown:
        raise InvalidValue(f"address has unknown field(s): {', '.join(unknown)}; allowed: "
                           f"{', '.join(ADDRESS_FIELDS)}", field="address")
    result: dict[str, str | None] = {}
    for key in ADDRESS_FIELDS:
        field_name = f"address.{key}"
        value = address.get(key)
        if key == "line1":
            if value is None:
                raise InvalidValue("address.line1 is required", field=field_name)
            result[key] = require_text(value, field_name, max_length=MAX_ADDRESS_FIELD)
        elif key == "country":
            result[key] = validate_country(value)
        elif value is None:
            result[key] = None
        else:
            text = require_text(value, field_name, max_length=MAX_ADDRESS_FIELD,
                                min_length=0)
            result[key] = text or None
    return result


def validate_portal_access(portal_access: Any) -> bool:
    if not isinstance(portal_access, bool):
        raise InvalidValue("portal_access must be true or false", field="portal_access")
    return portal_access


_VALIDATORS = {
    "name": validate_name,
    "email": validate_email_address,
    "phone": validate_phone,
    "address": validate_address,
}


class Client(Aggregate):
    # The contact details reach a person; the client's name is a business's.
    PERSONAL_FIELDS = frozenset({"email", "phone", "address"})

    @event("Created")
    def __init__(
        self,
        id: UUID,
        organization_id: UUID,
        name: str,
        email: str | None,
        phone: str | None,
        address: dict[str, str | None] | None,
        portal_access: bool,
        meta: dict,
    ) -> None:
        self.organization_id = organization_id
        self.name = name
        self.email = email
        self.phone = phone
        self.address = address
        self.portal_access = portal_access
        self.archived = False
        # str ids in link order keep the state JSON-snapshot safe.
        self.portal_user_ids: list[str] = []

    @classmethod
    def create(
        cls,
        id: UUID,
        organization_id: UUID,
        name: str,
        meta: dict,
        email: str | None = None,
        phone: str | None = None,
        address: Mapping[str, Any] | None = None,
        portal_access: bool = False,
    ) -> Client:
        return cls(
            id=id,
            organization_id=organization_id,
            name=validate_name(name),
            email=validate_email_address(email),
            phone=validate_phone(phone),
            address=validate_address(address),
            portal_access=validate_portal_access(portal_access),
            meta=meta,
        )

    # --- state queries ----------------------------------------------------
    def is_portal_user(self, user_id: UUID) -> bool:
        return str(user_id) in self.portal_user_ids

    @property
    def portal_active(self) -> bool:
        return self.portal_access and not self.archived

    def portal_allows(self, user_id: UUID) -> bool:
        """True if ``user_id`` may use this client's portal now."""
        return self.portal_active and self.is_portal_user(user_id)

    def require_writable(self, field: str | None = None) -> None:
        if self.archived:
            raise ClientArchived("the client is archived and read-only (restore it first)",
                                 field=field)

    # --- commands ---------------------------------------------------------
    def update(self, meta: dict, **changes: Any) -> None:
        """Change any of name, email, phone, address (``None`` removes email, phone or
        address); only the fields given change, and only changed fields are recorded."""
        self.require_writable()
        unknown = set(changes) - UPDATABLE_FIELDS
        if unknown:
            raise InvalidValue(f"unknown field(s): {', '.join(sorted(unknown))}",
                               field=sorted(unknown)[0])
        validated = {key: _VALIDATORS[key](value) for key, value in changes.items()}
        changed = {k: v for k, v in validated.items() if getattr(self, k) != v}
        if changed:
            self._updated(changes=changed, meta=meta)

    @event("Updated")
    def _updated(self, changes: dict[str, Any], meta: dict) -> None:
        for key, value in changes.items():
            setattr(self, key, value)

    def set_portal_access(self, portal_access: bool, meta: dict) -> None:
        self.require_writable()
        if validate_portal_access(portal_access) != self.portal_access:
            self._portal_access_changed(portal_access=portal_access, meta=meta)

    @event("PortalAccessChanged")
    def _portal_access_changed(self, portal_access: bool, meta: dict) -> None:
        self.portal_access = portal_access

    def archive(self, meta: dict) -> None:
        if not self.archived:
            self._archived(meta=meta)

    @event("Archived")
    def _archived(self, meta: dict) -> None:
        self.archived = True

    def restore(self, meta: dict) -> None:
        if self.archived:
            self._restored(meta=meta)

    @event("Restored")
    def _restored(self, meta: dict) -> None:
        self.archived = False

    def link_portal_user(self, user_id: UUID, meta: dict) -> None:
        """Link a portal user (the command checks they hold the Client role in the
        organization and takes ``portal_user_claim_id`` in the same append)."""
        self.require_writable()
        if not self.portal_access:
            raise PortalAccessDisabled("the client has no portal access: enable it first",
                                       field="user_id")
        if self.is_portal_user(user_id):
            raise PortalUserAlreadyLinked("the user is already linked to this client",
                                          field="user_id")
        if len(self.portal_user_ids) >= MAX_PORTAL_USERS:
            raise PortalUsersFull(f"a client has at most {MAX_PORTAL_USERS} portal users",
                                  field="user_id")
        self._portal_user_linked(user_id=user_id, meta=meta)

    @event("PortalUserLinked")
    def _portal_user_linked(self, user_id: UUID, meta: dict) -> None:
        self.portal_user_ids.append(str(user_id))

    def unlink_portal_user(self, user_id: UUID, meta: dict) -> None:
        """Allowed even when archived or with portal access off: it only removes
        access (the command releases ``portal_user_claim_id`` in the same append)."""
        if not self.is_portal_user(user_id):
            raise PortalUserNotLinked("the user is not linked to this client",
                                      field="user_id")
        self._portal_user_unlinked(user_id=user_id, meta=meta)

    @event("PortalUserUnlinked")
    def _portal_user_unlinked(self, user_id: UUID, meta: dict) -> None:
        self.portal_user_ids.remove(str(user_id))

    # --- what is attached to the client (no state: only the version moves) ---
    def link_project(self, project_id: UUID, meta: dict) -> None:
        """Record that a project links to the client (the project records its side)."""
        self.require_writable("client_id")
        self._project_linked(project_id=project_id, meta=meta)

    @event("ProjectLinked")
    def _project_linked(self, project_id: UUID, meta: dict) -> None:
        pass

    def unlink_project(self, project_id: UUID, meta: dict) -> None:
        """Allowed even when archived: it only detaches."""
        self._project_unlinked(project_id=project_id, meta=meta)

    @event("ProjectUnlinked")
    def _project_unlinked(self, project_id: UUID, meta: dict) -> None:
        pass

    def open_proposal(self, proposal_id: UUID, meta: dict) -> None:
        self.require_writable()
        self._proposal_opened(proposal_id=proposal_id, meta=meta)

    @event("ProposalOpened")
    def _proposal_opened(self, proposal_id: UUID, meta: dict) -> None:
        pass

    def send_proposal(self, proposal_id: UUID, meta: dict) -> None:
        """What is sent reaches the client: not while it is archived."""
        self.require_writable()
        self._proposal_sent(proposal_id=proposal_id, meta=meta)

    @event("ProposalSent")
    def _proposal_sent(self, proposal_id: UUID, meta: dict) -> None:
        pass

    def receive_feedback(self, feedback_id: UUID, meta: dict) -> None:
        self.require_writable()
        self._feedback_received(feedback_id=feedback_id, meta=meta)

    @event("FeedbackReceived")
    def _feedback_received(self, feedback_id: UUID, meta: dict) -> None:
        pass
