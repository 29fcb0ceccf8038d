"""The probe registry: a new probe kind is one file in this package and one line here."""

from probes import dns, http, opengraph, statuspage, tcp, tls
from probes.base import ProbeKind

PROBES: dict[str, ProbeKind] = {
    "http": http.KIND,
    "dns": dns.KIND,
    "tcp": tcp.KIND,
    "tls": tls.KIND,
    "statuspage": statuspage.KIND,
    "opengraph": opengraph.KIND,
}
