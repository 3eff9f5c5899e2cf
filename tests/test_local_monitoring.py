"""`make run`'s Prometheus: scripts/stack.py renders a file_sd list of every replica and
worker for the wanted replica counts, the exporters' processes, and nginx's loopback
stub_status; OBSERVE=0 leaves them all out."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import registry, stack_script


def render(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, **env: str) -> list[str]:
    monkeypatch.setattr(stack_script, "VAR", tmp_path)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    stack_script.render()
    return (tmp_path / "Procfile").read_text().splitlines()


def test_three_replicas_are_scraped_without_an_edit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    procfile = render(tmp_path, monkeypatch, REPLICAS="3", OBSERVE="1")
    services = registry.load()
    targets = tmp_path / "prometheus" / "targets"
    shop = json.loads((targets / "shop.json").read_text())
    assert {g["labels"]["service"]: len(g["targets"]) for g in shop} == {
        s.name: 3 for s in services
    }
    workers = json.loads((targets / "shop-workers.json").read_text())
    expected = {f"{s.name}-{w}" for s in services for w in s.workers}
    assert {g["labels"]["worker"] for g in workers} == expected
    # Each worker target is the port its Procfile line serves metrics on.
    for group in workers:
        port = group["targets"][0].rsplit(":", 1)[1]
        [line] = [p for p in procfile if p.startswith(group["labels"]["worker"] + ":")]
        assert f"WORKER_METRICS_PORT={port} " in line
    names = {line.split(":", 1)[0] for line in procfile}
    assert {"prometheus", "postgres-exporter", "redis-exporter", "nginx-exporter"} <= names
    [prometheus] = [p for p in procfile if p.startswith("prometheus:")]
    assert "--web.listen-address=127.0.0.1:9090" in prometheus
    config = json.loads((tmp_path / "prometheus" / "prometheus.yml").read_text())
    assert [j["job_name"] for j in config["scrape_configs"]] == [
        "shop", "shop-workers", "prometheus", "postgres", "redis", "nginx"
    ]  # fmt: skip
    nginx = (tmp_path / "nginx" / "nginx.conf").read_text()
    assert "listen 127.0.0.1:8081;" in nginx
    assert "stub_status" not in (tmp_path / "nginx" / "locations.conf").read_text()


def test_observe_0_starts_no_monitoring(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    procfile = render(tmp_path, monkeypatch, OBSERVE="0")
    assert not [p for p in procfile if "prometheus" in p]
    assert "stub_status" not in (tmp_path / "nginx" / "nginx.conf").read_text()
    assert not (tmp_path / "prometheus").exists()
