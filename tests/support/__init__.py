"""Helpers the test modules share (test modules never import each other): the one config builder, the CLI and
subprocess helpers, the running service's read-outs, and the skip-or-fail rules for servers and tools."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]  # the repository
