"""Notifier and actuator addresses the network guard would refuse, reported when the config is loaded."""

from __future__ import annotations

from urllib.parse import urlsplit

from pydantic import SecretStr

from monitor.config.models import Config
from monitor.config_errors import Problem
from monitor.core.redact import url_origin
from probes.guard import NetworkGuard


def unreachable_urls(config: Config) -> list[Problem]:
    """Notifier and actuator URLs the network guard would refuse, found now rather than at the first alert:
    an address literal (or localhost) outside allow_networks, a metadata or link-local address, an ambiguous
    spelling such as 127.1. Shown as scheme and host only: a webhook's path is a secret."""
    guard = NetworkGuard(config.allow_networks)
    entries = [(("alerts", "notifiers"), e) for e in config.alerts.notifiers]
    entries += [(("failover", "actuators"), e) for e in config.failover.actuators]
    problems = []
    for i, (loc, entry) in enumerate(entries):
        index = i if loc[0] == "alerts" else i - len(config.alerts.notifiers)
        for name in type(entry.options).model_fields:
            value = getattr(entry.options, name)
            url = value.get_secret_value() if isinstance(value, SecretStr) else value
            if name == "host" and isinstance(url, str):  # an SMTP server's host name or address
                url = f"smtp://{url if ':' not in url else f'[{url}]'}"
            elif not (name.endswith("url") and isinstance(url, str)):
                continue
            why = guard.host_problem(urlsplit(url).hostname or "")
            if why:
                fix = (
                    "it is never allowed; use another address"
                    if "always blocked" in why
                    else "add its network to allow_networks (e.g. allow_networks: [127.0.0.0/8] for a receiver on this "
                    "machine, [10.0.0.0/8] for one on your network)"
                    if "allow_networks" in why
                    else ""
                )
                why = why.replace(" (allow it with allow_networks)", "")
                problems.append(Problem(loc + (index, name), f"{url_origin(url)} would be refused: {why}" + (f"; {fix}" if fix else "")))
    return problems
