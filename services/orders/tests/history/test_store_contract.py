"""The contract every history store keeps, run against each store (see conftest)."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from history_support import T0, all_orders, apply, envelope, order_story, shuffled, snapshot
from sqlalchemy.ext.asyncio import AsyncEngine

from orders.history.model import PageKey
from orders.history.store import HistoryStore

ALICE, BOB = 2, 3


def stories() -> list[dict[str, object]]:
    """Alice's orders 1-6 and Bob's 7-9, with every outcome, an hour apart."""
    events = []
    outcomes = ["completed", "cancelled", "refunded"]
    for order_id in range(1, 10):
        user = ALICE if order_id <= 6 else BOB
        start = T0 + timedelta(hours=order_id)
        events += order_story(order_id, user, start=start, outcome=outcomes[order_id % 3])
    return events


async def test_a_folded_order_shows_its_state_lines_payment_and_timeline(
    store: HistoryStore, history_engine: AsyncEngine
) -> None:
    events = order_story(5, ALICE, outcome="completed")
    await apply(store, history_engine, events)

    [order] = (await store.list_orders(ALICE, limit=10)).orders
    assert (order.order_id, order.user_id, order.status) == (5, ALICE, "completed")
    assert (order.total, order.currency) == (Decimal("15.50"), "EUR")
    assert order.placed_at == T0
    assert [
        (line.product_id, line.name, line.quantity, line.unit_price) for line in order.lines
    ] == [
        (7, "Lamp", 1, Decimal("10.50")),
        (9, "Bulb", 5, Decimal("1.00")),
    ]
    assert order.payment is not None
    assert (order.payment.outcome, order.payment.method) == ("succeeded", "card")
    assert (order.payment.card_brand, order.payment.card_last4) == ("visa", "4242")
    assert order.last_event_at == T0 + timedelta(milliseconds=250 * 7)

    timeline = await store.timeline(5)
    assert timeline is not None
    assert timeline.user_id == ALICE
    assert [(e.event_type, e.status) for e in timeline.entries] == [
        ("orders.OrderPlaced", "pending"),
        ("orders.OrderAwaitingPayment", "awaiting_payment"),
        ("payments.PaymentFailed", None),
        ("orders.OrderPaymentFailed", "payment_failed"),
        ("payments.PaymentSucceeded", None),
        ("orders.OrderPaid", "paid"),
        ("orders.OrderShipped", "shipped"),
        ("orders.OrderCompleted", "completed"),
    ]
    assert timeline.entries[2].detail["reason_code"] == "card_declined"
    assert timeline.entries[3].detail == {"previous_status": "awaiting_payment"}


async def test_a_refunded_order_shows_the_refund(
    store: HistoryStore, history_engine: AsyncEngine
) -> None:
    await apply(store, history_engine, order_story(4, ALICE, outcome="refunded"))
    [order] = (await store.list_orders(ALICE, limit=10)).orders
    assert order.status == "cancelled"
    assert order.payment is not None
    assert order.payment.outcome == "refunded"
    timeline = await store.timeline(4)
    assert timeline is not None
    assert timeline.entries[-2].detail["reason"] == "customer"
    assert timeline.entries[-1].detail["refund_id"] == "4"


async def test_every_event_applied_twice_changes_nothing(
    store: HistoryStore, history_engine: AsyncEngine
) -> None:
    events = stories()
    await apply(store, history_engine, events)
    once = await snapshot(store, [ALICE, BOB], range(1, 10))

    await apply(store, history_engine, events)  # a redelivered stream
    for event in events:  # and each event once more on its own
        await apply(store, history_engine, [event, event])

    assert await snapshot(store, [ALICE, BOB], range(1, 10)) == once


async def test_any_arrival_order_ends_the_same(
    store: HistoryStore, history_engine: AsyncEngine
) -> None:
    events = stories()
    await apply(store, history_engine, events)
    in_order = await snapshot(store, [ALICE, BOB], range(1, 10))

    for seed in range(3):
        await store.reset()
        for start in range(0, len(events), 10):  # batches, as the consumer applies them
            await apply(store, history_engine, shuffled(events, seed)[start : start + 10])
        assert await snapshot(store, [ALICE, BOB], range(1, 10)) == in_order, seed


async def test_a_payment_folded_before_its_order_was_placed_converges(
    store: HistoryStore, history_engine: AsyncEngine
) -> None:
    placed, awaiting, failed, _, succeeded, *rest = order_story(8, BOB)
    await apply(store, history_engine, [succeeded, failed])
    # Not placed yet: not listed, though its timeline exists.
    assert (await store.list_orders(BOB, limit=10)).orders == []
    assert (await store.states([8]))[8].placed is False

    await apply(store, history_engine, [*rest, awaiting, placed])
    [order] = (await store.list_orders(BOB, limit=10)).orders
    assert (order.status, order.placed_at) == ("completed", T0)
    assert order.payment is not None
    assert order.payment.outcome == "succeeded"


async def test_a_user_sees_only_their_own_orders(
    store: HistoryStore, history_engine: AsyncEngine
) -> None:
    await apply(store, history_engine, stories())
    alice = await all_orders(store, ALICE)
    bob = await all_orders(store, BOB)
    assert [o.order_id for o in alice] == [6, 5, 4, 3, 2, 1]
    assert [o.order_id for o in bob] == [9, 8, 7]
    assert {o.user_id for o in alice} == {ALICE}
    assert (await store.list_orders(99, limit=10)).orders == []
    timeline = await store.timeline(7)
    assert timeline is not None
    assert timeline.user_id == BOB
    assert await store.timeline(12345) is None


async def test_pages_walk_newest_first_both_ways(
    store: HistoryStore, history_engine: AsyncEngine
) -> None:
    # 25 orders, some placed in the same millisecond: order id breaks the tie.
    placed = [
        envelope(
            "orders.OrderPlaced",
            {
                "order_id": n,
                "user_id": ALICE,
                "status": "pending",
                "previous_status": None,
                "total_amount": "1.00",
                "currency": "EUR",
                "lines": [],
                "expires_at": None,
            },
            at=T0 + timedelta(seconds=n // 3),
        )
        for n in range(1, 26)
    ]
    await apply(store, history_engine, shuffled(placed, 7))
    expected = sorted(range(1, 26), key=lambda n: (n // 3, n), reverse=True)

    pages = []
    page = await store.list_orders(ALICE, limit=10)
    pages.append([o.order_id for o in page.orders])
    while page.has_more:
        edge = page.orders[-1]
        page = await store.list_orders(
            ALICE, limit=10, after=PageKey(edge.placed_at, edge.order_id)
        )
        pages.append([o.order_id for o in page.orders])
    assert [len(p) for p in pages] == [10, 10, 5]
    assert [n for p in pages for n in p] == expected

    # Back from the last page: the one before it, newest first, with more before that.
    first_of_last = page.orders[0]
    back = await store.list_orders(
        ALICE,
        limit=10,
        after=PageKey(first_of_last.placed_at, first_of_last.order_id),
        direction="prev",
    )
    assert [o.order_id for o in back.orders] == pages[1]
    assert back.has_more


async def test_states_ids_and_reset(store: HistoryStore, history_engine: AsyncEngine) -> None:
    await apply(store, history_engine, stories())
    states = await store.states([1, 2, 3, 404])
    assert sorted(states) == [1, 2, 3]
    assert (states[1].status, states[1].total, states[1].placed) == (
        "cancelled",
        Decimal("11.50"),
        True,
    )
    assert sorted([order_id async for order_id in store.order_ids()]) == list(range(1, 10))

    await store.reset()
    assert (await store.list_orders(ALICE, limit=10)).orders == []
    assert await store.timeline(1) is None
    assert [order_id async for order_id in store.order_ids()] == []
