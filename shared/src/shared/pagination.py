"""Keyset (cursor) pagination: `{"results": [...], "next": url, "previous": url}`.

The cursor is opaque to clients: base64url JSON holding the sort key of the row at a
page edge and the direction to walk from it. Keyset pages stay correct while rows are
inserted between requests and cost the same on page 1 and page 10,000.
"""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Generic, Literal, TypeVar

from fastapi import Query, Request
from pydantic import BaseModel
from sqlalchemy import ColumnElement, Select, literal, tuple_
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import QueryableAttribute

from shared.errors import Unprocessable

T = TypeVar("T")
KeyColumn = ColumnElement[Any] | QueryableAttribute[Any]
MAX_LIMIT = 100
DEFAULT_LIMIT = 20


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
    cursor: Annotated[str | None, Query(description="Opaque cursor from `next`/`previous`.")] = (
        None
    ),
) -> PageParams:
    return PageParams(limit=limit, cursor=cursor)


def _to_json(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Decimal | uuid.UUID):
        return str(value)
    return value


def _from_json(value: Any, python_type: type) -> Any:
    if python_type is datetime:
        return datetime.fromisoformat(value)
    return python_type(value)


def encode_cursor(cursor: Cursor) -> str:
    raw = json.dumps({"k": [_to_json(v) for v in cursor.key], "d": cursor.direction})
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(token: str, columns: Sequence[KeyColumn]) -> Cursor:
    try:
        raw = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        values, direction = raw["k"], raw["d"]
        if direction not in ("next", "prev") or len(values) != len(columns):
            raise ValueError(direction)
        key = tuple(_from_json(v, c.type.python_type) for v, c in zip(values, columns, strict=True))
    # ArithmeticError: decimal.InvalidOperation, a non-number where a price belongs.
    except (binascii.Error, ValueError, TypeError, KeyError, ArithmeticError) as exc:
        raise Unprocessable("The cursor is not one we issued.", loc=("query", "cursor")) from exc
    return Cursor(key=key, direction=direction)


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

    def link(c: Cursor | None) -> str | None:
        if c is None:
            return None
        return str(request.url.include_query_params(cursor=encode_cursor(c)))

    return rows, link(next_cursor), link(prev_cursor)
