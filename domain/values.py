"""Value rules: what the domain accepts, every consumer of the log can store.

Events are stored as JSON and applied by read models to PostgreSQL (text, jsonb,
numeric), served through orjson, and (later) relayed to Kafka. A value one of them cannot
hold must be refused at the domain's door, with a 422 naming the field, never accepted and
left to stop a consumer. The rules (docs/values.md):

- text: valid Unicode without NUL (``domain.base.valid_text``, used by ``require_text``
  and ``optional_text``);
- JSON documents (organization settings): strict JSON, see ``strict_json``;
- amounts (money, hours): decimals with a fixed scale and bounds, see ``decimal_amount``;
  never rounded, a value with more decimal places is refused.
"""

from __future__ import annotations

import json
import math
from decimal import Decimal
from typing import Any

from domain.base import InvalidValue, is_valid_text, valid_text

__all__ = [
    "FLOAT_BOUND",
    "FLOAT_LIMIT",
    "INT64_MAX",
    "INT64_MIN",
    "JSON_NUMBER_LIMIT",
    "MAX_JSON_DEPTH",
    "MAX_MONEY",
    "MONEY_PLACES",
    "RESERVED_JSON_KEYS",
    "decimal_amount",
    "is_valid_text",
    "json_size",
    "money",
    "strict_json",
    "valid_text",
]

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1
# JSON numbers (settings) lie within +-JSON_NUMBER_LIMIT, the largest double below 2**63,
# integers and fractions alike. A bound that is itself a double means the same to every
# reader: JSON Schema validators compare numbers as doubles, and there the integer
# -(2**63 - 1) is -2**63, a double the rule refuses (the long schemathesis run sent it).
JSON_NUMBER_LIMIT = 2**63 - 1024
# Floats lie strictly between -FLOAT_BOUND and FLOAT_BOUND (see strict_json): at most
# FLOAT_LIMIT, the largest double below 2**63, from zero.
FLOAT_BOUND = 2.0**63
FLOAT_LIMIT = math.nextafter(FLOAT_BOUND, 0.0)
# The settings object itself is level 1; each nested object or array adds one.
MAX_JSON_DEPTH = 32
# The event store tags the values it encodes itself as {"_type_": ..., "_data_": ...}: a
# document holding such an object would be decoded into something else (or fail to
# decode) when its event is read back.
RESERVED_JSON_KEYS = frozenset({"_type_", "_data_"})

# Money is stored as numeric(17,2): at most 15 digits before the point and 2 after.
MONEY_PLACES = 2
MAX_MONEY = Decimal("999999999999999.99")


def strict_json(value: Any, field_name: str, *, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """Check that ``value`` is strict JSON every consumer can hold, and return it.

    Objects (str keys), arrays (lists), text, booleans, null and numbers. Text (keys
    included) follows the text rule. Numbers lie within +-``JSON_NUMBER_LIMIT`` (the
    largest double below 2**63; 64-bit integers, but not the top 1023 of either end);
    floats are finite and, likewise, strictly between -2**63 and 2**63:
    PostgreSQL's jsonb keeps numbers as numeric and gives a float such as 1e19 back as the
    integer 10000000000000000000,
    which JSON encoders limited to 64-bit integers (orjson, most typed languages) cannot
    handle. No object uses a reserved key, and
    nesting is at most ``max_depth`` levels. The size bound is the caller's
    (``json_size``).
    """
    _check_json(value, field_name, field_name, 1, max_depth)
    return value


def _check_json(value: Any, field_name: str, path: str, depth: int, max_depth: int) -> None:
    if value is None or isinstance(value, bool):
        return
    if isinstance(value, str):
        _text_at(value, field_name, path)
    elif isinstance(value, int):
        if not -JSON_NUMBER_LIMIT <= value <= JSON_NUMBER_LIMIT:
            raise InvalidValue(f"{path}: numbers must lie within +-{JSON_NUMBER_LIMIT}",
                               field=field_name)
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise InvalidValue(f"{path}: numbers must be finite (no NaN or Infinity)",
                               field=field_name)
        # Strictly inside: -2.0**63 is written as -9.223372036854776e18, which jsonb
        # gives back as -9223372036854776000, below the 64-bit range.
        if not -FLOAT_BOUND < value < FLOAT_BOUND:
            raise InvalidValue(f"{path}: numbers must lie within the signed 64-bit range",
                               field=field_name)
    elif isinstance(value, (dict, list)):
        if depth > max_depth:
            raise InvalidValue(f"{field_name} is nested deeper than {max_depth} levels",
                               field=field_name)
        if isinstance(value, list):
            for index, item in enumerate(value):
                _check_json(item, field_name, f"{path}[{index}]", depth + 1, max_depth)
            return
        for key, item in value.items():
            if not isinstance(key, str):
                raise InvalidValue(f"{path}: object keys must be text", field=field_name)
            _text_at(key, field_name, path)
            if key in RESERVED_JSON_KEYS:
                raise InvalidValue(f"{path}: the key {key!r} is reserved", field=field_name)
            _check_json(item, field_name, f"{path}.{key}", depth + 1, max_depth)
    else:
        raise InvalidValue(f"{path}: only JSON values (objects, arrays, text, numbers, "
                           "booleans, null) are allowed", field=field_name)


def _text_at(value: str, field_name: str, path: str) -> None:
    if not is_valid_text(value):
        # The message names where; the field stays the command's field.
        try:
            valid_text(value, path)
        except InvalidValue as e:
            raise InvalidValue(e.message, field=field_name) from None


def json_size(value: Any) -> int:
    """The size in bytes of ``value`` as the event store encodes it (compact UTF-8 JSON);
    ``value`` must have passed ``strict_json``."""
    return len(json.dumps(value, ensure_ascii=False, allow_nan=False,
                          separators=(",", ":")).encode("utf-8"))


def decimal_amount(value: Any, field_name: str, *, places: int, maximum: Decimal,
                   minimum: Decimal = Decimal(0), unit: str = "") -> Decimal:
    """A decimal between ``minimum`` and ``maximum`` with at most ``places`` decimal places,
    returned in plain notation with at most ``places`` places (``Decimal('1.500')`` becomes
    ``Decimal('1.50')``, ``Decimal('1E+2')`` becomes ``Decimal('100')``; equal values, no
    rounding). Booleans, floats, NaN, infinities and values needing more places are
    refused, naming the field."""
    if isinstance(value, bool) or not isinstance(value, (Decimal, int)):
        raise InvalidValue(f"{field_name} must be a number", field=field_name)
    number = Decimal(value)
    if not number.is_finite():
        raise InvalidValue(f"{field_name} must be a finite number", field=field_name)
    if number < minimum:
        raise InvalidValue(f"{field_name} must be at least {minimum}{unit}", field=field_name)
    if number > maximum:
        raise InvalidValue(f"{field_name} must not exceed {maximum}{unit}", field=field_name)
    exponent = number.as_tuple().exponent
    assert isinstance(exponent, int)  # finite
    if exponent < -places:
        # Bounded above, so the quantized value always fits the context's precision.
        quantized = number.quantize(Decimal(1).scaleb(-places))
        if quantized != number:
            raise InvalidValue(f"{field_name} must have at most {places} decimal places",
                               field=field_name)
        return quantized
    if exponent > 0:
        return number.quantize(Decimal(1))
    return number


def money(value: Decimal | None, field_name: str) -> Decimal | None:
    """An amount of money: 0 to 999,999,999,999,999.99 with at most 2 decimal places
    (numeric(17,2)); ``None`` stays ``None``."""
    if value is None:
        return None
    return decimal_amount(value, field_name, places=MONEY_PLACES, maximum=MAX_MONEY)
