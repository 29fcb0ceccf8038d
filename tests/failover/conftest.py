"""Fixtures of the failover tests."""

from __future__ import annotations

import logging

import pytest

from monitor.core.http import USER_AGENT
from monitor.failover.actions import ActuatorContext
from probes.session import create_outbound_session
from tests.fakes import LOOPBACK
from tests.support.actuators import NOW


@pytest.fixture
async def ctx():
    """An actuator's context as the service makes it (its outbound session, guarded to loopback), at NOW."""
    async with create_outbound_session(USER_AGENT, LOOPBACK) as http:
        yield ActuatorContext(http=http, log=logging.getLogger("test"), clock=lambda: NOW)
