"""A `deskmate feishu` process (HTTP callbacks) for the kill -9 test: the real adapter, inbox and outbox
workers against the fake at the URL given. The core's clock starts at 08:MM (MM from the command line) of a
day everyone works from 09:00 and runs at real speed, so the claims of a killed run expire for the next one
(which starts later). Prints `READY PORT` once /feishu/events listens.

Run: python -m tests.feishu.crash_worker DB_FILE ORG_FILE API_URL MINUTE
"""

from __future__ import annotations

import asyncio
import sys
import time
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import aiohttp
from aiohttp import web
from pydantic import SecretStr

from bot import roster_store
from bot.adapters.feishu.adapter import FeishuAdapter
from bot.adapters.feishu.api import OpenAPI
from bot.app import App
from bot.clock import FakeClock
from bot.ratelimit import RateLimiter
from bot.runtime import background
from bot.settings import Settings
from fakes.feishu_api import APP_ID, APP_SECRET

REPO = Path(__file__).resolve().parents[2]
DAY = date(2026, 12, 1)
TOKEN = "crash-token"


class RunningClock(FakeClock):
    def __init__(self, start: datetime) -> None:
        super().__init__(start)
        self._started = time.monotonic()

    def now(self) -> datetime:
        return super().now() + timedelta(seconds=time.monotonic() - self._started)


async def main(db_file: Path, org_file: Path, api_url: str, minute: int) -> None:
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        database_url=f"sqlite+aiosqlite:///{db_file}",
        org_file=org_file,
        policy_file=REPO / "examples" / "policy.yaml",
        roster_file=None,
        kb_semantic=False,
        kb_cache_dir=db_file.parent / "cache",
        inbox_claim_seconds=1,
        outbox_claim_seconds=1,
        feishu_app_id=APP_ID,
        feishu_app_secret=SecretStr(APP_SECRET),
        feishu_base_url=api_url,
        feishu_verification_token=SecretStr(TOKEN),
        feishu_event_mode="http",
    )
    clock = RunningClock(datetime(2026, 12, 1, 8, minute, tzinfo=ZoneInfo("Asia/Shanghai")))
    app = App(settings, clock=clock)
    await app.prepare()
    async with app.db.read() as conn:
        people = [p.id for p in await app.directory.all(conn)]
    async with app.db.transaction() as conn:
        await roster_store.upsert(conn, [(p, DAY, "day") for p in people], clock.now())
    async with aiohttp.ClientSession() as session:
        adapter = FeishuAdapter(app, OpenAPI(session, api_url, APP_ID, APP_SECRET))
        adapter.attach(limiter=RateLimiter(10_000.0))
        runner = web.AppRunner(adapter.web_app(), access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        async with background(app):
            sys.stdout.write(f"READY {runner.addresses[0][1]}\n")
            sys.stdout.flush()
            await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3], int(sys.argv[4])))
