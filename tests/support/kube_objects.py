"""What the tests of the API-server stand-ins share: a Bot the CRD accepts, and a watch's first events."""

from __future__ import annotations

import asyncio
from typing import Any

from skybots.stores.kubernetes import Kind, KubernetesApi


def a_bot(name: str = "news", **spec: Any) -> dict[str, Any]:
    """A Bot the CRD's schema accepts (the emulator checks it; LocalKubernetes leaves that to the API)."""
    return {
        "apiVersion": "skybots.dev/v1alpha1",
        "kind": "Bot",
        "metadata": {"name": name},
        "spec": {
            "account": {"handle": "news.bsky.social", "credentialsSecretRef": {"name": "news-bot"}},
            "sources": [{"type": "hashtag", "tag": "python"}],
            **spec,
        },
    }


def rv(obj: dict[str, Any]) -> int:
    return int(obj["metadata"]["resourceVersion"])


async def events(
    kube: KubernetesApi, kind: Kind, namespace: str, count: int, since: str, selector: str | None = None
) -> list[tuple[str, str]]:
    """The first `count` events of a watch as (type, name); fails if they do not come within 2 s."""
    seen: list[tuple[str, str]] = []
    async with asyncio.timeout(2):
        async for event in kube.watch(kind, namespace, resource_version=since, label_selector=selector):
            seen.append((event["type"], event["object"]["metadata"]["name"]))
            if len(seen) == count:
                break
    return seen
