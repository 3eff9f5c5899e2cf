"""The rebuild gate: folds hold it shared for their transaction (the embedded store's
one-statement fold tries it inside its statement), a rebuild takes it exclusively while
it empties the store.

So no fold is half-way (written to the store, archive row not yet committed) when the
store is emptied: every event is either in the archive the rebuild then replays, or
written to the store after it was emptied. This matters for Cassandra, whose writes are
not part of the PostgreSQL transaction.
"""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

# pg_advisory locks take a bigint; this one is the projection's own.
GATE_NAME = "order_history.rebuild"
GATE_KEY = func.hashtext(GATE_NAME)
_HELD = "history_gate_held"
# Built once: every fold's transaction runs it (docs/checkout.md, "Statements built once").
_ENTER_FOLD = select(func.pg_advisory_xact_lock_shared(GATE_KEY))


async def enter_fold(session: AsyncSession) -> None:
    """Hold the gate shared until the session's transaction ends (once per transaction)."""
    transaction = session.sync_session.get_transaction()
    if transaction is not None and session.info.get(_HELD) is transaction:
        return
    await session.execute(_ENTER_FOLD)
    session.info[_HELD] = transaction


async def wait_open(session: AsyncSession) -> None:
    """Wait until no rebuild holds the gate (a session in autocommit takes the shared lock
    and lets it go in the one statement)."""
    await session.execute(_ENTER_FOLD)


async def lock_for_reset(conn: AsyncConnection) -> None:
    """Wait for folds in flight to commit, and keep new ones out until `unlock`."""
    await conn.execute(select(func.pg_advisory_lock(GATE_KEY)))


async def unlock(conn: AsyncConnection) -> None:
    await conn.execute(select(func.pg_advisory_unlock(GATE_KEY)))
