"""One bot replica for the multi-replica test: plans the reminders due at a fixed moment, then delivers
its share of the outbox to a fake platform over HTTP until nothing is left."""

from __future__ import annotations

import asyncio
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path

import aiohttp

from bot.app import App
from bot.outbox import Copy, Delivery, RetryLater
from bot.settings import Settings


class RunningClock:
    """Starts at a chosen moment and then runs at real speed, so claim leases expire as in life."""

    def __init__(self, start: datetime) -> None:
        self.start = start
        self.t0 = time.monotonic()

    def now(self) -> datetime:
        return self.start + timedelta(seconds=time.monotonic() - self.t0)


class HttpTransport:
    platform = "fake"

    def __init__(self, url: str, session: aiohttp.ClientSession) -> None:
        self.url = url
        self.session = session

    async def deliver(self, item: Delivery) -> list[Copy]:
        who = item.recipient.id if item.recipient else str(item.chat_id)
        payload = {"message_id": item.message_id, "to": who, "text": item.text}
        try:
            async with self.session.post(self.url, json=payload) as response:
                if response.status != 200:
                    raise RetryLater(1, f"HTTP {response.status}")
        except aiohttp.ClientError as exc:
            raise RetryLater(1, repr(exc)) from exc
        return [Copy(who, item.message_id)]


async def main(url: str, platform: str, start: str) -> None:
    settings = Settings(
        database_url=url,
        org_file=Path("/nonexistent.yaml"),
        kb_semantic=False,
        outbox_claim_seconds=2,
        _env_file=None,
    )  # type: ignore[call-arg]
    app = App(settings, clock=RunningClock(datetime.fromisoformat(start)))
    await app.prepare(import_org_if_empty=False)
    async with aiohttp.ClientSession() as session:
        dispatcher = app.attach(HttpTransport(platform, session))
        await app.run_due()
        print("PLANNED", flush=True)
        idle_since = time.monotonic()
        while time.monotonic() - idle_since < 6:
            if await dispatcher.deliver_due():
                idle_since = time.monotonic()
            else:
                await asyncio.sleep(0.1)
    await app.close()


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:4]))
