"""Dead letters: entries that kept failing, parked with their error for an operator."""

from __future__ import annotations

from datetime import UTC, datetime

from redis.asyncio import Redis

from shared.events.streams import StreamEntry, parse_entries

# Fields of the original entry that a replay puts back on its stream.
ORIGINAL_FIELDS = ("event_id", "type", "envelope")
MAX_ERROR_CHARS = 2000


def dead_letter_fields(
    entry: StreamEntry, *, stream: str, group: str, deliveries: int, error: str
) -> dict[str, str]:
    """The original entry's fields plus why and where it failed."""
    return {
        **(entry.fields or {}),
        "error": error[:MAX_ERROR_CHARS],
        "stream": stream,
        "id": entry.id,
        "group": group,
        "deliveries": str(deliveries),
        "failed_at": datetime.now(UTC).isoformat(),
    }


async def list_dead_letters(
    redis: Redis, dead_letter_stream: str, *, count: int | None = None
) -> list[StreamEntry]:
    return parse_entries(await redis.xrange(dead_letter_stream, count=count))


async def replay(redis: Redis, dead_letter_stream: str, entry_id: str) -> str | None:
    """Put one dead letter back on its original stream; returns the new entry id.

    Every group of that stream sees it again; those that handled it already skip it
    through their inbox, the failing group handles it now that the cause is fixed.
    """
    found = parse_entries(await redis.xrange(dead_letter_stream, entry_id, entry_id))
    if not found or found[0].fields is None:
        return None
    fields = found[0].fields
    original = {name: fields[name] for name in ORIGINAL_FIELDS if name in fields}
    # One MULTI/EXEC: the letter leaves the dead-letter stream only if it is back.
    async with redis.pipeline(transaction=True) as pipe:
        pipe.xadd(fields["stream"], original)  # type: ignore[arg-type]
        pipe.xdel(dead_letter_stream, entry_id)
        new_id, _ = await pipe.execute()
    return str(new_id)


async def replay_all(redis: Redis, dead_letter_stream: str) -> list[str]:
    """Replay every dead letter, oldest first; returns the new entry ids."""
    replayed = []
    for entry in await list_dead_letters(redis, dead_letter_stream):
        new_id = await replay(redis, dead_letter_stream, entry.id)
        if new_id is not None:
            replayed.append(new_id)
    return replayed
