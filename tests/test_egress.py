"""A tenant's service address cannot lead a run inside the platform, tried the attacker's way.

The model and the API refuse what a URL shows by itself; a name is resolved by a real DNS server
(tests/support/dns.py) whose answers the test picks, and the reposter's transport refuses to connect
when any address is neither public nor in a network the operator allowed. "Nothing reached it" is a
listener on 127.0.0.1 that counts every connection; an operator's allowed network is 127.0.0.2/32,
so no test connects to an address off this machine. Internal services that do answer (the local
runtime's policy) are described in the report, never quoted.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import ipaddress
import json
import re
import ssl
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from skybots.bluesky.client import CheckedTransport, Xrpc
from skybots.bluesky.egress import PRIVATE_ADDRESSES_ALLOWED, allowed_networks
from skybots.bluesky.errors import BlueskyError, EgressRefused, InvalidRequest, UpstreamError
from skybots.bots import BotConfig
from skybots.operator.rendering import render_cron_job
from skybots.reposter.config import ReposterSettings
from skybots.reposter.run import run_bot
from skybots.settings import OperatorSettings
from skybots.stores.kubernetes import BOT
from skybots.stores.memory import MemoryCache
from tests.support.api import Api
from tests.support.dns import DnsServer, dns_server
from tests.support.reposter import platform_keys, run_reposter
from tests.support.tls import certificate_for

SESSION = "com.atproto.server.createSession"
NAME = "pds.tenant-bots.net"  # passes the model: only DNS can tell where it leads
SECRET_TEXT = "etcd-0 token=s3cr3t"  # what an internal service might say
ALLOWED = "127.0.0.2/32"  # the operator's own network (its PDS in its VPC), on loopback here


class Listener:
    """A TCP server on loopback that counts connections and answers each with `reply` (raw HTTP)."""

    def __init__(self, reply: bytes) -> None:
        self.reply, self.connections, self.port = reply, 0, 0

    async def accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        await reader.readuntil(b"\r\n\r\n")
        writer.write(self.reply)
        await writer.drain()
        writer.close()


@contextlib.asynccontextmanager
async def listening(
    reply: bytes = b"", ssl_context: ssl.SSLContext | None = None, *, host: str = "127.0.0.1", port: int = 0
) -> AsyncIterator[Listener]:
    listener = Listener(reply)
    server = await asyncio.start_server(listener.accept, host, port, ssl=ssl_context)
    listener.port = server.sockets[0].getsockname()[1]
    async with server:
        yield listener


@pytest.fixture
async def dns() -> AsyncIterator[DnsServer]:
    async with dns_server() as server:
        yield server


@pytest.fixture
async def inside() -> AsyncIterator[Listener]:
    """An internal service on loopback that no run may reach."""
    async with listening(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}") as listener:
        yield listener


def checked(
    dns: DnsServer,
    service: str,
    *,
    private_allowed: bool = False,
    allowed: str = "",
    retries: int = 0,
    verify: ssl.SSLContext | bool = True,
) -> Xrpc:
    transport = CheckedTransport(
        verify=verify,
        private_allowed=private_allowed,
        allowed_networks=allowed_networks(allowed),
        resolve=dns.resolve,
    )
    return Xrpc(service, transport=transport, retries=retries, backoff=0, timeout=2)


async def login(xrpc: Xrpc) -> Any:
    try:
        return await xrpc.procedure(SESSION, {"identifier": "bot.bsky.social", "password": "app-pass"})
    finally:
        await xrpc.aclose()


# --- the model and the API ----------------------------------------------------------------------

HOSTILE_SERVICES = [
    "https://169.254.169.254",
    "10.0.0.1",
    "https://127.0.0.1:6443",
    "https://0x7f000001",
    "https://2130706433",
    "https://0177.0.0.1",
    "https://127.1",
    "https://[::ffff:169.254.169.254]",
    "http://localhost:2583",
    "https://localhost",
    "https://localhost.localdomain",
    "https://kubernetes.default.svc",
    "https://metadata.google.internal",
    "https://bsky.social@10.0.0.1",
    "https://bsky.social:65536",
]


@pytest.mark.parametrize("api_cluster", ["emulator"], indirect=True)
async def test_the_api_refuses_a_hostile_service_naming_the_field_and_makes_nothing(api: Api) -> None:
    alice = await api.sign_in("alice")
    account: dict[str, str] = {"handle": "bot.bsky.social"}
    body = {
        "name": "probe",
        "appPassword": "app-pass-0001",
        "spec": {"account": account, "sources": [{"type": "mentions"}]},
    }
    for service in HOSTILE_SERVICES:
        account["service"] = service
        response = await alice.post("/api/bots", json=body)
        assert response.status_code == 422, (service, response.text)
        fields = [problem["field"] for problem in response.json()["detail"]]
        assert fields == ["spec.account.service"], (service, response.text)
    assert await api.kube.list(BOT, "skybots") == []

    account["service"] = "https://pds.example.org"
    made = await alice.post("/api/bots", json=body)
    assert made.status_code == 201, made.text
    for service in HOSTILE_SERVICES:
        change = {
            "resourceVersion": made.json()["resourceVersion"],
            "spec": {"account": {"service": service}},
        }
        response = await alice.patch("/api/bots/probe", json=change)
        assert response.status_code == 422, (service, response.text)
        assert "spec.account.service" in response.text
    assert (await alice.get("/api/bots/probe")).json()["spec"]["account"][
        "service"
    ] == "https://pds.example.org"


# --- connect time: what a name resolves to -----------------------------------------------------------

NON_PUBLIC = {
    "127.0.0.1": "loopback",
    "10.0.0.1": "private",
    "172.16.5.4": "private",
    "192.168.1.1": "private",
    "169.254.169.254": "cloud metadata",
    "100.64.0.1": "carrier-grade NAT",
    "0.0.0.0": "unspecified",
    "224.0.0.251": "multicast",
    "240.0.0.1": "reserved",
    "::1": "loopback",
    "fd00:ec2::254": "cloud metadata",
    "fc00::1": "unique-local",
    "fe80::1": "link-local",
    "ff02::1": "multicast",
    "::ffff:127.0.0.1": "embeds 127.0.0.1, a loopback",
    "::ffff:169.254.169.254": "embeds 169.254.169.254, the cloud metadata",
    "::a00:1": "embeds 10.0.0.1, a private",  # IPv4-compatible
    "2002:a9fe:a9fe::1": "embeds 169.254.169.254",  # 6to4
    "64:ff9b::a00:1": "embeds 10.0.0.1",  # NAT64
    "64:ff9b:1::1": "local-use NAT64",
    "2001:0:4136:e378:8000:63bf:3fff:fdd2": "Teredo",
}


@pytest.mark.parametrize("address", list(NON_PUBLIC))
async def test_a_name_that_resolves_to_a_non_public_address_is_never_connected_to(
    dns: DnsServer, inside: Listener, address: str
) -> None:
    # A reachable address beside it does not help: every address of the name is checked. (An allowed
    # loopback one stands in for a public address, which no test may reach should the check regress.)
    dns.answer(NAME, ["127.0.0.2", address])
    with pytest.raises(EgressRefused) as refused:
        await login(checked(dns, f"https://{NAME}:{inside.port}", allowed=ALLOWED))
    assert f"{NAME} resolves to " in refused.value.message
    assert NON_PUBLIC[address] in refused.value.message
    assert refused.value.nsid == SESSION
    assert dns.lookups[NAME] == 1
    assert inside.connections == 0


@pytest.mark.parametrize(
    "host", ["localhost", "0x7f000001", "2130706433", "127.1"]
)  # httpx refuses 0177.0.0.1
async def test_hosts_file_names_and_numeric_forms_are_refused_through_the_system_resolver(
    inside: Listener, host: str
) -> None:
    """Past the model (Xrpc called directly), the transport as the reposter makes it: getaddrinfo,
    which reads /etc/hosts and every spelling inet_aton knows, and nothing is reached."""
    xrpc = Xrpc(f"https://{host}:{inside.port}", retries=0)
    with pytest.raises(EgressRefused, match="a loopback address"):
        await login(xrpc)
    assert inside.connections == 0


async def test_a_name_that_rebinds_after_the_first_lookup_cannot_reach_the_private_address(
    dns: DnsServer, inside: Listener, tmp_path: Path
) -> None:
    """Allowed at the first lookup, loopback at every later one: each connection resolves once and
    connects to the address it checked, so no lookup between check and connect can swap it."""
    server_tls, client_tls = certificate_for(tmp_path, NAME)
    dns.answer(NAME, ["127.0.0.2"], ["127.0.0.1"])
    # A 5xx is retried on a new connection (the answer closes this one), which resolves the name again.
    bad_gateway = http_answer("HTTP/1.1 502 Bad Gateway", "text/plain", "try again")
    async with listening(bad_gateway, server_tls, host="127.0.0.2", port=inside.port) as allowed:
        xrpc = checked(dns, f"https://{NAME}:{inside.port}", allowed=ALLOWED, retries=2, verify=client_tls)
        with pytest.raises(EgressRefused, match=r"127\.0\.0\.1, a loopback address"):
            await login(xrpc)
    assert dns.lookups[NAME] == 2  # one per connection: the allowed one, then the refused one
    assert (allowed.connections, inside.connections) == (1, 0)


@pytest.mark.parametrize(("address", "reached"), [("127.0.0.2", True), ("127.0.0.3", False)])
async def test_an_allowed_network_is_reached_and_nothing_beside_it(
    dns: DnsServer, tmp_path: Path, address: str, reached: bool
) -> None:
    """The operator's PDS inside its allowed network answers; the next address is loopback as before."""
    server_tls, client_tls = certificate_for(tmp_path, NAME)
    dns.answer(NAME, [address])
    async with listening(
        http_answer("HTTP/1.1 200 OK", "application/json", "{}"), server_tls, host=address
    ) as pds:
        xrpc = checked(dns, f"https://{NAME}:{pds.port}", allowed=ALLOWED, verify=client_tls)
        if reached:
            assert await login(xrpc) == {}
        else:
            with pytest.raises(EgressRefused, match=rf"{re.escape(address)}, a loopback address"):
                await login(xrpc)
    assert pds.connections == int(reached)


@pytest.mark.parametrize("address", ["169.254.169.254", "::ffff:169.254.169.254", "fd00:ec2::254"])
async def test_the_metadata_address_is_refused_even_inside_a_network_given_past_the_settings(
    dns: DnsServer, inside: Listener, address: str
) -> None:
    """Were it allowed, the run would connect to the loopback address first: nothing leaves this machine."""
    networks = [ipaddress.ip_network(network) for network in ("0.0.0.0/0", "::/0")]
    dns.answer(NAME, ["127.0.0.1", address])
    transport = CheckedTransport(allowed_networks=networks, resolve=dns.resolve)
    with pytest.raises(EgressRefused, match="cloud metadata address"):
        await login(Xrpc(f"https://{NAME}:{inside.port}", transport=transport, retries=0))
    assert inside.connections == 0


@pytest.mark.parametrize("allowed", ["", "127.0.0.0/8"])
async def test_plain_http_is_refused_before_any_lookup(
    dns: DnsServer, inside: Listener, allowed: str
) -> None:
    """An allowed network is reached over https only: the app password is sent to it."""
    dns.answer(NAME, ["127.0.0.1"])
    with pytest.raises(EgressRefused, match=r"http:// is refused"):
        await login(checked(dns, f"http://{NAME}:{inside.port}", allowed=allowed))
    assert dns.lookups[NAME] == 0
    assert inside.connections == 0


async def test_tls_checks_the_name_not_the_address_it_connected_to(
    dns: DnsServer, self_signed: ssl.SSLContext
) -> None:
    """Connected to the checked address, TLS still sends the name (SNI) and checks the certificate."""
    names: list[str | None] = []
    self_signed.sni_callback = lambda _socket, name, _context: names.append(name)
    dns.answer(NAME, ["127.0.0.1"])
    async with listening(ssl_context=self_signed) as listener:
        with pytest.raises(UpstreamError, match=r"CERTIFICATE_VERIFY_FAILED|certificate verify failed"):
            await login(checked(dns, f"https://{NAME}:{listener.port}", private_allowed=True))
    assert names == [NAME]


@pytest.mark.parametrize(("issued_for", "accepted"), [(NAME, True), ("other.tenant-bots.net", False)])
async def test_the_certificate_is_checked_against_the_name(
    dns: DnsServer, tmp_path: Path, issued_for: str, accepted: bool
) -> None:
    server_tls, client_tls = certificate_for(tmp_path, issued_for)
    dns.answer(NAME, ["127.0.0.1"])
    async with listening(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}", server_tls) as listener:
        xrpc = checked(dns, f"https://{NAME}:{listener.port}", private_allowed=True, verify=client_tls)
        if accepted:
            assert await login(xrpc) == {}
        else:
            with pytest.raises(UpstreamError, match="Hostname mismatch"):
                await login(xrpc)


# --- answers from something that is not a PDS ---------------------------------------------------------


def http_answer(status_line: str, content_type: str, body: str, *extra: str) -> bytes:
    headers = [status_line, f"Content-Type: {content_type}", f"Content-Length: {len(body)}", *extra]
    return ("\r\n".join([*headers, "Connection: close", "", body])).encode()


NOT_BLUESKY = {
    "an HTML error page": (
        http_answer("HTTP/1.1 403 Forbidden " + SECRET_TEXT, "text/html", f"<h1>{SECRET_TEXT}</h1>"),
        "403 Forbidden, with an HTML page, not an XRPC error",
    ),
    "kube-apiserver's Status": (
        http_answer(
            "HTTP/1.1 401 Unauthorized",
            "application/json",
            json.dumps({"kind": "Status", "message": SECRET_TEXT, "reason": "Unauthorized"}),
        ),
        "401 Unauthorized, with JSON, not an XRPC error",
    ),
    "a plain-text 500": (
        http_answer("HTTP/1.1 500 Oops", "text/plain; x=" + SECRET_TEXT, SECRET_TEXT),
        "500 Internal Server Error, with text, not an XRPC error",
    ),
    "a redirect elsewhere": (
        http_answer("HTTP/1.1 302 Found", "text/plain", SECRET_TEXT, "Location: http://127.0.0.1:INSIDE/"),
        "302 Found, with text, not an XRPC error: is the service a Bluesky PDS? (redirects are not followed)",
    ),
}


@pytest.mark.parametrize("answer", list(NOT_BLUESKY))
async def test_a_service_that_is_not_bluesky_is_described_not_quoted(
    dns: DnsServer, inside: Listener, answer: str
) -> None:
    """Under the local runtime's policy (the check would refuse these addresses anyway)."""
    reply, description = NOT_BLUESKY[answer]
    dns.answer(NAME, ["127.0.0.1"])
    async with listening(reply.replace(b"INSIDE", str(inside.port).encode())) as listener:
        with pytest.raises(BlueskyError) as failed:
            await login(checked(dns, f"http://{NAME}:{listener.port}", private_allowed=True))
    assert description in str(failed.value)
    assert SECRET_TEXT not in str(failed.value)
    assert (listener.connections, inside.connections) == (1, 0)  # no retry of a 4xx, no redirect followed


async def test_an_xrpc_error_still_says_what_bluesky_said(dns: DnsServer) -> None:
    body = json.dumps({"error": "InvalidRequest", "message": "Input/identifier must be a handle"})
    dns.answer(NAME, ["127.0.0.1"])
    async with listening(http_answer("HTTP/1.1 400 Bad Request", "application/json", body)) as listener:
        with pytest.raises(InvalidRequest) as failed:
            await login(checked(dns, f"http://{NAME}:{listener.port}", private_allowed=True))
    assert str(failed.value) == f"{SESSION}: 400 InvalidRequest: Input/identifier must be a handle"


# --- the run: its report, its setting ------------------------------------------------------------------


def config(service: str) -> BotConfig:
    spec = {
        "account": {"handle": "bot.bsky.social", "service": service, "credentialsSecretRef": {"name": "bot"}},
        "sources": [{"type": "mentions"}],
    }
    return BotConfig.model_validate({"namespace": "team", "name": "probe", "spec": spec})


async def test_a_run_whose_service_leads_inside_reports_why_and_reaches_nothing(
    dns: DnsServer, inside: Listener
) -> None:
    dns.answer(NAME, ["169.254.169.254"])
    report = await run_bot(
        config(f"https://{NAME}:{inside.port}"),
        ReposterSettings.from_environ({"SKYBOTS_APP_PASSWORD": "app-pass-0001", **platform_keys()}),
        cache=MemoryCache(),
        objects=None,
        transport=CheckedTransport(resolve=dns.resolve),
    )
    assert report.outcome == "upstreamFailed"
    assert report.message == (
        f"{SESSION}: {NAME} resolves to 169.254.169.254, the cloud metadata address: "
        "a run connects only to public addresses"
    )
    assert (report.api_calls, inside.connections) == (1, 0)


@pytest.mark.parametrize(("setting", "allowed"), [(None, False), ("false", False), ("true", True)])
async def test_the_reposter_refuses_a_loopback_service_unless_its_setting_allows_it(
    inside: Listener, redis_url: str, tmp_path: Path, setting: str | None, allowed: bool
) -> None:
    """A config the operator would never render (it validates with the same model), run anyway."""
    path = tmp_path / "probe.json"
    body = config("https://pds.example.org").model_dump(mode="json", by_alias=True)
    body["spec"]["account"]["service"] = f"http://127.0.0.1:{inside.port}"
    path.write_text(json.dumps(body))
    env = {"SKYBOTS_APP_PASSWORD": "app-pass-0001", "SKYBOTS_REDIS_URL": redis_url, **platform_keys()}
    if setting is not None:
        env["SKYBOTS_ALLOW_PRIVATE_ADDRESSES"] = setting
    outcome = await run_reposter(path, env, workdir=tmp_path)
    if allowed:  # the local network's case: it connects (and the listener is no PDS)
        assert outcome.report["outcome"] != "invalidConfig"
        assert inside.connections > 0
        return
    assert (outcome.exit_code, outcome.report["outcome"]) == (2, "invalidConfig")
    assert "spec.account.service" in outcome.stderr
    assert "must be an https URL" in outcome.stderr
    assert inside.connections == 0


def test_the_operator_renders_the_setting_off_whatever_the_reposter_env_secret_says() -> None:
    """`env` wins over `envFrom` in Kubernetes: the optional Secret cannot turn the check off."""
    bot = {"metadata": {"name": "probe", "namespace": "team", "uid": "u-1"}}
    cron_job = render_cron_job(
        bot, config("https://pds.example.org").spec, OperatorSettings(), credentials_found=True
    )
    [container] = cron_job["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"]
    assert {"name": "SKYBOTS_ALLOW_PRIVATE_ADDRESSES", "value": "false"} in container["env"]
    assert container["envFrom"]  # the Secret is still read, for what it is for (e.g. AWS keys)


def local_policy_config(service: str) -> BotConfig:
    """A config only the local runtime's model accepts (an IP address), for a run under cluster settings."""
    context = contextvars.copy_context()
    context.run(PRIVATE_ADDRESSES_ALLOWED.set, True)
    return context.run(config, service)


@pytest.mark.parametrize("setting", [None, ALLOWED])
async def test_a_run_reaches_the_networks_its_settings_allow(setting: str | None) -> None:
    """The reposter's own setting reaches its transport: without it 127.0.0.2 is refused unconnected."""
    connections = 0

    def hang_up(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal connections
        connections += 1
        writer.close()

    server = await asyncio.start_server(hang_up, "127.0.0.2", 0)
    port = server.sockets[0].getsockname()[1]
    # A deadline no retry fits.
    environ = {"SKYBOTS_APP_PASSWORD": "app-pass-0001", "SKYBOTS_DEADLINE_SECONDS": "0.1", **platform_keys()}
    if setting is not None:
        environ["SKYBOTS_EGRESS_ALLOWED_NETWORKS"] = setting
    async with server:
        report = await run_bot(
            local_policy_config(f"https://127.0.0.2:{port}"),
            ReposterSettings.from_environ(environ),
            cache=MemoryCache(),
            objects=None,
        )
    assert report.outcome == "upstreamFailed"
    if setting is None:
        assert "127.0.0.2, a loopback address" in report.message
        assert connections == 0
    else:
        assert "no answer" in report.message  # it connected, and the listener hung up
        assert connections == 1


METADATA_NETWORKS = [
    "169.254.169.254",
    "169.254.0.0/16",
    "0.0.0.0/0",
    "10.0.0.0/8, 169.254.169.0/24",
    "fd00:ec2::/32",
    "::ffff:0:0/96",
    "64:ff9b::/96",
    "2002::/16",
    "::/0",
]


@pytest.mark.parametrize("networks", METADATA_NETWORKS)
def test_the_operator_refuses_to_allow_the_metadata_address(
    monkeypatch: pytest.MonkeyPatch, networks: str
) -> None:
    monkeypatch.setenv("SKYBOTS_EGRESS_ALLOWED_NETWORKS", networks)
    with pytest.raises(ValidationError) as refused:
        OperatorSettings()
    [problem] = refused.value.errors()
    assert problem["loc"] == ("egress_allowed_networks",)
    assert "a cloud metadata address: no run may reach it" in problem["msg"]


@pytest.mark.parametrize(
    ("networks", "said"),
    [
        ("169.254.0.0/16", "169.254.0.0/16 holds 169.254.169.254, a cloud metadata address"),
        ("10.0.0.1/8", "'10.0.0.1/8' is not a network such as 10.20.0.0/16: 10.0.0.1/8 has host bits set"),
        ("pds.internal", "'pds.internal' is not a network such as 10.20.0.0/16"),
    ],
)
async def test_the_reposter_refuses_an_unusable_allowed_network_and_reaches_nothing(
    inside: Listener, redis_url: str, tmp_path: Path, networks: str, said: str
) -> None:
    """Its settings are read before its config (whose loopback service would be refused too)."""
    path = tmp_path / "probe.json"
    body = config("https://pds.example.org").model_dump(mode="json", by_alias=True)
    body["spec"]["account"]["service"] = f"http://127.0.0.1:{inside.port}"
    path.write_text(json.dumps(body))
    env = {
        "SKYBOTS_APP_PASSWORD": "app-pass-0001",
        "SKYBOTS_REDIS_URL": redis_url,
        "SKYBOTS_EGRESS_ALLOWED_NETWORKS": networks,
        **platform_keys(),
    }
    outcome = await run_reposter(path, env, workdir=tmp_path)
    assert (outcome.exit_code, outcome.report["outcome"]) == (2, "invalidConfig")
    assert f"SKYBOTS_EGRESS_ALLOWED_NETWORKS: {said}" in outcome.stderr
    assert inside.connections == 0


@pytest.mark.parametrize("networks", ["", "10.20.0.0/16, fd12:3456::/64"])
def test_the_operator_renders_its_allowed_networks_whatever_the_reposter_env_secret_says(
    networks: str,
) -> None:
    """Rendered even when empty, so that no key of the optional Secret (envFrom) adds a network."""
    bot = {"metadata": {"name": "probe", "namespace": "team", "uid": "u-1"}}
    settings = OperatorSettings(egress_allowed_networks=networks)
    cron_job = render_cron_job(bot, config("https://pds.example.org").spec, settings, credentials_found=True)
    [container] = cron_job["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"]
    env = {variable["name"]: variable["value"] for variable in container["env"] if "value" in variable}
    assert env["SKYBOTS_EGRESS_ALLOWED_NETWORKS"] == networks.replace(" ", "")
    reposter = ReposterSettings.from_environ(
        {**env, "SKYBOTS_APP_PASSWORD": "app-pass-0001", **platform_keys()}
    )
    assert reposter.egress_allowed_networks == allowed_networks(networks)
