"""How request bodies are read: exact numbers, and one strict type per kind of value.

- JSON is parsed with every number that has a fraction or an exponent read as a
  ``Decimal``, exactly as written (``ExactJSONRoute``): a budget of ``99999999999999.99``
  or ``1e-20000`` reaches the domain's rules as sent, never rounded through a binary float
  first. ``NaN`` and ``Infinity`` are not JSON: the body is malformed (400).
- Bodies are validated in pydantic's strict mode (``api.deps.Strict``): no bool or string
  for an int, no number for a string. The values JSON can only carry as text have their
  own strict types here: ``Uuid``, ``Day`` (``YYYY-MM-DD`` only) and ``Amount`` (a JSON
  number, or a string in JSON number syntax).
- Free-form JSON (organization settings) keeps JSON's own numbers: a fraction must be
  exactly representable as a double (``JsonObject``), else it is refused, not rounded.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Coroutine
from datetime import date, datetime, timedelta
from decimal import Decimal
from functools import partial
from typing import Annotated, Any
from uuid import UUID

from fastapi import Request, Response
from fastapi.routing import APIRoute
from pydantic import AfterValidator, BeforeValidator, Field, WithJsonSchema

DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", re.ASCII)
MAX_JSON_DEPTH = 64
# No field holds an integer longer than this (the longest, 64-bit, has 20 characters).
MAX_INTEGER_DIGITS = 100
NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?", re.ASCII)


def _refuse_constant(name: str) -> Any:
    raise json.JSONDecodeError(f"{name} is not a JSON value", name, 0)


def _integer(text: str) -> int:
    if len(text) > MAX_INTEGER_DIGITS:  # Python refuses to convert longer ones anyway
        raise json.JSONDecodeError(f"an integer of {len(text)} digits is too long", text, 0)
    return int(text)


def parse_json(body: bytes) -> Any:
    """JSON as the API reads it: fractions and exponents as exact Decimals."""
    try:
        return json.loads(body, parse_float=Decimal, parse_int=_integer,
                          parse_constant=_refuse_constant)
    except RecursionError:
        raise json.JSONDecodeError("the document is nested too deeply", "", 0) from None


class ExactJSONRequest(Request):
    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            self._json = parse_json(await self.body())
        return self._json


class ExactJSONRoute(APIRoute):
    """A route whose JSON body is read by ``parse_json``."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def exact(request: Request) -> Response:
            return await handler(ExactJSONRequest(request.scope, request.receive))

        return exact


def _day(value: Any) -> Any:
    if isinstance(value, str):
        if not DAY.fullmatch(value):
            raise ValueError("must be a date written YYYY-MM-DD")
        return date.fromisoformat(value)
    return value  # a date object (Python callers); anything else fails the date check


def _amount(value: Any) -> Any:
    if isinstance(value, str):
        if not NUMBER.fullmatch(value):
            raise ValueError("must be a number, or a string holding one in JSON number "
                             "syntax (such as \"12.50\")")
        return Decimal(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return Decimal(value)
    return value  # a Decimal from the JSON parser; anything else fails the decimal check


def _exact_json(value: Any, depth: int = 0) -> Any:
    """Free-form JSON with its fractions as floats, refusing any the double cannot hold."""
    if depth > MAX_JSON_DEPTH:
        # The domain's own limit is lower; this only keeps the walk itself bounded.
        raise ValueError(f"nested deeper than {MAX_JSON_DEPTH} levels")
    if isinstance(value, Decimal):
        return _as_double(value)
    if isinstance(value, dict):
        return {key: _exact_json(item, depth + 1) for key, item in value.items()}
    if isinstance(value, list):
        return [_exact_json(item, depth + 1) for item in value]
    return value


def _as_double(value: Decimal) -> float:
    """``value`` as a double, if a double holds it to the digits it was written with (at
    most 17 significant digits, a double's precision); otherwise a ValueError: a number
    silently rounded, flushed to zero or overflowing is refused instead."""
    # Significant digits as written, trailing zeros aside (no context arithmetic: an
    # exponent such as 1e999999999 must not raise an Overflow here).
    digits = len("".join(map(str, value.as_tuple().digits)).rstrip("0") or "0")
    as_float = float(value)
    if digits > 17 or Decimal(format(as_float, f".{digits}g")) != value:
        raise ValueError(f"the number {value} cannot be held by a JSON number (a double) "
                         "without rounding; send it as a string")
    return as_float


# A UUID written as JSON text.
Uuid = Annotated[UUID, Field(strict=False)]
# A calendar date written YYYY-MM-DD (no timestamps, no other forms).
Day = Annotated[date, BeforeValidator(_day)]
# An exact decimal: a JSON number or a string in JSON number syntax; never a float.
Amount = Annotated[Decimal, BeforeValidator(_amount)]
# A JSON object whose numbers stay JSON numbers (exactly, or refused).
JsonObject = Annotated[dict[str, Any], AfterValidator(_exact_json)]


def amount(minimum: Decimal, maximum: Decimal, places: int, string_pattern: str,
           description: str) -> Any:
    """An exact decimal whose OpenAPI schema states the domain's rule: a JSON number in
    [minimum, maximum] with at most ``places`` decimals, or a string matching
    ``string_pattern`` (which must accept exactly that range, written plainly). The string
    form is held to the pattern here, so what the schema refuses is refused; the domain
    still decides the range."""
    pattern = re.compile(string_pattern, re.ASCII)

    def plain(value: Any) -> Any:
        if isinstance(value, str) and not pattern.fullmatch(value):
            raise ValueError(f"must be {description}")
        return _amount(value)

    return Annotated[Decimal, BeforeValidator(plain), WithJsonSchema({
        "description": description,
        "anyOf": [
            {"type": "number", "minimum": float(minimum), **_upper_bound(maximum),
             "multipleOf": float(Decimal(1).scaleb(-places))},
            {"type": "string", "pattern": f"^{string_pattern}$"},
        ]})]


def _upper_bound(maximum: Decimal) -> dict[str, float]:
    """The schema's bound for ``maximum``: a double may round it up (999999999999999.99
    is 1e15 as a double), and then the bound must exclude the rounded value."""
    bound = float(maximum)
    return {"maximum": bound} if Decimal(bound) <= maximum else {"exclusiveMaximum": bound}


# Hours of a time log: 0.01 to 24, at most two decimal places.
Hours = amount(Decimal("0.01"), Decimal(24), 2,
               r"(?:0\.(?:0[1-9]|[1-9][0-9]?)|(?:[1-9]|1[0-9]|2[0-3])(?:\.[0-9]{1,2})?"
               r"|24(?:\.00?)?)",
               "hours from 0.01 to 24 with at most 2 decimal places, such as 7.5 or \"7.50\"")
# Money (budgets, proposal amounts): 0 to 999,999,999,999,999.99, at most 2 decimals.
Money = amount(Decimal(0), Decimal("999999999999999.99"), 2,
               r"(?:0|[1-9][0-9]{0,14})(?:\.[0-9]{1,2})?",
               "an amount from 0 to 999999999999999.99 with at most 2 decimal places, "
               "such as 1250 or \"1250.00\"")


# Text as the domain takes it (domain/base.py): no NUL; the schema says so, so clients and
# contract tests know it. Lone surrogates are refused by the domain (JSON Schema cannot
# name them).
NO_NUL = r"^[^\x00]*$"
# ... and with at least one character that is not white space (the domain strips text).
NOT_BLANK = r"^[^\x00]*[^\x00\s][^\x00]*$"


def text(max_length: int, description: str | None = None) -> Any:
    """A required text field: not blank, at most ``max_length`` characters."""
    return Annotated[str, Field(min_length=1, max_length=max_length, pattern=NOT_BLANK,
                                description=description)]


def optional_text(max_length: int, description: str | None = None) -> Any:
    """A text field that may be empty: at most ``max_length`` characters."""
    return Annotated[str, Field(max_length=max_length, pattern=NO_NUL,
                                description=description)]


def _whole_number(value: Any) -> Any:
    """JSON Schema counts 40.0 as an integer, and the exact JSON parser reads it as a
    Decimal: a whole one (within any integer's reach) becomes the int it is."""
    if (isinstance(value, Decimal) and value.is_finite() and abs(value) <= 2**63
            and value == value.to_integral_value()):
        return int(value)
    return value


def whole_number(minimum: int, maximum: int, description: str | None = None) -> Any:
    """An integer from ``minimum`` to ``maximum``, also when written with a zero fraction
    (``4.0``), as JSON Schema's ``integer`` allows."""
    return Annotated[int, Field(ge=minimum, le=maximum, description=description),
                     BeforeValidator(_whole_number)]


# RFC 3339 date-time (section 5.6): a date, "T", a time of day with optional fraction, and
# an offset ("Z" or +hh:mm / -hh:mm), which must be there: a time without one names no
# instant.
RFC_3339 = re.compile(
    r"([0-9]{4}-[0-9]{2}-[0-9]{2})[Tt]([0-9]{2}):([0-9]{2}):([0-9]{2})(\.[0-9]+)?"
    r"([Zz]|[+-][0-9]{2}:[0-9]{2})", re.ASCII)
MOMENT_HELP = ("an RFC 3339 date-time with an offset from UTC, such as "
               "2026-01-05T09:30:00Z or 2026-01-05T15:00:00+05:30")


def _instant(value: Any, *, round_up: bool) -> Any:
    """The microsecond (what event timestamps hold) at or before the written instant, or
    at or after it when ``round_up``: so ``recorded <= t`` is ``recorded <= floor(t)``
    and ``recorded >= t`` (or ``< t``) is ``recorded >= ceil(t)`` (or ``< ceil(t)``)."""
    if not isinstance(value, str):
        return value  # a datetime from Python callers; anything else fails the type check
    found = RFC_3339.fullmatch(value)
    if found is None:
        raise ValueError(f"must be {MOMENT_HELP}")
    try:
        return _rounded(*found.groups(), round_up=round_up)
    except OverflowError:  # rounding up past 9999-12-31T23:59:59.999999
        raise ValueError("must be an instant up to 9999-12-31T23:59:59.999999Z") from None


def _rounded(day: str, hour: str, minute: str, second: str, fraction: str | None,
             offset: str, *, round_up: bool) -> datetime:
    digits = (fraction or ".")[1:]
    leap = second == "60"  # no event is recorded inside a leap second
    moment = datetime.fromisoformat(
        f"{day}T{hour}:{minute}:{'59' if leap else second}.{digits[:6].ljust(6, '0')}"
        f"{offset.upper()}")
    if leap:
        return moment + timedelta(seconds=1) - timedelta(microseconds=moment.microsecond) \
            if round_up else moment.replace(microsecond=999_999)
    if round_up and digits[6:].strip("0"):
        return moment + timedelta(microseconds=1)
    return moment


_SCHEMA = WithJsonSchema({"type": "string", "format": "date-time",
                          "description": MOMENT_HELP})

# A moment for "at or before it" (time travel): compared as an instant, whatever offset
# it is written with.
Moment = Annotated[datetime, BeforeValidator(partial(_instant, round_up=False)), _SCHEMA]
# A bound of a time range (on or after ``since``, before ``until``).
Bound = Annotated[datetime, BeforeValidator(partial(_instant, round_up=True)), _SCHEMA]
