"""`deskmate feishu` as an operator runs it: settings checked first (one line), and a real process against
the fake open platform on 127.0.0.1, by the long connection and by HTTP callbacks, until SIGTERM."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

import aiohttp
import pytest

from bot.adapters.feishu.cli import token_shapes
from fakes.feishu_api import APP_ID, APP_SECRET, FakeFeishu
from tests.conftest import REPO

COMPLETE = {"FEISHU_APP_ID": APP_ID, "FEISHU_APP_SECRET": APP_SECRET}


def env_for(tmp_path: Path, **values: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DINGTALK_", "SLACK_", "TELEGRAM_", "FEISHU_", "DATABASE_"))
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


async def deskmate_feishu(tmp_path: Path, **values: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot.cli",
        "feishu",
        cwd=tmp_path,  # no .env there
        env=env_for(tmp_path, **values),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


async def finished(process: asyncio.subprocess.Process) -> tuple[int, str]:
    stdout, stderr = await asyncio.wait_for(process.communicate(), 180)
    assert process.returncode is not None
    return process.returncode, (stdout + stderr).decode()


async def until_line(process: asyncio.subprocess.Process, marker: str) -> str:
    assert process.stderr is not None
    seen: list[str] = []
    while True:
        line = (await asyncio.wait_for(process.stderr.readline(), 180)).decode()
        assert line, "deskmate feishu exited early:\n" + "".join(seen)
        seen.append(line)
        if marker in line:
            return line


async def test_missing_and_refused_settings_are_one_line(tmp_path: Path, feishu: FakeFeishu) -> None:
    code, output = await finished(await deskmate_feishu(tmp_path, FEISHU_APP_ID=APP_ID))
    assert code == 2 and output.strip() == (
        "setting FEISHU_APP_SECRET: required for `deskmate feishu` (the app's App Secret)"
    )
    code, output = await finished(
        await deskmate_feishu(tmp_path, **COMPLETE, FEISHU_EVENT_MODE="http", FEISHU_BASE_URL=feishu.url)
    )
    assert code == 2 and output.strip().splitlines()[-1] == (
        "setting FEISHU_VERIFICATION_TOKEN: required for `deskmate feishu`"
        " (with FEISHU_EVENT_MODE=http: the Verification Token)"
    )
    code, output = await finished(
        await deskmate_feishu(
            tmp_path, FEISHU_APP_ID=APP_ID, FEISHU_APP_SECRET="wrong", FEISHU_BASE_URL=feishu.url
        )
    )
    assert code == 2 and output.strip().splitlines()[-1] == (
        "Feishu refused FEISHU_APP_ID / FEISHU_APP_SECRET: code 10014"
    )


def test_tokens_are_masked() -> None:
    assert token_shapes("Authorization: Bearer t-g1044abcdefgh12345") == "Authorization: Bearer (redacted)"


@pytest.mark.slow  # a real `deskmate feishu` process, long connection, from start to SIGTERM
async def test_it_serves_by_the_long_connection_until_terminated(tmp_path: Path, feishu: FakeFeishu) -> None:
    process = await deskmate_feishu(tmp_path, **COMPLETE, FEISHU_BASE_URL=feishu.url)
    try:
        await until_line(process, "long connection to")
        # Someone the org does not know writes: the one polite line with their id comes back.
        stranger = "ou_strangerfromcli000000000000001"
        answer = await feishu.push(feishu.message_event(stranger, "帮助"), timeout=180)
        assert answer["code"] == 200
        for _ in range(1200):
            if feishu.texts_to(stranger):
                break
            await asyncio.sleep(0.05)
        (reply,) = feishu.texts_to(stranger)
        assert f"feishu:{stranger}" in reply and "/link" in reply
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
        code, output = await finished(process)
    assert code == 0, output
    assert APP_SECRET not in output and not any(t in output for t in feishu.tokens)
    assert all(s.closed for s in feishu.sockets)


@pytest.mark.slow  # a real `deskmate feishu` process, HTTP callbacks, from start to SIGTERM
async def test_it_serves_http_callbacks_until_terminated(tmp_path: Path, feishu: FakeFeishu) -> None:
    process = await deskmate_feishu(
        tmp_path,
        **COMPLETE,
        FEISHU_BASE_URL=feishu.url,
        FEISHU_EVENT_MODE="http",
        FEISHU_VERIFICATION_TOKEN="cli-token",
        FEISHU_LISTEN_PORT="0",
    )
    try:
        line = await until_line(process, "listening on")
        url = line.strip().rsplit(" ", 1)[1]
        assert url.startswith("http://127.0.0.1:") and url.endswith("/feishu/events")
        async with aiohttp.ClientSession() as session:
            challenge = {"challenge": "c-1", "token": "cli-token", "type": "url_verification"}
            async with session.post(url, json=challenge) as response:
                assert (response.status, await response.json()) == (200, {"challenge": "c-1"})
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
        code, output = await finished(process)
    assert code == 0, output
    assert "cli-token" not in output and APP_SECRET not in output
