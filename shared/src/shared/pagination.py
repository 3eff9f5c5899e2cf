"""Keyset (cursor) pagination: `{"results": [...], "next": url, "previous": url}`.

The cursor is opaque to clients: base64url JSON holding the sort key of the row at a
page edge and the direction to walk from it. Keyset pages stay correct while rows are
inserted between requests and cost the same on page 1 and page 10,000.

A cursor is checked key by key against its column's type and range (an int64 id, a
Numeric(12, 2) price, an aware timestamp, a string without NUL...), so one that the
service could not have issued is a 422 before it reaches the database. Cursors are not
signed: any cursor that passes is just a position in a list the caller may read anyway,
and no secret has to be shared between replicas or rotated (docs/security.md).

`next` and `previous` are relative references (`/api/products/?cursor=...`), built from
the path and query the service was asked for, never from the Host header: a shared
cache can hand one page to every client.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Annotated, Any, Generic, Literal, TypeVar

from fastapi import Query, Request
from pydantic import BaseModel
from sqlalchemy import (
    BigInteger,
    Boolean,
    ColumnElement,
    Date,
    DateTime,
    Float,
    Integer,
    Numeric,
    Select,
    SmallInteger,
    String,
    Uuid,
    literal,
    tuple_,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import QueryableAttribute

from shared.errors import Unprocessable

T = TypeVar("T")
KeyColumn = ColumnElement[Any] | QueryableAttribute[Any]
MAX_LIMIT = 100
DEFAULT_LIMIT = 20
# Issued cursors are well under 200 characters; the longest string key is a name.
MAX_CURSOR_LENGTH = 1024
INT_RANGES = {SmallInteger: 15, BigInteger: 63, Integer: 31}  # most specific first
FLOAT_MAX = 3.4e38  # REAL's range; ranks and other float keys are REAL


class Page(BaseModel, Generic[T]):
    results: list[T]
    next: str | None
    previous: str | None


@dataclass(frozen=True, slots=True)
class Cursor:
    key: tuple[Any, ...]
    direction: Literal["next", "prev"]


@dataclass(frozen=True, slots=True)
class PageParams:
    limit: int
    cursor: str | None


async def page_params(
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Page size.")] = DEFAULT_LIMIT,
    cursor: Annotated[
        str | None,
        Query(
            max_length=MAX_CURSOR_LENGTH,
            description="Opaque cursor from `next`/`previous`; any other value is a 422.",
        ),
    ] = None,
) -> PageParams:
    return PageParams(limit=limit, cursor=cursor)


def _to_json(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Decimal | uuid.UUID):
        return str(value)
    return value


def _from_json(value: Any, column: KeyColumn) -> Any:
    """The key `value` as `column` holds it; ValueError when the column could not hold it."""
    kind = column.type
    if isinstance(kind, Boolean):
        if isinstance(value, bool):
            return value
    elif isinstance(kind, Integer):
        bits = next(b for t, b in INT_RANGES.items() if isinstance(kind, t))
        if isinstance(value, int) and not isinstance(value, bool) and -(2**bits) <= value < 2**bits:
            return value
    elif isinstance(kind, Numeric) and not isinstance(kind, Float):
        if isinstance(value, str) and len(value) <= 64:
            amount = Decimal(value)
            if amount.is_finite() and _fits(amount, kind.precision, kind.scale):
                return amount
    elif isinstance(kind, Float):
        if isinstance(value, int | float) and not isinstance(value, bool):
            number = float(value)
            if math.isfinite(number) and abs(number) <= FLOAT_MAX:
                return number
    elif isinstance(kind, DateTime):
        if isinstance(value, str) and len(value) <= 40:
            moment = datetime.fromisoformat(value)
            if kind.timezone and moment.tzinfo is not None:
                return moment.astimezone(UTC)  # OverflowError near year 1 or 9999
            if not kind.timezone and moment.tzinfo is None:
                return moment
    elif isinstance(kind, Date):
        if isinstance(value, str) and len(value) <= 10:
            return date.fromisoformat(value)
    elif isinstance(kind, Uuid):
        if isinstance(value, str):
            return uuid.UUID(value)
    elif isinstance(kind, String):
        fits = isinstance(value, str) and len(value) <= (kind.length or MAX_CURSOR_LENGTH)
        if fits and "\x00" not in value:
            value.encode()  # UnicodeEncodeError (a ValueError) for a lone surrogate
            return value
    else:
        raise TypeError(f"no cursor rule for a {kind!r} key column")  # a bug of ours: 500
    raise ValueError(value)


def _fits(number: Decimal, precision: int | None, scale: int | None) -> bool:
    exponent = number.as_tuple().exponent
    if scale is not None and isinstance(exponent, int) and -exponent > scale:
        return False
    if precision is None:
        return abs(number) < Decimal(10) ** 1000
    return abs(number) < Decimal(10) ** (precision - (scale or 0))


def encode_cursor(cursor: Cursor) -> str:
    raw = json.dumps({"k": [_to_json(v) for v in cursor.key], "d": cursor.direction})
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(token: str, columns: Sequence[KeyColumn]) -> Cursor:
    """The cursor `token` names, or a 422 when it is not one this list could have issued."""
    try:
        raw = json.loads(base64.urlsafe_b64decode(token.encode() + b"=" * (-len(token) % 4)))
        if not isinstance(raw, dict) or set(raw) != {"k", "d"}:
            raise ValueError("shape")
        values, direction = raw["k"], raw["d"]
        if direction not in ("next", "prev") or not isinstance(values, list):
            raise ValueError("direction")
        if len(values) != len(columns):
            raise ValueError("arity")
        key = tuple(_from_json(v, c) for v, c in zip(values, columns, strict=True))
    # ArithmeticError: decimal.InvalidOperation, an out-of-range date; RecursionError:
    # deeply nested JSON.
    except (binascii.Error, ValueError, KeyError, ArithmeticError, RecursionError) as exc:
        raise Unprocessable("The cursor is not one we issued.", loc=("query", "cursor")) from exc
    return Cursor(key=key, direction=direction)


def page_link(request: Request, cursor: Cursor | None) -> str | None:
    """A relative link to the page at `cursor`: this request's path and query, new cursor."""
    if cursor is None:
        return None
    url = request.url.include_query_params(cursor=encode_cursor(cursor))
    # One leading slash: `//host/...` would be a link to another host.
    return "/" + url.path.lstrip("/") + "?" + url.query


async def keyset_page(
    session: AsyncSession,
    stmt: Select[Any],
    *,
    key_columns: Sequence[KeyColumn],
    key_of: Callable[[Any], tuple[Any, ...]],
    params: PageParams,
    request: Request,
    descending: bool = False,
    scalars: bool = True,
) -> tuple[list[Any], str | None, str | None]:
    """One page of `stmt` ordered by `key_columns` (unique together), plus next/previous URLs.

    Rows are the first column of each result row (`scalars`), or whole rows when the
    statement selects several things (an entity and a computed rank). Runs exactly one
    SQL statement.
    """
    cursor = decode_cursor(params.cursor, key_columns) if params.cursor else None
    backwards = cursor is not None and cursor.direction == "prev"
    # Walking backwards reverses the order; the rows are flipped back below.
    ascending = descending == backwards
    key = tuple_(*key_columns)
    if cursor is not None:
        bound = tuple_(
            *(literal(v, type_=c.type) for v, c in zip(cursor.key, key_columns, strict=True))
        )
        stmt = stmt.where(key > bound if ascending else key < bound)
    order = [c.asc() if ascending else c.desc() for c in key_columns]
    result = await session.execute(stmt.order_by(*order).limit(params.limit + 1))
    rows = list(result.scalars() if scalars else result.all())
    has_more = len(rows) > params.limit
    rows = rows[: params.limit]
    if backwards:
        rows.reverse()

    next_cursor = prev_cursor = None
    if rows:
        if (has_more and not backwards) or backwards:
            next_cursor = Cursor(key_of(rows[-1]), "next")
        if (has_more and backwards) or (cursor is not None and not backwards):
            prev_cursor = Cursor(key_of(rows[0]), "prev")

    return rows, page_link(request, next_cursor), page_link(request, prev_cursor)
