"""Where a run may connect: public addresses over https, unless the local runtime allows more.

A tenant chooses the service URL, so it is hostile until checked, in two places that share these
rules. The model refuses what the URL shows by itself (http, an IP address in any spelling, a name
only a local resolver knows, userinfo, a path, a port out of range): `service_problem`. What a name
resolves to is known only when connecting: the reposter's transport (skybots.bluesky.client)
resolves the name, refuses it when any address is not public (`address_problem`), and connects to
the address it checked, so DNS cannot answer differently between the check and the connection.
An operator may name networks runs may reach although they are not public (their own PDS in
their VPC: SKYBOTS_EGRESS_ALLOWED_NETWORKS, `allowed_networks`); the cloud metadata address is
never one of them, and http stays refused.

Only the local runtime (`skybots dev`, which runs Bluesky's network on loopback) and a reposter
started with SKYBOTS_ALLOW_PRIVATE_ADDRESSES allow http and private addresses; the operator never
renders that setting on. Standard library only: the model imports this module in every process.
"""

from __future__ import annotations

import contextvars
import ipaddress
import re
from collections.abc import Iterable, Sequence

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

PRIVATE_ADDRESSES_ALLOWED: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "skybots_private_addresses_allowed", default=False
)
"""Whether the model accepts http and private addresses in this process (the local runtime's)."""

PORT = r"([1-9][0-9]{0,3}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5])"
_LABEL = r"[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?"
# A top-level domain starts with a letter, so no spelling of a number (0x7f000001, 2130706433,
# 0177.0.0.1, 127.1, 10.0.0.1) passes for a name: resolvers read those as IPv4 addresses.
_TOP_LABEL = r"[a-zA-Z]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?"
PUBLIC_SERVICE_URL = rf"^https://({_LABEL}\.)+{_TOP_LABEL}(:{PORT})?/?$"
"""An https URL of a host name with at least two labels; the CRD's pattern too."""
LOCAL_NAMES = (
    "localhost",
    "localdomain",
    "local",
    "internal",
    "svc",
    "arpa",
    "home",
    "lan",
    "corp",
    "test",
    "example",
    "invalid",
    "onion",
)
"""Top-level names only a local resolver answers (RFC 6761, 6762, 8375; .internal; Kubernetes' .svc)."""
LOCAL_NAME_URL = rf"^https://([^/:]+\.)?({'|'.join(LOCAL_NAMES)})(:[0-9]+)?/?$"
"""A service URL whose host is one of those names (case-insensitive); the CRD's CEL rule refuses it."""
_DOTTED_QUAD = (
    r"(25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])(\.(25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])){3}"
)
_LOCAL_SERVICE_URL = (
    rf"^https?://(({_LABEL}\.)*{_TOP_LABEL}|{_DOTTED_QUAD}|\[(?P<ipv6>[0-9a-fA-F:.]+)\])(:{PORT})?/?$"
)

_METADATA = {ipaddress.ip_address("169.254.169.254"), ipaddress.ip_address("fd00:ec2::254")}
_SHARED = ipaddress.ip_network("100.64.0.0/10")
_UNIQUE_LOCAL = ipaddress.ip_network("fc00::/7")
_TEREDO = ipaddress.ip_network("2001::/32")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_LOCAL_NAT64 = ipaddress.ip_network("64:ff9b:1::/48")
_METADATA_SPELLINGS = [
    ipaddress.ip_network(spelling)
    for spelling in (
        "169.254.169.254/32",
        "fd00:ec2::254/128",
        "::ffff:169.254.169.254/128",  # IPv4-mapped
        "::169.254.169.254/128",  # IPv4-compatible
        "64:ff9b::169.254.169.254/128",  # NAT64
        "2002:a9fe:a9fe::/48",  # 6to4
    )
]


def service_problem(url: str, *, private_allowed: bool) -> str | None:
    """What is wrong with a service URL as written, without asking DNS; None when it may be used."""
    if private_allowed:
        local = re.fullmatch(_LOCAL_SERVICE_URL, url)
        if local is None:
            return "is not an http(s) URL of a host and an optional port, such as http://localhost:2583"
        if (literal := local["ipv6"]) is not None and not _is_ipv6(literal):
            return f"{literal!r} is not an IPv6 address"
        return None
    if not url.startswith("https://"):
        return "must be an https URL: the app password is sent to it"
    if not re.fullmatch(PUBLIC_SERVICE_URL, url):
        return (
            "is not an https URL of a public host name and an optional port, such as https://bsky.social "
            "(no IP address, user, path or query)"
        )
    if re.fullmatch(LOCAL_NAME_URL, url, re.IGNORECASE):
        return "names a host only a local resolver knows (localhost, .local, .internal, .svc, ...)"
    return None


def _is_ipv6(text: str) -> bool:
    try:
        ipaddress.IPv6Address(text)
    except ValueError:
        return False
    return True


def allowed_networks(value: str | Iterable[str]) -> tuple[IpNetwork, ...]:
    """The networks of SKYBOTS_EGRESS_ALLOWED_NETWORKS ("10.20.0.0/16, fd12::/64", or a list).

    ValueError names a value that is not a network, or one that holds a cloud metadata address in
    any spelling: no setting lets a run reach it.
    """
    texts = value.split(",") if isinstance(value, str) else value
    networks: list[IpNetwork] = []
    for text in filter(None, (text.strip() for text in texts)):
        try:
            network = ipaddress.ip_network(text)
        except ValueError as error:
            raise ValueError(f"{text!r} is not a network such as 10.20.0.0/16: {error}") from None
        if metadata := next((m for m in _METADATA_SPELLINGS if network.overlaps(m)), None):
            raise ValueError(
                f"{network} holds {metadata.network_address}, a cloud metadata address: no run may reach it"
            )
        networks.append(network)
    return tuple(networks)


def address_problem(address: str, allowed: Sequence[IpNetwork] = ()) -> str | None:
    """Why a run must not connect to this address ("127.0.0.1, a loopback address"); None if public
    or inside an `allowed` network (where a metadata address never is, whatever `allowed` says)."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])  # getaddrinfo adds a scope to link-local IPv6
    inner = _embedded_ipv4(ip) if isinstance(ip, ipaddress.IPv6Address) else None
    targets = [ip] if inner is None else [ip, inner]
    if (inner or ip) not in _METADATA and any(t in net for t in targets for net in allowed):
        return None
    if inner is not None:  # the IPv4 address is where the packets go (DNS64 answers 64:ff9b::/96 ones)
        kind = _non_public(inner)
        return f"{ip}, which embeds {inner}, {kind} address" if kind else None
    if kind := _non_public(ip):
        return f"{ip}, {kind} address"
    return None


def _non_public(ip: IpAddress) -> str | None:
    """The kind of a non-public address ("a loopback"), or None."""
    checks: list[tuple[bool, str]] = [
        (ip.is_unspecified, "an unspecified"),
        (ip.is_loopback, "a loopback"),
        (ip in _METADATA, "the cloud metadata"),
        (ip.is_link_local, "a link-local"),
        (ip.is_multicast, "a multicast"),
        (ip.version == 4 and ip in _SHARED, "a shared (carrier-grade NAT)"),
        (ip.version == 6 and ip in _UNIQUE_LOCAL, "a unique-local"),
        (ip.version == 6 and ip in _TEREDO, "a Teredo"),
        (ip.version == 6 and ip in _LOCAL_NAT64, "a local-use NAT64"),
        (isinstance(ip, ipaddress.IPv6Address) and ip.is_site_local, "a site-local"),
        (ip.is_reserved, "a reserved"),
        (ip.is_private or not ip.is_global, "a private"),
    ]
    return next((kind for hit, kind in checks if hit), None)


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address carries: mapped, compatible, 6to4 or NAT64 (64:ff9b::/96)."""
    if found := ip.ipv4_mapped or ip.sixtofour:
        return found
    if 1 < int(ip) < 2**32 or ip in _NAT64:  # ::a.b.c.d (the deprecated "compatible"), 64:ff9b::a.b.c.d
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None
