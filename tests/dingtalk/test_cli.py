"""`deskmate dingtalk` as an operator runs it: a real process against the fake gateway on loopback."""

from __future__ import annotations

import asyncio
import logging
import os
import re
import signal
import sys
from pathlib import Path

import pytest

from bot.adapters.dingtalk.cli import check_settings, token_shapes
from bot.adapters.dingtalk.stream import ROBOT_TOPIC
from bot.adapters.launch import Redactor, StartupError
from bot.settings import Settings
from fakes.dingtalk_api import CLIENT_ID, CLIENT_SECRET, FakeDingTalk
from tests.conftest import REPO

COMPLETE = {
    "DINGTALK_CLIENT_ID": CLIENT_ID,
    "DINGTALK_CLIENT_SECRET": CLIENT_SECRET,
    "DINGTALK_ROBOT_CODE": CLIENT_ID,
    "DINGTALK_CARD_TEMPLATE_ID": "tmpl.deskmate",
}


def env_for(tmp_path: Path, **values: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DINGTALK_", "SLACK_", "TELEGRAM_", "DATABASE_"))
    }
    env.update(
        PYTHONPATH=str(REPO),
        DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}",
        ORG_FILE=str(REPO / "examples" / "org.yaml"),
        POLICY_FILE=str(REPO / "examples" / "policy.yaml"),
        KB_SEMANTIC="false",
        LOG_LEVEL="DEBUG",
    )
    env.update(values)
    return env


async def deskmate_dingtalk(tmp_path: Path, **values: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot.cli",
        "dingtalk",
        cwd=tmp_path,  # no .env there
        env=env_for(tmp_path, **values),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


async def finished(process: asyncio.subprocess.Process) -> tuple[int, str]:
    stdout, stderr = await asyncio.wait_for(process.communicate(), 180)
    assert process.returncode is not None
    return process.returncode, (stdout + stderr).decode()


async def test_a_missing_setting_is_one_line(tmp_path: Path) -> None:
    code, output = await finished(await deskmate_dingtalk(tmp_path))
    assert code == 2
    assert output.strip().splitlines() == [
        "setting DINGTALK_CLIENT_ID: required for `deskmate dingtalk` (the app's Client ID (AppKey))"
    ]


def test_settings_are_checked_before_any_call() -> None:
    def settings(**values: str) -> Settings:
        return Settings(_env_file=None, **values)  # type: ignore[call-arg, arg-type]

    full = {name.lower(): value for name, value in COMPLETE.items()}
    for missing in COMPLETE:
        values = {k: v for k, v in full.items() if k != missing.lower()}
        with pytest.raises(StartupError, match=re.escape(f"setting {missing}: required")):
            check_settings(settings(**values))
    with pytest.raises(StartupError, match="DINGTALK_API_URL"):
        check_settings(settings(**full, dingtalk_api_url="ftp://example"))
    check_settings(settings(**full))


async def test_refused_credentials_are_one_line_and_the_secret_never_printed(
    tmp_path: Path, dingtalk: FakeDingTalk
) -> None:
    wrong = "wrong-secret-value-0123456789"
    values = {**COMPLETE, "DINGTALK_CLIENT_SECRET": wrong, "DINGTALK_API_URL": dingtalk.url}
    code, output = await finished(await deskmate_dingtalk(tmp_path, **values))
    assert code == 2
    assert "DingTalk refused DINGTALK_CLIENT_ID / DINGTALK_CLIENT_SECRET: invalidClientIdOrSecret" in output
    assert wrong not in output


async def test_an_unreachable_api_is_one_line(tmp_path: Path) -> None:
    values = {**COMPLETE, "DINGTALK_API_URL": "http://127.0.0.1:9"}
    code, output = await finished(await deskmate_dingtalk(tmp_path, **values))
    assert code == 2
    assert any(
        line.startswith("cannot reach DingTalk's OpenAPI at http://127.0.0.1:9")
        for line in output.splitlines()
    )
    assert CLIENT_SECRET not in output


def test_the_log_filter_masks_the_secret_tokens_and_tickets() -> None:
    redactor = Redactor([CLIENT_SECRET], token_shapes)
    record = logging.LogRecord(
        "x",
        logging.INFO,
        __file__,
        1,
        "POST /media/upload?access_token=%s ws?ticket=%s secret %s",
        ("abc123", "t-1", CLIENT_SECRET),
        None,
    )
    redactor.filter(record)
    assert (
        record.getMessage()
        == "POST /media/upload?access_token=(redacted) ws?ticket=(redacted) secret (redacted)"
    )


@pytest.mark.slow  # a real `deskmate dingtalk` process from start to SIGTERM
async def test_it_serves_in_stream_mode_until_terminated(tmp_path: Path, dingtalk: FakeDingTalk) -> None:
    process = await deskmate_dingtalk(tmp_path, **COMPLETE, DINGTALK_API_URL=dingtalk.url)
    assert process.stderr is not None
    seen: list[str] = []
    try:
        while True:
            line = (await asyncio.wait_for(process.stderr.readline(), 180)).decode()
            assert line, "deskmate dingtalk exited early:\n" + "".join(seen)
            seen.append(line)
            if "connected in Stream mode" in line:
                break
        # Someone the org does not know writes: the one polite line with their id comes back.
        message_id = await dingtalk.push(
            ROBOT_TOPIC,
            {"msgId": "cli-1", "msgtype": "text", "text": {"content": "帮助"}, "conversationType": "1",
             "senderStaffId": "stranger42", "senderId": "$:x", "createAt": 0},
        )  # fmt: skip
        await dingtalk.wait_ack(message_id, timeout=180)
        for _ in range(600):
            if dingtalk.texts_to("stranger42"):
                break
            await asyncio.sleep(0.05)
        (answer,) = dingtalk.texts_to("stranger42")
        assert "dingtalk:stranger42" in answer
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
        code, output = await finished(process)
    assert code == 0, output
    assert CLIENT_SECRET not in "".join(seen) + output
    assert not any(t in "".join(seen) + output for t in dingtalk.tokens)
