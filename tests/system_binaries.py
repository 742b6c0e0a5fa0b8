"""Tests that need a system binary skip on a developer machine and fail in CI.

CI sets ``CAMFLEET_REQUIRE_SYSTEM_BINARIES=1``, so a test that needs ``rtsp-server-perl`` or ``kubectl``
can never pass there by skipping.
"""

from __future__ import annotations

import os

import pytest


def require_system_binary(available: bool, reason: str) -> None:
    """Return when ``available``; otherwise skip, or fail when CI requires system binaries."""
    if available:
        return
    if os.environ.get("CAMFLEET_REQUIRE_SYSTEM_BINARIES") == "1":
        pytest.fail(f"{reason} (required: CAMFLEET_REQUIRE_SYSTEM_BINARIES=1)")
    pytest.skip(reason)
