"""Order confirmation emails through a real SMTP server (aiosmtpd)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.message import Message
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from fastapi import FastAPI
from redis.asyncio import Redis
from sqlalchemy import func, select

from orders.db.replicas import upsert_user
from orders.db.tables import inbox
from orders.mail import Mailer, mailer_handlers
from orders.settings import OrdersSettings
from shared.db import commit
from shared.testing import count_statements, deliver, envelope, free_port

Headers = dict[str, str]


class Inbox:
    def __init__(self) -> None:
        self.messages: list[Message] = []
        self.raw: list[bytes] = []  # each message as it came over the wire
        self.recipients: list[list[str]] = []  # each mail's envelope recipients (RCPT TO)
        self.connections: list[tuple[str, int]] = []  # the client's address of each mail

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        self.messages.append(message_from_bytes(envelope.content, policy=policy.default))
        self.raw.append(envelope.content)
        self.recipients.append(list(envelope.rcpt_tos))
        self.connections.append(tuple(session.peer))
        return "250 OK"


@pytest.fixture
def smtp_port() -> int:
    return free_port()


@pytest.fixture
def settings(settings: OrdersSettings, smtp_port: int) -> OrdersSettings:
    return settings.model_copy(update={"smtp_port": smtp_port})


@pytest.fixture
async def mailer(settings: OrdersSettings) -> AsyncIterator[Mailer]:
    mailer = Mailer(settings)
    yield mailer
    await mailer.close()


@contextlib.contextmanager
def smtp_server(port: int, *, smtputf8: bool = False) -> Iterator[Inbox]:
    """A real SMTP server (aiosmtpd) on `port` for the block; what it received."""
    box = Inbox()
    controller = Controller(box, hostname="127.0.0.1", port=port, enable_SMTPUTF8=smtputf8)
    controller.start()
    try:
        yield box
    finally:
        controller.stop()


@pytest.fixture
def mailbox(smtp_port: int) -> Iterator[Inbox]:
    with smtp_server(smtp_port) as box:
        yield box


async def paid_event(
    app: FastAPI,
    alice: Headers,
    place_order: Callable[..., Awaitable[dict[str, Any]]],
    *,
    email: str = "alice@example.com",
    first_name: str = "Alice",
    last_name: str = "Liddell",
) -> dict[str, Any]:
    order = await place_order(alice, price="12.50", quantity=2)
    async with app.state.sessionmaker() as session:
        await upsert_user(
            session,
            user_id=2,
            email=email,
            first_name=first_name,
            last_name=last_name,
            version=datetime.now(UTC),
        )
        await commit(session)
    payload = {"order_id": order["id"], "user_id": 2, "status": "paid"}
    return envelope("orders.OrderPaid", payload, aggregate_id=order["id"])


async def mail(app: FastAPI, settings: OrdersSettings, mailer: Mailer, *events: Any) -> None:
    redis: Redis = app.state.redis
    await deliver(
        list(events),
        redis=redis,
        engine=app.state.engine,
        inbox=inbox,
        group="orders-mailer",
        handlers=mailer_handlers(settings, mailer),
    )


async def test_paid_order_gets_one_confirmation(
    app: FastAPI,
    settings: OrdersSettings,
    mailer: Mailer,
    mailbox: Inbox,
    alice: Headers,
    place_order: Callable[..., Awaitable[dict[str, Any]]],
) -> None:
    event = await paid_event(app, alice, place_order)
    await mail(app, settings, mailer, event, event)  # redelivered: still one email
    [message] = mailbox.messages
    assert message["To"] == "alice@example.com"
    assert message["Subject"] == f"Your order #{event['payload']['order_id']} is paid"
    assert message["Date"].datetime.tzinfo is not None  # type: ignore[union-attr]
    assert message["Message-ID"].endswith("@highload-shop.example>")
    body = message.get_content()  # type: ignore[attr-defined]
    assert "Hello Alice Liddell," in body
    assert "2 x " in body
    assert "@ 12.50 EUR = 25.00 EUR" in body
    assert "Total: 25.00 EUR" in body


async def test_a_customer_named_in_any_script_is_greeted_by_name(
    app: FastAPI,
    settings: OrdersSettings,
    mailer: Mailer,
    mailbox: Inbox,
    alice: Headers,
    place_order: Callable[..., Awaitable[dict[str, Any]]],
) -> None:
    """A name beyond ASCII arrives as written, in a message of 7-bit lines: a relay that
    does not offer 8BITMIME must take it as it is."""
    event = await paid_event(
        app, alice, place_order, first_name="Zoë", last_name="Łukasiewicz-Schröder 山田"
    )
    await mail(app, settings, mailer, event)
    [message] = mailbox.messages
    assert "Hello Zoë Łukasiewicz-Schröder 山田," in message.get_content()  # type: ignore[attr-defined]
    assert mailbox.raw[0].isascii()


async def test_an_internationalized_address_stays_an_address(
    app: FastAPI,
    settings: OrdersSettings,
    mailer: Mailer,
    smtp_port: int,
    alice: Headers,
    place_order: Callable[..., Awaitable[dict[str, Any]]],
) -> None:
    """An address beyond ASCII (which registration accepts) goes out with SMTPUTF8 to a
    server that offers it: the envelope and the To header carry it in UTF-8, not as an
    encoded word that no mail client would read as an address."""
    event = await paid_event(app, alice, place_order, email="jörg@exämple.com")
    with smtp_server(smtp_port, smtputf8=True) as box:
        await mail(app, settings, mailer, event)
    [message] = box.messages
    assert box.recipients == [["jörg@exämple.com"]]
    assert message["To"] == "jörg@exämple.com"
    assert b"=?" not in box.raw[0]
    assert await handled_events(app) == 1


async def test_a_confirmation_reads_the_order_and_its_customer_in_one_statement(
    app: FastAPI,
    settings: OrdersSettings,
    mailer: Mailer,
    mailbox: Inbox,
    alice: Headers,
    place_order: Callable[..., Awaitable[dict[str, Any]]],
) -> None:
    """The consumer's inbox row, then the order with its lines and its customer's
    address joined: one read per paid order, not two."""
    event = await paid_event(app, alice, place_order)
    with count_statements(app.state.engine) as statements:
        await mail(app, settings, mailer, event)
    assert len(mailbox.messages) == 1
    # The consumer's own `SELECT 1` checks of the database aside.
    reads = [s for s in statements.statements if s.startswith("SELECT") and "FROM orders." in s]
    assert len(reads) == 1, reads


async def test_a_mail_server_outage_leaves_the_event_to_retry(
    app: FastAPI,
    settings: OrdersSettings,
    mailer: Mailer,
    smtp_port: int,
    alice: Headers,
    place_order: Callable[..., Awaitable[dict[str, Any]]],
) -> None:
    """No SMTP server listens: the send fails, nothing is recorded as handled, so the
    stream consumer delivers it again later; once the server is back, that delivery sends
    the one email (and too many failed tries would dead-letter it)."""
    event = await paid_event(app, alice, place_order)
    await mail(app, settings, mailer, event)
    assert await handled_events(app) == 0

    with smtp_server(smtp_port) as box:
        await mail(app, settings, mailer, event)
    [message] = box.messages
    assert message["Subject"] == f"Your order #{event['payload']['order_id']} is paid"
    assert await handled_events(app) == 1


async def test_mails_share_one_connection_and_a_restarted_server_gets_a_new_one(
    app: FastAPI,
    settings: OrdersSettings,
    mailer: Mailer,
    smtp_port: int,
    alice: Headers,
    place_order: Callable[..., Awaitable[dict[str, Any]]],
) -> None:
    """Two mails go over one SMTP session; after the server restarted (closing the
    connection the mailer kept), the next mail is sent on a new one, not lost."""
    first, second, third = [await paid_event(app, alice, place_order) for _ in range(3)]
    with smtp_server(smtp_port) as box:
        await mail(app, settings, mailer, first, second)
    with smtp_server(smtp_port) as restarted:
        await mail(app, settings, mailer, third)

    assert [m["Subject"] for m in box.messages + restarted.messages] == [
        f"Your order #{e['payload']['order_id']} is paid" for e in (first, second, third)
    ]
    assert len(box.connections) == 2
    assert box.connections[0] == box.connections[1]
    assert await handled_events(app) == 3


async def handled_events(app: FastAPI) -> int:
    async with app.state.engine.connect() as conn:
        count: int = (await conn.execute(select(func.count()).select_from(inbox))).scalar_one()
    return count
