"""Client: value rules, archive and portal rules, claims, and replay (hypothesis)."""

from __future__ import annotations

import json
import string
from typing import Any
from uuid import UUID, uuid4

import pytest
from eventsourcing.domain import Aggregate, Snapshot
from eventsourcing.persistence import DatetimeAsISO, DecimalAsStr, JSONTranscoder, Mapper, UUIDAsHex
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, invariant, rule

from domain.base import AlreadyExists, InvalidValue, NotFound, RuleViolation
from domain.client import (
    ADDRESS_FIELDS,
    COUNTRY_CODES,
    MAX_PORTAL_USERS,
    Client,
    ClientArchived,
    PortalAccessDisabled,
    PortalUserAlreadyLinked,
    PortalUserNotLinked,
    PortalUsersFull,
    client_name_claim_id,
    client_name_scope,
    normalized_name,
    portal_user_claim_id,
    portal_user_scope,
    validate_address,
    validate_email_address,
    validate_phone,
)
from domain.uniqueness import claim_id

META: dict = {"actor_id": None}

good_text = st.text(st.characters(exclude_categories=["Cs"], exclude_characters="\x00"),
                    max_size=250)
bad_char = st.one_of(st.just("\x00"), st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF))


def new_client(**kwargs: Any) -> Client:
    return Client.create(id=uuid4(), organization_id=uuid4(), name="Acme", meta=META,
                         **kwargs)


def transcoder() -> JSONTranscoder:
    t = JSONTranscoder()
    for transcoding in (UUIDAsHex(), DecimalAsStr(), DatetimeAsISO()):
        t.register(transcoding)
    return t


def replay_through_store(aggregate: Aggregate) -> Aggregate:
    """Encode every pending event as the event store does (strict JSON), decode it and
    rebuild the aggregate from the decoded events alone."""
    mapper: Mapper[UUID] = Mapper(transcoder=transcoder())
    replayed = None
    for domain_event in aggregate.collect_events():
        stored = mapper.to_stored_event(domain_event)
        json.loads(stored.state)  # what the log holds is plain JSON
        replayed = mapper.to_domain_event(stored).mutate(replayed)
    assert replayed is not None
    return replayed


def contains(text: str, chars: str) -> bool:
    return any(c in text for c in chars)


# --- name ------------------------------------------------------------------------------

@given(name=good_text)
def test_name_is_trimmed_and_bounded(name: str) -> None:
    stripped = name.strip()
    if 1 <= len(stripped) <= 200:
        client = Client.create(id=uuid4(), organization_id=uuid4(), name=name, meta=META)
        assert client.name == stripped
    else:
        with pytest.raises(InvalidValue) as raised:
            Client.create(id=uuid4(), organization_id=uuid4(), name=name, meta=META)
        assert raised.value.field == "name"


@given(prefix=good_text, bad=bad_char)
def test_name_refuses_nul_and_lone_surrogates(prefix: str, bad: str) -> None:
    with pytest.raises(InvalidValue) as raised:
        Client.create(id=uuid4(), organization_id=uuid4(), name="A" + prefix + bad, meta=META)
    assert raised.value.field == "name"


@pytest.mark.parametrize("name", ["", "   ", "\t\n", "x" * 201, 42, None])
def test_name_edge_cases(name: Any) -> None:
    with pytest.raises(InvalidValue) as raised:
        Client.create(id=uuid4(), organization_id=uuid4(), name=name, meta=META)
    assert raised.value.field == "name"


def test_name_of_200_characters_is_accepted() -> None:
    assert len(Client.create(id=uuid4(), organization_id=uuid4(), name=" " + "é" * 200 + " ",
                             meta=META).name) == 200


# --- email -----------------------------------------------------------------------------

@pytest.mark.parametrize(("given_email", "stored"), [
    ("Ann.Smith@Example.COM", "Ann.Smith@example.com"),
    ("  bob@example.org  ", "bob@example.org"),
    ("ünï@exämple.com", "ünï@exämple.com"),
    ("x+tag@sub.example.co.uk", "x+tag@sub.example.co.uk"),
])
def test_email_is_normalized(given_email: str, stored: str) -> None:
    assert validate_email_address(given_email) == stored
    assert new_client(email=given_email).email == stored


@pytest.mark.parametrize("email", [
    "", "   ", "plainaddress", "@example.com", "a@", "a@b", "a b@example.com",
    "a@@example.com", "a@example..com", "a@localhost", "a@exa mple.com",
    "a\x00@example.com", "a\ud800@example.com", "x" * 65 + "@example.com",
    "a@" + "b" * 250 + ".com", 42, b"a@example.com",
])
def test_bad_emails_are_refused(email: Any) -> None:
    with pytest.raises(InvalidValue) as raised:
        new_client(email=email)
    assert raised.value.field == "email"


def test_email_is_optional() -> None:
    assert new_client().email is None
    client = new_client(email="a@example.com")
    client.update(META, email=None)
    assert client.email is None


# --- phone -----------------------------------------------------------------------------

PHONE_CHARS = "0123456789 ()-.+x/\x00"


def phone_is_valid(phone: str) -> bool:
    stripped = phone.strip()
    body = stripped[1:] if stripped.startswith("+") else stripped
    return (5 <= len(stripped) <= 32
            and all(c in "0123456789 ().-" for c in body)
            and sum(c.isdigit() for c in stripped) >= 5)


@given(phone=st.text(alphabet=PHONE_CHARS, max_size=40))
def test_phone_rule(phone: str) -> None:
    if phone_is_valid(phone):
        assert validate_phone(phone) == phone.strip()
    else:
        with pytest.raises(InvalidValue) as raised:
            validate_phone(phone)
        assert raised.value.field == "phone"


@pytest.mark.parametrize("phone", ["+33 1 23 45 67 89", "(555) 123-4567", "12345",
                                   "+1.555.123.4567", " 0612345678 ", "+" + "1" * 31])
def test_good_phones(phone: str) -> None:
    assert new_client(phone=phone).phone == phone.strip()


@pytest.mark.parametrize("phone", ["", "  ", "1234", "+1234", "++12345", "12+345",
                                   "555-CALL-NOW", "(((()))))", "12 34 ---", "+" + "1" * 32,
                                   "12345\x00", "12345\udfff", "١٢٣٤٥", 12345])
def test_bad_phones(phone: Any) -> None:
    with pytest.raises(InvalidValue) as raised:
        new_client(phone=phone)
    assert raised.value.field == "phone"


# --- address ---------------------------------------------------------------------------

def test_address_is_stored_as_a_dict_with_every_key() -> None:
    client = new_client(address={"line1": " 1 Main St ", "city": "Paris", "country": "fr",
                                 "postal_code": "", "region": None})
    assert client.address == {"line1": "1 Main St", "line2": None, "city": "Paris",
                              "postal_code": None, "region": None, "country": "FR"}
    assert list(client.address) == list(ADDRESS_FIELDS)


@pytest.mark.parametrize(("address", "field"), [
    ({}, "address.line1"),
    ({"city": "Paris"}, "address.line1"),
    ({"line1": "  "}, "address.line1"),
    ({"line1": "x" * 201}, "address.line1"),
    ({"line1": "a", "city": "x" * 201}, "address.city"),
    ({"line1": "a", "line2": "b\x00"}, "address.line2"),
    ({"line1": "a", "region": "\ud83d"}, "address.region"),
    ({"line1": "a", "postal_code": 75001}, "address.postal_code"),
    ({"line1": "a", "country": "ZZ"}, "address.country"),
    ({"line1": "a", "country": "FRA"}, "address.country"),
    ({"line1": "a", "country": "F"}, "address.country"),
    ({"line1": "a", "country": "12"}, "address.country"),
    ({"line1": "a", "country": 33}, "address.country"),
    ({"line1": "a", "street": "x"}, "address"),
    ("1 Main St", "address"),
    (["1 Main St"], "address"),
])
def test_bad_addresses(address: Any, field: str) -> None:
    with pytest.raises(InvalidValue) as raised:
        new_client(address=address)
    assert raised.value.field == field


@given(code=st.text(alphabet=string.ascii_letters, min_size=2, max_size=2))
def test_country_is_an_assigned_alpha2_code(code: str) -> None:
    if code.upper() in COUNTRY_CODES:
        stored = validate_address({"line1": "a", "country": code})
        assert stored is not None and stored["country"] == code.upper()
    else:
        with pytest.raises(InvalidValue):
            validate_address({"line1": "a", "country": code})


def test_country_codes_are_the_249_assigned_ones() -> None:
    assert len(COUNTRY_CODES) == 249
    assert {"FR", "US", "DE", "GB", "JP", "SS", "XK"} & COUNTRY_CODES == {
        "FR", "US", "DE", "GB", "JP", "SS"}


@given(parts=st.fixed_dictionaries({}, optional={k: st.none() | good_text
                                                  for k in ADDRESS_FIELDS[1:5]}),
       line1=good_text)
def test_address_fields(parts: dict[str, str | None], line1: str) -> None:
    address = {"line1": line1, **parts}
    values = [line1, *(v for v in parts.values() if v is not None)]
    if not line1.strip() or any(len(v.strip()) > 200 for v in values):
        with pytest.raises(InvalidValue):
            validate_address(address)
        return
    stored = validate_address(address)
    assert stored is not None and set(stored) == set(ADDRESS_FIELDS)
    assert stored["line1"] == line1.strip()
    for key in ADDRESS_FIELDS[1:5]:
        value = parts.get(key)
        assert stored[key] == ((value.strip() or None) if value is not None else None)


# --- portal access, archive ------------------------------------------------------------

@pytest.mark.parametrize("value", [None, 1, 0, "true", "yes"])
def test_portal_access_must_be_a_bool(value: Any) -> None:
    with pytest.raises(InvalidValue) as raised:
        new_client(portal_access=value)
    assert raised.value.field == "portal_access"
    with pytest.raises(InvalidValue):
        new_client().set_portal_access(value, META)


def test_portal_access_defaults_to_off_and_linking_needs_it() -> None:
    client = new_client()
    assert client.portal_access is False
    with pytest.raises(PortalAccessDisabled) as raised:
        client.link_portal_user(uuid4(), META)
    assert raised.value.code == "portal-access-disabled"
    assert isinstance(raised.value, RuleViolation)
    assert client.portal_user_ids == []


def test_portal_links() -> None:
    client = new_client(portal_access=True)
    ann, bob = uuid4(), uuid4()
    client.link_portal_user(ann, META)
    client.link_portal_user(bob, META)
    assert client.portal_allows(ann) and client.portal_allows(bob)
    with pytest.raises(PortalUserAlreadyLinked) as raised:
        client.link_portal_user(ann, META)
    assert isinstance(raised.value, AlreadyExists)
    client.unlink_portal_user(ann, META)
    assert not client.is_portal_user(ann)
    with pytest.raises(PortalUserNotLinked) as missing:
        client.unlink_portal_user(ann, META)
    assert isinstance(missing.value, NotFound)
    # Turning access off keeps the link but stops the portal; on again restores it.
    client.set_portal_access(False, META)
    assert client.is_portal_user(bob) and not client.portal_allows(bob)
    client.set_portal_access(True, META)
    assert client.portal_allows(bob)
    client.archive(META)
    assert not client.portal_allows(bob) and not client.portal_active


def test_portal_users_are_capped() -> None:
    client = new_client(portal_access=True)
    for _ in range(MAX_PORTAL_USERS):
        client.link_portal_user(uuid4(), META)
    with pytest.raises(PortalUsersFull):
        client.link_portal_user(uuid4(), META)


def test_archived_client_is_read_only_until_restored() -> None:
    client = new_client(portal_access=True)
    linked = uuid4()
    client.link_portal_user(linked, META)
    client.archive(META)
    version = client.version
    for attempt in (
        lambda: client.update(META, name="Other"),
        lambda: client.update(META, email="a@example.com"),
        lambda: client.set_portal_access(False, META),
        lambda: client.link_portal_user(uuid4(), META),
        # Nothing is attached to an archived client, and nothing is sent to it.
        lambda: client.link_project(uuid4(), META),
        lambda: client.open_proposal(uuid4(), META),
        lambda: client.send_proposal(uuid4(), META),
        lambda: client.receive_feedback(uuid4(), META),
    ):
        with pytest.raises(ClientArchived) as raised:
            attempt()
        assert raised.value.code == "client-archived"
    assert client.version == version
    client.archive(META)  # again: nothing to record
    assert client.version == version
    client.unlink_portal_user(linked, META)  # taking access away is always allowed
    client.unlink_project(uuid4(), META)  # and detaching a project
    client.restore(META)
    client.restore(META)
    client.update(META, name="Other")
    assert (client.archived, client.name) == (False, "Other")


def test_update_records_only_changed_fields() -> None:
    client = new_client(email="a@example.com", phone="12345")
    client.collect_events()
    client.update(META, name="Acme", email="a@EXAMPLE.com", phone=" 12345 ")
    assert client.collect_events() == []
    client.update(META, name="  Acme Corp ", email="a@example.com",
                  address={"line1": "1 Main St"})
    (updated,) = client.collect_events()
    assert isinstance(updated, Client.Updated)
    assert updated.changes == {"name": "Acme Corp", "address": {
        "line1": "1 Main St", "line2": None, "city": None, "postal_code": None,
        "region": None, "country": None}}
    assert updated.meta == META


@pytest.mark.parametrize("changes", [{"portal_access": True}, {"archived": True},
                                     {"organization_id": uuid4()}, {"nickname": "x"}])
def test_update_refuses_unknown_fields(changes: dict[str, Any]) -> None:
    client = new_client()
    with pytest.raises(InvalidValue) as raised:
        client.update(META, **changes)
    assert raised.value.field == next(iter(changes))


def test_event_names_and_fields() -> None:
    client = new_client(portal_access=True)
    user = uuid4()
    client.set_portal_access(False, META)
    client.set_portal_access(True, META)
    client.link_portal_user(user, META)
    client.unlink_portal_user(user, META)
    client.archive(META)
    client.restore(META)
    project, proposal, feedback = uuid4(), uuid4(), uuid4()
    client.link_project(project, META)
    client.unlink_project(project, META)
    client.open_proposal(proposal, META)
    client.send_proposal(proposal, META)
    client.receive_feedback(feedback, META)
    events = client.collect_events()
    assert [type(e).__qualname__ for e in events] == [
        "Client.Created", "Client.PortalAccessChanged", "Client.PortalAccessChanged",
        "Client.PortalUserLinked", "Client.PortalUserUnlinked", "Client.Archived",
        "Client.Restored", "Client.ProjectLinked", "Client.ProjectUnlinked",
        "Client.ProposalOpened", "Client.ProposalSent", "Client.FeedbackReceived"]
    assert [e.portal_access for e in events[1:3]] == [False, True]
    assert events[3].user_id == user and events[4].user_id == user
    assert events[7].project_id == project and events[8].project_id == project
    assert events[9].proposal_id == proposal and events[10].proposal_id == proposal
    assert events[11].feedback_id == feedback
    assert all(e.meta == META for e in events)


# --- claims ----------------------------------------------------------------------------

@given(words=st.lists(st.text(alphabet=string.ascii_letters + "0123456789-", min_size=1,
                               max_size=8), min_size=1, max_size=5),
       gap=st.text(alphabet=" \t", min_size=1, max_size=3))
def test_name_claim_ignores_case_and_spacing(words: list[str], gap: str) -> None:
    organization = uuid4()
    plain = " ".join(words)
    spaced = gap + gap.join(w.upper() for w in words) + gap
    assert normalized_name(spaced) == plain.lower()
    assert client_name_claim_id(organization, spaced) == client_name_claim_id(organization,
                                                                              plain)
    assert client_name_claim_id(organization, plain) == claim_id(
        client_name_scope(organization), plain.lower())
    assert client_name_claim_id(uuid4(), plain) != client_name_claim_id(organization, plain)


def test_name_claims_differ_from_project_name_claims() -> None:
    organization = uuid4()
    assert client_name_claim_id(organization, "Acme") != claim_id(
        f"project-name:{organization}", "acme")
    assert client_name_claim_id(organization, "Acme") != client_name_claim_id(organization,
                                                                              "Acme 2")


def test_portal_user_claim_is_per_user_and_organization() -> None:
    organization, user = uuid4(), uuid4()
    assert portal_user_claim_id(organization, user) == portal_user_claim_id(organization,
                                                                            UUID(str(user)))
    assert portal_user_claim_id(organization, user) == claim_id(
        portal_user_scope(organization), str(user))
    assert portal_user_claim_id(organization, user) != portal_user_claim_id(uuid4(), user)
    assert portal_user_claim_id(organization, user) != portal_user_claim_id(organization,
                                                                            uuid4())


# --- random histories replay to the same state -----------------------------------------

emails = st.none() | st.sampled_from(["a@example.com", "B@Example.org", "bad", "", "x@y"])
phones = st.none() | st.sampled_from(["+33 1 23 45 67 89", "12345", "1234", "abc"])
addresses = st.none() | st.sampled_from([
    {"line1": "1 Main St", "country": "us"}, {"line1": "2 Rue X", "city": "Lyon"},
    {"line1": ""}, {"line1": "3 Road", "country": "XX"}])


class ClientMachine(RuleBasedStateMachine):
    users = Bundle("users")

    def __init__(self) -> None:
        super().__init__()
        self.client = new_client()
        self.linked: list[str] = []

    @rule(target=users)
    def new_user(self) -> UUID:
        return uuid4()

    @rule(name=st.sampled_from(["Acme", " Beta ", "", "x" * 201, "Gamma\x00"]),
          email=emails, phone=phones, address=addresses)
    def update(self, name: str, email: str | None, phone: str | None,
               address: dict | None) -> None:
        before = dict(self.client.__dict__)
        try:
            self.client.update(META, name=name, email=email, phone=phone, address=address)
        except ClientArchived:
            assert self.client.archived
            assert self.client.__dict__ == before
        except InvalidValue as error:
            assert error.field is not None
            assert self.client.__dict__ == before
        else:
            assert self.client.name == name.strip()

    @rule(enabled=st.booleans())
    def set_portal_access(self, enabled: bool) -> None:
        if self.client.archived:
            with pytest.raises(ClientArchived):
                self.client.set_portal_access(enabled, META)
        else:
            self.client.set_portal_access(enabled, META)
            assert self.client.portal_access is enabled

    @rule(user=users)
    def link(self, user: UUID) -> None:
        if self.client.archived:
            expected: type[Exception] | None = ClientArchived
        elif not self.client.portal_access:
            expected = PortalAccessDisabled
        elif str(user) in self.linked:
            expected = PortalUserAlreadyLinked
        else:
            expected = None
        if expected is None:
            self.client.link_portal_user(user, META)
            self.linked.append(str(user))
        else:
            with pytest.raises(expected):
                self.client.link_portal_user(user, META)

    @rule(user=users)
    def unlink(self, user: UUID) -> None:
        if str(user) in self.linked:
            self.client.unlink_portal_user(user, META)
            self.linked.remove(str(user))
        else:
            with pytest.raises(PortalUserNotLinked):
                self.client.unlink_portal_user(user, META)

    @rule(attach=st.sampled_from(["link_project", "open_proposal", "send_proposal",
                                  "receive_feedback"]))
    def attach(self, attach: str) -> None:
        # Recorded on the client (its version moves, so a concurrent archive conflicts)
        # while it is live; refused, recording nothing, while it is archived.
        version = self.client.version
        if self.client.archived:
            with pytest.raises(ClientArchived):
                getattr(self.client, attach)(uuid4(), META)
            assert self.client.version == version
        else:
            getattr(self.client, attach)(uuid4(), META)
            assert self.client.version == version + 1

    @rule()
    def detach_project(self) -> None:
        version = self.client.version
        self.client.unlink_project(uuid4(), META)  # archived or not
        assert self.client.version == version + 1

    @rule()
    def archive(self) -> None:
        self.client.archive(META)
        assert self.client.archived

    @rule()
    def restore(self) -> None:
        self.client.restore(META)
        assert not self.client.archived

    @invariant()
    def links_match_the_model(self) -> None:
        assert self.client.portal_user_ids == self.linked

    @invariant()
    def stored_values_are_valid(self) -> None:
        assert 1 <= len(self.client.name) <= 200
        assert self.client.email is None or validate_email_address(
            self.client.email) == self.client.email
        assert self.client.phone is None or validate_phone(self.client.phone) == (
            self.client.phone)
        assert self.client.address is None or validate_address(
            self.client.address) == self.client.address

    def teardown(self) -> None:
        # Rebuilt from its events alone (through the store's JSON encoding), the client
        # has exactly the same state: event methods only mutate, never re-check a rule.
        replayed = replay_through_store(self.client)
        assert replayed.__dict__ == self.client.__dict__
        # A snapshot (the client is snapshotted: what is attached to it grows its history)
        # goes through the store's JSON encoding and loads the same state.
        mapper: Mapper[UUID] = Mapper(transcoder=transcoder())
        stored = mapper.to_stored_event(Snapshot.take(self.client))
        assert mapper.to_domain_event(stored).mutate(None).__dict__ == self.client.__dict__


TestClientMachine = ClientMachine.TestCase
