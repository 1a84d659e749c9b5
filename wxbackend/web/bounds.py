"""Integers checked at the edge: a row id is 1 … 2³¹−1 (our id columns are PostgreSQL `integer`), anything else is
no such row.

An integer past 2⁶³ reaching the database driver raises `OverflowError`, one past 2³¹ compared with an `integer`
column is PostgreSQL's "integer out of range"; the path converter, the marshmallow fields and the WTForms check here
refuse them first, as a 404 (a path) or a 400 (a body or a form).
"""

from __future__ import annotations

from marshmallow import fields, validate
from werkzeug.routing import IntegerConverter
from wtforms.validators import ValidationError

MAX_ID = 2**31 - 1  # PostgreSQL `integer`, every id column
MIN_INT, MAX_INT = -(2**31), 2**31 - 1


class IdConverter(IntegerConverter):
    """`<int:…>` in every route: 1 … 2³¹−1 by default, so `/orders/0` and `/orders/2147483648` are 404
    (the route does not match) instead of a query the driver cannot send."""

    def __init__(self, map, fixed_digits: int = 0, min: int | None = 1, max: int | None = MAX_ID,  # noqa: A002
                 signed: bool = False) -> None:
        super().__init__(map, fixed_digits=fixed_digits, min=min, max=max, signed=signed)


def register_converters(app) -> None:
    """Replace Werkzeug's `int` converter (call before any blueprint is registered)."""
    app.url_map.converters["int"] = IdConverter


class Id(fields.Integer):
    """A row id in a request body or query: an integer 1 … 2³¹−1."""

    def __init__(self, **kwargs) -> None:
        kwargs.setdefault("validate", validate.Range(1, MAX_ID))
        super().__init__(**kwargs)


class Int32(fields.Integer):
    """Any other integer in a request: within an `integer` column (add a tighter `validate` where it has one)."""

    def __init__(self, **kwargs) -> None:
        validators = kwargs.pop("validate", None)
        validators = [validators] if callable(validators) else list(validators or [])
        super().__init__(validate=[validate.Range(MIN_INT, MAX_INT), *validators], **kwargs)


def id_or_none(value: object) -> int | None:
    """A query or form value as a row id, or None when it is not one (for `request.args.get(..., type=id_or_none)`
    and WTForms' `coerce`)."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value if 1 <= value <= MAX_ID else None
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 10:
        number = int(value)
        return number if 1 <= number <= MAX_ID else None
    return None


def coerce_id(value: object) -> int:
    """WTForms `coerce` for row ids: an out-of-range or malformed value becomes 0, which no row has, and
    `ids_in_range` refuses it."""
    number = id_or_none(value)
    return 0 if number is None else number


def ids_in_range(_form, field) -> None:
    """WTForms validator: every chosen id is a possible row id."""
    values = field.data if isinstance(field.data, list | tuple) else [field.data]
    if any(id_or_none(value) is None for value in values if value not in (None, "")):
        raise ValidationError("选择无效")
