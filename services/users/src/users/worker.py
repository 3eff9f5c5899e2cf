"""The users service's background work: `python -m users.worker`, the outbox relay that
publishes account events on `users.events`."""

from __future__ import annotations

from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine

from shared import worker
from shared.events.consumer import StreamConsumer
from shared.events.relay import OutboxRelay
from shared.events.streams import events_stream
from users.db.tables import outbox
from users.settings import UsersSettings


def consumers(
    engine: AsyncEngine, redis: Redis, settings: UsersSettings | None = None
) -> list[StreamConsumer]:
    """None: the users service reads no stream (tests/test_event_contracts.py asks)."""
    return []


def build(settings: UsersSettings) -> worker.Build:
    async def start() -> tuple[worker.Tasks, worker.Cleanup]:
        engine, redis, cleanup = worker.open_resources(settings, application_name="users-worker")
        relay = OutboxRelay(
            engine=engine,
            outbox=outbox,
            redis=redis,
            stream=events_stream("users"),
            settings=settings.events,
        )

        return [relay.run()], cleanup

    return start


def main() -> None:
    settings = UsersSettings()
    worker.main("users", settings, build(settings), metrics_port=settings.worker_metrics_port)


if __name__ == "__main__":
    main()
