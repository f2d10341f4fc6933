"""Tests that need a tool this machine may not have (Chromium, Prometheus)."""

import os
from typing import NoReturn

import pytest

__all__ = ["unavailable"]


def unavailable(reason: str, variable: str) -> NoReturn:
    """Skip the test where the tool is missing, but fail it where `{variable}=required`
    (CI installs the tools and sets it: there a skip would hide the test)."""
    if os.environ.get(variable) == "required":
        pytest.fail(reason)
    pytest.skip(reason)
