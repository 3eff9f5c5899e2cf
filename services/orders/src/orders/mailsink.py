"""A development SMTP server that keeps every message: `python -m orders.mailsink`.

`make run` starts it, so confirmation emails can be read without a mail account: each
message is logged (sender, recipients, subject) and saved as an `.eml` file in
`ORDERS_MAIL_SINK_DIR` (var/mail). Not for production, where ORDERS_SMTP_HOST names a
real relay.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from datetime import UTC, datetime
from email import message_from_bytes
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from prometheus_client import start_http_server

from orders.settings import OrdersSettings
from shared.logs import configure_logging

log = logging.getLogger("mailsink")


class KeepEverything:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.count = 0

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        self.folder.mkdir(parents=True, exist_ok=True)
        self.count += 1
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f")
        path = self.folder / f"{stamp}-{self.count}.eml"
        path.write_bytes(envelope.content)
        subject = message_from_bytes(envelope.content).get("Subject", "")
        log.info(
            "mail from %s to %s: %s (%s)", envelope.mail_from, envelope.rcpt_tos, subject, path
        )
        return "250 Message accepted for delivery"


def main() -> None:
    settings = OrdersSettings()
    configure_logging(service="mailsink", level=settings.log_level, json=settings.log_json)
    if settings.worker_metrics_port:
        # Scraped like every worker: Prometheus' ShopWorkerDown sees the sink stop too.
        start_http_server(settings.worker_metrics_port)
    handler = KeepEverything(Path(settings.mail_sink_dir))
    controller = Controller(handler, hostname=settings.mail_sink_host, port=settings.smtp_port)
    controller.start()
    log.info(
        "mail sink on %s:%s, saving to %s",
        settings.mail_sink_host,
        settings.smtp_port,
        settings.mail_sink_dir,
    )

    async def wait_for_signal() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        await stop.wait()

    try:
        asyncio.run(wait_for_signal())
    finally:
        controller.stop()


if __name__ == "__main__":
    main()
