"""One bot replica for the multi-replica test: plans the reminders due at a fixed moment, then delivers
its share of the outbox to a fake platform over HTTP until no message is left to send.

Nothing here depends on how fast the machine is: claims last long enough (CLAIM_SECONDS) for any batch to
be sent under load, the replica stops only when the outbox holds nothing pending, and the clock moves past
the leases of a killed replica only when the test says so (by creating the jump file).
"""

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

CLAIM_SECONDS = 600
JUMP = timedelta(seconds=CLAIM_SECONDS + 60)


class RunningClock:
    """Starts at a chosen moment when the test began (`epoch`, wall time, the same for every replica) and
    runs at real speed; once the jump file exists it is JUMP later, past every claim's lease."""

    def __init__(self, start: datetime, epoch: float, jump_file: Path) -> None:
        self.start = start
        self.epoch = epoch
        self.jump_file = jump_file

    def now(self) -> datetime:
        moment = self.start + timedelta(seconds=time.time() - self.epoch)
        return moment + JUMP if self.jump_file.exists() else moment


class HttpTransport:
    platform = "fake"

    def __init__(self, url: str, session: aiohttp.ClientSession, replica: str) -> None:
        self.url = url
        self.session = session
        self.replica = replica

    async def deliver(self, item: Delivery) -> list[Copy]:
        who = item.recipient.id if item.recipient else str(item.chat_id)
        payload = {"message_id": item.message_id, "to": who, "text": item.text}
        try:
            async with self.session.post(
                self.url, json=payload, headers={"X-Replica": self.replica}
            ) as response:
                if response.status != 200:
                    raise RetryLater(1, f"HTTP {response.status}")
        except aiohttp.ClientError as exc:
            raise RetryLater(1, repr(exc)) from exc
        return [Copy(who, item.message_id)]


async def main(url: str, platform: str, start: str, epoch: str, replica: str, jump_file: str) -> None:
    settings = Settings(
        database_url=url,
        org_file=Path("/nonexistent.yaml"),
        kb_semantic=False,
        outbox_claim_seconds=CLAIM_SECONDS,
        _env_file=None,
    )  # type: ignore[call-arg]
    clock = RunningClock(datetime.fromisoformat(start), float(epoch), Path(jump_file))
    app = App(settings, clock=clock)
    await app.prepare(import_org_if_empty=False)
    async with aiohttp.ClientSession() as session:
        dispatcher = app.attach(HttpTransport(platform, session, replica))
        await app.run_due()
        print("PLANNED", flush=True)
        while await dispatcher.pending_count():
            if not await dispatcher.deliver_due():
                await asyncio.sleep(0.1)  # the rest is claimed by the other replica, or not due yet
    await app.close()


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:7]))
