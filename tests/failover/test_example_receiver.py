"""examples/failover_receiver.py, the receiver sellers start from, against the real webhook actuator:
signed requests applied once per key, a value changed by hand refused with 409 (a conflict), bad
signatures refused, and the command line refusing to start without a secret."""

from __future__ import annotations

import subprocess
import sys

import pytest

from examples.failover_receiver import FailoverReceiver
from monitor.failover.actuators import webhook
from tests.support import ROOT
from tests.support.actuators import NOW, SECRET, action, hook_config


@pytest.fixture
async def example(aiohttp_server):
    receiver = FailoverReceiver(SECRET, clock=lambda: NOW)
    server = await aiohttp_server(receiver.app)
    receiver.url = str(server.make_url("/failover"))
    return receiver


async def test_an_action_is_applied_once_per_key_and_read_back(example, ctx):
    config = hook_config(example.url)
    first = await webhook.apply(action(expect=None), config, ctx)
    example.values[("promotion", "black-friday", "meta")] = 1234  # had it been applied twice, this would be overwritten
    again = await webhook.apply(action(expect=None, attempt=2), config, ctx)  # a retry with the same key
    assert (first.outcome, first.observed) == ("applied", 8000)
    assert (again.outcome, again.observed) == ("applied", 8000)  # the first answer, nothing applied again
    assert example.values[("promotion", "black-friday", "meta")] == 1234


async def test_a_value_changed_by_hand_is_a_conflict_and_nothing_is_written(example, ctx):
    example.values[("promotion", "black-friday", "meta")] = 7000  # a person set 7000; the monitor believes 5000
    result = await webhook.apply(action(expect=5000), hook_config(example.url), ctx)
    assert result.outcome == "conflict"
    assert "meta holds 7000, not 5000: changed by someone else" in result.detail
    assert example.values[("promotion", "black-friday", "meta")] == 7000
    fixed = await webhook.apply(action(key="act-8", expect=7000), hook_config(example.url), ctx)
    assert (fixed.outcome, example.values[("promotion", "black-friday", "meta")]) == ("applied", 8000)


async def test_pause_resume_and_notices(example, ctx):
    config = hook_config(example.url)
    assert (await webhook.apply(action("pause", key="k1", value=0, expect=None), config, ctx)).outcome == "applied"
    assert ("promotion", "black-friday", "meta") in example.paused
    assert (await webhook.apply(action("resume", key="k2", value=None, expect=None), config, ctx)).outcome == "applied"
    assert ("promotion", "black-friday", "meta") not in example.paused
    posted = await webhook.apply(action("post_notice", key="k3", value=None), config, ctx)
    assert (posted.outcome, example.values[("notice", "meta-down", "meta")]) == ("applied", 1)


async def test_another_secret_is_refused(example, ctx):
    result = await webhook.apply(action(), hook_config(example.url, secret="another-secret-0123456789"), ctx)
    assert result.outcome == "failed" and "401" in result.detail
    assert example.values == {} and example.answers == {}


def test_the_command_refuses_to_start_without_a_secret():
    done = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "failover_receiver.py"), "--port", "0"],
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin"},
        cwd=ROOT,
    )
    assert done.returncode == 2
    assert "set CM_FAILOVER_SECRET to the actuator's secret (at least 16 characters)" in done.stderr


async def test_already_holding_the_value_is_a_success_not_a_conflict(example, ctx):
    # An earlier attempt was applied but its answer lost, and the key forgotten (a restart of the receiver).
    example.values[("promotion", "black-friday", "meta")] = 8000
    result = await webhook.apply(action(value=8000, expect=5000), hook_config(example.url), ctx)
    assert (result.outcome, result.observed) == ("applied", 8000)


async def test_a_notice_with_a_promotions_id_has_its_own_place(example, ctx):
    config = hook_config(example.url)
    await webhook.apply(action(expect=None, promotion="sale"), config, ctx)
    await webhook.apply(action("post_notice", key="n1", notice="sale"), config, ctx)
    assert example.values[("promotion", "sale", "meta")] == 8000 and example.values[("notice", "sale", "meta")] == 1
