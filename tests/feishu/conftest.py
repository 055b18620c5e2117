"""Feishu fixtures: the fake open platform, and the adapter's HTTP callback on 127.0.0.1 connected to it,
with an org file whose people carry `feishu:` open_ids."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import yaml
from pydantic import SecretStr

from bot.app import App
from bot.clock import FakeClock
from bot.settings import Settings
from fakes.feishu_api import APP_ID, APP_SECRET, FakeFeishu
from tests.conftest import REPO
from tests.feishu.harness import FeishuDesk, open_id

SUPERVISORS_GROUP = "oc_supervisors0000000000000001"
VERIFICATION_TOKEN = "fake-verification-token-42"
ENCRYPT_KEY = "fake-encrypt-key-0123456789"


@pytest.fixture
def settings(settings: Settings, tmp_path: Path) -> Settings:
    org = yaml.safe_load((REPO / "examples" / "org.yaml").read_text(encoding="utf-8"))
    for person in org["people"]:
        person["feishu"] = open_id(person["id"])
    org_file = tmp_path / "org.yaml"
    org_file.write_text(yaml.safe_dump(org, allow_unicode=True), encoding="utf-8")
    return settings.model_copy(
        update={
            "org_file": org_file,
            "feishu_app_id": APP_ID,
            "feishu_app_secret": SecretStr(APP_SECRET),
            "feishu_verification_token": SecretStr(VERIFICATION_TOKEN),
            "feishu_supervisors_chat_id": SUPERVISORS_GROUP,
            "feishu_event_mode": "http",
        }
    )


@pytest.fixture
async def feishu() -> AsyncIterator[FakeFeishu]:
    api = await FakeFeishu().start()
    yield api
    await api.stop()


@pytest.fixture
async def desk(app: App, clock: FakeClock, feishu: FakeFeishu) -> AsyncIterator[FeishuDesk]:
    harness = await FeishuDesk(app, clock, feishu).start()
    yield harness
    await harness.stop()
