"""A simulated DNS server on loopback (the demo and the tests): each name's answer can change while it runs.

    async with FakeDNSServer() as server:
        server.answer("shop.example.com", a=["192.0.2.10"], aaaa=["2001:db8::10"])
        server.answer("www.shop.example.com", cname="shop.example.com")
        server.fail("broken.example.com", "SERVFAIL")      # or NXDOMAIN, REFUSED, NOTIMP...
        server.no_answer("v4only.example.com")              # NOERROR with an empty answer
        server.silence("hung.example.com")                  # never replies
        server.answer("big.example.com", a=[...], truncate_udp=True)  # TC over UDP, full over TCP
        resolver = server.address                            # "127.0.0.1:53017"

It serves UDP and (unless tcp=False) TCP on the same port. Names nobody configured get the
`default` behaviour (NXDOMAIN). Every query is recorded in `queries` as (transport, name, type).
"""

from __future__ import annotations

import asyncio
import contextlib
import struct
from collections.abc import Iterable
from dataclasses import dataclass

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset


@dataclass(frozen=True, slots=True)
class Behaviour:
    """How the server answers for one name."""

    a: tuple[str, ...] = ()
    aaaa: tuple[str, ...] = ()
    ns: tuple[str, ...] = ()
    cname: str | None = None  # answer with a CNAME to this name, followed by that name's records
    rcode: str = "NOERROR"
    silent: bool = False  # drop the query: the client can only time out
    truncate_udp: bool = False  # over UDP, an empty answer with the TC flag; over TCP, the full one
    delay: float = 0.0  # seconds to wait before answering (a slow resolver)
    ttl: int = 60


NXDOMAIN = Behaviour(rcode="NXDOMAIN")


class FakeDNSServer:
    """An authoritative-looking DNS server for tests and the demo mode; see the module docstring."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, *, tcp: bool = True, default: Behaviour = NXDOMAIN) -> None:
        self.host, self.port, self.tcp, self.default = host, port, tcp, default
        self.names: dict[dns.name.Name, Behaviour] = {}
        self.queries: list[tuple[str, str, str]] = []
        self._udp: asyncio.DatagramTransport | None = None
        self._tcp: asyncio.Server | None = None
        self._tasks: set[asyncio.Task] = set()

    # --- behaviour, changeable at any time -----------------------------------------------------

    def set(self, name: str, behaviour: Behaviour) -> None:
        self.names[dns.name.from_text(name)] = behaviour

    def answer(
        self,
        name: str,
        *,
        a: Iterable[str] = (),
        aaaa: Iterable[str] = (),
        ns: Iterable[str] = (),
        cname: str | None = None,
        truncate_udp: bool = False,
        delay: float = 0.0,
    ) -> None:
        self.set(name, Behaviour(a=tuple(a), aaaa=tuple(aaaa), ns=tuple(ns), cname=cname, truncate_udp=truncate_udp, delay=delay))

    def fail(self, name: str, rcode: str) -> None:
        dns.rcode.from_text(rcode)  # a typo fails here, not as a puzzling answer later
        self.set(name, Behaviour(rcode=rcode))

    def no_answer(self, name: str) -> None:
        self.set(name, Behaviour())

    def silence(self, name: str) -> None:
        self.set(name, Behaviour(silent=True))

    def behaviour(self, name: dns.name.Name) -> Behaviour:
        return self.names.get(name, self.default)

    # --- lifecycle -----------------------------------------------------------------------------

    @property
    def address(self) -> str:
        """The resolver address as the dns probe's `resolvers` option takes it."""
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"

    async def start(self) -> FakeDNSServer:
        loop = asyncio.get_running_loop()
        for _attempt in range(10):  # port 0: UDP picks a port, TCP must get the same one
            self._udp, _ = await loop.create_datagram_endpoint(lambda: _UDPProtocol(self), local_addr=(self.host, self.port))
            port = self._udp.get_extra_info("sockname")[1]
            if not self.tcp:
                break
            try:
                self._tcp = await asyncio.start_server(self._serve_tcp, self.host, port)
                break
            except OSError:
                self._udp.close()
                if self.port:
                    raise
        else:
            raise OSError("no port free for both UDP and TCP")
        self.port = port
        return self

    async def close(self) -> None:
        if self._udp:
            self._udp.close()
        if self._tcp:
            self._tcp.close()
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(BaseException):
                await task
        if self._tcp:
            await self._tcp.wait_closed()

    async def __aenter__(self) -> FakeDNSServer:
        return await self.start()

    async def __aexit__(self, *_exc: object) -> None:
        await self.close()

    # --- answering -----------------------------------------------------------------------------

    async def respond(self, wire: bytes, transport: str) -> bytes | None:
        """The reply to one query in wire format, or None to stay silent."""
        try:
            query = dns.message.from_wire(wire)
            question = query.question[0]
        except (dns.exception.DNSException, IndexError):
            return None  # garbage or no question: ignore it, as many servers do
        self.queries.append((transport, question.name.to_text(omit_final_dot=True), dns.rdatatype.to_text(question.rdtype)))
        behaviour = self.behaviour(question.name)
        if behaviour.silent:
            return None
        if behaviour.delay:
            await asyncio.sleep(behaviour.delay)
        response = dns.message.make_response(query)
        response.flags |= dns.flags.RA | dns.flags.AA
        if transport == "udp" and behaviour.truncate_udp:
            response.flags |= dns.flags.TC
        else:
            self._add_records(response, question.name, question.rdtype, behaviour)
        return response.to_wire()

    def _add_records(self, response: dns.message.Message, owner: dns.name.Name, rdtype: int, behaviour: Behaviour) -> None:
        for _hop in range(8):
            response.set_rcode(dns.rcode.from_text(behaviour.rcode))
            if behaviour.rcode != "NOERROR":
                return
            if behaviour.cname and rdtype != dns.rdatatype.CNAME:
                target = dns.name.from_text(behaviour.cname)
                response.answer.append(
                    dns.rrset.from_text_list(owner, behaviour.ttl, dns.rdataclass.IN, dns.rdatatype.CNAME, [target.to_text()])
                )
                owner, behaviour = target, self.behaviour(target)
                continue
            values = {
                dns.rdatatype.A: behaviour.a,
                dns.rdatatype.AAAA: behaviour.aaaa,
                dns.rdatatype.NS: tuple(dns.name.from_text(v).to_text() for v in behaviour.ns),
            }.get(rdtype, ())
            if values:
                response.answer.append(dns.rrset.from_text_list(owner, behaviour.ttl, dns.rdataclass.IN, rdtype, values))
            return

    def _spawn(self, coro) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _answer_udp(self, wire: bytes, addr: tuple) -> None:
        reply = await self.respond(wire, "udp")
        if reply is not None and self._udp is not None and not self._udp.is_closing():
            self._udp.sendto(reply, addr)

    async def _serve_tcp(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._tasks.add(asyncio.current_task())
        try:
            while True:
                (length,) = struct.unpack("!H", await reader.readexactly(2))
                reply = await self.respond(await reader.readexactly(length), "tcp")
                if reply is not None:
                    writer.write(struct.pack("!H", len(reply)) + reply)
                    await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass  # the client is done
        finally:
            self._tasks.discard(asyncio.current_task())
            writer.close()


class _UDPProtocol(asyncio.DatagramProtocol):
    def __init__(self, server: FakeDNSServer) -> None:
        self.server = server

    def datagram_received(self, data: bytes, addr: tuple) -> None:
        self.server._spawn(self.server._answer_udp(data, addr))
