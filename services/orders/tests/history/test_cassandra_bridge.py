"""The Cassandra store's pure parts, without a server: write timestamps, the writes a
fold causes, the CQL migrations, and the bridge from driver callbacks (called on another
thread, as the driver's I/O thread calls them) into asyncio."""

from __future__ import annotations

import asyncio
import threading
from datetime import UTC, datetime
from typing import Any

import pytest
from history_support import order_story, typed

from orders.history.cassandra_store import CassandraHistoryStore, write_timestamp
from orders.history.cql_migrations import keyspace_ddl, load
from orders.history.projector import fold
from orders.history.settings import CassandraSettings


class ThreadedResponse:
    """Completes from a thread of its own, page by page, like a driver ResponseFuture."""

    def __init__(self, pages: list[list[Any]], error: Exception | None = None) -> None:
        self.pages, self.error, self.page = pages, error, 0
        self.callbacks: tuple[Any, Any] | None = None

    @property
    def has_more_pages(self) -> bool:
        return self.page < len(self.pages) - 1

    def add_callbacks(self, callback: Any, errback: Any) -> None:
        self.callbacks = (callback, errback)
        self._complete()

    def start_fetching_next_page(self) -> None:
        self.page += 1
        self._complete()

    def _complete(self) -> None:
        assert self.callbacks is not None
        callback, errback = self.callbacks
        if self.error is not None:
            threading.Thread(target=errback, args=(self.error,)).start()
        else:
            threading.Thread(target=callback, args=(self.pages[self.page],)).start()


class FakeSession:
    def __init__(self, response: ThreadedResponse) -> None:
        self.response = response

    def execute_async(self, statement: Any, params: Any = None, **_: Any) -> ThreadedResponse:
        return self.response


def store_with(response: ThreadedResponse) -> CassandraHistoryStore:
    store = CassandraHistoryStore(CassandraSettings(contact_points="unused"))
    store._session = FakeSession(response)  # type: ignore[assignment]
    return store


async def test_results_and_errors_cross_from_driver_threads_into_the_loop() -> None:
    assert await store_with(ThreadedResponse([[1, 2]]))._run("SELECT") == [1, 2]
    with pytest.raises(RuntimeError, match="unavailable"):
        await store_with(ThreadedResponse([], RuntimeError("unavailable")))._run("SELECT")


async def test_pages_are_fetched_one_after_another() -> None:
    store = store_with(ThreadedResponse([[1, 2], [3], [4, 5]]))
    pages = [page async for page in store._pages("SELECT")]
    assert pages == [[1, 2], [3], [4, 5]]


class HeldResponse(ThreadedResponse):
    """Registers its callbacks but completes only when released, from a thread of its own."""

    def __init__(self, pages: list[list[Any]]) -> None:
        super().__init__(pages)
        self.registered = threading.Event()

    def add_callbacks(self, callback: Any, errback: Any) -> None:
        self.callbacks = (callback, errback)
        self.registered.set()

    def release(self) -> None:
        assert self.callbacks is not None
        thread = threading.Thread(target=self.callbacks[0], args=(self.pages[0],))
        thread.start()
        thread.join()


async def test_a_cancelled_wait_ignores_the_late_result() -> None:
    loop = asyncio.get_running_loop()
    errors: list[dict[str, Any]] = []
    previous = loop.get_exception_handler()
    loop.set_exception_handler(lambda _, context: errors.append(context))
    try:
        response = HeldResponse([[1]])
        task = asyncio.create_task(store_with(response)._run("SELECT"))
        await asyncio.sleep(0)  # the task issues the query and waits for its rows
        assert response.registered.is_set()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        response.release()  # the driver's thread delivers the rows after the cancel
        for _ in range(3):
            await asyncio.sleep(0)  # run the callback the thread scheduled on the loop
    finally:
        loop.set_exception_handler(previous)
    assert errors == []  # setting a result on the cancelled future would be reported here


def test_write_timestamps_are_exact_microseconds() -> None:
    at = datetime(2026, 11, 1, 12, 0, 0, 123456, tzinfo=UTC)
    assert write_timestamp(at) == 1_793_534_400_123_456


def test_a_placed_order_writes_its_row_placement_cells_and_timeline_entry() -> None:
    class Named:
        def __init__(self, name: str) -> None:
            self.name = name

    statements: Any = type(
        "S",
        (),
        {
            n: Named(n)
            for n in (
                "insert_entry",
                "insert_by_user",
                "set_placed",
                "set_order_cells",
                "set_payment_cells",
            )
        },
    )
    placed, _, failed, *_ = order_story(1, 2)
    writes = CassandraHistoryStore._writes(statements, fold(typed(placed)))
    assert [w[0].name for w in writes] == [
        "insert_entry",
        "insert_by_user",
        "set_placed",
        "set_order_cells",
    ]
    writes = CassandraHistoryStore._writes(statements, fold(typed(failed)))
    assert [w[0].name for w in writes] == ["insert_entry", "set_payment_cells"]


def test_cql_migrations_and_keyspace() -> None:
    [first] = load("ks")
    assert first.version == 1
    assert [s.split("(")[0].split()[-1] for s in first.statements] == [
        "ks.orders_by_user",
        "ks.order_state",
        "ks.order_timeline",
    ]
    cluster = CassandraSettings(replication_class="NetworkTopologyStrategy", replication_factor=3)
    assert "{'class': 'NetworkTopologyStrategy', 'dc1': 3}" in keyspace_ddl(cluster)
    assert "'replication_factor': 1" in keyspace_ddl(CassandraSettings())
