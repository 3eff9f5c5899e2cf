"""Print or write the gateway's merged OpenAPI document without a running stack.

    python -m scripts.openapi                      # to stdout
    python -m scripts.openapi --out storefront/openapi.json

Each API service of deploy/services.toml is built in-process (its app factory, no
lifespan, so no database or Redis) and its own document merged exactly as the gateway
merges the live ones (gateway.openapi.merge), so the storefront's generated client is
checked against the same document partners read at /openapi.json.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

from fastapi import FastAPI

from deploy import registry
from gateway.main import DESCRIPTION
from gateway.openapi import ServiceDocument, merge


def service_document(app_path: str) -> dict[str, Any]:
    module, _, factory = app_path.partition(":")
    app: FastAPI = getattr(importlib.import_module(module), factory)()
    return app.openapi()


def merged() -> dict[str, Any]:
    # The users app loads its signing key when it is built; the document does not use it.
    with tempfile.TemporaryDirectory() as keys:
        if "USERS_JWT_PRIVATE_KEY_FILE" not in os.environ:
            from users.keys import generate_private_key

            key = Path(keys) / "jwt-private.pem"
            generate_private_key(key)
            os.environ["USERS_JWT_PRIVATE_KEY_FILE"] = str(key)
        return _merged()


def _merged() -> dict[str, Any]:
    documents = [
        ServiceDocument(
            service=s.name,
            document=service_document(s.app),
            prefixes=(*s.prefixes, *s.strict_prefixes),
            exact=s.exact,
        )
        for s in registry.load()
        if s.api
    ]
    return merge(documents, description=DESCRIPTION)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    text = json.dumps(merged(), indent=2, sort_keys=True) + "\n"
    if args.out:
        args.out.write_text(text)
    else:
        sys.stdout.write(text)


if __name__ == "__main__":
    main()
