from __future__ import annotations

from uuid import UUID, uuid4

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.base import DomainError, Forbidden, InvalidValue, NotFound, is_valid_text
from domain.channel import (
    AlreadyChannelMember,
    Channel,
    ChannelKind,
    DirectChannelMembershipFixed,
    NotChannelMember,
    direct_channel_id,
)
from domain.message import (
    ATTACHMENT_URL,
    MAX_CONTENT_LENGTH,
    MentionOfNonMember,
    Message,
    MessageDeleted,
    MessageTooLong,
    NotTheSender,
)
from domain.roles import Role

META: dict = {"actor_id": None}
PEOPLE = [UUID(int=i + 1) for i in range(6)]
ORG = UUID(int=1000)

operations = st.lists(
    st.tuples(st.sampled_from(["join", "leave"]), st.sampled_from(PEOPLE)), max_size=60
)


@given(operations)
def test_direct_channels_keep_exactly_their_two_people(ops: list[tuple[str, UUID]]) -> None:
    channel = Channel.create_direct_channel(ORG, PEOPLE[0], PEOPLE[1], META)
    for op, person in ops:
        with pytest.raises(DirectChannelMembershipFixed):
            getattr(channel, op)(person, META)
        assert channel.member_ids() == {str(PEOPLE[0]), str(PEOPLE[1])}
    assert channel.version == 1


@given(operations)
def test_join_and_leave_track_a_set(ops: list[tuple[str, UUID]]) -> None:
    channel = Channel.create_team_channel(uuid4(), ORG, "general", PEOPLE[0], META)
    expected = {str(PEOPLE[0])}
    for op, person in ops:
        if op == "join":
            if str(person) in expected:
                with pytest.raises(AlreadyChannelMember):
                    channel.join(person, META)
            else:
                channel.join(person, META)
                expected.add(str(person))
        else:
            if str(person) in expected:
                channel.leave(person, META)
                expected.discard(str(person))
            else:
                with pytest.raises(NotChannelMember):
                    channel.leave(person, META)
        assert channel.member_ids() == expected
    replayed = None
    for e in channel.collect_events():
        replayed = e.mutate(replayed)
    assert replayed is not None and replayed.member_ids() == expected


@given(st.sampled_from(PEOPLE), st.sampled_from(PEOPLE))
def test_direct_channel_id_ignores_the_order_of_the_pair(a: UUID, b: UUID) -> None:
    assert direct_channel_id(ORG, a, b) == direct_channel_id(ORG, b, a)
    if a == b:
        with pytest.raises(InvalidValue):
            Channel.create_direct_channel(ORG, a, b, META)
    else:
        assert Channel.create_direct_channel(ORG, a, b, META).id == direct_channel_id(ORG, b, a)
        assert direct_channel_id(uuid4(), a, b) != direct_channel_id(ORG, a, b)


@pytest.mark.parametrize("name", ["", "   ", "x" * 101])
def test_named_channels_need_a_bounded_name(name: str) -> None:
    with pytest.raises(InvalidValue) as error:
        Channel.create_project_channel(uuid4(), ORG, uuid4(), name, PEOPLE[0], META)
    assert error.value.field == "name"


def a_channel(kind: ChannelKind, owner: UUID, others: set[UUID]) -> Channel:
    """A channel of ``kind`` opened by ``owner`` (the other person of a direct channel
    is the first of ``others``) that ``others`` then joined."""
    if kind is ChannelKind.DIRECT:
        other = next(iter(sorted(others - {owner})), PEOPLE[-1])
        return Channel.create_direct_channel(ORG, owner, other, META)
    if kind is ChannelKind.PROJECT:
        channel = Channel.create_project_channel(uuid4(), ORG, uuid4(), "p", owner, META)
    else:
        channel = Channel.create_team_channel(uuid4(), ORG, "t", owner, META)
    for person in sorted(others - {owner}):
        channel.join(person, META)
    return channel


@given(st.sampled_from(ChannelKind), st.sets(st.sampled_from(PEOPLE[1:]), max_size=4),
       st.sampled_from(PEOPLE), st.sampled_from(Role), st.sampled_from(PEOPLE))
def test_who_may_remove_whom(kind: ChannelKind, others: set[UUID], actor: UUID, role: Role,
                             target: UUID) -> None:
    owner = PEOPLE[0]
    channel = a_channel(kind, owner, others)
    before = channel.member_ids()
    oversees = role in (Role.ORGANIZER, Role.MANAGER)
    in_it = channel.is_member(actor)
    owns = kind is not ChannelKind.DIRECT and actor == owner  # a direct channel has none

    if kind is ChannelKind.DIRECT and not in_it:
        expected: type[DomainError] | None = NotFound  # private to its two people
    elif not in_it and not oversees:
        expected = NotFound  # a channel you are not in does not exist for you
    elif role is Role.CLIENT:
        expected = Forbidden  # a Client writes nothing, not even leaving
    elif target != actor and not owns and not oversees:
        expected = Forbidden  # only the owner, an Organizer or a Manager removes others
    elif kind is ChannelKind.DIRECT:
        expected = DirectChannelMembershipFixed
    elif str(target) not in before:
        expected = NotChannelMember
    else:
        expected = None

    if expected is None:
        channel.remove(target, by=actor, role=role, meta=META)
        assert channel.member_ids() == before - {str(target)}
    else:
        with pytest.raises(expected):
            channel.remove(target, by=actor, role=role, meta=META)
        assert channel.member_ids() == before


def test_removal_examples() -> None:
    bob, carol = PEOPLE[1], PEOPLE[2]
    channel = a_channel(ChannelKind.TEAM, PEOPLE[0], {bob, carol})
    with pytest.raises(Forbidden):  # a member may not remove another
        channel.remove(carol, by=bob, role=Role.CONTRIBUTOR, meta=META)
    channel.remove(bob, by=bob, role=Role.CONTRIBUTOR, meta=META)  # but may leave
    channel.remove(carol, by=PEOPLE[0], role=Role.CONTRIBUTOR, meta=META)  # the owner may
    channel.remove(PEOPLE[0], by=PEOPLE[3], role=Role.MANAGER, meta=META)  # from outside
    assert channel.member_ids() == frozenset()


def post(content: str = "hello", mentions: list = (), attachments: list = (),  # type: ignore[assignment]
         members: frozenset[str] = frozenset({str(PEOPLE[0]), str(PEOPLE[1])})) -> Message:
    return Message.post(uuid4(), uuid4(), ORG, PEOPLE[0], content, members, META,
                        mentions=mentions, attachments=attachments)


@given(st.text(min_size=1, max_size=MAX_CONTENT_LENGTH + 50))
def test_content_limits(content: str) -> None:
    if "\x00" in content or not content.strip():  # PostgreSQL text cannot hold NUL
        with pytest.raises(InvalidValue):
            post(content)
    elif len(content) > MAX_CONTENT_LENGTH:
        with pytest.raises(MessageTooLong):
            post(content)
    else:
        assert post(content).content == content


def test_content_bounds_exactly() -> None:
    assert len(post("x" * MAX_CONTENT_LENGTH).content) == MAX_CONTENT_LENGTH
    with pytest.raises(MessageTooLong) as error:
        post("x" * (MAX_CONTENT_LENGTH + 1))
    assert error.value.field == "content"
    with pytest.raises(InvalidValue):
        post("")


@given(st.lists(st.sampled_from(PEOPLE), max_size=10), st.sets(st.sampled_from(PEOPLE), min_size=1))
def test_mentions_must_be_channel_members(mentions: list[UUID], members: set[UUID]) -> None:
    member_ids = frozenset(str(m) for m in members)
    if all(str(m) in member_ids for m in mentions):
        message = post(mentions=mentions, members=member_ids)
        assert message.mentions == list(dict.fromkeys(str(m) for m in mentions))
    else:
        with pytest.raises(MentionOfNonMember) as error:
            post(mentions=mentions, members=member_ids)
        assert error.value.field == "mentions"


@pytest.mark.parametrize("attachment", [
    {"url": "ftp://example.com/a", "file_type": "text/plain"},
    {"url": "https://exa mple.com/a", "file_type": "text/plain"},
    {"url": "https://example.com\n", "file_type": "text/plain"},
    {"url": " https://example.com/a", "file_type": "text/plain"},
    {"url": "https:///path", "file_type": "text/plain"},
    {"url": "HTTPS://example.com/a", "file_type": "text/plain"},
    {"url": "javascript:alert(1)", "file_type": "text/plain"},
    {"url": "https://", "file_type": "text/plain"},
    {"url": "https://e.com/" + "a" * 2048, "file_type": "text/plain"},
    {"url": "https://e.com/a", "file_type": ""},
    {"url": "https://e.com/a", "file_type": "x" * 101},
    {"url": "https://e.com/a"},
])
def test_bad_attachments_are_refused(attachment: dict) -> None:
    with pytest.raises(InvalidValue):
        post(attachments=[attachment])


@given(st.from_regex(ATTACHMENT_URL, fullmatch=True).filter(lambda url: len(url) <= 2048))
def test_every_url_the_published_pattern_matches_is_accepted(url: str) -> None:
    """The API's schema states ATTACHMENT_URL: whatever matches it is a valid attachment
    (unless it holds text no consumer can store, which no schema can name)."""
    attachment = {"url": url, "file_type": "text/plain"}
    if is_valid_text(url):
        assert post(attachments=[attachment]).attachments == [attachment]
    else:
        with pytest.raises(InvalidValue):
            post(attachments=[attachment])


def test_attachments_are_bounded_and_kept() -> None:
    good = {"url": "https://files.example.com/a.pdf", "file_type": "application/pdf"}
    assert post(attachments=[good] * 10).attachments == [good] * 10
    with pytest.raises(InvalidValue):
        post(attachments=[good] * 11)


def test_only_the_sender_edits_or_deletes_and_not_after_delete() -> None:
    message = post()
    with pytest.raises(NotTheSender):
        message.edit(PEOPLE[1], "mine now", META)
    with pytest.raises(NotTheSender):
        message.delete(PEOPLE[1], META)
    message.edit(PEOPLE[0], "better", META)
    assert message.content == "better"
    with pytest.raises(MessageTooLong):
        message.edit(PEOPLE[0], "x" * (MAX_CONTENT_LENGTH + 1), META)
    message.delete(PEOPLE[0], META)
    assert message.deleted and message.content == ""
    with pytest.raises(MessageDeleted):
        message.edit(PEOPLE[0], "back", META)
    with pytest.raises(DomainError):
        message.delete(PEOPLE[0], META)
