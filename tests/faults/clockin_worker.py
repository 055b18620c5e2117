"""A bot process for the crash test: N agents clock in one after another; after each reply is delivered
it prints `REPLY person` and flushes, so the parent knows exactly what the users were told."""

from __future__ import annotations

import asyncio
import sys
from datetime import UTC, date, datetime
from pathlib import Path

import yaml

from bot import roster_store
from bot.app import App
from bot.clock import FakeClock
from bot.messages import Incoming
from bot.outbox import Copy, Delivery
from bot.settings import Settings


class PrintTransport:
    platform = "console"

    async def deliver(self, item: Delivery) -> list[Copy]:
        who = item.recipient.id if item.recipient else str(item.chat_id)
        if item.text.startswith("✅"):
            sys.stdout.write(f"REPLY {who}\n")
            sys.stdout.flush()
        return [Copy(who, item.message_id)]


async def main(db_file: Path, count: int) -> None:
    org_file = db_file.with_suffix(".yaml")
    people = [{"id": f"a{i:04d}", "name": f"客服{i}", "role": "agent", "team": "t"} for i in range(count)]
    people.append({"id": "lead", "name": "组长", "role": "lead", "team": "t"})
    org_file.write_text(
        yaml.safe_dump(
            {"teams": [{"id": "t", "name": "组", "lead": "lead"}], "people": people}, allow_unicode=True
        ),
        encoding="utf-8",
    )
    settings = Settings(
        database_url=f"sqlite+aiosqlite:///{db_file}",
        org_file=org_file,
        kb_semantic=False,
        roster_file=None,
        _env_file=None,
    )  # type: ignore[call-arg]
    clock = FakeClock(datetime(2026, 12, 1, 0, 55, tzinfo=UTC))
    app = App(settings, clock=clock)
    await app.prepare()
    async with app.db.transaction() as conn:
        await roster_store.upsert(conn, [(p["id"], date(2026, 12, 1), "day") for p in people], clock.now())
    app.attach(PrintTransport())
    sys.stdout.write("READY\n")
    sys.stdout.flush()
    for i in range(count):
        person = await app.person(f"a{i:04d}")
        await app.handle(Incoming("console", person.id, person.id, person, clock.now(), text="打卡"))  # type: ignore[union-attr]
        await app.deliver()


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1]), int(sys.argv[2])))
