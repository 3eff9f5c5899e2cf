"""Card numbers and CVCs never reach the database, the logs, the streams or a response:
searched for in a pg_dump of the schema, every Redis key, and every log record (SQL
statements with their parameters included) after payments, failures and a refund."""

from __future__ import annotations

import asyncio
import logging
import re
import subprocess
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from payments_support import (
    BOB_ID,
    Headers,
    MakeOrder,
    card_body,
    drain,
    publish_order_event,
    with_key,
)
from sqlalchemy.engine import make_url

from payments.provider.simulated import TEST_CARDS
from payments.worker import Worker
from shared.dbadmin import admin_url
from shared.testing import require_tool, truncate_schema

URL = "/api/payments/"
OTHER_CARD = "6011000990139424"  # not a test card: the generic success path
NUMBERS = [*TEST_CARDS, OTHER_CARD]
CVC = "7391"


def spellings(number: str) -> list[str]:
    return [number, " ".join(number[i : i + 4] for i in range(0, len(number), 4))]


class Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(f"{record.getMessage()} {record.args!r} {self.format(record)}")


@pytest.fixture
def logs(app: FastAPI) -> Iterator[Capture]:
    """Every log record at DEBUG, SQL statements and their parameters too."""
    capture = Capture()
    root, engine_log = logging.getLogger(), logging.getLogger("sqlalchemy.engine")
    levels = root.level, engine_log.level
    root.addHandler(capture)
    root.setLevel(logging.DEBUG)
    engine_log.setLevel(logging.INFO)
    try:
        yield capture
    finally:
        root.removeHandler(capture)
        root.setLevel(levels[0])
        engine_log.setLevel(levels[1])


async def database_dump(database: str) -> str:
    pg_dump = require_tool("pg_dump", "postgresql-client")
    url = make_url(admin_url()).set(database=database, drivername="postgresql")
    result = await asyncio.to_thread(
        subprocess.run,
        [pg_dump, "--data-only", "--schema=payments", url.render_as_string(hide_password=False)],
        capture_output=True,
        text=True,
        check=True,
    )
    return result.stdout


async def redis_dump(app: FastAPI) -> str:
    redis = app.state.redis
    parts: list[Any] = []
    async for key in redis.scan_iter():
        kind = await redis.type(key)
        if kind == "stream":
            parts.append(await redis.xrange(key))
        elif kind == "string":
            parts.append(await redis.get(key))
        elif kind == "hash":
            parts.append(await redis.hgetall(key))
        parts.append(key)
    return repr(parts)


async def test_no_card_secret_is_stored_logged_published_or_answered(
    client: httpx.AsyncClient,
    app: FastAPI,
    alice: Headers,
    make_order: MakeOrder,
    worker: Worker,
    logs: Capture,
    test_database: str,
) -> None:
    answers: list[str] = []

    async def pay(body: dict[str, Any], headers: Headers) -> httpx.Response:
        response = await client.post(URL, json=body, headers=headers)
        answers.append(response.text)
        return response

    for number in NUMBERS:
        order_id = await make_order()
        headers = with_key(alice)
        body = card_body(order_id, number=spellings(number)[1], cvc=CVC)
        assert (await pay(body, headers)).status_code == 202
        assert (await pay(body, headers)).status_code == 202  # replayed
        assert (await pay({**body, "amount": "1.00"}, headers)).status_code == 422  # other body
        # Refused requests carrying the card: expired, bad CVC, not our order, wrong amount.
        assert (
            await pay(card_body(order_id, number=number, exp_year=2001, cvc=CVC), with_key(alice))
        ).status_code == 422
        assert (
            await pay(card_body(order_id, number=number, cvc="1"), with_key(alice))
        ).status_code == 422
        bobs = await make_order(user_id=BOB_ID)
        assert (
            await pay(card_body(bobs, number=number, cvc=CVC), with_key(alice))
        ).status_code == 404
    await drain(worker)
    # A refund of one of them.
    paid = await make_order(order_id=90001)
    await pay(card_body(paid, cvc=CVC), with_key(alice))
    await drain(worker)
    await publish_order_event(
        app,
        "orders.OrderCancelled",
        order_id=paid,
        status="cancelled",
        previous_status="paid",
        reason="customer",
    )
    await drain(worker)
    listed = await client.get(URL, headers=alice)
    answers.append(listed.text)
    assert len(listed.json()["results"]) == 10

    places = {
        # pg_dump's per-dump `\restrict <random key>` lines are not our data (a random key
        # can spell "cvc").
        "database": _PG_DUMP_KEY.sub("", await database_dump(test_database)),
        "redis": await redis_dump(app),
        "logs": "\n".join(logs.lines),
        "responses": "\n".join(answers),
    }
    # The searches can find things: the dump has the rows, the logs have the SQL.
    assert "tok_sim_card_declined_" in places["database"]
    assert "payments.PaymentRefunded" in places["redis"]
    assert "INSERT INTO payments.payments" in places["logs"]
    for place, text in places.items():
        for number in NUMBERS:
            for spelling in spellings(number):
                assert spelling not in text, f"a card number in the {place}"
        for quoted in (f'"{CVC}"', f"'{CVC}'"):
            assert quoted not in text, f"the CVC in the {place}"
        if place != "responses":  # where errors name the field, never its value
            assert "cvc" not in text.lower().replace("incorrect_cvc", ""), f"a CVC in the {place}"


_PG_DUMP_KEY = re.compile(r"\\(?:un)?restrict \w+")


# What differs between two runs of the same request anyway: random tokens, ids, times
# (and pg_dump's per-dump \restrict key).
_RANDOM = re.compile(
    r"\b[a-z]+_sim_(?:\w+?_)?[0-9a-f]{24}\b|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
    r"|\\(?:un)?restrict \w+|\d{4}-\d\d-\d\d[ T][\d:.]+(?:[+-]\d\d(?::?\d\d)?|Z)?"
)


async def test_no_stored_column_depends_on_the_cvc(
    client: httpx.AsyncClient,
    app: FastAPI,
    alice: Headers,
    make_order: MakeOrder,
    worker: Worker,
    test_database: str,
) -> None:
    """PCI DSS 3.3.1: the same payment with two CVCs leaves byte-identical data (random
    tokens, ids and times masked), so nothing stored is a function of the CVC, hashed,
    keyed or not. The idempotency fingerprint is one such column."""
    dumps = []
    for cvc in ("123", "987"):
        await truncate_schema(test_database, "payments")
        order_id = await make_order(order_id=4711)
        body = card_body(order_id, cvc=cvc)
        headers = {**with_key(alice, "same-key"), "X-Request-ID": "same-request"}
        answer = await client.post(URL, json=body, headers=headers)
        assert answer.status_code == 202, answer.text
        await drain(worker)
        dumps.append(_RANDOM.sub("<random>", await database_dump(test_database)))
    assert "idempotency_keys" in dumps[0]
    assert dumps[0] == dumps[1]


async def test_a_retry_with_another_cvc_is_the_same_request(
    client: httpx.AsyncClient, alice: Headers, make_order: MakeOrder
) -> None:
    """The fingerprint leaves the CVC out, so a retry that mistyped it replays."""
    order_id = await make_order()
    headers = with_key(alice)
    first = await client.post(URL, json=card_body(order_id, cvc="123"), headers=headers)
    again = await client.post(URL, json=card_body(order_id, cvc="987"), headers=headers)
    assert first.status_code == again.status_code == 202
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    # Another card (another last4) on the same key is another request.
    other = card_body(order_id, number="5555555555554444")
    refused = await client.post(URL, json=other, headers=headers)
    assert refused.status_code == 422
