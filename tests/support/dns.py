"""A DNS server on 127.0.0.1 whose answers the test chooses, and a resolver that asks only it.

The reposter's transport takes its resolver as a function (skybots.bluesky.client.Resolver); the
test's one asks this server over UDP, as the system's would ask the cluster's DNS. A name can be
given several answers, one per lookup and the last repeated: a name that rebinds.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import socket
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import dns.asyncresolver
import dns.message
import dns.rcode
import dns.rdatatype
import dns.resolver
import dns.rrset


class DnsServer(asyncio.DatagramProtocol):
    """Answers A and AAAA queries from `zone`; `lookups` counts the A queries per name."""

    def __init__(self) -> None:
        self.zone: dict[str, list[list[str]]] = {}
        self.lookups: Counter[str] = Counter()
        self.port = 0
        self._transport: asyncio.DatagramTransport | None = None

    def answer(self, name: str, *answers: list[str]) -> None:
        """`name` resolves to answers[0] at the first lookup, answers[1] at the second, ..."""
        self.zone[name.lower().rstrip(".")] = list(answers)

    async def resolve(self, host: str, port: int) -> list[str]:
        """A Resolver for the reposter's transport: A then AAAA, from this server only."""
        resolver = dns.asyncresolver.Resolver(configure=False)
        resolver.nameservers, resolver.port = ["127.0.0.1"], self.port
        addresses: list[str] = []
        for kind in ("A", "AAAA"):
            try:
                found = await resolver.resolve(host, kind, search=False, lifetime=2)
            except dns.resolver.NoAnswer:
                continue
            except dns.resolver.NXDOMAIN:
                raise socket.gaierror(socket.EAI_NONAME, "Name or service not known") from None
            addresses += [record.to_text() for record in found]
        return addresses

    def datagram_received(self, data: bytes, addr: Any) -> None:
        query = dns.message.from_wire(data)
        response = dns.message.make_response(query)
        question = query.question[0]
        name = question.name.to_text().lower().rstrip(".")
        if name not in self.zone:
            response.set_rcode(dns.rcode.NXDOMAIN)
        else:
            if question.rdtype == dns.rdatatype.A:
                self.lookups[name] += 1
            answers = self.zone[name]
            current = answers[min(max(self.lookups[name], 1), len(answers)) - 1]
            version = 4 if question.rdtype == dns.rdatatype.A else 6
            matching = [a for a in current if ipaddress.ip_address(a).version == version]
            if matching:
                kind = "A" if version == 4 else "AAAA"
                response.answer.append(dns.rrset.from_text_list(question.name, 0, "IN", kind, matching))
        assert self._transport is not None
        self._transport.sendto(response.to_wire(), addr)


@contextlib.asynccontextmanager
async def dns_server() -> AsyncIterator[DnsServer]:
    server = DnsServer()
    transport, _ = await asyncio.get_running_loop().create_datagram_endpoint(
        lambda: server, local_addr=("127.0.0.1", 0)
    )
    server._transport, server.port = transport, transport.get_extra_info("sockname")[1]
    try:
        yield server
    finally:
        transport.close()
