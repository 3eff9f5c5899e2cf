"""The order status machine, pure: every legal move, and every other one refused."""

from __future__ import annotations

import itertools

import pytest

from orders.domain.status import (
    TRANSITIONS,
    Action,
    IllegalTransition,
    OrderStatus,
    can,
    next_status,
    sources,
    target,
)

S = OrderStatus
LEGAL = {
    (S.DRAFT, Action.PLACE): S.PENDING,
    (S.PENDING, Action.RESERVE_STOCK): S.AWAITING_PAYMENT,
    (S.PENDING, Action.REJECT_STOCK): S.CANCELLED,
    (S.AWAITING_PAYMENT, Action.PAY): S.PAID,
    (S.PAYMENT_FAILED, Action.PAY): S.PAID,
    (S.AWAITING_PAYMENT, Action.FAIL_PAYMENT): S.PAYMENT_FAILED,
    (S.PAYMENT_FAILED, Action.RETRY_PAYMENT): S.AWAITING_PAYMENT,
    (S.AWAITING_PAYMENT, Action.EXPIRE): S.CANCELLED,
    (S.PAYMENT_FAILED, Action.EXPIRE): S.CANCELLED,
    (S.AWAITING_PAYMENT, Action.CANCEL): S.CANCELLED,
    (S.PAYMENT_FAILED, Action.CANCEL): S.CANCELLED,
    (S.PAID, Action.CANCEL): S.CANCELLED,
    (S.PAID, Action.SHIP): S.SHIPPED,
    (S.SHIPPED, Action.COMPLETE): S.COMPLETED,
}


@pytest.mark.parametrize(("move", "target"), LEGAL.items(), ids=lambda v: str(v))
def test_legal_transitions(move: tuple[OrderStatus, Action], target: OrderStatus) -> None:
    current, action = move
    assert can(current, action)
    assert next_status(current, action) is target


ILLEGAL = [m for m in itertools.product(OrderStatus, Action) if m not in LEGAL]


@pytest.mark.parametrize("move", ILLEGAL, ids=lambda m: f"{m[0].value}-{m[1].value}")
def test_every_other_move_is_refused(move: tuple[OrderStatus, Action]) -> None:
    current, action = move
    assert not can(current, action)
    with pytest.raises(IllegalTransition) as caught:
        next_status(current, action)
    assert caught.value.status == 409
    assert caught.value.extensions["current_status"] == current.value


def test_the_table_is_exactly_the_documented_one() -> None:
    table = {(s, a): t for a, moves in TRANSITIONS.items() for s, t in moves.items()}
    assert table == LEGAL


def test_final_states_have_no_way_out() -> None:
    for final in (S.COMPLETED, S.CANCELLED):
        assert not any(can(final, action) for action in Action)


def test_each_action_has_one_target_from_every_source() -> None:
    for action in Action:
        assert {next_status(s, action) for s in sources(action)} == {target(action)}
