"""Conditional reads (ETag, If-None-Match): the web app polls its bots, and an unchanged answer is a 304.

A tag is a digest of the API's version and the name and resourceVersion of each Bot in the answer:
the same on every replica (resourceVersions are the API server's), new whenever one of those Bots
changes, and never moved by another user's Bots (nor equal to a tag of theirs, the names differ).
Answers are private: no shared cache keeps one user's bots for another.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from typing import Annotated, Any

from fastapi import Header, Response

from skybots import __version__

CACHE_CONTROL = "private, no-cache"
IfNoneMatch = Annotated[
    str | None, Header(description="The ETag of the answer you have: 304 while it is still the same.")
]
RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"headers": {"ETag": {"description": "Send it as If-None-Match.", "schema": {"type": "string"}}}},
    304: {"description": "Unchanged since the ETag sent as If-None-Match."},
}


def etag(bots: Iterable[dict[str, Any]]) -> str:
    digest = hashlib.sha256(__version__.encode())
    for bot in bots:
        meta = bot["metadata"]
        digest.update(f"\0{meta['name']}\0{meta['resourceVersion']}".encode())
    return f'"{digest.hexdigest()[:32]}"'


def matches(if_none_match: str | None, tag: str) -> bool:
    """RFC 9110's weak comparison: a proxy that compressed the answer may have made the tag W/."""
    if if_none_match is None:
        return False
    sent = {candidate.strip().removeprefix("W/") for candidate in if_none_match.split(",")}
    return "*" in sent or tag in sent


def answer(content: Callable[[], bytes], tag: str, if_none_match: str | None) -> Response:
    """The JSON `content` with its tag, or a 304 (nothing serialized) when the client has it."""
    headers = {"ETag": tag, "Cache-Control": CACHE_CONTROL}
    if matches(if_none_match, tag):
        return Response(status_code=304, headers=headers)
    return Response(content(), media_type="application/json", headers=headers)
