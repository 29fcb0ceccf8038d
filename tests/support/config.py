"""The one config builder of the tests: a service config as a user writes it (YAML), from plain values.

    config([channel("allegro", url)], data_dir=tmp_path)                  # parsed, as create_app takes it
    write_config(tmp_path / "channels.yaml", [...], data_dir=...)         # a file, as the CLI reads it
    config_yaml([...], failover=failover(hook, NORMAL, total=100000))     # the text

Checks of loopback shops get quick verdicts (FAST: every 200 ms, down after two failures). Config
*errors* are tested on hand-written text instead, so that their line numbers stay fixed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml

from monitor.config import Config, parse_config
from monitor.registries import Registries
from tests.support.receiver import SECRET

LOOPBACK_NETWORKS = ("127.0.0.0/8",)  # the fakes listen there; the guard refuses it unless allowed
FAST = {"interval": "200ms", "timeout": "150ms", "fail_threshold": 2, "recover_threshold": 2}
HALF_SECOND = {"interval": "500ms", "timeout": "500ms", "fail_threshold": 2, "recover_threshold": 2}  # the pages' tests
SHOP = {"body_contains": ["Add to cart"]}  # what FakeChannel's page says when it is up


def http_check(url: str, *, id: str | None = "home", **options: Any) -> dict[str, Any]:
    """An http check of url, with id `home` (None: no id) and the kind's options."""
    return {"kind": "http", **({"id": id} if id else {}), "target": url, **options}


def channel(cid: str, url: str | None = None, *, name: str | None = None, checks: Iterable[Mapping] | None = None, **fields: Any):
    """A channel named after its id, with one http check of url (id `home`) unless `checks` are given."""
    if checks is None:
        if url is None:
            raise ValueError("a channel needs a url or its checks")
        checks = [http_check(url)]
    return {"id": cid, "name": name or cid.title(), **fields, "checks": [dict(c) for c in checks]}


def shop_channel(cid: str, url: str, **options: Any) -> dict[str, Any]:
    """A channel with one http check `home` of a FakeChannel: its page must say "Add to cart"."""
    return channel(cid, checks=[http_check(url, **SHOP, **options)])


def config_yaml(
    channels: Iterable[Mapping],
    *,
    data_dir: Path | str | None = None,
    defaults: Mapping[str, Any] | None = FAST,
    allow_networks: Iterable[str] | None = LOOPBACK_NETWORKS,
    **top: Any,
) -> str:
    """The YAML text of a config: data_dir, allow_networks and defaults first, then `top`'s keys, then the channels."""
    doc: dict[str, Any] = {}
    if data_dir is not None:
        doc["data_dir"] = str(data_dir)
    if allow_networks:
        doc["allow_networks"] = list(allow_networks)
    if defaults:
        doc["defaults"] = dict(defaults)
    doc.update({key: value for key, value in top.items() if value is not None})
    doc["channels"] = [dict(c) for c in channels]
    return yaml.safe_dump(doc, sort_keys=False, allow_unicode=True)


def config(channels: Iterable[Mapping], *, registries: Registries | None = None, **options: Any) -> Config:
    """A parsed config (config_yaml's options), validated exactly as the service validates a file."""
    return parse_config(config_yaml(channels, **options), registries)


def shops_config(data_dir: Path | str, *channels: tuple[str, str], **options: Any) -> Config:
    """The config of loopback shops given as (id, url), each with its shop_channel check, stored in data_dir."""
    return config([shop_channel(cid, url) for cid, url in channels], data_dir=data_dir, **options)


def write_config(path: Path, channels: Iterable[Mapping], **options: Any) -> Path:
    """Write config_yaml(channels, **options) to path and return the path."""
    path.write_text(config_yaml(channels, **options))
    return path


def webhook(url: str, *, id: str = "hook", secret: str = SECRET) -> dict[str, Any]:
    """A signed-webhook actuator pointed at a Receiver."""
    return {"id": id, "kind": "webhook", "url": url, "secret": secret}


def promotion(
    normal: Mapping[str, int],
    *,
    id: str = "ads",
    name: str = "Black Friday ads",
    total: int | None = None,
    unit: str = "PLN",
    mode: str = "auto",
    actuator: str = "hook",
) -> dict[str, Any]:
    """A promotion over `normal` (minor units per channel): as shares of `total`, or as amounts without one."""
    channels = {
        c: ({"amount": v} if total is None else {"share": v * 100 // total}) | {"actuator": actuator, "target": f"obj-{c}"}
        for c, v in normal.items()
    }
    return {"id": id, "name": name, **({"total": total} if total is not None else {}), "unit": unit, "mode": mode, "channels": channels}


def notice(id: str, when_down: str, post_on: list[str], text: str, *, mode: str = "auto", actuator: str = "hook") -> dict[str, Any]:
    """A customer notice posted on `post_on` while `when_down` is down."""
    return {"id": id, "when_down": when_down, "post_on": post_on, "actuator": actuator, "text": text, "mode": mode}


def failover(
    hook: str,
    promotions: Iterable[Mapping],
    *,
    notices: Iterable[Mapping] = (),
    hold_down: str = "0s",
    failback_after: str = "0s",
    settle: str = "0s",
    **timing: Any,
) -> dict[str, Any]:
    """A failover section with one webhook actuator (id `hook`); timing is immediate unless told."""
    section: dict[str, Any] = {
        "timing": {"hold_down": hold_down, "failback_after": failback_after, "settle": settle, **timing},
        "actuators": [webhook(hook)],
        "promotions": [dict(p) for p in promotions],
    }
    if notices:
        section["notices"] = [dict(n) for n in notices]
    return section


def slack(base_url: str, token: str, *, id: str = "slack", channel: str = "#ops", min_interval: float = 0) -> dict[str, Any]:
    """A Slack notifier pointed at a FakeSlack (its url)."""
    return {"id": id, "kind": "slack", "token": token, "channel": channel, "base_url": f"{base_url}api/", "min_interval": min_interval}
