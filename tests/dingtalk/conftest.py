"""DingTalk fixtures: the fake gateway and OpenAPI, and the adapter connected to it over a real
WebSocket on 127.0.0.1, with an org file whose people carry `dingtalk:` userIds."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import yaml
from pydantic import SecretStr

from bot.app import App
from bot.clock import FakeClock
from bot.settings import Settings
from fakes.dingtalk_api import CLIENT_ID, CLIENT_SECRET, ROBOT_CODE, FakeDingTalk
from tests.conftest import REPO
from tests.dingtalk.harness import DingTalkDesk, staff

SUPERVISORS_GROUP = "cidSUPERVISORS0000000001=="
TEMPLATE = "deskmate.test_template.schema"


@pytest.fixture
def settings(settings: Settings, tmp_path: Path) -> Settings:
    org = yaml.safe_load((REPO / "examples" / "org.yaml").read_text(encoding="utf-8"))
    for person in org["people"]:
        if person["id"] != "admin":  # left unlinked: the /link test links a DingTalk account to them
            person["dingtalk"] = staff(person["id"])
    org_file = tmp_path / "org.yaml"
    org_file.write_text(yaml.safe_dump(org, allow_unicode=True), encoding="utf-8")
    return settings.model_copy(
        update={
            "org_file": org_file,
            "dingtalk_client_id": CLIENT_ID,
            "dingtalk_client_secret": SecretStr(CLIENT_SECRET),
            "dingtalk_robot_code": ROBOT_CODE,
            "dingtalk_card_template_id": TEMPLATE,
            "dingtalk_supervisors_chat_id": SUPERVISORS_GROUP,
        }
    )


@pytest.fixture
async def dingtalk() -> AsyncIterator[FakeDingTalk]:
    api = await FakeDingTalk().start()
    yield api
    await api.stop()


@pytest.fixture
async def desk(app: App, clock: FakeClock, dingtalk: FakeDingTalk) -> AsyncIterator[DingTalkDesk]:
    """What was acked is handled right after the ack, before the test goes on."""
    harness = await DingTalkDesk(app, clock, dingtalk).start()
    yield harness
    await harness.stop()
