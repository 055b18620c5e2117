"""Shared fixtures for the schedules tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from schedules.policy import Policy, default_policy, load_policy

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.fixture
def policy() -> Policy:
    """The handbook defaults."""
    return default_policy()


@pytest.fixture
def example_policy() -> Policy:
    """The demo department's policy file."""
    return load_policy(EXAMPLES / "policy.yaml")
