"""Reading one HTTP response off the wire (probes/http_wire.py): pure, bytes in, response out."""

from __future__ import annotations

import gzip
import zlib

import pytest

from probes.http_wire import MAX_HEAD, NoAnswer, ProtocolError, ResponseParser


def parse(*pieces: bytes, head_request: bool = False, limit: int = 1_000_000, eof: bool = False) -> ResponseParser:
    parser = ResponseParser(head_request=head_request, limit=limit)
    for piece in pieces:
        parser.feed(piece)
    if eof:
        parser.eof()
    return parser


def test_a_response_split_anywhere_reads_the_same():
    raw = b"HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=iso-8859-2\r\nContent-Length: 11\r\n\r\nhello world"
    for cut in range(1, len(raw)):
        parser = parse(raw[:cut], raw[cut:])
        assert parser.done and parser.head.status == 200 and bytes(parser.body) == b"hello world", cut
        assert parser.head.get("content-type") == "text/html; charset=iso-8859-2"


def test_chunked_body_with_extensions_and_trailers_byte_by_byte():
    raw = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n06 \r\n world\r\n00A\r\n and more.\r\n0\r\nX-Trailer: 1\r\n\r\n"
    parser = ResponseParser(head_request=False, limit=100)
    for i in range(len(raw)):
        assert not parser.done
        parser.feed(raw[i : i + 1])
    assert parser.done and bytes(parser.body) == b"hello world and more."


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", "invalid chunk size b'zz'"),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabX\r\n", "a chunk of the body does not end with CRLF"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 5, 6\r\n\r\n", "invalid Content-Length '5, 6'"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", "invalid Content-Length '-1'"),
        # Python's int() takes these; HTTP does not (a negative size read the rest of the stream as body).
        ("HTTP/1.1 200 OK\r\nContent-Length: 1\u00b2\r\n\r\n".encode("latin-1"), "invalid Content-Length '1\u00b2'"),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n-5\r\nhelloworld", "invalid chunk size b'-5'"),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0x5\r\nhello", "invalid chunk size b'0x5'"),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1_0\r\nhello", "invalid chunk size b'1_0'"),
        (b"HTTP/1.1 200 OK\r\nBad Header: x\r\n\r\n", "invalid header line b'Bad Header: x'"),
        (b"HTTP/1.1 2000 OK\r\n\r\n", "invalid status line b'HTTP/1.1 2000 OK'"),
        (b"hello garbage", "invalid status line b'hello garbage'"),
    ],
)
def test_broken_answers_say_what_is_wrong(raw, problem):
    with pytest.raises(ProtocolError) as caught:
        parse(raw)
    assert str(caught.value) == problem


def test_a_head_that_never_ends_is_refused_at_the_limit():
    with pytest.raises(ProtocolError, match="larger than 64 KiB"):
        parse(b"HTTP/1.1 200 OK\r\n" + b"X-Filler: " + b"a" * MAX_HEAD)


def test_a_head_over_the_limit_is_refused_however_it_arrives():
    raw = b"HTTP/1.1 200 OK\r\nX-Filler: " + b"a" * MAX_HEAD + b"\r\nContent-Length: 2\r\n\r\nok"
    for pieces in ((raw,), (raw[:100], raw[100:])):  # in one read, as from a fast server, or in two
        with pytest.raises(ProtocolError, match="larger than 64 KiB"):
            parse(*pieces)


def test_interim_responses_are_skipped_and_bodiless_ones_end_at_the_head():
    parser = parse(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n")
    assert parser.done and parser.head.status == 204 and parser.body == b""
    head_only = parse(b"HTTP/1.1 200 OK\r\nContent-Length: 500\r\n\r\n", head_request=True)
    assert head_only.done and head_only.body == b""


def test_folded_and_repeated_headers_are_joined():
    parser = parse(b"HTTP/1.1 200 OK\r\nX-A: one\r\n two\r\nVary: a\r\nVary: b\r\nContent-Length: 0\r\n\r\n")
    assert parser.head.headers["x-a"] == "one two"
    assert parser.head.headers["vary"] == "a, b"


def test_a_body_without_length_ends_with_the_connection():
    parser = parse(b"HTTP/1.0 200 OK\r\n\r\npart one, ", b"part two")
    assert not parser.done
    parser.eof()
    assert parser.done and bytes(parser.body) == b"part one, part two"


@pytest.mark.parametrize(
    ("raw", "error", "text"),
    [
        (b"", NoAnswer, "the server closed the connection without a complete answer (Connection reset by peer)"),
        (b"HTTP/1.1 200 OK\r\nContent-", NoAnswer, "the server closed the connection without a complete answer (Connection reset by peer)"),
        (
            b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly this",
            ProtocolError,
            "the body ended after 9 bytes, 91 short of its Content-Length (Connection reset by peer)",
        ),
        (
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab",
            ProtocolError,
            "the chunked body ended before its last chunk (Connection reset by peer)",
        ),
    ],
    ids=["nothing", "half-a-head", "short-body", "unfinished-chunks"],
)
def test_a_connection_ending_early_says_what_was_missing(raw, error, text):
    parser = parse(raw)
    with pytest.raises(error) as caught:
        parser.eof("Connection reset by peer")
    assert str(caught.value) == text


@pytest.mark.parametrize(
    ("encoding", "compress"),
    [
        ("gzip", gzip.compress),
        ("x-gzip", gzip.compress),
        ("deflate", zlib.compress),  # RFC 9110: zlib-wrapped
        ("deflate", lambda data: zlib.compress(data)[2:-4]),  # what some servers send: raw deflate
    ],
    ids=["gzip", "x-gzip", "deflate-zlib", "deflate-raw"],
)
def test_compressed_bodies_are_inflated_and_cut_at_the_limit_by_their_inflated_size(encoding, compress):
    page = b"<html>" + b"Dodaj do koszyka " * 1000 + b"</html>"
    packed = compress(page)
    head = f"HTTP/1.1 200 OK\r\nContent-Encoding: {encoding}\r\nContent-Length: {len(packed)}\r\n\r\n".encode()
    whole = parse(head + packed[:7], packed[7:])
    assert whole.done and bytes(whole.body) == page and not whole.too_large
    cut = parse(head + packed, limit=1000)
    assert cut.done and cut.too_large and bytes(cut.body) == page[:1000]


@pytest.mark.parametrize("compress", [zlib.compress, lambda data: zlib.compress(data)[2:-4]], ids=["zlib", "raw"])
def test_a_deflate_body_arriving_one_byte_at_a_time_is_inflated(compress):
    # Which deflate it is (zlib-wrapped or raw) is told by the first two bytes: a body whose first read
    # holds one byte must not be judged on that byte alone.
    packed = compress(b"Dodaj do koszyka " * 20)
    raw = b"HTTP/1.1 200 OK\r\nContent-Encoding: deflate\r\nContent-Length: %d\r\n\r\n" % len(packed) + packed
    parser = parse(*(raw[i : i + 1] for i in range(len(raw))))
    assert parser.done and bytes(parser.body) == b"Dodaj do koszyka " * 20


@pytest.mark.parametrize("encoding", ["br", "zstd", "compress"])
def test_a_body_in_an_encoding_not_asked_for_is_a_protocol_error_not_page_text(encoding):
    # Its compressed bytes judged as the page would fail a keyword check as content_mismatch, wrongly.
    raw = f"HTTP/1.1 200 OK\r\nContent-Encoding: {encoding}\r\nContent-Length: 5\r\n\r\n\x8b\x01\x80ab".encode("latin-1")
    with pytest.raises(ProtocolError) as caught:
        parse(raw)
    assert str(caught.value) == f"the body is encoded with {encoding!r}, which was not asked for (Accept-Encoding: gzip, deflate)"


def test_identity_encoding_is_the_body_as_sent():
    parser = parse(b"HTTP/1.1 200 OK\r\nContent-Encoding: identity\r\nContent-Length: 2\r\n\r\nok")
    assert parser.done and bytes(parser.body) == b"ok"


def test_a_body_that_is_not_what_its_encoding_says_is_a_protocol_error():
    with pytest.raises(ProtocolError, match="cannot decompress the body"):
        parse(b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: 9\r\n\r\nnot gzip!")


def test_a_plain_body_over_the_limit_stops_reading_at_the_limit():
    parser = parse(b"HTTP/1.1 200 OK\r\nContent-Length: 5000\r\n\r\n" + b"a" * 1500, limit=1000)
    assert parser.done and parser.too_large and len(parser.body) == 1000


def test_a_head_with_bare_line_feeds_is_read_too():
    parser = parse(b"HTTP/1.1 200 OK\nContent-Type: text/html\nContent-Length: 2\n\nok")
    assert parser.done and parser.head.get("content-type") == "text/html" and bytes(parser.body) == b"ok"


@pytest.mark.parametrize("framing", ["length", "until-close"])
def test_a_compressed_body_cut_short_is_a_protocol_error_not_a_shorter_page(framing):
    packed = gzip.compress(b"<html>" + b"Dodaj do koszyka " * 500 + b"</html>")[:-30]
    length = f"Content-Length: {len(packed)}\r\n" if framing == "length" else ""
    parser = ResponseParser(head_request=False, limit=1_000_000)
    with pytest.raises(ProtocolError, match="the compressed body ends before its end"):
        parser.feed(f"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\n{length}\r\n".encode() + packed)
        parser.eof()


def test_an_empty_body_declared_gzip_is_an_empty_page():
    parser = parse(b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: 0\r\n\r\n")
    assert parser.done and parser.body == b""


def test_a_status_below_100_is_not_http():
    with pytest.raises(ProtocolError, match="invalid status line b'HTTP/1.1 099 Odd'"):
        parse(b"HTTP/1.1 099 Odd\r\n\r\n")
