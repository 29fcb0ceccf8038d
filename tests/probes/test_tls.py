"""The TLS probe against real TLS servers on 127.0.0.1 with trustme certificates.

Each way a certificate can be wrong gets its own class, and the certificate's expiry is reported
even when it fails verification. Checks are built with parse_config (options validated as in
production) and run through monitor.runner.run_probe, so the runner's deadline applies.
"""

from __future__ import annotations

import asyncio
import ssl
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import trustme
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from monitor.config import parse_config
from monitor.runner import CheckResult
from probes import tcp, tls
from probes.guard import ALLOW_NOTHING, NetworkGuard
from tests.support.probes import BLOCKED_LOOPBACK, check_yaml, closed_port, config_error, fake_resolver, v4

DEADLINE_SLACK = 0.3
DAY = 86400.0


def days_from_now(n: float) -> datetime:
    return datetime.now(UTC).replace(microsecond=0) + timedelta(days=n)


@pytest.fixture
def ca() -> trustme.CA:
    return trustme.CA(organization_name="Monitor Test CA")


@pytest.fixture
def ca_file(ca, tmp_path) -> str:
    path = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return str(path)


@pytest.fixture
def run_tls(probe_runner, ca_file):
    """run_tls(target, guard=LOOPBACK, **options): trusts the test CA (ca_file) unless the options say otherwise."""

    async def run(target: str, **options: Any) -> CheckResult:
        if options.get("verify", True) and "ca_file" not in options:
            options["ca_file"] = ca_file
        options = {k: v for k, v in options.items() if v is not None}  # None: leave the option out
        return await probe_runner("tls", target, **options)

    return run


@pytest.fixture
def tls_server(start_server):
    """tls_server(cert) -> (port, seen): cert is a trustme LeafCert or a PEM file with chain and key.

    seen lists the SNI name of every handshake the server completed or attempted.
    """

    async def start(cert: trustme.LeafCert | Path) -> tuple[int, list[str | None]]:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        if isinstance(cert, Path):
            context.load_cert_chain(cert)
        else:
            cert.configure_cert(context)
        seen: list[str | None] = []
        context.sni_callback = lambda _obj, name, _ctx: seen.append(name)

        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            try:
                await reader.read()
            except (ConnectionError, ssl.SSLError):
                pass
            finally:
                writer.close()

        return await start_server(handle, ssl=context), seen

    return start


def self_signed(tmp_path: Path, name: str = "shop.example") -> Path:
    """A certificate signed by its own key (no CA at all), with the key, as one PEM file."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(days_from_now(-1))
        .not_valid_after(days_from_now(30))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .sign(key, hashes.SHA256())
    )
    path = tmp_path / "self-signed.pem"
    path.write_bytes(
        cert.public_bytes(serialization.Encoding.PEM)
        + key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return path


def date(dt: datetime) -> str:
    return dt.date().isoformat()


# --- success ---------------------------------------------------------------------------------


async def test_valid_certificate_is_ok_with_expiry_and_identity_facts(ca, tls_server, run_tls):
    not_after = days_from_now(90)
    port, seen = await tls_server(ca.issue_cert("shop.example", common_name="shop.example", not_after=not_after))
    outcome = await run_tls(f"127.0.0.1:{port}", server_name="shop.example")

    r = outcome.result
    assert (r.ok, r.error_class, r.error) == (True, None, None)
    assert seen == ["shop.example"]  # SNI sent although the connection went to an IP
    assert r.facts["cert_not_after"] == not_after.timestamp()
    assert 90 * DAY - 5 < r.facts["cert_expiry_seconds"] <= 90 * DAY
    assert r.facts["cert_expiry_days"] == pytest.approx(90, abs=0.001)
    assert (r.facts["cert_subject"], r.facts["cert_issuer"]) == ("shop.example", "Monitor Test CA")
    assert r.facts["tls_version"] in ("TLSv1.2", "TLSv1.3")
    assert 0 < r.facts["handshake_seconds"] < 1
    assert (r.facts["address"], outcome.kind) == ("127.0.0.1", "tls")


async def test_ip_target_without_server_name_is_checked_against_the_ip_in_the_certificate(ca, tls_server, run_tls):
    port, seen = await tls_server(ca.issue_cert("127.0.0.1"))
    r = (await run_tls(f"127.0.0.1:{port}")).result

    assert r.ok is True, r
    assert r.facts["cert_subject"] == "127.0.0.1"  # no CN: the first name in the certificate
    assert seen == [None]  # no SNI for an IP address


async def test_name_is_resolved_once_and_the_checked_ip_used_with_the_name_as_sni(monkeypatch, ca, tls_server, run_tls):
    port, seen = await tls_server(ca.issue_cert("shop.example"))
    calls = fake_resolver(monkeypatch, lambda host, p: [v4("127.0.0.1", p)])
    r = (await run_tls(f"shop.example:{port}")).result

    assert r.ok is True, r
    assert (calls, seen) == ([("shop.example", port)], ["shop.example"])


async def test_port_defaults_to_443(monkeypatch, ca, tls_server, run_tls):
    port, _ = await tls_server(ca.issue_cert("shop.example"))
    calls = fake_resolver(monkeypatch, lambda host, _p: [v4("127.0.0.1", port)])
    r = (await run_tls("shop.example")).result

    assert (r.ok, calls) == (True, [("shop.example", 443)])


# --- certificate problems --------------------------------------------------------------------


async def test_expired_certificate_is_tls_expired_with_its_expiry_facts(ca, tls_server, run_tls):
    not_after = days_from_now(-2)
    port, _ = await tls_server(ca.issue_cert("shop.example", not_before=days_from_now(-92), not_after=not_after))
    r = (await run_tls(f"127.0.0.1:{port}", server_name="shop.example")).result

    assert (r.ok, r.error_class, r.severity) == (False, "tls_expired", "down")
    assert r.error == f"certificate for shop.example expired 2.0 days ago ({date(not_after)})"
    assert r.facts["cert_not_after"] == not_after.timestamp()
    assert -2 * DAY - 5 < r.facts["cert_expiry_seconds"] <= -2 * DAY
    assert r.facts["cert_expiry_days"] == pytest.approx(-2, abs=0.001)
    assert r.facts["cert_issuer"] == "Monitor Test CA"


async def test_certificate_not_valid_yet_is_tls_not_yet_valid(ca, tls_server, run_tls):
    not_before = days_from_now(3)
    port, _ = await tls_server(ca.issue_cert("shop.example", not_before=not_before, not_after=days_from_now(93)))
    r = (await run_tls(f"127.0.0.1:{port}", server_name="shop.example")).result

    assert (r.error_class, r.error) == ("tls_not_yet_valid", f"certificate for shop.example is not valid before {date(not_before)}")
    assert r.facts["cert_expiry_days"] == pytest.approx(93, abs=0.001)


async def test_self_signed_certificate_is_tls_self_signed(tmp_path, tls_server, run_tls):
    port, _ = await tls_server(self_signed(tmp_path))
    r = (await run_tls(f"127.0.0.1:{port}", server_name="shop.example")).result

    assert (r.error_class, r.error) == ("tls_self_signed", "certificate for shop.example is not trusted: self-signed certificate")
    assert (r.facts["cert_subject"], r.facts["cert_issuer"]) == ("shop.example", "shop.example")
    assert r.facts["cert_expiry_days"] == pytest.approx(30, abs=0.001)


async def test_untrusted_root_sent_in_the_chain_is_tls_self_signed(tmp_path, tls_server, run_tls):
    untrusted = trustme.CA()
    leaf = untrusted.issue_cert("shop.example")
    chain = tmp_path / "chain.pem"
    chain.write_bytes(leaf.cert_chain_pems[0].bytes() + untrusted.cert_pem.bytes() + leaf.private_key_pem.bytes())
    port, _ = await tls_server(chain)
    r = (await run_tls(f"127.0.0.1:{port}", server_name="shop.example")).result

    assert (r.error_class, r.error) == (
        "tls_self_signed",
        "certificate for shop.example is not trusted: self-signed certificate in certificate chain",
    )


async def test_certificate_for_another_host_is_tls_wrong_host(ca, tls_server, run_tls):
    port, _ = await tls_server(ca.issue_cert("other.example", "www.other.example"))
    r = (await run_tls(f"127.0.0.1:{port}", server_name="shop.example")).result

    assert (r.error_class, r.error) == ("tls_wrong_host", "certificate is for other.example, www.other.example, not shop.example")
    assert r.facts["cert_subject"] == "other.example"


async def test_certificate_from_an_unknown_ca_is_tls_invalid(tls_server, run_tls):
    port, _ = await tls_server(trustme.CA().issue_cert("shop.example"))
    r = (await run_tls(f"127.0.0.1:{port}", server_name="shop.example")).result

    assert (r.error_class, r.error) == (
        "tls_invalid",
        "certificate for shop.example is not trusted: unable to get local issuer certificate",
    )
    assert "cert_expiry_seconds" in r.facts


async def test_without_ca_file_the_system_store_is_used_so_a_test_ca_is_unknown(ca, tls_server, run_tls):
    port, _ = await tls_server(ca.issue_cert("shop.example"))
    r = (await run_tls(f"127.0.0.1:{port}", server_name="shop.example", ca_file=None)).result

    assert (r.error_class, r.error) == (
        "tls_invalid",
        "certificate for shop.example is not trusted: unable to get local issuer certificate",
    )


async def test_the_second_handshake_reuses_the_first_address(monkeypatch, ca, tls_server, run_tls):
    port, seen = await tls_server(ca.issue_cert("other.example"))
    calls = fake_resolver(monkeypatch, lambda host, p: [v4("127.0.0.1", p)])
    r = (await run_tls(f"shop.example:{port}")).result

    assert r.error_class == "tls_wrong_host"
    assert calls == [("shop.example", port)]  # one lookup: the unverified handshake went to the same IP
    assert seen == ["shop.example", "shop.example"]


@pytest.mark.parametrize("server", ["self-signed", "expired"])
async def test_verify_false_only_requires_a_handshake_and_still_reports_facts(tmp_path, ca, tls_server, run_tls, server):
    cert = (
        self_signed(tmp_path)
        if server == "self-signed"
        else ca.issue_cert("shop.example", not_before=days_from_now(-30), not_after=days_from_now(-1))
    )
    port, _ = await tls_server(cert)
    r = (await run_tls(f"127.0.0.1:{port}", server_name="other.example", verify=False)).result

    assert (r.ok, r.error_class) == (True, None)
    assert r.facts["cert_expiry_days"] == pytest.approx(30 if server == "self-signed" else -1, abs=0.001)


# --- expiry warning --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("valid_days", "warn_before", "expiring"),
    [(9.5, None, True), (13.9, None, True), (14.1, None, False), (9.5, "7d", False), (20, "30d", True), (0.25, None, True)],
    ids=["9.5d-default-14d", "13.9d-default-14d", "14.1d-default-14d", "9.5d-warn-7d", "20d-warn-30d", "6h-in-hours"],
)
async def test_valid_certificate_expiring_within_warn_before_is_degraded_tls_expiring(
    ca, tls_server, run_tls, valid_days, warn_before, expiring
):
    not_after = days_from_now(valid_days) + timedelta(seconds=60)  # the check runs a moment later
    port, _ = await tls_server(ca.issue_cert("shop.example", not_after=not_after))
    r = (await run_tls(f"127.0.0.1:{port}", server_name="shop.example", warn_before=warn_before)).result

    assert r.facts["cert_not_after"] == not_after.timestamp()
    if not expiring:
        assert (r.ok, r.error_class) == (True, None)
        return
    assert (r.ok, r.error_class, r.severity) == (False, "tls_expiring", "degraded")
    left = f"{valid_days:.1f} days" if valid_days >= 1 else f"{valid_days * 24:.1f} hours"
    assert r.error == f"certificate for shop.example expires in {left} ({date(not_after)})"


async def test_condition_on_cert_expiry_reads_the_fact(ca, tls_server, run_tls):
    port, _ = await tls_server(ca.issue_cert("shop.example", not_after=days_from_now(90)))
    outcome = await run_tls(f"127.0.0.1:{port}", server_name="shop.example", conditions=["[CERT_EXPIRY] > 100d"])

    assert (outcome.result.error_class, outcome.result.error) == (
        "condition_failed",
        f"[CERT_EXPIRY] > 100d failed: actual {outcome.result.facts['cert_expiry_seconds']}",
    )


# --- handshake and connection failures -------------------------------------------------------


async def test_server_that_never_completes_the_handshake_times_out_in_the_tls_phase(raw_server, run_tls):
    async def silent(reader, _writer):
        await reader.read()  # takes the ClientHello, never answers

    port = int((await raw_server(silent)).rsplit(":", 1)[1].strip("/"))
    outcome = await run_tls(f"127.0.0.1:{port}", timeout="400ms", interval="1s")

    r = outcome.result
    assert (r.ok, r.error_class, r.error) == (False, "timeout", "no complete answer within 0.4s (tls phase)")
    assert outcome.duration_seconds < 0.4 + DEADLINE_SLACK


async def test_plain_http_server_is_tls_invalid(raw_server, run_tls):
    async def http(reader, writer):
        await reader.read(1)
        writer.write(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
        await writer.drain()

    port = int((await raw_server(http)).rsplit(":", 1)[1].strip("/"))
    r = (await run_tls(f"127.0.0.1:{port}")).result

    assert (r.error_class, r.error) == ("tls_invalid", f"TLS handshake with 127.0.0.1:{port} failed: wrong version number")


async def test_server_hanging_up_during_the_handshake_is_tls_invalid(raw_server, run_tls):
    async def hang_up(reader, _writer):
        await reader.read(1)

    port = int((await raw_server(hang_up)).rsplit(":", 1)[1].strip("/"))
    r = (await run_tls(f"127.0.0.1:{port}")).result

    assert (r.error_class, r.error) == ("tls_invalid", f"TLS handshake with 127.0.0.1:{port} failed: the server closed the connection")


async def test_closed_port_is_connect_refused(run_tls):
    port = closed_port()
    r = (await run_tls(f"127.0.0.1:{port}")).result

    assert (r.error_class, r.error) == ("connect_refused", f"connection refused by 127.0.0.1:{port}")


async def test_loopback_is_blocked_without_allow_networks_and_nothing_connects(raw_server, run_tls):
    connections = []

    async def count(_reader, _writer):
        connections.append(1)

    port = int((await raw_server(count)).rsplit(":", 1)[1].strip("/"))
    r = (await run_tls(f"127.0.0.1:{port}", guard=ALLOW_NOTHING)).result

    assert (r.error_class, r.error) == ("blocked_destination", f"not connecting to 127.0.0.1:{port}: 127.0.0.1 {BLOCKED_LOOPBACK}")
    await asyncio.sleep(0.05)
    assert connections == []


async def test_allowing_the_loopback_range_lets_the_check_connect(ca, tls_server, run_tls):
    port, seen = await tls_server(ca.issue_cert("shop.example"))
    r = (await run_tls(f"127.0.0.1:{port}", server_name="shop.example", guard=NetworkGuard(["127.0.0.0/8"]))).result

    assert (r.ok, seen) == (True, ["shop.example"])


# --- targets and config ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("allegro.pl", ("allegro.pl", 443)),
        ("allegro.pl:8443", ("allegro.pl", 8443)),
        ("[::1]", ("::1", 443)),
        ("[::1]:8443", ("::1", 8443)),
    ],
    ids=["name", "name-port", "ipv6", "ipv6-port"],
)
def test_tls_target_port_defaults_to_443(target, expected):
    assert tls.check_target(target) == target
    assert tcp.split_host_port(target, default_port=443) == expected


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("::1", "'::1' is not host or host:port; write e.g. allegro.pl or allegro.pl:443 (IPv6 in brackets: [2001:db8::1]:443)"),
        ("allegro.pl:99999", "'allegro.pl:99999' has port 99999; a port is a number from 1 to 65535"),
        (
            "https://allegro.pl/",
            "'https://allegro.pl/' is a URL; write host or host:port without the scheme, e.g. allegro.pl or allegro.pl:443",
        ),
    ],
    ids=["bare-ipv6", "port-too-big", "url"],
)
def test_tls_target_errors_name_the_fix(target, message):
    with pytest.raises(ValueError) as info:
        tls.check_target(target)
    assert str(info.value) == message


def config_problem(key: str, value: str) -> str:
    return config_error(check_yaml("tls", "allegro.pl", **{key: value}))


def test_config_defaults():
    options = parse_config(check_yaml("tls", "allegro.pl", verify="true")).channels[0].checks[0].options
    assert (options.server_name, options.ca_file, options.verify, options.warn_before) == (None, None, True, 14 * DAY)


def test_config_rejects_a_missing_ca_file(tmp_path):
    missing = tmp_path / "nope.pem"
    assert config_problem("ca_file", str(missing)) == (
        f"<config>:7: channels[0].checks[0].ca_file: '{missing}' is not a file; "
        "ca_file is the path of a PEM file with the CA certificates to trust"
    )


def test_config_rejects_a_ca_file_without_certificates(tmp_path):
    junk = tmp_path / "junk.pem"
    junk.write_text("not a certificate\n")
    assert config_problem("ca_file", str(junk)).startswith(
        f"<config>:7: channels[0].checks[0].ca_file: '{junk}' holds no usable PEM certificates ("
    )


def test_config_rejects_ca_file_with_verify_false(ca_file):
    assert config_error(check_yaml("tls", "allegro.pl", ca_file=ca_file, verify="false")) == (
        "<config>:5: channels[0].checks[0]: ca_file has no effect with verify: false; remove one of them"
    )


def test_config_rejects_warn_before_with_verify_false():
    assert config_error(check_yaml("tls", "allegro.pl", warn_before="30d", verify="false")) == (
        "<config>:5: channels[0].checks[0]: warn_before has no effect with verify: false; "
        "use a condition such as '[CERT_EXPIRY] > 14d' instead"
    )


@pytest.mark.parametrize("value", ["sklep.łódź.pl", "127.0.0.1", "_acme.allegro.pl"])
def test_config_accepts_server_names_that_can_be_sent_as_sni(value):
    options = parse_config(check_yaml("tls", "allegro.pl", server_name=value)).channels[0].checks[0].options
    assert options.server_name == value


@pytest.mark.parametrize("value", ["allegro.pl:443", "https://allegro.pl", "'shop example'", ".allegro.pl", "a" * 64 + ".pl"])
def test_config_rejects_a_server_name_that_is_not_a_host_name(value):
    shown = yaml.safe_load(value)
    assert config_problem("server_name", value) == (
        f"<config>:7: channels[0].checks[0].server_name: {shown!r} is not a host name; "
        "write the name the certificate is for, e.g. allegro.pl"
    )


def test_config_rejects_a_warn_before_that_is_not_a_duration():
    assert config_problem("warn_before", "soon") == (
        "<config>:7: channels[0].checks[0].warn_before: 'soon' is not a duration; write a number with a unit: 500ms, 30s, 5m, 1h or 1d"
    )
