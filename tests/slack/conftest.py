"""Slack fixtures: the fake Web API and the adapter on loopback HTTP, ready for a scenario."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from bot.app import App
from bot.clock import FakeClock
from bot.settings import Settings
from fakes.slack_api import FakeSlackAPI
from tests.slack.harness import SlackDesk

SUPERVISORS_CHANNEL = "C0SUPERVIS"
WANGFANG = "U0AGT00101"  # agent, zh-CN
CHENJING = "U0AGT00103"  # agent, en
ZHANGLEI = "U0LEAD0001"  # lead of 客服组
STRANGER = "U0NOBODY99"  # not in the org


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"slack_supervisors_channel": SUPERVISORS_CHANNEL})


@pytest.fixture
async def slack_api() -> AsyncIterator[FakeSlackAPI]:
    api = await FakeSlackAPI().start()
    yield api
    await api.stop()


@pytest.fixture
async def desk(app: App, clock: FakeClock, slack_api: FakeSlackAPI) -> AsyncIterator[SlackDesk]:
    """Deterministic: what was acked is handled right after the answer, before the test goes on."""
    harness = await SlackDesk(app, clock, slack_api).start()
    yield harness
    await harness.stop()


@pytest.fixture
async def live_desk(app: App, clock: FakeClock, slack_api: FakeSlackAPI) -> AsyncIterator[SlackDesk]:
    """As in production: the ack goes out first, the inbox is worked on only when the test waits."""
    harness = await SlackDesk(app, clock, slack_api, handle_after_ack=False).start()
    yield harness
    await harness.stop()
