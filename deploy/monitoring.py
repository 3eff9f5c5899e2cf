"""Prometheus and its exporters for the local stack (`make run`) and the test stack
(stdlib only): the config, the file_sd target lists and the commands.

The scrape jobs and their labels are the ones deploy/compose.py writes for Docker's DNS
(`shop` with `service`, `shop-workers` with `worker`, `postgres`, `redis`, `nginx`), so
the rules and dashboards of observability/ read both alike.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parents[1]
RULES_DIR = ROOT / "observability" / "rules"
EXPORTER_JOBS = ("postgres", "redis", "nginx")
# The event and dead-letter streams the Redis exporter reports on (length, groups, lag).
STREAM_PATTERNS = ("*.events", "*.dead-letter")


def stream_patterns(db: str) -> str:
    """The Redis exporter's -check-streams value for database `db`."""
    return ",".join(f"db{db}={pattern}" for pattern in STREAM_PATTERNS)


@dataclass(frozen=True)
class Ports:
    """Where Prometheus and the exporters listen (127.0.0.1)."""

    prometheus: int = 9090
    postgres: int = 9187
    redis: int = 9121
    nginx: int = 9113
    nginx_status: int = 8081


def binary(name: str) -> str:
    return shutil.which(name) or f"/usr/bin/{name}"


def targets(
    replicas: Mapping[str, Iterable[int]], workers: Mapping[str, int], ports: Ports
) -> dict[str, list[dict[str, object]]]:
    """job -> file_sd target groups: replicas by service, workers by name, exporters."""
    jobs: dict[str, list[dict[str, object]]] = {
        "shop": [
            {"targets": [f"127.0.0.1:{p}" for p in found], "labels": {"service": name}}
            for name, found in replicas.items()
        ],
        "shop-workers": [
            {"targets": [f"127.0.0.1:{port}"], "labels": {"worker": name}}
            for name, port in workers.items()
        ],
        "prometheus": [{"targets": [f"127.0.0.1:{ports.prometheus}"]}],
    }
    for job in EXPORTER_JOBS:
        jobs[job] = [{"targets": [f"127.0.0.1:{getattr(ports, job)}"]}]
    return jobs


def config(
    targets_dir: Path,
    jobs: Iterable[str],
    *,
    rules_dir: Path = RULES_DIR,
    scrape_interval: str = "15s",
    evaluation_interval: str = "15s",
) -> dict[str, object]:
    """prometheus.yml (as JSON, which is YAML): one file_sd list per job, re-read on change,
    so a new replica count needs a re-render only, never an edit."""
    return {
        "global": {
            "scrape_interval": scrape_interval,
            "evaluation_interval": evaluation_interval,
        },
        "rule_files": [str(rules_dir / "*.yml")],
        "scrape_configs": [
            {
                "job_name": job,
                "file_sd_configs": [
                    {"files": [str(targets_dir / f"{job}.json")], "refresh_interval": "30s"}
                ],
            }
            for job in jobs
        ],
    }


def write(out: Path, jobs: Mapping[str, list[dict[str, object]]], **options: str | Path) -> Path:
    """Write out/prometheus.yml and out/targets/<job>.json; returns the config's path."""
    targets_dir = out / "targets"
    targets_dir.mkdir(parents=True, exist_ok=True)
    for job, groups in jobs.items():
        # Written whole then renamed: Prometheus never reads half a file.
        tmp = targets_dir / f".{job}.json.tmp"
        tmp.write_text(json.dumps(groups, indent=2) + "\n")
        tmp.replace(targets_dir / f"{job}.json")
    path = out / "prometheus.yml"
    path.write_text(json.dumps(config(targets_dir, jobs, **options), indent=2) + "\n")  # type: ignore[arg-type]
    return path


def prometheus_command(config_path: Path, data: Path, port: int) -> list[str]:
    return [
        binary("prometheus"),
        f"--config.file={config_path}",
        f"--storage.tsdb.path={data}",
        "--storage.tsdb.retention.time=2d",
        f"--web.listen-address=127.0.0.1:{port}",
        # Lets `make run`'s users (and the tests) reload rules with a POST /-/reload.
        "--web.enable-lifecycle",
    ]


def exporter_commands(
    *, postgres_url: str, redis_url: str, ports: Ports
) -> dict[str, tuple[list[str], dict[str, str]]]:
    """name -> (command, extra environment) of each exporter."""
    redis = urlparse(redis_url)
    redis_addr = f"redis://{redis.hostname or '127.0.0.1'}:{redis.port or 6379}"
    db = (redis.path or "/0").lstrip("/") or "0"
    return {
        "postgres-exporter": (
            [
                binary("prometheus-postgres-exporter"),
                f"--web.listen-address=127.0.0.1:{ports.postgres}",
                "--log.level=warn",
            ],
            # The DSN carries the password where there is one: environment, not argv.
            {"DATA_SOURCE_NAME": postgres_url},
        ),
        "redis-exporter": (
            [
                binary("prometheus-redis-exporter"),
                f"-redis.addr={redis_addr}",
                f"-web.listen-address=127.0.0.1:{ports.redis}",
                f"-check-streams={stream_patterns(db)}",
            ],
            {},
        ),
        "nginx-exporter": (
            [
                binary("prometheus-nginx-exporter"),
                f"-nginx.scrape-uri=http://127.0.0.1:{ports.nginx_status}/stub_status",
                f"-web.listen-address=127.0.0.1:{ports.nginx}",
                "-nginx.retries=30",
                "-nginx.retry-interval=1s",
            ],
            {},
        ),
    }
