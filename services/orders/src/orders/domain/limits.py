"""Caps against hoarding: lines per cart and per draft, unpaid orders per customer."""

from __future__ import annotations

from dataclasses import dataclass

from shared.errors import Conflict


@dataclass(frozen=True, slots=True)
class Limits:
    cart_lines: int
    order_lines: int
    unpaid_orders: int


class LimitReached(Conflict):
    """409 naming the limit (`limit`) and its value (`maximum`), so a client can say why."""

    slug = "limit-reached"

    def __init__(self, detail: str, *, limit: str, maximum: int) -> None:
        super().__init__(detail, limit=limit, maximum=maximum)
