"""Operator commands of the users service.

python -m users.cli generate-keys                       # dev signing key, if missing
python -m users.cli create-staff --email a@b.c --password ...   # `make staff`
python -m users.cli load-customers --count 10000 --csv var/load/users.csv  # `make load-data`
"""

from __future__ import annotations

import argparse
import asyncio
import csv
from pathlib import Path

from shared.db import create_engine, create_sessionmaker
from shared.errors import ServiceError
from users.domain.accounts import register_many, save_staff
from users.domain.passwords import PasswordHasher
from users.keys import generate_private_key
from users.settings import UsersSettings


async def _create_staff(settings: UsersSettings, email: str, password: str, username: str) -> str:
    engine = create_engine(settings, application_name="users-cli")
    try:
        async with create_sessionmaker(engine)() as session, session.begin():
            hasher = PasswordHasher(rounds=settings.bcrypt_rounds)
            user, created = await save_staff(
                session, hasher, email=email, password=password, username=username
            )
            return (
                f"{'created' if created else 'updated'} staff account {user.email} (id {user.id})"
            )
    finally:
        await engine.dispose()


# Every load-test customer has this password (documented in docs/load-testing.md).
LOAD_PASSWORD = "load-test-password"  # noqa: S105
LOAD_BATCH = 1000


def load_customer(i: int) -> tuple[str, str]:
    """The email and username of load-test customer number `i` (1-based)."""
    return f"load{i:07d}@example.com", f"load{i:07d}"


async def _load_customers(settings: UsersSettings, count: int, out: Path) -> str:
    engine = create_engine(settings, application_name="users-cli")
    hasher = PasswordHasher(rounds=settings.bcrypt_rounds)
    password_hash = await hasher.hash(LOAD_PASSWORD)  # once, for all of them
    created = 0
    try:
        for start in range(1, count + 1, LOAD_BATCH):
            people = [load_customer(i) for i in range(start, min(start + LOAD_BATCH, count + 1))]
            async with create_sessionmaker(engine)() as session, session.begin():
                created += await register_many(session, people=people, password_hash=password_hash)
    finally:
        await engine.dispose()
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["email", "password"])
        writer.writerows((load_customer(i)[0], LOAD_PASSWORD) for i in range(1, count + 1))
    return f"{created} new customers ({count - created} existed); {count} logins in {out}"


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m users.cli")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("generate-keys", help="write a dev RSA signing key if none exists")
    staff = commands.add_parser("create-staff", help="create or update a staff account")
    staff.add_argument("--email", required=True)
    staff.add_argument("--password", required=True)
    staff.add_argument("--username", help="defaults to the part of the email before @")
    load = commands.add_parser(
        "load-customers", help="bulk customers for load tests, and the CSV of their logins"
    )
    load.add_argument("--count", type=int, required=True)
    load.add_argument("--csv", type=Path, default=Path("var/load/users.csv"))
    args = parser.parse_args()
    settings = UsersSettings()

    if args.command == "generate-keys":
        path = settings.jwt_private_key_file
        print(f"{'wrote' if generate_private_key(path) else 'kept'} signing key {path}")
        return
    if args.command == "load-customers":
        if not 1 <= args.count <= 10_000_000:
            raise SystemExit("error: --count must be 1..10000000")
        print(asyncio.run(_load_customers(settings, args.count, args.csv)))
        return
    username = args.username or args.email.split("@")[0]
    try:
        print(asyncio.run(_create_staff(settings, args.email, args.password, username)))
    except ServiceError as exc:
        raise SystemExit(f"error: {exc.detail}") from exc


if __name__ == "__main__":
    main()
