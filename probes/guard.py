"""SSRF guard: every address the monitor connects to (probes, notifiers, actuators) is checked at connect time.

Operators type probe targets and webhook URLs, and targets redirect; without this a check or a webhook
could reach the cloud metadata service or an internal admin page. The check runs on the resolved socket
address, so redirects, DNS rebinding and alternate spellings of an address (decimal, hex, IPv4-mapped
IPv6) all arrive here as the same plain address. Spellings such as 127.1 or 2130706433 are refused
before that (noncanonical_ipv4): they are ambiguous, and a name in a config should say what it means.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
import unicodedata
from collections.abc import Iterable

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

# Cloud metadata endpoints (AWS/GCP/Azure/OpenStack, AWS IPv6, Alibaba, ECS task metadata) and the
# link-local ranges they live in: blocked even when allow_networks lists them.
METADATA = tuple(
    ipaddress.ip_network(n)
    for n in ("169.254.169.254/32", "169.254.170.2/32", "fd00:ec2::254/128", "100.100.100.200/32", "168.63.129.16/32")
)  # Azure's WireServer: a public address that hands out the VM's configuration
NAT64 = ipaddress.ip_network("64:ff9b::/96")
IPV4_COMPATIBLE = ipaddress.ip_network("::/96")
LINK_LOCAL = tuple(ipaddress.ip_network(n) for n in ("169.254.0.0/16", "fe80::/10"))
_NUMERIC_HOST = re.compile(r"^(0x[0-9a-f]+|[0-9]+)(\.(0x[0-9a-f]+|[0-9]+)){0,3}$", re.IGNORECASE)


def noncanonical_ipv4(host: str) -> str | None:
    """The dotted address an ambiguous IPv4 spelling means ('127.1', '2130706433', '0177.0.0.1', '0x7f.1'
    -> '127.0.0.1'), or None when host is a name or already a plain dotted address."""
    if not _NUMERIC_HOST.match(host):
        return None
    try:
        ipaddress.IPv4Address(host)
        return None  # already canonical
    except ValueError:
        pass
    try:
        return socket.inet_ntoa(socket.inet_aton(host))
    except OSError:
        return "no address"  # numeric but not an address at all (e.g. 999999999999)


def _embedded_ipv4(ip: IPAddress) -> IPAddress:
    """The IPv4 address an IPv6 one carries (mapped, NAT64, 6to4, Teredo, IPv4-compatible), judged as itself:
    ::ffff:169.254.169.254 and 64:ff9b::a9fe:a9fe reach the metadata service where such routes exist."""
    if not isinstance(ip, ipaddress.IPv6Address):
        return ip
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip in NAT64 or (ip in IPV4_COMPATIBLE and int(ip) > 1):
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]
    return ip


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
        ip: IPAddress = _embedded_ipv4(ipaddress.ip_address(address.split("%", 1)[0]))
        if any(ip in net for net in METADATA):
            return "a cloud metadata address (always blocked)"
        if any(ip.version == net.version and ip in net for net in LINK_LOCAL):
            return "a link-local address (always blocked: cloud metadata services live there)"
        if ip.is_global and not ip.is_multicast:
            return None
        if any(ip.version == net.version and ip in net for net in self.allow):
            return None
        return "a private, loopback or reserved address (allow it with allow_networks)"

    def check(self, address: str) -> None:
        """Raise BlockedDestination if probes may not connect to address."""
        why = self.reason(address)
        if why:
            raise BlockedDestination(f"{address} is {why}")

    def host_problem(self, host: str) -> str | None:
        """For config checks: why a URL's host can never be connected to, judged without DNS (an address
        literal, or localhost), or None. A name is judged at connect time, on its resolved addresses."""
        # As the HTTP client will read it: fullwidth digits are digits (NFKC), a trailing dot changes nothing.
        host = unicodedata.normalize("NFKC", host).strip("[]").rstrip(".").lower()
        canonical = noncanonical_ipv4(host)
        if canonical is not None:
            return (
                f"'{host}' is an ambiguous spelling of an IPv4 address ({canonical}); write the address in dotted form"
                if canonical != "no address"
                else f"'{host}' is not an address"
            )
        address = "127.0.0.1" if host.lower() in ("localhost", "localhost.") else host
        try:
            ipaddress.ip_address(address.split("%", 1)[0])
        except ValueError:
            return None
        why = self.reason(address)
        return f"{host} is {why}" if why else None

    async def connect(self, host: str, port: int, timeout: float) -> socket.socket:
        """A TCP connection to host:port for clients that take a connected socket (SMTP): every resolved
        address is checked first, and the socket goes to a checked address, never to the name again
        (a second DNS answer cannot swap in an unchecked one). Raises BlockedDestination or OSError."""
        canonical = noncanonical_ipv4(host)
        if canonical is not None:
            raise BlockedDestination(f"{host} is an ambiguous spelling of an IPv4 address ({canonical})")
        loop = asyncio.get_running_loop()
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
        for info in infos:
            self.check(info[4][0])
        last: OSError | None = None
        for family, type_, proto, _, sockaddr in infos:
            sock = socket.socket(family, type_, proto)
            sock.setblocking(False)
            try:
                await asyncio.wait_for(loop.sock_connect(sock, sockaddr), timeout)
                return sock
            except (OSError, TimeoutError) as exc:
                sock.close()
                last = exc if isinstance(exc, OSError) else OSError(f"connecting to {sockaddr[0]} timed out")
        raise last or OSError(f"no address for {host}")

    def socket_factory(self, addr_info: tuple) -> socket.socket:
        """aiohttp's TCPConnector(socket_factory=...): check the address, then make the socket."""
        family, type_, proto, _, sockaddr = addr_info
        self.check(sockaddr[0])
        return socket.socket(family=family, type=type_, proto=proto)


ALLOW_NOTHING = NetworkGuard()
