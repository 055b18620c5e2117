"""`deskmate slack` as an operator runs it: a real process against the fake Web API on loopback."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys
import time
from pathlib import Path
from urllib.parse import urlencode

import aiohttp
import pytest
from slack_sdk.signature import SignatureVerifier

from bot.adapters.launch import Redactor, StartupError
from bot.adapters.slack.cli import check_settings, token_shapes
from bot.settings import Settings
from fakes.slack_api import TOKEN, FakeSlackAPI
from tests.conftest import REPO
from tests.slack.conftest import WANGFANG
from tests.slack.harness import dm_channel, message_text

SECRET = "cli-signing-secret-0123456789"


def env_for(tmp_path: Path, **values: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "TELEGRAM_", "DATABASE_"))}
    env.update(
        PYTHONPATH=str(REPO),
        DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}",
        ORG_FILE=str(REPO / "examples" / "org.yaml"),
        POLICY_FILE=str(REPO / "examples" / "policy.yaml"),
        LOG_LEVEL="DEBUG",
    )
    env.update(values)
    return env


async def deskmate_slack(tmp_path: Path, **values: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot.cli",
        "slack",
        cwd=tmp_path,  # no .env there
        env=env_for(tmp_path, **values),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


async def finished(process: asyncio.subprocess.Process) -> tuple[int, str]:
    stdout, stderr = await asyncio.wait_for(process.communicate(), 180)
    assert process.returncode is not None
    return process.returncode, (stdout + stderr).decode()


async def test_without_a_token_it_says_so_in_one_line(tmp_path: Path) -> None:
    code, output = await finished(await deskmate_slack(tmp_path))
    assert code == 2
    assert output.strip().splitlines() == [
        "setting SLACK_BOT_TOKEN: required for `deskmate slack` (the Bot User OAuth Token, xoxb-…)"
    ]


async def test_a_refused_token_is_one_line_and_never_printed(tmp_path: Path, slack_api: FakeSlackAPI) -> None:
    wrong = "xoxb-9999-8888-wrong-token-value"
    process = await deskmate_slack(
        tmp_path, SLACK_BOT_TOKEN=wrong, SLACK_SIGNING_SECRET=SECRET, SLACK_API_URL=slack_api.base_url
    )
    code, output = await finished(process)
    assert code == 2
    assert "Slack refused SLACK_BOT_TOKEN: invalid_auth" in output.splitlines()
    assert wrong not in output and "wrong-token" not in output and SECRET not in output


async def test_an_unreachable_api_is_one_line(tmp_path: Path) -> None:
    process = await deskmate_slack(
        tmp_path, SLACK_BOT_TOKEN=TOKEN, SLACK_SIGNING_SECRET=SECRET, SLACK_API_URL="http://127.0.0.1:9/api"
    )
    code, output = await finished(process)
    assert code == 2
    lines = [line for line in output.splitlines() if "cannot reach" in line]
    assert lines and lines[0].startswith("cannot reach the Slack Web API at http://127.0.0.1:9/api/")
    assert TOKEN not in output


def test_settings_are_checked_before_any_call() -> None:
    def settings(**values: str) -> Settings:
        return Settings(_env_file=None, **values)  # type: ignore[call-arg, arg-type]

    for values, needle in [
        ({"slack_bot_token": "xoxp-user"}, "SLACK_BOT_TOKEN: not a bot token"),
        ({"slack_bot_token": "xoxb-1", "slack_app_token": "xoxb-2"}, "SLACK_APP_TOKEN"),
        ({"slack_bot_token": "xoxb-1"}, "SLACK_SIGNING_SECRET: required in HTTP mode"),
    ]:
        with pytest.raises(StartupError, match=re.escape(needle)):
            check_settings(settings(**values))
    check_settings(
        settings(slack_bot_token="xoxb-1", slack_app_token="xapp-1")
    )  # Socket Mode needs no secret


def test_the_log_filter_masks_tokens() -> None:
    import logging

    redactor = Redactor(["my-signing-secret"], token_shapes)
    record = logging.LogRecord(
        "x", logging.INFO, __file__, 1, "token %s secret %s", ("xoxb-1-2-abc", "my-signing-secret"), None
    )
    redactor.filter(record)
    assert record.getMessage() == "token xoxb-(redacted) secret (redacted)"


@pytest.mark.slow  # a real `deskmate slack` process from start to SIGTERM
async def test_it_serves_until_terminated(tmp_path: Path, slack_api: FakeSlackAPI) -> None:
    process = await deskmate_slack(
        tmp_path,
        SLACK_BOT_TOKEN=TOKEN,
        SLACK_SIGNING_SECRET=SECRET,
        SLACK_API_URL=slack_api.base_url,
        SLACK_LISTEN_PORT="0",
    )
    assert process.stderr is not None
    seen: list[str] = []
    url = ""
    try:
        while not url:
            line = (await asyncio.wait_for(process.stderr.readline(), 180)).decode()
            assert line, "deskmate slack exited early:\n" + "".join(seen)
            seen.append(line)
            match = re.search(r"listening on (http://\S+)", line)
            url = match.group(1) if match else ""
        assert "@deskmate in Test Desk" in seen[-1]
        body = urlencode(
            {"command": "/desk", "text": "帮助", "user_id": WANGFANG, "channel_id": dm_channel(WANGFANG),
             "channel_name": "directmessage", "team_id": "T0TEST001", "trigger_id": "t.1"}
        ).encode()  # fmt: skip
        stamp = str(int(time.time()))
        signature = SignatureVerifier(SECRET).generate_signature(timestamp=stamp, body=body)
        assert signature is not None
        headers = {
            "X-Slack-Request-Timestamp": stamp,
            "X-Slack-Signature": signature,
            "Content-Type": "application/x-www-form-urlencoded",
        }
        async with aiohttp.ClientSession() as session:
            async with session.get(url.replace("/slack/events", "/healthz")) as response:
                assert response.status == 200 and (await response.json())["database"] is True
            started = time.monotonic()
            async with session.post(url, data=body, headers=headers) as response:
                assert response.status == 200
            assert time.monotonic() - started < 3
        for _ in range(200):
            if slack_api.messages(dm_channel(WANGFANG)):
                break
            await asyncio.sleep(0.05)
        assert message_text(slack_api.messages(dm_channel(WANGFANG))[0]).startswith("王芳，您好")
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
        code, output = await finished(process)
    assert code == 0, output
    assert TOKEN not in "".join(seen) + output and SECRET not in "".join(seen) + output


@pytest.mark.slow  # a real `deskmate slack` process in Socket Mode
async def test_socket_mode_from_the_command_line(tmp_path: Path, slack_api: FakeSlackAPI) -> None:
    process = await deskmate_slack(
        tmp_path,
        SLACK_BOT_TOKEN=TOKEN,
        SLACK_APP_TOKEN="xapp-1-A0-socket-token",
        SLACK_API_URL=slack_api.base_url,
    )
    assert process.stderr is not None
    try:
        while True:
            line = (await asyncio.wait_for(process.stderr.readline(), 180)).decode()
            assert line, "deskmate slack exited early"
            if "connected in Socket Mode" in line:
                break
        payload = {
            "command": "/desk",
            "text": "whoami",
            "user_id": WANGFANG,
            "channel_id": dm_channel(WANGFANG),
            "channel_name": "directmessage",
            "team_id": "T0TEST001",
            "trigger_id": "t.2",
        }
        await slack_api.envelopes.put(
            {
                "envelope_id": "env-cli",
                "type": "slash_commands",
                "accepts_response_payload": True,
                "payload": payload,
            }
        )
        for _ in range(200):
            if slack_api.messages(dm_channel(WANGFANG)):
                break
            await asyncio.sleep(0.05)
        assert "U0AGT00101" in message_text(slack_api.messages(dm_channel(WANGFANG))[0])
        assert any(a.get("envelope_id") == "env-cli" for a in slack_api.socket_acks)
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
        code, output = await finished(process)
    assert code == 0, output
    assert "socket-token" not in output
