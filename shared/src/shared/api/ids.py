"""The id types of every service's API: bigint identities, 1 to 2**63 - 1, so an id out
of range is a 422 rather than a database error. One bound, three places it arrives."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path
from pydantic import Field

MAX_ID = 2**63 - 1
# Query strings are text, so a query id is lax: `?order=3` is 3.
Id = Annotated[int, Field(ge=1, le=MAX_ID)]
# Bodies are strict: a JSON body says 3, not "3", 3.0 or true.
BodyId = Annotated[int, Field(ge=1, le=MAX_ID, strict=True)]
PathId = Annotated[int, Path(ge=1, le=MAX_ID)]
