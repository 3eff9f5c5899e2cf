"""The Redis ACL users compose ships, tried on a real `redis-server`: the Redis command of
deploy/compose.yaml (its script writes the ACL file from the passwords) starts a private
server, and each service's user is held to its own streams and keys."""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
import subprocess
import time
from collections.abc import Iterator
from typing import Any

import pytest
import redis
import yaml

from deploy import redis_acl, registry
from shared.auth import Principal, Revocations
from shared.events.retention import trim_stream
from shared.events.stats import refresh_stream_gauges
from shared.redis_client import create_redis
from shared.settings import ServiceSettings
from shared.testing import REPO_ROOT, free_port

SERVICES = redis_acl.redis_users(registry.load())
NAMES = [s.name for s in SERVICES]
USERS = [*NAMES, redis_acl.ADMIN, redis_acl.EXPORTER]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, dict[str, str]]]:
    """The compose `redis` service's own command, on a free port, with fresh passwords."""
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.fail("redis-server is missing (the Debian package redis-server)")
    command = yaml.safe_load((REPO_ROOT / "deploy/compose.yaml").read_text())["services"]["redis"][
        "command"
    ]
    assert command[:2] == ["sh", "-c"]
    script = command[2].replace("$$", "$")  # compose's escape of a literal `$`
    passwords = {user: secrets.token_urlsafe(16) for user in USERS}
    workdir = tmp_path_factory.mktemp("redis-acl")
    env = {
        **os.environ,
        "REDIS_ACL_FILE": str(workdir / "users.acl"),
        **{redis_acl.password_variable(user): pw for user, pw in passwords.items()},
    }
    port = free_port()
    args = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", ""]
    args += ["--appendonly", "no", "--dir", str(workdir)]
    process = subprocess.Popen(["sh", "-c", script, "redis-acl", *args], env=env)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                redis.Redis(port=port).ping()
                break
            except redis.ConnectionError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise
                time.sleep(0.05)
        # The file holds hashes only: no password is written anywhere.
        text = (workdir / "users.acl").read_text()
        assert not any(pw in text for pw in passwords.values())
        yield port, passwords
    finally:
        process.terminate()
        process.wait(timeout=10)


def client(server: tuple[int, dict[str, str]], user: str) -> redis.Redis:
    port, passwords = server
    return redis.Redis(port=port, username=user, password=passwords[user], decode_responses=True)


def refused(call: Any, *args: Any) -> bool:
    try:
        call(*args)
    except redis.exceptions.NoPermissionError:
        return True
    return False


def consumed(service: str) -> list[str]:
    return list(redis_acl.consumes(next(s for s in SERVICES if s.name == service)))


@pytest.mark.parametrize("name", NAMES)
def test_a_service_publishes_only_to_its_own_stream(
    server: tuple[int, dict[str, str]], name: str
) -> None:
    own = client(server, name)
    assert own.xadd(f"{name}.events", {"type": "Probe"})
    assert own.xadd(f"{name}.dead-letter", {"type": "Probe"})
    own.xtrim(f"{name}.events", maxlen=1000)
    for other in NAMES:
        if other != name:
            assert refused(own.xadd, f"{other}.events", {"type": "Forged"}), other
            assert refused(own.xtrim, f"{other}.events", 0), other
            assert refused(own.delete, f"{other}.events"), other


@pytest.mark.parametrize("name", NAMES)
def test_a_service_consumes_what_it_reads_but_cannot_write_there(
    server: tuple[int, dict[str, str]], name: str
) -> None:
    own = client(server, name)
    admin = client(server, redis_acl.ADMIN)
    for producer in consumed(name):
        stream = f"{producer}.events"
        entry = admin.xadd(stream, {"type": "Probe"})
        own.xgroup_create(stream, f"{name}-probe", id="0", mkstream=True)
        read = own.xreadgroup(f"{name}-probe", "c1", {stream: ">"}, count=10)
        assert read
        assert read[0][1][-1][0] == entry
        own.xautoclaim(stream, f"{name}-probe", "c2", min_idle_time=0)
        own.xpending_range(stream, f"{name}-probe", min="-", max="+", count=10)
        own.xinfo_groups(stream)
        own.xlen(stream)
        own.xrevrange(stream, count=1)
        assert own.xack(stream, f"{name}-probe", entry) == 1
        # Reading is all: no entry added, none removed, no group destroyed.
        assert refused(own.xadd, stream, {"type": "Forged"})
        assert refused(own.xdel, stream, entry)
        assert refused(own.xgroup_destroy, stream, f"{name}-probe")


@pytest.mark.parametrize("name", NAMES)
def test_a_service_keeps_to_its_own_keys(server: tuple[int, dict[str, str]], name: str) -> None:
    own = client(server, name)
    with own.pipeline(transaction=True) as pipe:
        pipe.incr(f"{name}:probe").expire(f"{name}:probe", 60).get(f"{name}:probe")
        assert pipe.execute()[-1] == "1"
    script = "return redis.call('SET', KEYS[1], ARGV[1])"
    assert own.eval(script, 1, f"{name}:scripted", "1") == "OK"
    assert own.get("auth:not-before:1") is None  # every service reads revocations
    for other in NAMES:
        if other != name:
            assert refused(own.get, f"{other}:probe"), other
            assert refused(own.set, f"{other}:probe", "x"), other
            assert refused(own.eval, script, 1, f"{other}:scripted", "1"), other
    if name != "users":
        assert refused(own.set, "auth:not-before:1", "9999999999")
    for dangerous in (own.flushdb, own.flushall, lambda: own.keys("*"), own.config_get):
        assert refused(dangerous)
    assert refused(own.publish, "anything", "x")


def test_only_ping_without_a_user_and_no_login_with_a_wrong_password(
    server: tuple[int, dict[str, str]],
) -> None:
    port, _ = server
    anonymous = redis.Redis(port=port)
    assert anonymous.ping()
    assert refused(anonymous.get, "auth:not-before:1")
    assert refused(anonymous.xadd, "orders.events", {"type": "Forged"})
    with pytest.raises(redis.exceptions.AuthenticationError):
        redis.Redis(port=port, username="orders", password="wrong").ping()


def test_the_shared_code_runs_as_each_user(server: tuple[int, dict[str, str]]) -> None:
    """The services' own Redis code (revocations, stream upkeep) through the settings'
    username and password: what the ACL allows is what that code needs."""
    port, passwords = server

    def settings(name: str) -> ServiceSettings:
        return ServiceSettings(
            redis_url=f"redis://127.0.0.1:{port}/0",
            redis_username=name,
            redis_password=passwords[name],
        )

    async def run() -> None:
        users = create_redis(settings("users"))
        token = Principal(id=7, is_staff=False, token_id="j1", expires_at=time.time() + 60)
        await Revocations(users).revoke(8, at=time.time(), ttl_seconds=60)
        await Revocations(users).revoke_token(token)
        for name in NAMES:
            redis_client = create_redis(settings(name))
            with pytest.raises(Exception, match="revoked"):
                await Revocations(redis_client).check(token)
            await trim_stream(redis_client, f"{name}.events", retention_s=3600, margin_s=60)
            for producer in consumed(name):
                await refresh_stream_gauges(
                    redis_client,
                    stream=f"{producer}.events",
                    dead_letter_stream=f"{name}.dead-letter",
                )
            await redis_client.aclose()
        await users.aclose()

    asyncio.run(run())
