"""Structured logging: one JSON object per line, stamped with the request id."""

from __future__ import annotations

import json as jsonlib
import logging
import sys
import time
from typing import Any

import structlog
from asgi_correlation_id import correlation_id
from starlette.types import ASGIApp, Message, Receive, Scope, Send


def _add_request_id(_: Any, __: str, event: dict[str, Any]) -> dict[str, Any]:
    request_id = correlation_id.get()
    if request_id:
        event.setdefault("request_id", request_id)
    return event


_timestamp = structlog.processors.TimeStamper(fmt="iso", utc=True)
# The access log's own file when its lines are JSON: AccessLogMiddleware writes to it
# directly (stdout goes through logging, where other handlers may listen).
_access_handler: logging.StreamHandler[Any] | None = None


def configure_logging(
    *, service: str, level: str = "INFO", json: bool = True, access_log: str = "stdout"
) -> None:
    """Route structlog and the standard library (uvicorn, sqlalchemy) to one formatter.

    `access_log` is where the per-request lines go: `stdout` with the rest, `off`, or a
    file path (under load a pipe to a process manager costs more CPU than the service).
    """
    shared_processors: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        _add_request_id,
    ]
    renderer: Any = structlog.processors.JSONRenderer() if json else structlog.dev.ConsoleRenderer()
    structlog.configure(
        # Drop records below the level before any processor runs: the access log line of
        # every request must cost nothing when INFO is off.
        processors=[
            structlog.stdlib.filter_by_level,
            *shared_processors,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared_processors,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            renderer,
        ],
    )
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # Our access log below replaces uvicorn's, which lacks the request id and duration.
    logging.getLogger("uvicorn.access").disabled = True
    access = logging.getLogger("access")
    for old in access.handlers:
        old.close()
    access.handlers[:] = []
    access.propagate = True
    access.disabled = access_log == "off"
    global _access_handler
    _access_handler = None
    if access_log not in ("stdout", "off"):
        file_handler = logging.FileHandler(access_log)
        file_handler.setFormatter(formatter)
        access.handlers[:] = [file_handler]
        access.propagate = False
        if json:
            # A file of our own: its lines can be written without the logging machinery.
            _access_handler = file_handler
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
    structlog.contextvars.bind_contextvars(service=service)


class AccessLogMiddleware:
    """Pure ASGI access log: method, path, status and duration of every HTTP request."""

    def __init__(self, app: ASGIApp, *, quiet_paths: tuple[str, ...] = ()) -> None:
        self.app = app
        self.quiet_paths = quiet_paths
        self.log = structlog.get_logger("access")
        self.logger = logging.getLogger("access")  # disabled when ACCESS_LOG=off

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["path"].startswith(self.quiet_paths)
            or self.logger.disabled
        ):
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_with_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_with_status)
        finally:
            fields = {
                "method": scope["method"],
                "path": scope["path"],
                "status": status,
                "duration_ms": round((time.perf_counter() - started) * 1000, 2),
                "client": (scope.get("client") or ("", 0))[0],
            }
            handler = _access_handler
            if handler is not None and self.logger.isEnabledFor(logging.INFO):
                _write_json_line(handler, fields)
            else:
                self.log.info("request", **fields)


def _write_json_line(handler: logging.StreamHandler[Any], fields: dict[str, Any]) -> None:
    """The line the JSON formatter would write, without the logging machinery.

    structlog through the standard library's logging (a LogRecord, the processors, the
    formatter, the handler) cost a cached catalog read about 45 us of its ~160
    (docs/catalog.md): this builds the same object, keys in the same order, and writes it
    to the same stream under the handler's lock.
    """
    event = {**fields, "event": "request"}
    for key, value in structlog.contextvars.get_contextvars().items():
        event.setdefault(key, value)  # as structlog's merge_contextvars does
    event["level"] = "info"
    event["logger"] = "access"
    _timestamp(None, "info", event)
    _add_request_id(None, "info", event)
    line = jsonlib.dumps(event) + "\n"
    handler.acquire()
    try:
        handler.stream.write(line)
        handler.flush()
    except Exception:
        handler.handleError(logging.makeLogRecord({"msg": line}))
    finally:
        handler.release()
