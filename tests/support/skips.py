"""Skip on a developer's machine, fail under CI: for the servers, browsers and tools some tests need."""

from __future__ import annotations

import os
import shutil

import pytest


def under_ci() -> bool:
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def missing(message: str) -> None:
    """A server, browser or tool a test needs is not installed: skip here, fail under CI (never skip there)."""
    if under_ci():
        pytest.fail(message + " (CI=true: these tests must run, not skip)", pytrace=False)
    pytest.skip(message)


def debian_tool(name: str, package: str) -> str:
    """The path of a command from a Debian package (.ci/run installs it), or skip/fail as `missing` says."""
    path = shutil.which(name)
    if path is None:
        missing(f"{name} is not on PATH: install Debian's {package} package (apt-get install {package})")
    return path
