"""Where a service's per-request access lines go: stdout, a file, or nowhere."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from fastapi import APIRouter

from shared.app import create_service_app
from shared.settings import ServiceSettings

router = APIRouter()
# How an access line names the path in the JSON log (httpx logs the URL otherwise).
ACCESS_LINE = '"path": "/api/ping/"'


@router.get("/api/ping/")
async def ping() -> dict[str, str]:
    return {"pong": "yes"}


async def requests_through(access_log: str, redis_url: str, count: int = 2) -> None:
    settings = ServiceSettings(access_log=access_log, redis_url=redis_url, environment="test")
    app = create_service_app(
        name="pinger", title="pinger", description="", settings=settings, routers=[router]
    )
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            for _ in range(count):
                assert (await client.get("/api/ping/")).status_code == 200


@pytest.fixture(autouse=True)
async def restore_stdout_logging(redis_url: str) -> AsyncIterator[None]:
    yield
    # Leave the process's logging as the other tests expect it.
    settings = ServiceSettings(redis_url=redis_url, environment="test")
    app = create_service_app(
        name="pinger", title="pinger", description="", settings=settings, routers=[router]
    )
    async with app.router.lifespan_context(app):
        pass


async def test_access_lines_go_to_the_file_and_not_stdout(
    tmp_path: Path, redis_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "pinger.access.log"
    await requests_through(str(path), redis_url)
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert [(line["event"], line["path"], line["status"]) for line in lines] == [
        ("request", "/api/ping/", 200)
    ] * 2
    assert ACCESS_LINE not in capsys.readouterr().out


async def test_access_log_stdout_is_the_default(
    redis_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert ServiceSettings().access_log == "stdout"
    await requests_through("stdout", redis_url)
    assert capsys.readouterr().out.count(ACCESS_LINE) == 2


async def test_access_log_off_writes_no_line(
    redis_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    await requests_through("off", redis_url)
    assert ACCESS_LINE not in capsys.readouterr().out


async def test_a_file_line_is_what_the_json_formatter_writes(
    tmp_path: Path, redis_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Lines into a file skip the logging machinery: the same keys, in the same order, as
    the formatter gives a line on stdout (which still goes through it)."""
    await requests_through("stdout", redis_url, count=1)
    (through_logging,) = [
        json.loads(text) for text in capsys.readouterr().out.splitlines() if ACCESS_LINE in text
    ]
    path = tmp_path / "pinger.access.log"
    await requests_through(str(path), redis_url, count=1)
    (line,) = [json.loads(text) for text in path.read_text().splitlines()]
    assert list(line) == list(through_logging)
    # The context's variables (the service, bound at startup) after the event's own.
    assert list(line) == [
        "method",
        "path",
        "status",
        "duration_ms",
        "client",
        "event",
        "service",
        "level",
        "logger",
        "timestamp",
        "request_id",
    ]
    assert {
        k: v for k, v in line.items() if k not in ("duration_ms", "timestamp", "request_id")
    } == {
        k: v
        for k, v in through_logging.items()
        if k not in ("duration_ms", "timestamp", "request_id")
    }
    assert line["timestamp"].endswith("Z")
    assert len(line["request_id"]) == len(through_logging["request_id"]) == 32
