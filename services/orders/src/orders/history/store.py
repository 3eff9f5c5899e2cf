"""The one interface both stores implement, and the choice between them."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Literal, Protocol

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from orders.history.model import Fold, OrdersPage, PageKey, ProjectedState, Timeline
from orders.history.settings import CassandraSettings

Direction = Literal["next", "prev"]


class HistoryStore(Protocol):
    """Orders by user (newest first) and a timeline per order.

    `apply` must be idempotent and order-insensitive: for any sequence of folds, with
    repeats, in any order, the store ends in the same state, with no read before a write.
    """

    name: str

    async def prepare(self) -> None:
        """Make the store ready: Cassandra creates its schema (versioned CQL migrations)
        and prepares its statements; the Postgres store's tables come from Alembic."""
        ...

    async def apply(self, session: AsyncSession, folds: Sequence[Fold]) -> None:
        """Write the folds. The Postgres store joins `session`'s transaction; Cassandra
        writes at once (a rolled-back consumer transaction replays them, to no effect)."""
        ...

    async def list_orders(
        self,
        user_id: int,
        *,
        limit: int,
        after: PageKey | None = None,
        direction: Direction = "next",
    ) -> OrdersPage:
        """A page of the user's placed orders, newest first: after `after` walking `next`
        (older), or before it walking `prev` (newer)."""
        ...

    async def timeline(self, order_id: int) -> Timeline | None:
        """Every event of the order, oldest first; None when none was folded."""
        ...

    async def states(self, order_ids: Sequence[int]) -> dict[int, ProjectedState]:
        """Status and total of the given orders, for the drift check."""
        ...

    def order_ids(self) -> AsyncIterator[int]:
        """Every order the projection knows of (a full scan, for the drift check)."""
        ...

    async def reset(self) -> None:
        """Empty the projection, for a rebuild from the archive."""
        ...

    async def close(self) -> None: ...


def open_store(
    engine: AsyncEngine, cassandra: CassandraSettings | None = None, *, migrate: bool = True
) -> HistoryStore:
    """Cassandra when contact points are configured, else the embedded Postgres store.

    `migrate=False` (the web app): never run CQL DDL, leave that to the projector.
    """
    cassandra = cassandra or CassandraSettings()
    if cassandra.contact_points:
        # Imported only here: the driver is needed only where a cluster is configured.
        from orders.history.cassandra_store import CassandraHistoryStore

        return CassandraHistoryStore(cassandra, migrate=migrate)
    from orders.history.postgres_store import PostgresHistoryStore

    return PostgresHistoryStore(engine)
