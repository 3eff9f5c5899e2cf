"""schemathesis over the merged OpenAPI document, through nginx, as an anonymous client,
a customer and staff, with every check: no server error and no answer that breaks the
document, on any operation (a new endpoint is swept without a test of its own).

`make test` runs a few examples per operation (SHOP_FUZZ_EXAMPLES, default 3; the
examples and fuzzing phases); `make fuzz` runs every phase with many more, and every
check. `make test` leaves out one check (SHOP_FUZZ_EXCLUDE_CHECKS),
positive_data_acceptance, whose findings are rules JSON Schema cannot state, so that
`make fuzz` reports them for review (docs/security.md, section 4):

- an opaque cursor: a schema-valid string is not a cursor we issued, and is a 422;
- rules across fields or against stored data: a password that is the username or the
  email, 72 bytes of UTF-8 (the document states characters); a body naming a category
  or product that does not exist (422 "No such category."); placing an order without
  lines; a JSON number with a zero fraction (`213.0`) is a JSON Schema integer, and the
  strict models take only JSON integers.

Everything JSON Schema can state is stated (password length and a non-digit, decimal
patterns and bounds, the details each payment method requires, PATCH fields that may be
left out but not null, the 400 problem of every body), and the other checks run:
status_code_conformance (every answer is a documented status) and
negative_data_rejection (every request outside the document is refused).

Server errors (not_a_server_error), answers outside their schema
(response_schema_conformance), content types and headers are checked in all.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from shared.testing import bearer
from tests.conftest import Stack

EXAMPLES = int(os.environ.get("SHOP_FUZZ_EXAMPLES", "3"))
PHASES = os.environ.get("SHOP_FUZZ_PHASES", "examples,fuzzing")
SEED = os.environ.get("SHOP_FUZZ_SEED", "20261201")
EXCLUDE_CHECKS = os.environ.get("SHOP_FUZZ_EXCLUDE_CHECKS", "positive_data_acceptance")
# Users the sweep acts as: ids no other test uses, so what it writes touches no one's data.
CUSTOMER_ID, STAFF_ID = 910_001, 910_002

pytestmark = pytest.mark.sweep


def schemathesis() -> str:
    path = shutil.which("schemathesis") or str(Path(sys.executable).parent / "schemathesis")
    if not Path(path).exists():
        pytest.fail("schemathesis is missing: `uv sync` installs it (root dev group)")
    return path


@pytest.mark.parametrize("who", ["anonymous", "customer", "staff"])
def test_every_operation_answers_within_its_document(
    stack: Stack, mint_token: Callable[..., str], who: str, tmp_path: Path
) -> None:
    headers = {
        "anonymous": {},
        "customer": bearer(mint_token(CUSTOMER_ID)),
        "staff": bearer(mint_token(STAFF_ID, staff=True)),
    }[who]
    command = [
        schemathesis(),
        "run",
        f"{stack.url}/openapi.json",
        "--checks",
        "all",
        *(["--exclude-checks", EXCLUDE_CHECKS] if EXCLUDE_CHECKS else []),
        "--max-examples",
        str(EXAMPLES),
        "--phases",
        PHASES,
        "--seed",
        SEED,
        "--workers",
        "2",
        "--request-timeout",
        "30",
        # `--checks all` includes a response-time limit (a few seconds by default); the
        # long poll (`wait`, up to 25 s) answers late by design, and speed is measured by
        # benchmarks, not asserted: only an answer past the gateway's 30 s is a finding.
        "--max-response-time",
        "30",
        "--suppress-health-check",
        "all",
        "--no-color",
        # Logging out with the sweep's token revokes it, and every later case would be a
        # 401: logout is swept anonymously (with whatever token schemathesis makes up).
        *(["--exclude-path", "/api/auth/logout/"] if headers else []),
        *(arg for name, value in headers.items() for arg in ("--header", f"{name}: {value}")),
    ]
    result = subprocess.run(
        command, capture_output=True, text=True, timeout=600, cwd=tmp_path, check=False
    )
    report = result.stdout[-20000:] + result.stderr[-5000:]
    assert result.returncode == 0, report
