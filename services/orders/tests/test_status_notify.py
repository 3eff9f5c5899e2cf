"""The status trigger (migration 0006): every committed change of an order's status
NOTIFYs its long polls, whoever wrote it; nothing else does.

Absence is shown without waiting for a timeout: notifications arrive in commit order on
the watch's one connection, so once a later change of another order has woken its watcher,
a notification of ours would have come first."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import FastAPI
from sqlalchemy import text

from shared.watch import RowWatch

Headers = dict[str, str]
SET_STATUS = text("UPDATE orders.orders SET status = :status WHERE id = :id")


async def _set(app: FastAPI, order_id: int, status: str, *, commit: bool = True) -> None:
    async with app.state.engine.connect() as conn:
        await conn.execute(SET_STATUS, {"status": status, "id": order_id})
        if commit:
            await conn.commit()
        else:
            await conn.rollback()


async def _woken(watch: RowWatch, order_id: int, change: Awaitable[None]) -> None:
    async with watch.watching(order_id) as changed:
        assert changed is not None, "the watch is listening"
        await change
        await asyncio.wait_for(changed.wait(), 20)


async def test_a_committed_status_change_notifies_at_commit(
    app: FastAPI, alice: Headers, place_order: Callable[..., Awaitable[dict[str, Any]]]
) -> None:
    order = await place_order(alice)
    # A plain UPDATE, not change_status: the database notifies, not our code.
    await _woken(app.state.status_watch, order["id"], _set(app, order["id"], "awaiting_payment"))


async def test_no_notification_without_a_committed_change(
    app: FastAPI, alice: Headers, place_order: Callable[..., Awaitable[dict[str, Any]]]
) -> None:
    order = await place_order(alice)
    sentinel = await place_order(alice)
    watch: RowWatch = app.state.status_watch
    async with watch.watching(order["id"]) as changed:
        assert changed is not None
        await _set(app, order["id"], "awaiting_payment", commit=False)  # rolled back
        await _set(app, order["id"], "pending")  # the status it had: no change
        async with app.state.engine.begin() as conn:  # another column only
            await conn.execute(
                text("UPDATE orders.orders SET cancel_reason = 'x' WHERE id = :id"),
                {"id": order["id"]},
            )
        await _woken(watch, sentinel["id"], _set(app, sentinel["id"], "awaiting_payment"))
        assert not changed.is_set()
