"""The probe registry: a new probe kind is one file in this package and one line here."""

from probes import dns, http, opengraph, statuspage, tcp, tls
from probes.base import ErrorClass, ProbeKind, closed_set

PROBES: dict[str, ProbeKind] = {
    "http": http.KIND,
    "dns": dns.KIND,
    "tcp": tcp.KIND,
    "tls": tls.KIND,
    "statuspage": statuspage.KIND,
    "opengraph": opengraph.KIND,
}
# The closed set of reasons a check can fail: metrics, alerts, dashboards and the docs key on these.
ERROR_CLASSES: dict[str, ErrorClass] = closed_set(PROBES.values())
