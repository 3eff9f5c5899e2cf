"""The shape of a search, bounded before it reaches PostgreSQL.

`websearch_to_tsquery` accepts words, "quoted phrases", `-word` (not) and `or`. A search
of many negated words matches nearly every row and ranks them all (a sequential scan):
one such request costs seconds. So a search may hold `max_terms` words and `max_or` ORs,
and needs at least one word to look for.
"""

from __future__ import annotations

import re

from shared.errors import Unprocessable

_TOKEN = re.compile(r'-?"[^"]*"?|\S+')
_WORD = re.compile(r"\w+")
_LOC = ("query", "search")


def check_search(text: str, *, max_terms: int, max_or: int) -> None:
    """422 naming `search` if the query is too complex or only excludes words."""
    words = positive = ors = 0
    for token in _TOKEN.findall(text):
        if token.casefold() == "or":
            ors += 1
            continue
        found = len(_WORD.findall(token))
        words += found
        if found and not token.startswith("-"):
            positive += 1
    if words > max_terms:
        raise Unprocessable(
            f"A search may have at most {max_terms} words.", loc=_LOC, code="search_too_long"
        )
    if ors > max_or:
        raise Unprocessable(
            f"A search may combine at most {max_or + 1} alternatives with OR.",
            loc=_LOC,
            code="search_too_complex",
        )
    if words and not positive:
        raise Unprocessable(
            "A search needs a word to look for, not only words to leave out (-word).",
            loc=_LOC,
            code="search_only_negated",
        )
