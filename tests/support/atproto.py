"""Bluesky's reference network (PDS + AppView from @atproto/dev-env) and helpers that write to it.

The helpers speak plain XRPC over httpx, as the reposter does, so a test's data is made the
way real clients make it. Writes reach the AppView asynchronously: call `process_all()` after
writing and before reading anything from the AppView (search, getPosts, feeds).
"""

from __future__ import annotations

import re
import secrets
import string
import struct
import zlib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.processes import NODE, ServerProcess, await_ready_line

ROOT = Path(__file__).resolve().parents[2]
NETWORK_DIR = ROOT / "tools" / "atproto-network"
STARTUP_TIMEOUT = 90


class XrpcError(Exception):
    """An XRPC call answered with an error status; `error` is the XRPC error name, if any."""

    def __init__(self, nsid: str, status: int, body: Any) -> None:
        self.nsid = nsid
        self.status = status
        self.error = body.get("error") if isinstance(body, dict) else None
        self.message = body.get("message") if isinstance(body, dict) else str(body)
        super().__init__(f"{nsid}: {status} {self.error}: {self.message}")


@dataclass(frozen=True)
class Account:
    """An account on the test PDS, logged in with its main password."""

    did: str
    handle: str
    password: str
    access_jwt: str
    refresh_jwt: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.access_jwt}"}


@dataclass(frozen=True)
class Record:
    """A record written to a repo: its at-uri, its CID and what was written."""

    uri: str
    cid: str
    value: dict[str, Any]

    @property
    def ref(self) -> dict[str, str]:
        """A com.atproto.repo.strongRef, as subjects, replies and quotes need."""
        return {"uri": self.uri, "cid": self.cid}

    @property
    def rkey(self) -> str:
        return self.uri.rsplit("/", 1)[1]


def now() -> str:
    return timestamp(datetime.now(UTC))


def timestamp(moment: datetime) -> str:
    """The datetime format of AT Protocol records (naive datetimes are taken as UTC)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def tag_facets(text: str, tags: Sequence[str]) -> tuple[str, list[dict[str, Any]]]:
    """The text, with `#tag` appended for tags it lacks, and one tag facet per occurrence.

    Facet offsets count UTF-8 bytes, not characters: with emoji or accents before a hashtag
    the two differ, and a facet placed by characters points at the wrong text.
    """
    facets: list[dict[str, Any]] = []
    for tag in tags:
        tag = tag.removeprefix("#")
        pattern = re.compile(rf"(?<!\S)#{re.escape(tag)}(?=$|[\s.,;:!?)])")
        if not pattern.search(text):
            text = f"{text} #{tag}" if text else f"#{tag}"
        for match in pattern.finditer(text):
            start = len(text[: match.start()].encode())
            end = start + len(match.group().encode())
            facets.append(
                {
                    "index": {"byteStart": start, "byteEnd": end},
                    "features": [{"$type": "app.bsky.richtext.facet#tag", "tag": tag}],
                }
            )
    facets.sort(key=lambda facet: facet["index"]["byteStart"])
    return text, facets


def tiny_png() -> bytes:
    """A valid 1x1 PNG: image posts need a real image blob, and this needs no image library."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    pixels = zlib.compress(b"\x00\x33\x99\xff")
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")


class AtprotoNetwork:
    """A running network.mjs: its URLs, and helpers that write through the PDS like a client."""

    def __init__(self, info: dict[str, Any], server: ServerProcess) -> None:
        self.info = info
        self.server = server
        self.pds_url: str = info["pds"]
        self.appview_url: str = info["appview"]
        self.plc_url: str = info["plc"]
        self.control_url: str = info["control"]
        self.appview_did: str = info["appviewDid"]
        # Header that routes a PDS request to this AppView, for calls the PDS would not proxy by itself.
        self.proxy_headers = {"atproto-proxy": info["appviewProxy"]}
        self.http = httpx.Client(timeout=60, trust_env=False)
        self._names = 0

    def process_all(self) -> None:
        """Wait until the AppView has indexed everything written so far."""
        self._control("POST", "/process-all")

    # Plain XRPC ----------------------------------------------------------------------------

    def query(self, nsid: str, account: Account | None = None, **params: Any) -> Any:
        """A GET: through the PDS with the account's session (proxied to the AppView for
        app.bsky.*), or straight to the AppView without one."""
        base = self.pds_url if account else self.appview_url
        headers = account.headers if account else {}
        return self._result(nsid, self.http.get(f"{base}/xrpc/{nsid}", params=params, headers=headers))

    def procedure(self, nsid: str, body: Any, account: Account | None = None) -> Any:
        """A POST to the PDS, authenticated when an account is given."""
        headers = account.headers if account else {}
        return self._result(nsid, self.http.post(f"{self.pds_url}/xrpc/{nsid}", json=body, headers=headers))

    # Accounts -------------------------------------------------------------------------------

    def create_account(self, handle: str) -> Account:
        """A new account; a bare name becomes a unique `<name>-<random>.test` handle."""
        if "." not in handle:
            handle = f"{handle}-{secrets.token_hex(3)}.test"
        password = secrets.token_urlsafe(12)
        body = {"handle": handle, "email": f"{handle}@example.com", "password": password}
        session = self.procedure("com.atproto.server.createAccount", body)
        return Account(
            session["did"], session["handle"], password, session["accessJwt"], session["refreshJwt"]
        )

    def login(self, identifier: str, password: str) -> Account:
        """createSession, as a bot logs in: with its handle or DID and (usually) an app password."""
        body = {"identifier": identifier, "password": password}
        session = self.procedure("com.atproto.server.createSession", body)
        return Account(
            session["did"], session["handle"], password, session["accessJwt"], session["refreshJwt"]
        )

    def create_app_password(self, account: Account, name: str | None = None) -> str:
        """An app password for the account: what a bot owner gives the platform."""
        body = {"name": name or f"skybots-{secrets.token_hex(3)}"}
        return str(self.procedure("com.atproto.server.createAppPassword", body, account)["password"])

    # Records --------------------------------------------------------------------------------

    def create_record(
        self, account: Account, collection: str, value: dict[str, Any], rkey: str | None = None
    ) -> Record:
        value = {"$type": collection, **value}
        body: dict[str, Any] = {"repo": account.did, "collection": collection, "record": value}
        if rkey:  # an empty rkey is an error: leave it out for a TID
            body["rkey"] = rkey
        written = self.procedure("com.atproto.repo.createRecord", body, account)
        return Record(written["uri"], written["cid"], value)

    def post(
        self,
        account: Account,
        text: str,
        *,
        tags: Sequence[str] = (),
        outline_tags: Sequence[str] = (),
        langs: Sequence[str] | None = None,
        reply_to: Record | None = None,
        quote: Record | None = None,
        images: Sequence[str] = (),
        labels: Sequence[str] = (),
        created_at: datetime | None = None,
        mentions: Sequence[Account] = (),
    ) -> Record:
        """An app.bsky.feed.post as the Bluesky app writes it.

        mentions: accounts mentioned as `@handle` in the text (added when missing), as mention
        facets, which is what notifies them; tags: hashtags as facets (appended to the text when it lacks them); outline_tags: the
        record's own `tags` field (not shown in the text); images: one image per alt text;
        labels: self-labels such as "porn" or "!no-unauthenticated".
        """
        text, facets = tag_facets(text, tags)
        for account_mentioned in mentions:
            handle = f"@{account_mentioned.handle}"
            if handle not in text:
                text = f"{text} {handle}"
            start = len(text[: text.index(handle)].encode())
            facets.append(
                {
                    "index": {"byteStart": start, "byteEnd": start + len(handle.encode())},
                    "features": [{"$type": "app.bsky.richtext.facet#mention", "did": account_mentioned.did}],
                }
            )
        record: dict[str, Any] = {"text": text, "createdAt": timestamp(created_at) if created_at else now()}
        if facets:
            record["facets"] = facets
        if outline_tags:
            record["tags"] = list(outline_tags)
        if langs is not None:
            record["langs"] = list(langs)
        if reply_to is not None:
            root = reply_to.value.get("reply", {}).get("root", reply_to.ref)
            record["reply"] = {"root": root, "parent": reply_to.ref}
        if labels:
            record["labels"] = {
                "$type": "com.atproto.label.defs#selfLabels",
                "values": [{"val": label} for label in labels],
            }
        media = self._images(account, images) if images else None
        if quote is not None and media is not None:
            record["embed"] = {
                "$type": "app.bsky.embed.recordWithMedia",
                "record": {"$type": "app.bsky.embed.record", "record": quote.ref},
                "media": media,
            }
        elif quote is not None:
            record["embed"] = {"$type": "app.bsky.embed.record", "record": quote.ref}
        elif media is not None:
            record["embed"] = media
        return self.create_record(account, "app.bsky.feed.post", record)

    def like(self, account: Account, uri: str, cid: str) -> Record:
        subject = {"uri": uri, "cid": cid}
        return self.create_record(account, "app.bsky.feed.like", {"subject": subject, "createdAt": now()})

    def repost(self, account: Account, uri: str, cid: str) -> Record:
        subject = {"uri": uri, "cid": cid}
        return self.create_record(account, "app.bsky.feed.repost", {"subject": subject, "createdAt": now()})

    def block(self, account: Account, did: str) -> Record:
        return self.create_record(account, "app.bsky.graph.block", {"subject": did, "createdAt": now()})

    def create_list(
        self,
        account: Account,
        name: str,
        members: Sequence[Account | str],
        *,
        purpose: str = "app.bsky.graph.defs#curatelist",
    ) -> Record:
        """A list with its members (accounts or DIDs); `.uri` is what getListFeed takes."""
        made = self.create_record(
            account, "app.bsky.graph.list", {"name": name, "purpose": purpose, "createdAt": now()}
        )
        for member in members:
            did = member.did if isinstance(member, Account) else member
            self.create_record(
                account, "app.bsky.graph.listitem", {"subject": did, "list": made.uri, "createdAt": now()}
            )
        return made

    def create_feed(self, account: Account, name: str, posts: Sequence[Record | str]) -> Record:
        """A custom feed published by the account, served by the network's feed generator.

        `.uri` is what app.bsky.feed.getFeed takes; it pages through `posts` in that order.
        """
        rkey = re.sub(r"[^A-Za-z0-9-]", "-", name)[:15] + "-" + secrets.token_hex(3)
        uri = f"at://{account.did}/app.bsky.feed.generator/{rkey}"
        generator = self.set_feed_posts(uri, posts)
        value = {"did": generator, "displayName": name, "createdAt": now()}
        return self.create_record(account, "app.bsky.feed.generator", value, rkey=rkey)

    def set_feed_posts(self, feed_uri: str, posts: Sequence[Record | str]) -> str:
        """Replace what a feed serves; answers the feed generator's DID."""
        uris = [post.uri if isinstance(post, Record) else post for post in posts]
        answer = self._control("POST", "/feed-generator", {"feed": feed_uri, "posts": uris})
        return str(answer["did"])

    # Internals ------------------------------------------------------------------------------

    def _images(self, account: Account, alts: Sequence[str]) -> dict[str, Any]:
        images = []
        for alt in alts:
            response = self.http.post(
                f"{self.pds_url}/xrpc/com.atproto.repo.uploadBlob",
                content=tiny_png(),
                headers={**account.headers, "Content-Type": "image/png"},
            )
            blob = self._result("com.atproto.repo.uploadBlob", response)["blob"]
            images.append({"image": blob, "alt": alt, "aspectRatio": {"width": 1, "height": 1}})
        return {"$type": "app.bsky.embed.images", "images": images}

    def _control(self, method: str, path: str, body: Any = None) -> Any:
        response = self.http.request(method, f"{self.control_url}{path}", json=body)
        if response.is_error:
            raise RuntimeError(f"atproto-network {path}: {response.status_code} {response.text}")
        return response.json()

    @staticmethod
    def _result(nsid: str, response: httpx.Response) -> Any:
        if response.is_error:
            try:
                body = response.json()
            except ValueError:
                body = response.text
            raise XrpcError(nsid, response.status_code, body)
        return response.json() if response.content else None

    def close(self) -> None:
        self.http.close()


def random_schema() -> str:
    """dev-env takes only letters and underscores in a schema name: no digits, so no counters."""
    return "skybots_" + "".join(secrets.choice(string.ascii_lowercase) for _ in range(10))


@contextmanager
def running_atproto_network(
    workdir: Path, *, postgres_url: str, redis_host: str, schema: str | None = None
) -> Iterator[AtprotoNetwork]:
    """Start network.mjs on Node 22, wait for its ready line, and stop it (and all it started) after."""
    if not NODE.exists() or not (NETWORK_DIR / "node_modules" / "@atproto" / "dev-env").exists():
        pytest.fail(
            "Node 22 or @atproto/dev-env is missing: run `make atproto-network` (part of `make test`)"
        )
    tmp = workdir / "tmp"
    tmp.mkdir(parents=True, exist_ok=True)
    env = {
        "PATH": f"{NODE.parent}:/usr/local/bin:/usr/bin:/bin",
        "HOME": str(workdir),
        "TMPDIR": str(tmp),
        "DB_POSTGRES_URL": postgres_url,
        "REDIS_HOST": redis_host,
        "ATPROTO_SCHEMA": schema or random_schema(),
    }
    log = workdir / "network.log"
    server = ServerProcess(
        "atproto-network", [NODE, NETWORK_DIR / "network.mjs"], log=log, env=env, cwd=NETWORK_DIR
    )
    network = None
    try:
        info = await_ready_line(server, log, STARTUP_TIMEOUT, "atproto network", interval=0.1)
        network = AtprotoNetwork(info, server)
        yield network
    finally:
        if network:
            network.close()
        server.stop(timeout=30)
