"""A `deskmate dingtalk` process for the kill -9 test: the real adapter, Stream client, inbox and outbox
workers against the fake at the URL given. The core's clock starts at 08:MM (MM from the command line) of
a day everyone works from 09:00 and runs at real speed, so the claims of a killed run expire for the next
one (which starts a minute later). Prints READY once the Stream connection is up.

Run: python -m tests.dingtalk.crash_worker DB_FILE ORG_FILE API_URL MINUTE
"""

from __future__ import annotations

import asyncio
import sys
import time
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import aiohttp
from pydantic import SecretStr

from bot import roster_store
from bot.adapters.dingtalk.adapter import DingTalkAdapter
from bot.adapters.dingtalk.api import OpenAPI
from bot.adapters.dingtalk.stream import StreamClient
from bot.app import App
from bot.clock import FakeClock
from bot.ratelimit import RateLimiter
from bot.runtime import background
from bot.settings import Settings
from fakes.dingtalk_api import CLIENT_ID, CLIENT_SECRET

REPO = Path(__file__).resolve().parents[2]
DAY = date(2026, 12, 1)


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
        dingtalk_client_id=CLIENT_ID,
        dingtalk_client_secret=SecretStr(CLIENT_SECRET),
        dingtalk_robot_code=CLIENT_ID,
        dingtalk_api_url=api_url,
        dingtalk_card_template_id="crash.template",
    )
    clock = RunningClock(datetime(2026, 12, 1, 8, minute, tzinfo=ZoneInfo("Asia/Shanghai")))
    app = App(settings, clock=clock)
    await app.prepare()
    async with app.db.read() as conn:
        people = [p.id for p in await app.directory.all(conn)]
    async with app.db.transaction() as conn:
        await roster_store.upsert(conn, [(p, DAY, "day") for p in people], clock.now())
    async with aiohttp.ClientSession() as session:
        api = OpenAPI(session, api_url, CLIENT_ID, CLIENT_SECRET, CLIENT_ID)
        adapter = DingTalkAdapter(app, api)
        adapter.attach(limiter=RateLimiter(10_000.0))
        client = StreamClient(
            session, api_url, CLIENT_ID, CLIENT_SECRET, adapter.on_callback, backoff_first=0.05
        )
        stop = asyncio.Event()
        async with background(app):
            runner = asyncio.create_task(client.run(stop))
            await client.connected.wait()
            sys.stdout.write("READY\n")
            sys.stdout.flush()
            await runner


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3], int(sys.argv[4])))
