"""Operator commands of the users service.

python -m users.cli generate-keys                       # dev signing key, if missing
python -m users.cli create-staff --email a@b.c --password ...   # `make staff`
"""

from __future__ import annotations

import argparse
import asyncio

from shared.db import create_engine, create_sessionmaker
from shared.errors import ServiceError
from users.domain.accounts import save_staff
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


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m users.cli")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("generate-keys", help="write a dev RSA signing key if none exists")
    staff = commands.add_parser("create-staff", help="create or update a staff account")
    staff.add_argument("--email", required=True)
    staff.add_argument("--password", required=True)
    staff.add_argument("--username", help="defaults to the part of the email before @")
    args = parser.parse_args()
    settings = UsersSettings()

    if args.command == "generate-keys":
        path = settings.jwt_private_key_file
        print(f"{'wrote' if generate_private_key(path) else 'kept'} signing key {path}")
        return
    username = args.username or args.email.split("@")[0]
    try:
        print(asyncio.run(_create_staff(settings, args.email, args.password, username)))
    except ServiceError as exc:
        raise SystemExit(f"error: {exc.detail}") from exc


if __name__ == "__main__":
    main()
