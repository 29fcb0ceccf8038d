"""Reading one HTTP/1.1 response off the wire: pure (bytes in, a response out), no I/O.

The HTTP probe opens a fresh connection per request and reads exactly one response, so this needs none of
a general client's machinery (pipelining, keep-alive, upgrades). What it must get right is what a target
can get wrong: a status line that is not HTTP, a body shorter than its Content-Length, a broken chunk, a
gzip bomb (the body is counted and cut after decompression), and a response that never ends (the caller's
deadline handles that).
"""

from __future__ import annotations

import re
import zlib
from dataclasses import dataclass

MAX_HEAD = 64 * 1024  # a response head larger than this is not a shop page (aiohttp allows 8 KiB a line)
MAX_CHUNK_LINE = 4096
_TOKEN = re.compile(rb"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
# Only these: Python's int() also takes "-5", "0x5", "1_0" and non-ASCII digits, which HTTP does not.
_DIGITS = re.compile(r"[0-9]+")
_HEX = re.compile(rb"[0-9A-Fa-f]+")
_STATUS_LINE = re.compile(rb"^HTTP/1\.[01] ([1-9][0-9]{2})(?: (.*))?$")


class ProtocolError(Exception):
    """The answer is not valid HTTP; the text says what is wrong (it ends up in the alert)."""


class NoAnswer(ProtocolError):
    """The server closed the connection before a complete response head."""


@dataclass(slots=True)
class Head:
    status: int
    reason: str
    headers: dict[str, str]  # lower-case names; a repeated header's values joined with ", "

    def get(self, name: str, default: str = "") -> str:
        return self.headers.get(name, default)


class ResponseParser:
    """Feed it the bytes of one connection; `head` is set once the head has arrived, `done` once the response is
    complete. The body is decompressed as it arrives (gzip, deflate) and cut at `limit` bytes (`too_large`)."""

    __slots__ = (
        *("head", "body", "done", "too_large", "_head_request", "_limit", "_buf"),
        *("_mode", "_left", "_decoder", "_deflate", "_sniff", "_chunk"),
    )

    def __init__(self, *, head_request: bool, limit: int) -> None:
        self.head: Head | None = None
        self.body = bytearray()
        self.done = False
        self.too_large = False
        self._head_request, self._limit = head_request, limit
        self._buf = bytearray()
        self._mode = ""  # "length", "chunked" or "eof" once the head is read
        self._left = 0  # body bytes still expected (length mode) or left in the current chunk
        self._chunk = "size"  # chunked: "size", "data", "crlf" or "trailer"
        self._decoder: zlib._Decompress | None = None
        self._deflate = False
        self._sniff = b""  # deflate: the body's first byte, held until the second tells which deflate it is

    def feed(self, data: bytes) -> None:
        """Take the next bytes read; raises ProtocolError when they break HTTP."""
        if self.done:
            return
        if self.head is None:
            self._buf += data
            if not self._read_head():
                return
            data, self._buf = bytes(self._buf), bytearray()
            if self.done or not data:
                return
        if self._mode == "chunked":
            self._buf += data
            self._read_chunks()
        elif self._mode == "length":
            take = data[: self._left]
            self._left -= len(take)
            self._append(take)
            if self._left == 0:
                self._finish()
        else:
            self._append(data)

    def eof(self, reason: str = "") -> None:
        """The connection ended: completes a read-until-close body, else raises what is missing."""
        if self.done:
            return
        detail = f" ({reason})" if reason else ""
        if self.head is None:
            raise NoAnswer(f"the server closed the connection without a complete answer{detail}")
        if self._mode == "eof":
            self._finish()
            return
        if self._mode == "length":
            raise ProtocolError(f"the body ended after {len(self.body)} bytes, {self._left} short of its Content-Length{detail}")
        raise ProtocolError(f"the chunked body ended before its last chunk{detail}")

    def _read_head(self) -> bool:
        while True:
            end, gap = self._buf.find(b"\r\n\r\n"), 4
            bare = self._buf.find(b"\n\n")  # a server that ends its lines with a bare LF (RFC 9112 lets clients accept it)
            if bare >= 0 and (end < 0 or bare < end):
                end, gap = bare, 2
            # Judged on the head itself too, not only while it is incomplete: whether a head is refused must
            # not depend on how the server's writes were split into reads.
            if (end if end >= 0 else len(self._buf)) > MAX_HEAD:
                raise ProtocolError(f"the response head is larger than {MAX_HEAD // 1024} KiB")
            if end < 0:
                if self._buf and not self._buf.startswith(b"HTTP/"[: len(self._buf)]):
                    first = bytes(self._buf[:80]).split(b"\r\n")[0]
                    raise ProtocolError(f"invalid status line {first!r}")
                return False
            raw, self._buf = bytes(self._buf[:end]), self._buf[end + gap :]
            head = _parse_head(raw)
            if 100 <= head.status < 200 and head.status != 101:
                continue  # 100 Continue, 103 Early Hints: the real answer follows
            self.head = head
            self._body_mode(head)
            return True

    def _body_mode(self, head: Head) -> None:
        if self._head_request or head.status in (101, 204, 304):
            self._finish()
            return
        encoding = head.get("content-encoding").strip().lower()
        if encoding in ("gzip", "x-gzip"):
            self._decoder = zlib.decompressobj(16 + zlib.MAX_WBITS)
        elif encoding not in ("", "identity", "deflate"):
            # We ask for gzip and deflate only. Brotli bytes taken as the page would fail a keyword check as
            # content_mismatch; what is wrong is the encoding (aiohttp failed it too, as browsers do).
            raise ProtocolError(f"the body is encoded with {encoding!r}, which was not asked for (Accept-Encoding: gzip, deflate)")
        self._deflate = encoding == "deflate"  # zlib-wrapped or raw: decided on the first bytes
        transfer = head.get("transfer-encoding").lower()
        if transfer and transfer.rsplit(",", 1)[-1].strip() == "chunked":
            self._mode = "chunked"
        elif "content-length" in head.headers:
            lengths = {v.strip() for v in head.headers["content-length"].split(",")}
            if len(lengths) != 1 or not _DIGITS.fullmatch(value := lengths.pop()):
                raise ProtocolError(f"invalid Content-Length {head.headers['content-length'][:40]!r}")
            self._left = int(value)
            self._mode = "length"
            if self._left == 0:
                self._finish()
        else:
            self._mode = "eof"

    def _read_chunks(self) -> None:
        buf = self._buf
        while not self.done:
            if self._chunk == "data":
                take = bytes(buf[: self._left])
                del buf[: len(take)]
                self._left -= len(take)
                self._append(take)
                if self.done or self._left:
                    return
                self._chunk = "crlf"
            elif self._chunk == "crlf":
                if len(buf) < 2:
                    return
                if buf[:2] != b"\r\n":
                    raise ProtocolError("a chunk of the body does not end with CRLF")
                del buf[:2]
                self._chunk = "size"
            else:
                end = buf.find(b"\r\n")
                if end < 0:
                    if len(buf) > MAX_CHUNK_LINE:
                        raise ProtocolError("a chunk size line is too long")
                    return
                line = bytes(buf[:end])
                del buf[: end + 2]
                if self._chunk == "trailer":
                    if not line:
                        self._finish()
                    continue
                size = line.split(b";", 1)[0].strip()
                if not _HEX.fullmatch(size):
                    raise ProtocolError(f"invalid chunk size {size[:20]!r}")
                self._left = int(size, 16)
                self._chunk = "data" if self._left else "trailer"

    def _append(self, data: bytes) -> None:
        if not data:
            return
        room = self._limit - len(self.body)
        if self._deflate:
            # RFC 9110's deflate is zlib-wrapped; some servers send it raw. The first two bytes tell, so a
            # first read of one byte waits for the next (judged alone, a zlib header looked raw).
            data = self._sniff + data
            if len(data) < 2:
                self._sniff = data
                return
            self._sniff = b""
            wrapped = data[0] & 0x0F == 8 and (data[0] << 8 | data[1]) % 31 == 0
            self._decoder = zlib.decompressobj(zlib.MAX_WBITS if wrapped else -zlib.MAX_WBITS)
            self._deflate = False
        if self._decoder is not None:
            try:
                data = self._decoder.decompress(data, room + 1)  # never inflate more than one byte past the limit
            except zlib.error as exc:
                raise ProtocolError(f"cannot decompress the body ({exc})") from None
        if len(data) > room:
            self.body += data[:room]
            self.too_large = True
            self.done = True
            return
        self.body += data

    def _finish(self) -> None:
        if self._sniff:  # no deflate stream is one byte long (the shortest, an empty final block, is two)
            raise ProtocolError("cannot decompress the body (a deflate stream of one byte)")
        if self._decoder is not None and not self.too_large:
            try:
                self._append_plain(self._decoder.flush())
            except zlib.error as exc:
                raise ProtocolError(f"cannot decompress the body ({exc})") from None
            if not self._decoder.eof and (self.body or self._decoder.unused_data or self._decoder.unconsumed_tail):
                # The stream stopped before its end (a connection cut in a read-until-close body, or a server
                # that sent less than it compressed): a truncated page is not the page.
                raise ProtocolError("the compressed body ends before its end")
        self.done = True

    def _append_plain(self, data: bytes) -> None:
        room = self._limit - len(self.body)
        if len(data) > room:
            self.body += data[:room]
            self.too_large = True
        else:
            self.body += data


def _parse_head(raw: bytes) -> Head:
    lines = [line.removesuffix(b"\r") for line in raw.split(b"\n")]
    match = _STATUS_LINE.match(lines[0])
    if match is None:
        raise ProtocolError(f"invalid status line {lines[0][:80]!r}")
    headers: dict[str, str] = {}
    name = ""
    for line in lines[1:]:
        if line[:1] in (b" ", b"\t") and name:  # obsolete line folding: part of the previous value
            headers[name] += " " + line.strip().decode("latin-1")
            continue
        key, sep, value = line.partition(b":")
        if not sep or not _TOKEN.match(key):
            raise ProtocolError(f"invalid header line {line[:80]!r}")
        name = key.decode("ascii").lower()
        text = value.strip().decode("latin-1")
        headers[name] = f"{headers[name]}, {text}" if name in headers else text
    return Head(int(match.group(1)), (match.group(2) or b"").decode("latin-1"), headers)
