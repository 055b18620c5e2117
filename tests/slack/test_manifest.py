"""manifest.yml creates an app that sends Deskmate exactly what the adapter handles."""

from __future__ import annotations

import yaml

from bot.adapters.slack.adapter import COMMAND, EVENTS_PATH
from tests.conftest import REPO


def test_the_manifest_matches_the_adapter() -> None:
    manifest = yaml.safe_load((REPO / "manifest.yml").read_text(encoding="utf-8"))
    features, settings = manifest["features"], manifest["settings"]
    assert [c["command"] for c in features["slash_commands"]] == [COMMAND]
    assert features["app_home"]["home_tab_enabled"] is True
    assert set(settings["event_subscriptions"]["bot_events"]) == {
        "app_home_opened",
        "app_mention",
        "message.im",
    }
    assert settings["interactivity"]["is_enabled"] is True
    urls = [c["url"] for c in features["slash_commands"]]
    urls += [settings["event_subscriptions"]["request_url"], settings["interactivity"]["request_url"]]
    assert all(url.endswith(EVENTS_PATH) for url in urls)
    scopes = set(manifest["oauth_config"]["scopes"]["bot"])
    needed = {
        "commands",
        "chat:write",
        "im:write",
        "im:history",
        "app_mentions:read",
        "files:read",
        "files:write",
    }
    assert needed <= scopes
    assert len(manifest["display_information"]["description"]) <= 140
    assert 175 <= len(manifest["display_information"]["long_description"]) <= 4000
