"""The layers as docs/decisions.md states them, checked in the source: routers build no
SQL, domain services never see HTTP and build no SQL (they may take the session and call
db/ repositories), and the ServiceError family imports no framework."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SERVICES = sorted(p.parent for p in ROOT.glob("services/*/src/*/main.py"))
# What a router may take from SQLAlchemy: types for annotations, never statements.
ROUTER_SQLALCHEMY = {"sqlalchemy.ext.asyncio": {"AsyncSession"}, "sqlalchemy": {"Row"}}
SQL_BUILDERS = {"select", "insert", "update", "delete", "text", "func", "and_", "or_"}
WEB = ("fastapi", "starlette")


def _imports(path: Path) -> list[tuple[str, str]]:
    """(module, name) of every `from module import name` and `import module`."""
    found: list[tuple[str, str]] = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            found += [(node.module, alias.name) for alias in node.names]
        elif isinstance(node, ast.Import):
            found += [(alias.name, "") for alias in node.names]
    return found


def _modules(layer: str) -> list[Path]:
    return [p for service in SERVICES for p in sorted((service / layer).glob("*.py"))]


@pytest.mark.parametrize("path", _modules("api"), ids=lambda p: str(p.relative_to(ROOT)))
def test_routers_build_no_sql(path: Path) -> None:
    for module, name in _imports(path):
        if module == "sqlalchemy" or module.startswith("sqlalchemy."):
            assert name in ROUTER_SQLALCHEMY.get(module, set()), (module, name)


@pytest.mark.parametrize("path", _modules("domain"), ids=lambda p: str(p.relative_to(ROOT)))
def test_domain_services_see_no_http_and_build_no_sql(path: Path) -> None:
    for module, name in _imports(path):
        assert not module.startswith(WEB), (module, name)
        if module == "sqlalchemy":
            assert name not in SQL_BUILDERS, (module, name)


def test_the_service_errors_import_no_framework() -> None:
    modules = [m for m, _ in _imports(ROOT / "shared/src/shared/errors.py")]
    assert modules
    assert not [m for m in modules if m.startswith((*WEB, "sqlalchemy", "redis", "pydantic"))]


def test_there_is_something_to_check() -> None:
    assert len(SERVICES) == 4
    assert len(_modules("api")) > 10
    assert len(_modules("domain")) > 10
