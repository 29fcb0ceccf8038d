"""The runner's own guarantees: a crashing probe is a result, a deadline's meaning comes from the kind."""

from __future__ import annotations

import asyncio
import logging
import time

from monitor.config import parse_config
from monitor.registries import Registries
from monitor.runner import run_probe
from probes.base import ProbeConfig, ProbeKind


class Options(ProbeConfig):
    pass


async def crash(target, config, ctx):
    raise KeyError("bug")


async def hang(target, config, ctx):
    ctx.progress["phase"] = "connect"
    await asyncio.sleep(10)


def check_for(kind: ProbeKind):
    kinds = Registries(probes={"fake": kind})
    config = parse_config("channels: [{id: c, name: C, checks: [{kind: fake, target: x, timeout: 200ms, interval: 1s}]}]", kinds)
    return config.channels[0], config.channels[0].checks[0]


async def test_a_crashing_probe_becomes_internal_error_and_is_logged(caplog):
    kind = ProbeKind(Options, crash, lambda t: t)
    with caplog.at_level(logging.ERROR):
        outcome = await run_probe(kind, *check_for(kind), None, time.time)
    assert (outcome.result.error_class, outcome.result.error) == ("internal_error", "internal error: KeyError: 'bug'")
    assert "probe c/fake crashed" in caplog.text and "Traceback" in caplog.text


async def test_deadline_in_connect_phase_is_connect_timeout():
    kind = ProbeKind(Options, hang, lambda t: t)
    outcome = await run_probe(kind, *check_for(kind), None, time.time)
    r = outcome.result
    assert (r.error_class, r.error, r.severity) == ("connect_timeout", "no complete answer within 0.2s (connect phase)", "down")
    assert outcome.duration_seconds < 0.5


async def test_deadline_severity_comes_from_the_probe_kind():
    kind = ProbeKind(Options, hang, lambda t: t, timeout_severity="stale")
    assert (await run_probe(kind, *check_for(kind), None, time.time)).result.severity == "stale"
