from __future__ import annotations

from collections.abc import Callable
from uuid import uuid4

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from pydantic import TypeAdapter, ValidationError

from domain.base import InvalidValue
from domain.uniqueness import UniqueClaim, claim_id
from domain.user import User, normalize_email, validate_phone

local = st.text(alphabet=st.characters(min_codepoint=33, max_codepoint=126,
                                       blacklist_characters="@"), min_size=1, max_size=20)
domain_part = st.from_regex(r"[a-zA-Z0-9]{1,10}\.[a-zA-Z]{2,5}", fullmatch=True)


@given(local, domain_part)
def test_emails_differing_only_in_case_share_one_claim(user: str, host: str) -> None:
    email = f"{user}@{host}"
    assert claim_id("email", normalize_email(email)) == claim_id(
        "email", normalize_email(email.upper()))
    assert normalize_email(f"  {email.swapcase()} ") == email.lower()


@pytest.mark.parametrize("bad", ["", "no-at-sign", "two@@at.com", "a@b", "a b@c.de", 42,
                                 "\u00a9@{\u008d.\u0004t", "a\u0007b@c.de", "a@b\x7f.de"])
def test_invalid_emails_are_refused_naming_the_field(bad: object) -> None:
    with pytest.raises(InvalidValue) as error:
        normalize_email(bad)  # type: ignore[arg-type]
    assert error.value.field == "email"


def test_profile_update_only_records_real_changes() -> None:
    user = User.register(uuid4(), "A@B.co", "Ann", None, "hash", {})
    user.collect_events()
    user.update_profile("Ann", None, {})
    assert user.collect_events() == []
    user.update_profile("Anna", "+33 1 23 45 67", {})
    assert [type(e).__name__ for e in user.collect_events()] == ["ProfileUpdated"]
    with pytest.raises(InvalidValue):
        user.update_profile(None, "call me maybe", {})


@given(st.lists(st.sampled_from(["claim_a", "claim_b", "release_a", "release_b"]), max_size=30))
def test_a_claim_has_at_most_one_owner(steps: list[str]) -> None:
    from domain.base import AlreadyExists

    a, b = uuid4(), uuid4()
    claim = UniqueClaim(id=uuid4(), scope="email", key="k", owner_id=a, meta={})
    owner: object = a
    for step in steps:
        who = a if step.endswith("a") else b
        if step.startswith("claim"):
            if owner not in (None, who):
                with pytest.raises(AlreadyExists):
                    claim.reclaim(who, {})
            else:
                claim.reclaim(who, {})
                owner = who
        else:
            claim.release(who, {})
            if owner == who:
                owner = None
        assert claim.owner_id == owner


def _api_accepts(adapter: TypeAdapter[str], value: str) -> bool:
    try:
        adapter.validate_python(value)
    except ValidationError:
        return False
    return True


def _domain_accepts(rule: Callable[[str], object], value: str) -> bool:
    try:
        rule(value)
    except InvalidValue:
        return False
    return True


# Candidates near the rule: parts built from characters around its edges (white space of
# every kind, "@", dots, NUL, letters of other scripts), with and without padding.
edge_chars = st.sampled_from(list("aZ9.@-+ \t\n\x00\x1c\x1f\x85\xa0\u2028\u3000\ufeffé\u0130"))
parts = st.text(alphabet=edge_chars, min_size=0, max_size=70)


@given(st.one_of(st.emails(), st.builds(lambda a, b, c: f"{a}@{b}.{c}", parts, parts, parts),
                 parts))
def test_the_api_states_the_email_rule_exactly(value: str) -> None:
    """What the API's schema accepts (pydantic reads the pattern with Rust's regex
    engine), the domain accepts, and the reverse: never a 422 for a schema-valid email."""
    from api.routes.auth import Email

    assume(len(value.lower()) == len(value))  # a lower-cased form of another length
    assert _api_accepts(TypeAdapter(Email), value) == _domain_accepts(normalize_email, value)


@given(st.text(alphabet=st.sampled_from(list("0123456789 ()-+x\n\u0660")), max_size=24))
def test_the_api_states_the_phone_rule_exactly(value: str) -> None:
    from api.routes.auth import Phone

    assert _api_accepts(TypeAdapter(Phone), value) == _domain_accepts(validate_phone, value)
