"""SSRF guard: every address a probe connects to is checked at connect time.

Operators type probe targets, and targets redirect; without this a check could reach the cloud
metadata service or an internal admin page. The check runs on the resolved socket address, so
redirects, DNS rebinding and alternate spellings of an address (decimal, hex, IPv4-mapped IPv6)
all arrive here as the same plain address.
"""
from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

# Cloud metadata endpoints (AWS/GCP/Azure/OpenStack, AWS IPv6, Alibaba, ECS task metadata):
# blocked even when their range is allowed.
METADATA = tuple(ipaddress.ip_network(n) for n in (
    "169.254.169.254/32", "169.254.170.2/32", "fd00:ec2::254/128", "100.100.100.200/32"))


class BlockedDestination(OSError):
    """A connection to an address the guard does not allow; no packet was sent to it."""


class NetworkGuard:
    """Decide whether probes may connect to an address."""

    def __init__(self, allow: Iterable[IPNetwork | str] = ()) -> None:
        self.allow = tuple(ipaddress.ip_network(n) if isinstance(n, str) else n for n in allow)
        self._verdicts: dict[str, str | None] = {}  # parsing addresses was 4% of the CPU per probe

    def reason(self, address: str) -> str | None:
        """Why an address is blocked, or None when probes may connect to it."""
        if address not in self._verdicts:
            if len(self._verdicts) > 10_000:
                self._verdicts.clear()
            self._verdicts[address] = self._reason(address)
        return self._verdicts[address]

    def _reason(self, address: str) -> str | None:
        ip: IPAddress = ipaddress.ip_address(address.split("%", 1)[0])
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        if any(ip in net for net in METADATA):
            return "a cloud metadata address (always blocked)"
        if ip.is_global and not ip.is_multicast:
            return None
        if any(ip.version == net.version and ip in net for net in self.allow):
            return None
        return "a private, loopback, link-local or reserved address (allow it with allow_networks)"

    def check(self, address: str) -> None:
        """Raise BlockedDestination if probes may not connect to address."""
        why = self.reason(address)
        if why:
            raise BlockedDestination(f"{address} is {why}")

    def socket_factory(self, addr_info: tuple) -> socket.socket:
        """aiohttp's TCPConnector(socket_factory=...): check the address, then make the socket."""
        family, type_, proto, _, sockaddr = addr_info
        self.check(sockaddr[0])
        return socket.socket(family=family, type=type_, proto=proto)


ALLOW_NOTHING = NetworkGuard()
