"""`deskmate telegram` as an operator runs it: a real process against the fake Bot API on 127.0.0.1."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
from pathlib import Path

import pytest

from bot.cli import build_parser
from fakes.telegram_api import TOKEN, FakeBotAPI
from tests.conftest import REPO
from tests.helpers import wait_until
from tests.telegram.conftest import TG

WRONG_TOKEN = "654321:WRONG-token-that-the-api-refuses"


def environment(tmp_path: Path, **values: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "SLACK_", "DATABASE_"))}
    env.update(
        DATABASE_URL=f"sqlite:///{tmp_path / 'cli.db'}",
        ORG_FILE=str(REPO / "examples" / "org.yaml"),
        POLICY_FILE=str(REPO / "examples" / "policy.yaml"),
        KB_CACHE_DIR=str(tmp_path / "cache"),
        LOG_LEVEL="INFO",
    )
    env.update(values)
    return env


# ASYNC109: the deadline bounds the child process (communicate).
async def run_cli(tmp_path: Path, env: dict[str, str], timeout: float = 180) -> tuple[int, str, str]:  # noqa: ASYNC109
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot.cli",
        "telegram",
        cwd=tmp_path,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


def test_the_command_is_registered() -> None:
    args = build_parser().parse_args(["telegram"])
    assert args.func.__module__ == "bot.adapters.telegram.cli"


async def test_a_refused_token_is_one_line_and_exit_2(tmp_path: Path, fake_api: FakeBotAPI) -> None:
    env = environment(tmp_path, TELEGRAM_TOKEN=WRONG_TOKEN, TELEGRAM_BASE_URL=fake_api.base_url)
    code, out, err = await run_cli(tmp_path, env)
    assert code == 2
    assert err.splitlines() == [
        "telegram: the Bot API refused TELEGRAM_TOKEN (revoked or mistyped); ask @BotFather for it"
    ]
    assert "Traceback" not in err and WRONG_TOKEN not in err + out


async def test_an_unreachable_api_is_one_line_and_exit_2(tmp_path: Path) -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = environment(tmp_path, TELEGRAM_TOKEN=TOKEN, TELEGRAM_BASE_URL=f"http://127.0.0.1:{port}/bot")
    code, out, err = await run_cli(tmp_path, env)
    lines = err.splitlines()
    assert code == 2 and len(lines) == 1, err
    assert lines[0].startswith(f"telegram: cannot reach the Bot API at http://127.0.0.1:{port}/bot (")
    assert "Traceback" not in err and TOKEN not in err + out


async def test_a_missing_token_is_one_line_and_exit_2(tmp_path: Path) -> None:
    code, _out, err = await run_cli(tmp_path, environment(tmp_path))
    assert code == 2 and err.strip().splitlines() == [
        "setting TELEGRAM_TOKEN: required for `deskmate telegram` (the token @BotFather gave you)"
    ]


@pytest.mark.slow  # a real `deskmate telegram` process from start to SIGTERM
async def test_runs_answers_and_stops_on_sigterm(tmp_path: Path, fake_api: FakeBotAPI) -> None:
    env = environment(tmp_path, TELEGRAM_TOKEN=TOKEN, TELEGRAM_BASE_URL=fake_api.base_url, LOG_LEVEL="DEBUG")
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot.cli",
        "telegram",
        cwd=tmp_path,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    output = asyncio.create_task(process.communicate())  # read as it comes, or a full pipe stalls the bot

    def seen() -> str:
        return f"exit code {process.returncode}; API calls so far: {[c.method for c in fake_api.calls]}"

    # Deadlines only bound a hung run: on a loaded machine start-up alone can take tens of seconds.
    try:
        await wait_until(
            lambda: bool(fake_api.attempts("getUpdates")), timeout=180, what="polling to start", state=seen
        )
        fake_api.push(fake_api.text_update(TG["wangfang"], "帮助"))
        await wait_until(
            lambda: bool(fake_api.deliveries(TG["wangfang"])), timeout=180, what="the reply", state=seen
        )
        process.send_signal(signal.SIGTERM)
        raw_out, raw_err = await asyncio.wait_for(output, 180)
    finally:
        if process.returncode is None:
            process.kill()
            await output
    out, err = raw_out.decode(), raw_err.decode()
    assert process.returncode == 0, err
    assert (fake_api.deliveries(TG["wangfang"])[0].text or "").startswith("王芳，您好")
    assert "deskmate telegram: @deskmate_test_bot, long polling" in err
    assert "Traceback" not in err, err
    assert TOKEN not in err + out and "(redacted)" in err
