"""Redis ACL users of the shop (compose): one per service, from deploy/services.toml.

A service's user may
- read and write its own keys: its streams (`<name>.events`, its groups' dead letters
  `<name>.dead-letter`, `<name>-*.dead-letter`), its keys `<name>:*`, and the extra
  `keys` of its `[service.compose] redis` entry (the users service: `auth:*`, the token
  revocations);
- read the token revocations (`auth:*`) that every service checks;
- consume the streams of the services in `consumes` (read, create its group, ack,
  claim) but never add to them, trim them or delete from them;
- nothing else: no other key, no pub/sub channel, no dangerous command (FLUSHDB, KEYS,
  CONFIG, DEBUG, ...).

`default` can only PING (health checks); `admin` can do everything (operators:
`redis-cli --user admin`, the event tools); `exporter` reads what the Prometheus exporter
needs. deploy/compose.py writes `shell_script()` into the Redis containers' command: it
writes the ACL file from the passwords in the container's environment (as SHA-256
hashes, so the file holds no password) and starts `redis-server` with it.

Stdlib only (with the registry): deploy/compose.py and the tests import it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from typing import Any

from deploy import registry

# The streams and keys of a service every service may read.
SHARED_READ_KEYS = ("auth:*",)
# Commands on its own keys: reads, writes, streams, MULTI/EXEC, the catalog cache's Lua
# scripts (each command a script runs is checked against the same rules); then every
# command flagged dangerous (FLUSHDB, KEYS, CONFIG, ...) is taken away again.
OWN_COMMANDS = (
    "-@all +@connection +select +time +@read +@write +@stream +@transaction"
    " +eval +evalsha +script|load +script|exists -@dangerous"
)
# Commands on a stream it consumes: its group's reads, acks and claims, never XADD,
# XTRIM, XDEL or XGROUP DESTROY/SETID.
CONSUMER_COMMANDS = (
    "-@all +xreadgroup +xack +xautoclaim +xclaim +xpending +xgroup|create"
    " +xgroup|createconsumer +xinfo|groups +xinfo|stream +xinfo|consumers +xlen +xrange"
    " +xrevrange +exists +type"
)
EXPORTER_COMMANDS = (
    "-@all +@connection +select +info +ping +config|get +client|list +slowlog|get"
    " +slowlog|len +latency|latest +dbsize +scan +type +xinfo|stream +xinfo|groups"
    " +xinfo|consumers +xlen +strlen +llen +scard +zcard +hlen +pfcount +memory|usage"
    " +cluster|info +module|list"
)
ADMIN, EXPORTER = "admin", "exporter"


def redis_users(services: Sequence[registry.Service]) -> list[registry.Service]:
    """The services that talk to Redis (the registry's `redis` flag)."""
    return [s for s in services if s.redis]


def _entry(service: registry.Service) -> dict[str, Any]:
    entry: dict[str, Any] = dict(service.compose.get("redis", {}))
    return entry


def consumes(service: registry.Service) -> list[str]:
    return list(_entry(service).get("consumes", []))


def own_keys(service: registry.Service) -> list[str]:
    name = service.name
    return [f"{name}.*", f"{name}-*.dead-letter", f"{name}:*", *_entry(service).get("keys", [])]


def user_rules(service: registry.Service) -> str:
    """The ACL rules of a service's user, without its password."""
    own = " ".join(f"~{pattern}" for pattern in own_keys(service))
    shared = " ".join(f"%R~{pattern}" for pattern in SHARED_READ_KEYS)
    rules = f"resetkeys resetchannels {own} {shared} {OWN_COMMANDS}"
    for producer in consumes(service):
        rules += f" (~{producer}.events {CONSUMER_COMMANDS})"
    return rules


def fixed_users() -> dict[str, str]:
    """Users that are not services: rules without passwords (`default` has none)."""
    return {
        ADMIN: "resetkeys resetchannels ~* &* +@all",
        EXPORTER: f"resetkeys resetchannels %R~* {EXPORTER_COMMANDS}",
    }


DEFAULT_USER = "user default on nopass resetkeys resetchannels -@all +ping"


def password_variable(user: str) -> str:
    """The compose variable holding a user's password (SHOP_REDIS_PASSWORD_CATALOG)."""
    return f"SHOP_REDIS_PASSWORD_{user.upper()}"


def all_users(services: Sequence[registry.Service]) -> dict[str, str]:
    return {**fixed_users(), **{s.name: user_rules(s) for s in redis_users(services)}}


def acl_file(services: Sequence[registry.Service], passwords: Mapping[str, str]) -> str:
    """The ACL file's text for these passwords (what shell_script writes, in Python)."""
    lines = [DEFAULT_USER]
    for user, rules in all_users(services).items():
        digest = hashlib.sha256(passwords[user].encode()).hexdigest()
        lines.append(f"user {user} on #{digest} {rules}")
    return "\n".join(lines) + "\n"


def shell_script(services: Sequence[registry.Service]) -> str:
    """`sh -c` script: write the ACL file from `$SHOP_REDIS_PASSWORD_<USER>`, then exec
    the command given as arguments with `--aclfile` (path: `$REDIS_ACL_FILE`)."""
    lines = [
        "set -eu",
        "umask 077",
        'acl="${REDIS_ACL_FILE:-/tmp/users.acl}"',
        "hash() { printf %s \"$1\" | sha256sum | cut -d ' ' -f 1; }",
        f"echo '{DEFAULT_USER}' > \"$acl\"",
    ]
    for user, rules in all_users(services).items():
        variable = password_variable(user)
        lines.append(f'echo "user {user} on #$(hash "${variable}")" \'{rules}\' >> "$acl"')
    lines.append('exec "$@" --aclfile "$acl"')
    return "\n".join(lines) + "\n"
