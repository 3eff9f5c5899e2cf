"""observability/rules: `promtool check rules` and `promtool test rules`, every alert with
a firing and a quiet unit test, and a runbook section in docs/operations.md."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import ROOT

RULES = ROOT / "observability" / "rules"
RULE_FILES = sorted(RULES.glob("*.yml"))
UNIT_TESTS = sorted((RULES / "tests").glob("*.yml"))


def debian_tool(name: str, package: str) -> str:
    """A tool that `make test` installs (scripts/ensure-observability.sh): missing where it
    could be installed (root with apt-get, as on CI) is a failure, elsewhere a skip."""
    found = shutil.which(name)
    if found:
        return found
    if os.geteuid() == 0 and shutil.which("apt-get"):
        pytest.fail(f"{name} is missing: `make test` installs it (scripts/ensure-observability.sh)")
    pytest.skip(
        f"{name} is missing and cannot be installed here (not root): apt-get install {package}"
    )


def promtool() -> str:
    return debian_tool("promtool", "prometheus")


def alerts() -> list[dict[str, Any]]:
    found = []
    for path in RULE_FILES:
        for group in yaml.safe_load(path.read_text())["groups"]:
            found += [rule for rule in group["rules"] if "alert" in rule]
    return found


def test_rules_pass_promtool_check() -> None:
    assert RULE_FILES
    result = subprocess.run(
        [promtool(), "check", "rules", *map(str, RULE_FILES)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_rules_pass_their_unit_tests() -> None:
    assert UNIT_TESTS
    result = subprocess.run(
        [promtool(), "test", "rules", *map(str, UNIT_TESTS)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=RULES / "tests",
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_alert_has_a_firing_and_a_quiet_case() -> None:
    firing: set[str] = set()
    quiet: set[str] = set()
    for path in UNIT_TESTS:
        for case in yaml.safe_load(path.read_text())["tests"]:
            for check in case.get("alert_rule_test", []):
                (firing if check.get("exp_alerts") else quiet).add(check["alertname"])
    names = {rule["alert"] for rule in alerts()}
    assert len(names) >= 15
    assert names - firing == set(), "alerts without a firing case"
    assert names - quiet == set(), "alerts without a quiet case"


def test_every_alert_links_its_runbook_section() -> None:
    operations = (ROOT / "docs" / "operations.md").read_text()
    headings = {
        line.lstrip("#").strip().lower() for line in operations.splitlines() if line.startswith("#")
    }
    for rule in alerts():
        url = rule["annotations"]["runbook_url"]
        assert url == f"docs/operations.md#{rule['alert'].lower()}"
        assert rule["alert"].lower() in headings, f"no runbook section for {rule['alert']}"
        assert rule["labels"]["severity"] in ("page", "ticket")


def test_the_local_and_compose_prometheus_load_these_rules() -> None:
    compose = yaml.safe_load((ROOT / "observability/prometheus.yml").read_text())
    assert compose["rule_files"] == ["/etc/prometheus/rules/*.yml"]
    service = yaml.safe_load((ROOT / "deploy/compose.yaml").read_text())["services"]["prometheus"]
    assert "../observability/rules:/etc/prometheus/rules:ro" in service["volumes"]
    assert compose["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"] == [
        "alertmanager:9093"
    ]
    from deploy import monitoring

    local = monitoring.config(Path("/t"), ["shop"])
    assert local["rule_files"] == [str(RULES / "*.yml")]
