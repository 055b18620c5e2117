"""A bot process for the kill -9 tests: the real adapters (Telegram webhook or polling, Slack HTTP or
Socket Mode, Feishu's long connection), the real inbox and outbox workers and scheduler
(`runtime.background`), on a SQLite file the test prepared, talking to the test's fake platform on
127.0.0.1. It prints `READY <port>` once it receives updates, then serves until it is killed.

The clock starts at the moment the test names and runs at real speed: a restarted process is started
past the claims of the killed one, so they are taken over without waiting a real minute.

    python -m tests.faults.ingress_worker VARIANT DATABASE_URL API_URL CLOCK_START EPOCH JUMP_FILE|""
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path

from pydantic import SecretStr

from bot.app import App
from bot.settings import Settings

TELEGRAM_TOKEN = "123456:TEST-token-for-the-fake-bot-api"
WEBHOOK_URL = "https://deskmate.example.com/telegram/webhook"
WEBHOOK_SECRET = "kill9-secret"
SLACK_SECRET = "kill9-signing-secret-0123456789"
FEISHU_APP_ID = "cli_kill9fake000001"
FEISHU_APP_SECRET = "kill9-feishu-secret-0123456789"


JUMP = timedelta(seconds=65)  # past every claim (INBOX_CLAIM_SECONDS and OUTBOX_CLAIM_SECONDS are 60)


class RunningClock:
    """`start` at the wall-clock moment `epoch`, then real time; JUMP later once the jump file exists
    (a replica whose peer was killed passes the dead one's claims without waiting a real minute)."""

    def __init__(self, start: datetime, epoch: float, jump_file: Path | None) -> None:
        self.start = start
        self.epoch = epoch
        self.jump_file = jump_file

    def now(self) -> datetime:
        moment = self.start + timedelta(seconds=time.time() - self.epoch)
        return moment + JUMP if self.jump_file is not None and self.jump_file.exists() else moment


def settings_for(variant: str, database_url: str, api_url: str) -> Settings:
    values: dict[str, object] = {
        "database_url": database_url,
        "org_file": None,
        "roster_file": None,
        "kb_semantic": False,
        "_env_file": None,
    }
    if variant.startswith("feishu"):
        values.update(
            feishu_app_id=FEISHU_APP_ID,
            feishu_app_secret=SecretStr(FEISHU_APP_SECRET),
            feishu_base_url=api_url,
            feishu_event_mode="ws",
        )
    elif variant.startswith("telegram"):
        values.update(telegram_token=SecretStr(TELEGRAM_TOKEN), telegram_base_url=api_url)
        if variant != "telegram-polling":
            values.update(
                telegram_webhook_url=WEBHOOK_URL,
                telegram_secret_token=SecretStr(WEBHOOK_SECRET),
                telegram_listen_port=0,
            )
    else:
        values.update(
            slack_bot_token=SecretStr("xoxb-1111-2222-fake-test-token"),
            slack_api_url=api_url,
            slack_listen_port=0,
        )
        if variant == "slack-socket":
            values["slack_app_token"] = SecretStr("xapp-1-kill9")
        else:
            values["slack_signing_secret"] = SecretStr(SLACK_SECRET)
    return Settings(**values)  # type: ignore[arg-type]


def ready(port: int) -> None:
    sys.stdout.write(f"READY {port}\n")
    sys.stdout.flush()


async def telegram(app: App) -> None:
    from bot.adapters.telegram.runner import TelegramBot

    bot = TelegramBot(app, poll_timeout=1)
    async with bot.running():
        ready(bot.port or 0)
        await asyncio.Event().wait()  # until killed


async def slack(app: App, settings: Settings) -> None:
    import aiohttp

    from bot.adapters.slack.adapter import SlackAdapter
    from bot.adapters.slack.runner import _http_mode, _socket_mode, make_client
    from bot.runtime import background

    async with aiohttp.ClientSession() as session:
        client = make_client(settings, session)
        signing = settings.slack_signing_secret.get_secret_value() if settings.slack_signing_secret else None
        adapter = SlackAdapter(app, client, signing_secret=signing, home_refresh_seconds=0)
        adapter.attach()
        stop = asyncio.Event()  # never set: the process is killed

        def say(line: str) -> None:
            port = line.split("http://127.0.0.1:", 1)[1].split("/", 1)[0] if "http://" in line else "0"
            ready(int(port))

        async with background(app):
            if settings.slack_app_token is not None:
                await _socket_mode(adapter, settings.slack_app_token.get_secret_value(), stop, say, "")
            else:
                await _http_mode(adapter, settings, stop, say, "")


async def feishu(settings: Settings, clock: RunningClock) -> None:
    """`deskmate feishu`'s own serve (start-up check, App, adapter, workers, the SDK's long connection in
    its thread), on the test's clock; READY once the long connection is up."""
    from bot.adapters.feishu.runner import serve

    await serve(settings, stop=asyncio.Event(), announce=lambda _line: ready(0), clock=clock)


async def main(variant: str, database_url: str, api_url: str, start: str, epoch: str, jump: str) -> None:
    settings = settings_for(variant, database_url, api_url)
    jump_file = Path(jump) if jump else None
    clock = RunningClock(datetime.fromisoformat(start), float(epoch), jump_file)
    if variant.startswith("feishu"):
        await feishu(settings, clock)
        return
    app = App(settings, clock=clock)
    await app.prepare(import_org_if_empty=False)
    # bench.ingress compares the inbox worker's batching (rows per transaction) with one row at a time.
    app.inbox.batch = int(os.environ.get("DESKMATE_INBOX_BATCH", app.inbox.batch))
    if variant.startswith("telegram"):
        await telegram(app)
    else:
        await slack(app, settings)


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:7]))
