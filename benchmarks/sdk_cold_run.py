"""The same cold run as `skybots reposter run`, written with the atproto SDK (PyPI `atproto`).

The yardstick of benchmarks/reposter_cold_run.py: restore a stored session, search a hashtag
(newest first), find nothing that is not already reposted, exit. Run as a process per run.

    python benchmarks/sdk_cold_run.py <pds-url> <session-file> <tag>
"""

from __future__ import annotations

import sys
from pathlib import Path

from atproto import Client  # type: ignore[import-not-found, unused-ignore]


def main(pds: str, session_file: Path, tag: str) -> None:
    client = Client(base_url=f"{pds}/xrpc")
    client.login(session_string=session_file.read_text())
    found = client.app.bsky.feed.search_posts({"q": f"#{tag}", "tag": [tag], "sort": "latest", "limit": 100})
    fresh = [post.uri for post in found.posts if not (post.viewer and post.viewer.repost)]
    session_file.write_text(client.export_session_string())
    print(f"{len(found.posts)} candidates, {len(fresh)} not reposted yet")


if __name__ == "__main__":
    main(sys.argv[1], Path(sys.argv[2]), sys.argv[3])
