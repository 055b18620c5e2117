"""Feishu reminders at Feishu's documented sending limit: the real adapter, outbox and scheduler tick against
the fake open platform on 127.0.0.1, in one process.

Run: .venv/bin/python -m bench.bench_feishu [--reminders 300]

M agents (a temporary org with `feishu:` open_ids, a temporary SQLite file, everyone on the day shift) get
their shift reminder from the scheduler tick, each a message to one person (POST /open-apis/im/v1/messages).
The fake refuses a send with Feishu's frequency-limit answer (429, 99991400) whenever more than 50 sends
arrive in any rolling second or more than 1000 in any rolling minute. Target: all delivered within 10% of the
time the limit allows (M/50 s up to 1000 reminders), with no refusal.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
from pydantic import SecretStr

from bench.bench_telegram import (
    TEAM_SIZE,
    RunningClock,
    app_rows,
    local,
    pending,
    put_on_day_shift,
    wait_until,
)
from bot.adapters.feishu.adapter import FeishuAdapter
from bot.adapters.feishu.api import OpenAPI
from bot.adapters.feishu.transport import APP_PER_MINUTE, APP_PER_SECOND
from bot.app import App
from bot.messages import Outgoing
from bot.outbox import enqueue
from bot.runtime import background
from bot.settings import Settings
from fakes.feishu_api import APP_ID, APP_SECRET, FakeFeishu

REPO = Path(__file__).resolve().parents[1]


def write_org(path: Path, agents: int) -> None:
    teams = (agents + TEAM_SIZE - 1) // TEAM_SIZE
    lines = ["teams:"]
    lines += [f"  - {{id: t{t:03d}, name: 第{t + 1}组, lead: lead{t:03d}}}" for t in range(teams)]
    lines.append("people:")
    lines.append("  - {id: boss, name: 经理, role: manager, team: null}")
    lines += [f"  - {{id: lead{t:03d}, name: 组长{t}, role: lead, team: t{t:03d}}}" for t in range(teams)]
    lines += [
        f"  - {{id: a{i:05d}, name: 员工{i}, role: agent, team: t{i // TEAM_SIZE:03d}, "
        f"feishu: ou_agent{i:05d}}}"
        for i in range(agents)
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def allowed_seconds(messages: int) -> float:
    """How long the documented limits let `messages` sends take: 50 a second, 1000 a minute."""
    minutes, rest = divmod(messages, APP_PER_MINUTE)
    return minutes * 60.0 + rest / APP_PER_SECOND


async def reminders_at_the_limit(agents: int) -> bool:
    clock = RunningClock(local(8, 44))
    with tempfile.TemporaryDirectory(prefix="deskmate-bench-") as tmp:
        workdir = Path(tmp)
        fake = await FakeFeishu().start()
        fake.per_second, fake.per_minute = int(APP_PER_SECOND), APP_PER_MINUTE
        write_org(workdir / "org.yaml", agents)
        settings = Settings(
            _env_file=None,  # type: ignore[call-arg]
            database_url=f"sqlite+aiosqlite:///{workdir / 'bench.db'}",
            org_file=workdir / "org.yaml",
            policy_file=REPO / "examples" / "policy.yaml",
            roster_file=None,
            kb_cache_dir=workdir / "cache",
            kb_semantic=False,
            feishu_app_id=APP_ID,
            feishu_app_secret=SecretStr(APP_SECRET),
            feishu_base_url=fake.url,
        )
        app = App(settings, clock=clock)
        session = aiohttp.ClientSession()
        try:
            await app.prepare()
            await put_on_day_shift(app, agents)
            api = OpenAPI(session, fake.url, APP_ID, APP_SECRET)
            await api.token()  # as at start-up, before the tick
            FeishuAdapter(app, api).attach()  # the production limiter
            async with background(app):
                await app.run_due(clock.now())  # the scheduler's first look: nothing due yet
                clock.set(local(8, 45, 30))
                start = time.monotonic()
                await app.run_due(clock.now())  # 15 minutes before 09:00: one reminder each
                queued_in = time.monotonic() - start
                await wait_until(lambda: _idle(app), 300)
                elapsed = time.monotonic() - start
                queued = await app_rows(app)
                tick_sends, tick_refusals = len(fake.sends()), fake.throttled
                # The same number of messages queued at once: the outbox and the limiter alone.
                async with app.db.transaction() as conn:
                    for i in range(agents):
                        await enqueue(
                            conn, Outgoing("全员通知：今晚系统维护", to_person=f"a{i:05d}"), clock.now()
                        )
                start = time.monotonic()
                await wait_until(lambda: _idle(app), 300)
                direct = time.monotonic() - start
            sent = [c for c in fake.sends()[:tick_sends] if not c.body.get("_refused")]
            direct_sent = [c for c in fake.sends()[tick_sends:] if not c.body.get("_refused")]
        finally:
            await app.close()
            await session.close()
            await fake.stop()
    people = {str(c.body["receive_id"]) for c in sent}
    allowed = allowed_seconds(agents)
    print(f"[reminders at Feishu's {APP_PER_SECOND:.0f} sends/s and {APP_PER_MINUTE} sends/min per app]")
    print(f"  reminders queued:      {queued} by the scheduler tick in {queued_in:.2f} s")
    print(f"  delivered:             {len(sent)} to {len(people)} agents")
    print(f"  last one out:          {elapsed:.2f} s after the tick started")
    print(f"  limit allows:          {allowed:.1f} s; target <= {allowed * 1.1:.1f} s")
    print(f"  rate-limit refusals:   {tick_refusals}")
    print(f"[the same {agents} messages queued at once: outbox and limiter alone]")
    print(f"  delivered:             {len(direct_sent)} in {direct:.2f} s (limit allows {allowed:.1f} s)")
    print(f"  rate-limit refusals:   {fake.throttled - tick_refusals}")
    ok = queued == agents and len(sent) == agents and len(people) == agents and len(direct_sent) == agents
    return ok and elapsed <= allowed * 1.1 and tick_refusals == 0


async def _idle(app: App) -> bool:
    return await pending(app) == 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--reminders", type=int, default=300)
    args = parser.parse_args()
    ok = asyncio.run(reminders_at_the_limit(args.reminders))
    print(f"  target (<= 10% over the limit's time, no refusal): {'met' if ok else 'MISSED'}")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
