"""Admin commands between a web instance and the decider (monitor/commands.py), on both databases: the outcome
comes back as the web layer's own errors, and a command nobody took in time is withdrawn, never carried out later."""

from __future__ import annotations

import pytest

from monitor.commands import CommandRunner, RemoteAdmin
from monitor.health import Override, State
from monitor.maintenance import Window
from monitor.web.read_model import AdminUnavailable, Approved, UnknownPlan


class SellerAdmin:
    """The decider's admin surface as a seller's setup has it: one channel, one plan waiting for approval."""

    def __init__(self) -> None:
        self.overrides: dict[str, Override | None] = {}
        self.windows: dict[int, Window] = {}
        self.frozen: dict[tuple[str, str], bool] = {}

    async def set_override(self, channel: str, override: Override | None) -> None:
        self.overrides[channel] = override

    async def add_window(self, channel: str, window: Window) -> int:
        self.windows[len(self.windows) + 1] = window
        return len(self.windows)

    async def remove_window(self, channel: str, window_id: int) -> bool:
        return self.windows.pop(window_id, None) is not None

    async def approve_plan(self, plan_id: int, by: str) -> Approved:
        if plan_id != 7:
            raise UnknownPlan(f"there is no plan {plan_id}")
        return Approved(("promotion", "ads"), {"shop": 62500, "facebook": 0})

    async def set_frozen(self, owner: tuple[str, str], frozen: bool, by: str, reason: str) -> None:
        if owner != ("promotion", "ads"):
            raise LookupError(f"no promotion {owner[1]!r}")
        self.frozen[owner] = frozen


async def ask_and_run(engine, call):
    """Send one command from the web side while the decider's runner carries out what is pending."""
    admin = SellerAdmin()
    runner = CommandRunner(engine, admin, every=0.01)
    runner.start()
    try:
        return await call(RemoteAdmin(engine, wait=5)), admin
    finally:
        await runner.stop()


async def test_every_command_comes_back_with_its_result(engine):
    window = Window("new payment provider", start=2000.0, end=5600.0, by="ops")
    got, admin = await ask_and_run(engine, lambda remote: remote.add_window("shop", window))
    assert got == 1 and admin.windows[1] == window
    override = Override(State.DOWN, "ops", "migration", until=9000.0)
    _, admin = await ask_and_run(engine, lambda remote: remote.set_override("shop", override))
    assert admin.overrides == {"shop": override}
    approved, _ = await ask_and_run(engine, lambda remote: remote.approve_plan(7, "ops"))
    assert approved == Approved(("promotion", "ads"), {"shop": 62500, "facebook": 0})


async def test_the_decider_s_refusals_are_the_web_layer_s_own_errors(engine):
    with pytest.raises(UnknownPlan, match="there is no plan 8"):
        await ask_and_run(engine, lambda remote: remote.approve_plan(8, "ops"))
    with pytest.raises(LookupError, match="no promotion 'tv'"):
        await ask_and_run(engine, lambda remote: remote.set_frozen(("promotion", "tv"), True, "ops", "why"))


async def test_a_command_no_decider_takes_in_time_is_withdrawn_and_never_carried_out(engine):
    with pytest.raises(AdminUnavailable, match="no decider carried out this command within 0.2s, so it was withdrawn"):
        await RemoteAdmin(engine, wait=0.2).set_override("shop", Override(State.DOWN, "ops", "late"))
    admin = SellerAdmin()
    assert await CommandRunner(engine, admin).run_once() == 0  # a decider arriving later finds nothing to do
    assert admin.overrides == {}
