"""How many post cards a preview's termination message holds: 60 posts it would repost and 60 it
skipped (for three reasons), of one kind of text each, cut by RunReport.termination_message to
Kubernetes' 4096 bytes. Prints one row a kind: the cards of each list kept, and the message's bytes.

    .venv/bin/python benchmarks/preview_cards.py
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from skybots.runs import PostCard, RejectedPost, RunReport

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
KINDS = {
    "English, 280 characters": "The quick brown fox jumps over the lazy dog. " * 7,
    "Japanese, 160 characters": "日本語のテキストです" * 16,
    "emoji, 100": "\U0001f600" * 100,
    "short, 40 characters": "x" * 40,
}


def cut(text: str) -> tuple[int, int, int]:
    """Cards kept of what it would repost, of what it skipped, and the message's size in bytes."""

    def card(kind: type[PostCard], n: int, **reason: str) -> Any:
        uri = f"at://did:plc:abcdefghijklmnopqrstuvwx/app.bsky.feed.post/3l{n:011d}"
        return kind.of(
            uri, handle="alice-smith.bsky.social", name="Alice Smith", text=text, created_at=NOW, **reason
        )

    reasons = ("language", "reply", "not_tagged")
    would = [card(PostCard, n) for n in range(60)]
    skipped = [card(RejectedPost, 100 + n, reason=reasons[n % 3]) for n in range(60)]
    report = RunReport(
        outcome="succeeded",
        dry_run=True,
        started_at=NOW,
        finished_at=NOW,
        candidates=120,
        reposted=60,
        rejected=dict.fromkeys(reasons, 20),
        would_repost=would,
        rejected_posts=skipped,
    )
    message = report.termination_message()
    parsed = json.loads(message)
    return len(parsed["wouldRepost"]), len(parsed["rejectedPosts"]), len(message.encode())


def main() -> None:
    print(f"{'posts':<26} {'would repost':>12} {'skipped':>8} {'bytes':>6}")
    for kind, text in KINDS.items():
        would, skipped, size = cut(text)
        print(f"{kind:<26} {would:>12} {skipped:>8} {size:>6}")


if __name__ == "__main__":
    main()
