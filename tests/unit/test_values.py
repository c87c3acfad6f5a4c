"""The value rules (domain/values.py, the text rule in domain/base.py), as properties: a
value is accepted exactly when every consumer of the log can hold it, and an accepted value
goes through every encoding on the way (the event store's JSON, jsonb's numbers, orjson)
unchanged."""

from __future__ import annotations

import json
import math
from datetime import date
from decimal import Decimal
from typing import Any
from uuid import uuid4

import orjson
import pytest
from eventsourcing.persistence import JSONTranscoder
from hypothesis import assume, given
from hypothesis import strategies as st

from domain.base import (
    CommandContext,
    InvalidValue,
    is_valid_text,
    optional_text,
    require_text,
    valid_text,
)
from domain.message import validate_attachments, validate_content
from domain.organization import MAX_SETTINGS_BYTES, validate_settings
from domain.project import Project, validate_money
from domain.timelog import validate_hours
from domain.user import normalize_email, validate_phone
from domain.values import (
    FLOAT_BOUND,
    INT64_MAX,
    INT64_MIN,
    JSON_NUMBER_LIMIT,
    MAX_JSON_DEPTH,
    MAX_MONEY,
    decimal_amount,
    json_size,
    strict_json,
)
from projections.transcoding import state_transcoder
from vistone.commands.users import validate_password

# Every code point, lone surrogates and NUL included.
any_text = st.text(st.characters(codec=None, categories=None), max_size=30)
# What the text rule accepts: every plane, no surrogates (category Cs), no NUL.
good_text = st.text(st.characters(exclude_categories=["Cs"], exclude_characters="\x00"),
                    max_size=30)
bad_char = st.one_of(st.just("\x00"), st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF))
bad_text = st.tuples(good_text, bad_char, good_text).map("".join)


def transcoder() -> JSONTranscoder:
    """The event store's encoder, as the application configures it."""
    return state_transcoder()


# --- text -------------------------------------------------------------------------------

@given(any_text)
def test_text_is_valid_exactly_when_utf8_encodable_without_nul(value: str) -> None:
    try:
        value.encode("utf-8")
        encodable = True
    except UnicodeEncodeError:
        encodable = False
    assert is_valid_text(value) == (encodable and "\x00" not in value)


@given(bad_text)
def test_every_text_entry_point_refuses_nul_and_lone_surrogates(value: str) -> None:
    entry_points = [
        lambda: valid_text(value, "f"),
        lambda: require_text(value + "x", "f", max_length=100),
        lambda: optional_text(value, "f", max_length=100),
        lambda: validate_content(value + "x"),
        lambda: normalize_email(f"a{value}@b.test"),
        lambda: validate_password(value + "long enough"),
        lambda: validate_attachments([{"url": f"https://x.test/{value}",
                                       "file_type": "image/png"}]),
        lambda: validate_attachments([{"url": "https://x.test/a", "file_type": value + "t"}]),
        lambda: CommandContext(actor_id=None, correlation_id=value),
        lambda: CommandContext(actor_id=None, user_agent=value),
    ]
    for call in entry_points:
        with pytest.raises(InvalidValue) as refused:
            call()
        assert refused.value.field


@given(good_text)
def test_valid_text_from_every_plane_is_kept_as_is(value: str) -> None:
    assert valid_text(value, "f") == value
    assert optional_text(value, "f", max_length=30) == value
    # ... and survives the event store's encoding.
    t = transcoder()
    assert t.decode(t.encode({"v": value})) == {"v": value}


def test_phone_and_slug_patterns_match_the_whole_value() -> None:
    with pytest.raises(InvalidValue):
        validate_phone("+33 1 23 45 67\n")
    assert validate_phone("+33 1 23 45 67") == "+33 1 23 45 67"
    from domain.organization import validate_slug
    with pytest.raises(InvalidValue):
        validate_slug("acme\n")


# --- strict JSON --------------------------------------------------------------------------

scalars = st.one_of(
    st.none(), st.booleans(), good_text,
    st.integers(min_value=-JSON_NUMBER_LIMIT, max_value=JSON_NUMBER_LIMIT),
    st.sampled_from([-JSON_NUMBER_LIMIT, JSON_NUMBER_LIMIT, 0, -1]),
    st.floats(allow_nan=False, allow_infinity=False).filter(lambda f: abs(f) < FLOAT_BOUND),
    st.sampled_from([-0.0, 5e-324, -5e-324, 9.2233720368547748e18, -9.2233720368547748e18,
                     2.2250738585072014e-308]),
)
json_keys = good_text.filter(lambda k: k not in ("_type_", "_data_"))
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(json_keys, inner, max_size=4),
    max_leaves=20,
)
documents = st.dictionaries(json_keys, json_values, max_size=5)


def jsonb_gives_back(value: Any) -> Any:
    """What PostgreSQL's jsonb returns for ``value`` as the event store wrote it: numbers
    are kept as numeric, so one written without a fraction comes back as an integer."""
    return json.loads(json.dumps(value), parse_float=_numeric, parse_int=int)


def _numeric(text: str) -> Any:
    number = Decimal(text)
    exponent = number.as_tuple().exponent
    assert isinstance(exponent, int)
    return int(number) if exponent >= 0 else float(number)


@given(documents)
def test_accepted_documents_survive_every_consumer(document: dict[str, Any]) -> None:
    assert strict_json(document, "settings") is document
    t = transcoder()
    encoded = t.encode(document)
    assert t.decode(encoded) == document  # no type tag is mistaken for one of the store's
    assert json_size(document) == len(encoded)
    orjson.dumps(document)  # the API's encoder
    orjson.dumps(jsonb_gives_back(document))  # ... of what the read model gives back


def _poison_into(document: dict[str, Any], poison: Any, path: list[str]) -> dict[str, Any]:
    """``document`` with ``poison`` placed under the nested keys ``path``."""
    result: dict[str, Any] = dict(document)
    node = result
    for key in path[:-1]:
        node[key] = {}
        node = node[key]
    node[path[-1]] = poison
    return result


poisons = st.one_of(
    st.sampled_from([math.nan, math.inf, -math.inf, 1e19, -1e300, FLOAT_BOUND, -FLOAT_BOUND,
                     INT64_MAX, INT64_MAX + 1, INT64_MIN, INT64_MIN - 1,
                     JSON_NUMBER_LIMIT + 1, -JSON_NUMBER_LIMIT - 1, 10**40, Decimal("1"), uuid4(),
                     date(2024, 1, 1), (1, 2), {1, 2}, b"bytes",
                     {"_type_": "decimal_str", "_data_": "1"}, {"_type_": "x"}, {"_data_": 1},
                     {1: "int key"}, {None: 1}]),
    st.integers().filter(lambda i: abs(i) > JSON_NUMBER_LIMIT),
    st.floats().filter(lambda f: not (math.isfinite(f) and abs(f) < FLOAT_BOUND)),
    bad_text,
    bad_text.map(lambda k: {k: 1}),
    st.integers(min_value=MAX_JSON_DEPTH, max_value=MAX_JSON_DEPTH + 20).map(
        lambda depth: _nest(depth)),
)


def _nest(depth: int) -> list[Any]:
    value: list[Any] = []
    for _ in range(depth - 1):
        value = [value]
    return value


@given(documents, poisons, st.lists(json_keys, min_size=1, max_size=3))
def test_a_single_poison_anywhere_refuses_the_document(
    document: dict[str, Any], poison: Any, path: list[str]
) -> None:
    with pytest.raises(InvalidValue) as refused:
        validate_settings(_poison_into(document, poison, path))
    assert refused.value.field == "settings"


def test_depth_bound_is_exact() -> None:
    # The settings object is level 1; _nest(n) adds n levels.
    assert strict_json({"a": _nest(MAX_JSON_DEPTH - 1)}, "settings")
    with pytest.raises(InvalidValue):
        strict_json({"a": _nest(MAX_JSON_DEPTH)}, "settings")


def test_settings_size_is_bounded_as_stored() -> None:
    key = "k"
    filler = "\U0001f600" * ((MAX_SETTINGS_BYTES - 8) // 4)  # 4 bytes each in UTF-8
    document = {key: filler}
    assert json_size(document) <= MAX_SETTINGS_BYTES
    assert validate_settings(document) is document
    with pytest.raises(InvalidValue) as refused:
        validate_settings({key: filler + "\U0001f600" * 4})
    assert refused.value.field == "settings"
    with pytest.raises(InvalidValue):
        validate_settings([1])  # type: ignore[arg-type]


# --- decimal amounts ----------------------------------------------------------------------

any_decimal = st.one_of(
    st.decimals(allow_nan=True, allow_infinity=True),
    st.decimals(min_value=Decimal(-1), max_value=MAX_MONEY + 1, places=3),
    st.decimals(min_value=0, max_value=MAX_MONEY, places=2),
    st.sampled_from([Decimal("1e-20000"), Decimal("-1e-20000"), Decimal("1E+15"),
                     Decimal("999999999999999.99"), Decimal("999999999999999.991"),
                     Decimal("1E+2"), Decimal("1.500"), Decimal("-0"), Decimal("-0.00"),
                     Decimal("0.01"), Decimal("sNaN"), Decimal("1E+999999999"),
                     Decimal("12.3456E+2")]),
)


def _exact_within(value: Decimal, low: Decimal, high: Decimal, places: int) -> bool:
    return (value.is_finite() and low <= value <= high
            and value.quantize(Decimal(1).scaleb(-places)) == value)


@given(any_decimal)
def test_money_is_accepted_exactly_when_numeric_17_2_holds_it_unrounded(value: Decimal) -> None:
    if _exact_within(value, Decimal(0), MAX_MONEY, 2):
        result = validate_money(value, "budget")
        assert result == value
        assert result is not None
        exponent = result.as_tuple().exponent
        assert isinstance(exponent, int) and -2 <= exponent <= 0  # plain, 2 places at most
        assert len(result.as_tuple().digits) <= 17
        t = transcoder()
        assert t.decode(t.encode({"v": result})) == {"v": result}
    else:
        with pytest.raises(InvalidValue) as refused:
            validate_money(value, "budget")
        assert refused.value.field == "budget"


@given(any_decimal)
def test_hours_follow_the_same_amount_rule(value: Decimal) -> None:
    if _exact_within(value, Decimal("0.01"), Decimal(24), 2):
        result = validate_hours(value)
        assert result == value and result.as_tuple().exponent == -2
    else:
        with pytest.raises(InvalidValue) as refused:
            validate_hours(value)
        assert refused.value.field == "hours"


@given(st.decimals(allow_nan=False, allow_infinity=False, places=2,
                   min_value=0, max_value=MAX_MONEY))
def test_projects_keep_accepted_budgets(budget: Decimal) -> None:
    project = Project.create(id=uuid4(), organization_id=uuid4(), name="P",
                             creator_id=uuid4(), meta={}, budget=budget)
    assert project.budget == budget
    project.update({}, spent_budget=budget, budget=None)
    assert project.spent_budget == budget


@given(st.one_of(st.booleans(), st.floats(), st.text(max_size=5), st.none()))
def test_amounts_are_decimals_or_integers(value: Any) -> None:
    assume(value is not None)
    with pytest.raises(InvalidValue):
        decimal_amount(value, "amount", places=2, maximum=MAX_MONEY)
