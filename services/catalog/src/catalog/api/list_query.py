"""The product list's parameters in one canonical form: the cache key and the page links.

A list page depends only on the validated parameters (and the origin its links name), so
that is all its cache key and its links hold. Parameters the API does not define are
ignored, as every list of the shop ignores them: they reach neither the key (random ones
cannot fill Redis) nor the links (a client cannot plant text in a page others receive).
`parse` reads a raw query string the way FastAPI validates it, for the fast path; it
answers None whenever it is not sure, and the route then decides (and answers 422).
"""

from __future__ import annotations

import re
from decimal import Decimal
from urllib.parse import parse_qsl, urlencode

from catalog.db.products import ORDERINGS, Ordering, ProductFilter
from shared.api.ids import MAX_ID
from shared.pagination import DEFAULT_LIMIT, MAX_LIMIT, PageParams

KNOWN = frozenset(
    ("limit", "cursor", "category", "search", "min_price", "max_price", "in_stock", "ordering")
)
_ID = re.compile(r"[0-9]{1,19}")
_LIMIT = re.compile(r"[0-9]{1,3}")
# At most 12 digits, 2 after the point: what `max_digits=12, decimal_places=2` accepts.
_PRICE = re.compile(r"[0-9]{1,10}(\.[0-9]{1,2})?")
# pydantic's lax booleans.
_BOOLEANS = {
    **dict.fromkeys(("1", "on", "t", "true", "y", "yes"), True),
    **dict.fromkeys(("0", "off", "f", "false", "n", "no"), False),
}
MAX_SEARCH = 200


def _price(value: Decimal) -> str:
    return format(value.normalize(), "f")


def canonical_params(f: ProductFilter, limit: int) -> list[tuple[str, str]]:
    """The page's parameters, validated and in a fixed order (the cursor aside)."""
    params = [("limit", str(limit))]
    if f.category_id is not None:
        params.append(("category", str(f.category_id)))
    if f.search is not None:
        params.append(("search", f.search))
    if f.min_price is not None:
        params.append(("min_price", _price(f.min_price)))
    if f.max_price is not None:
        params.append(("max_price", _price(f.max_price)))
    if f.in_stock is not None:
        params.append(("in_stock", "true" if f.in_stock else "false"))
    if f.ordering is not None:
        params.append(("ordering", f.ordering))
    return params


def cache_key(f: ProductFilter, page: PageParams) -> str:
    """What a list page depends on: its validated parameters (its links are relative, so
    the Host a client sent is not part of it, shared.pagination)."""
    params = canonical_params(f, page.limit)
    if page.cursor:
        params.append(("cursor", page.cursor))
    return f"/api/products/?{urlencode(params)}"


def parse(query_string: str) -> tuple[ProductFilter, PageParams] | None:
    """The filter and page of a raw query string, or None if only the route can tell."""
    raw: dict[str, str] = {}
    try:
        # The last of repeated parameters wins, as in FastAPI; blank values count.
        for name, value in parse_qsl(query_string, keep_blank_values=True, strict_parsing=False):
            if name in KNOWN:
                raw[name] = value
    except ValueError:
        return None
    limit = DEFAULT_LIMIT
    if "limit" in raw:
        if not _LIMIT.fullmatch(raw["limit"]) or not 1 <= int(raw["limit"]) <= MAX_LIMIT:
            return None
        limit = int(raw["limit"])
    category = None
    if "category" in raw:
        if not _ID.fullmatch(raw["category"]) or not 1 <= int(raw["category"]) <= MAX_ID:
            return None
        category = int(raw["category"])
    search = raw.get("search")
    if search is not None and len(search) > MAX_SEARCH:
        return None
    prices: list[Decimal | None] = []
    for name in ("min_price", "max_price"):
        if name not in raw:
            prices.append(None)
        elif _PRICE.fullmatch(raw[name]):
            prices.append(Decimal(raw[name]))
        else:
            return None
    min_price, max_price = prices
    if min_price is not None and max_price is not None and min_price > max_price:
        return None
    in_stock = None
    if "in_stock" in raw:
        in_stock = _BOOLEANS.get(raw["in_stock"].lower())
        if in_stock is None:
            return None
    ordering: Ordering | None = None
    if "ordering" in raw:
        if raw["ordering"] not in ORDERINGS:
            return None
        ordering = raw["ordering"]  # type: ignore[assignment]
    f = ProductFilter(
        category_id=category,
        search=(search or "").strip() or None,
        min_price=min_price,
        max_price=max_price,
        in_stock=in_stock,
        ordering=ordering,
    )
    return f, PageParams(limit=limit, cursor=raw.get("cursor"))
