"""Operator CLI of the event backbone.

    python -m shared.events.cli streams
    python -m shared.events.cli groups [STREAM ...]          # consumers, pending, lag
    python -m shared.events.cli pending STREAM GROUP
    python -m shared.events.cli dead-letters SERVICE
    python -m shared.events.cli replay SERVICE (ID ... | --all)
    python -m shared.events.cli republish SCHEMA --from-id N --to-id M [--stream S]
    python -m shared.events.cli schemas MODULE ...            # JSON Schema of declared events

Redis comes from `--redis-url` or `EVENTS_REDIS_URL`, PostgreSQL (republish only) from
`--database-url` or `EVENTS_DATABASE_URL`.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import os
import sys
from collections.abc import Sequence
from typing import Any

import asyncpg
from redis.asyncio import Redis
from sqlalchemy.engine import make_url

from shared.events.dead_letters import list_dead_letters, replay, replay_all
from shared.events.envelope import EventCatalog, export_json_schemas
from shared.events.pg import asyncpg_dsn
from shared.events.streams import dead_letter_stream, entry_fields, events_stream

DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
DEFAULT_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/shop"


def _table(rows: Sequence[Sequence[Any]], header: Sequence[str]) -> str:
    cells = [list(map(str, header)), *([str(c) for c in row] for row in rows)]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    return "\n".join(
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in cells
    )


async def _stream_names(redis: Redis) -> list[str]:
    return sorted([name async for name in redis.scan_iter(_type="STREAM")])


async def show_streams(redis: Redis) -> str:
    rows = []
    for name in await _stream_names(redis):
        info = await redis.xinfo_stream(name)
        first = (info.get("first-entry") or ["-"])[0]
        last = (info.get("last-entry") or ["-"])[0]
        rows.append((name, info["length"], info["groups"], first, last))
    return _table(rows, ("stream", "length", "groups", "first-id", "last-id"))


async def show_groups(redis: Redis, streams: Sequence[str]) -> str:
    rows = []
    for stream in streams or await _stream_names(redis):
        for group in await redis.xinfo_groups(stream):
            rows.append(
                (
                    stream,
                    group["name"],
                    group["consumers"],
                    group["pending"],
                    group.get("lag"),
                    group["last-delivered-id"],
                )
            )
    return _table(rows, ("stream", "group", "consumers", "pending", "lag", "last-delivered"))


async def show_pending(redis: Redis, stream: str, group: str, count: int) -> str:
    pending = await redis.xpending_range(stream, group, min="-", max="+", count=count)
    rows = [
        (p["message_id"], p["consumer"], p["time_since_delivered"], p["times_delivered"])
        for p in pending
    ]
    return _table(rows, ("id", "consumer", "idle-ms", "deliveries"))


async def show_dead_letters(redis: Redis, service: str) -> str:
    rows = [
        (
            e.id,
            (e.fields or {}).get("stream"),
            (e.fields or {}).get("id"),
            e.event_type,
            (e.fields or {}).get("deliveries"),
            (e.fields or {}).get("error"),
        )
        for e in await list_dead_letters(redis, dead_letter_stream(service))
    ]
    return _table(rows, ("dead-letter-id", "stream", "original-id", "type", "deliveries", "error"))


async def replay_dead_letters(redis: Redis, service: str, ids: Sequence[str], every: bool) -> str:
    stream = dead_letter_stream(service)
    if every:
        replayed = await replay_all(redis, stream)
        return f"replayed {len(replayed)} dead letter(s) of {service}"
    lines = []
    for entry_id in ids:
        new_id = await replay(redis, stream, entry_id)
        lines.append(f"{entry_id}: " + (f"replayed as {new_id}" if new_id else "not found"))
    return "\n".join(lines)


async def republish(
    redis: Redis, database_url: str, *, schema: str, from_id: int, to_id: int, stream: str
) -> str:
    """XADD outbox rows [from_id, to_id] again, in id order; consumers skip what they had."""
    conn = await asyncpg.connect(asyncpg_dsn(make_url(database_url)))
    try:
        rows = await conn.fetch(
            f'SELECT id, event_id, type, envelope::text AS envelope FROM "{schema}".outbox'  # noqa: S608
            " WHERE id BETWEEN $1 AND $2 ORDER BY id",
            from_id,
            to_id,
        )
    finally:
        await conn.close()
    async with redis.pipeline(transaction=False) as pipe:
        for row in rows:
            fields = entry_fields(
                event_id=str(row["event_id"]), event_type=row["type"], envelope_json=row["envelope"]
            )
            pipe.xadd(stream, fields)  # type: ignore[arg-type]
        await pipe.execute()
    return f"republished {len(rows)} outbox row(s) of {schema} to {stream}"


def export_schemas(modules: Sequence[str]) -> str:
    """Import each `<svc>.events.published` module and export every catalog it declares."""
    catalogs = []
    for module_name in modules:
        module = importlib.import_module(module_name)
        catalogs += [v for v in vars(module).values() if isinstance(v, EventCatalog)]
    return json.dumps(export_json_schemas(catalogs), indent=2)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m shared.events.cli",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--redis-url", default=os.environ.get("EVENTS_REDIS_URL", DEFAULT_REDIS_URL)
    )
    parser.add_argument(
        "--database-url", default=os.environ.get("EVENTS_DATABASE_URL", DEFAULT_DATABASE_URL)
    )
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("streams", help="every stream with its length and groups")
    groups = commands.add_parser("groups", aliases=["lag"], help="groups: pending, lag")
    groups.add_argument("streams", nargs="*")
    pending = commands.add_parser("pending", help="pending entries of a group")
    pending.add_argument("stream")
    pending.add_argument("group")
    pending.add_argument("--count", type=int, default=100)
    dead = commands.add_parser("dead-letters", help="dead letters of a consuming service")
    dead.add_argument("service")
    again = commands.add_parser("replay", help="put dead letters back on their stream")
    again.add_argument("service")
    again.add_argument("ids", nargs="*")
    again.add_argument("--all", action="store_true", dest="every")
    repub = commands.add_parser("republish", help="publish a range of outbox rows again")
    repub.add_argument("schema", help="the producing service's schema (= its name)")
    repub.add_argument("--from-id", type=int, required=True)
    repub.add_argument("--to-id", type=int, required=True)
    repub.add_argument("--stream", help="default: <schema>.events")
    schemas = commands.add_parser("schemas", help="JSON Schema of the declared events")
    schemas.add_argument("modules", nargs="+", help="e.g. users.events.published")
    return parser


async def _run(args: argparse.Namespace) -> str:
    if args.command == "schemas":
        return export_schemas(args.modules)
    redis = Redis.from_url(args.redis_url, decode_responses=True)
    try:
        match args.command:
            case "streams":
                return await show_streams(redis)
            case "groups" | "lag":
                return await show_groups(redis, args.streams)
            case "pending":
                return await show_pending(redis, args.stream, args.group, args.count)
            case "dead-letters":
                return await show_dead_letters(redis, args.service)
            case "replay":
                if not args.ids and not args.every:
                    raise SystemExit("replay: give dead-letter ids or --all")
                return await replay_dead_letters(redis, args.service, args.ids, args.every)
            case "republish":
                stream = args.stream or events_stream(args.schema)
                return await republish(
                    redis,
                    args.database_url,
                    schema=args.schema,
                    from_id=args.from_id,
                    to_id=args.to_id,
                    stream=stream,
                )
        raise SystemExit(f"unknown command {args.command}")
    finally:
        await redis.aclose()


def main(argv: Sequence[str] | None = None) -> None:
    print(asyncio.run(_run(_parser().parse_args(argv))))


if __name__ == "__main__":
    main(sys.argv[1:])
