"""Helpers shared by the test suite."""

import os
from typing import NoReturn

import pytest

IN_CI = os.environ.get("CI") == "true"


def unavailable(reason: str, how_to_enable: str) -> NoReturn:
    """Skip on a laptop, fail in CI: CI must run every part of the suite."""
    if IN_CI:
        pytest.fail(f"{reason}; CI requires it. {how_to_enable}", pytrace=False)
    pytest.skip(f"{reason}. {how_to_enable}")
