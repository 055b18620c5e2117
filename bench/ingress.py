"""The way in under a burst: N clock-ins within one second through the Telegram webhook and Slack HTTP.

Run: .venv/bin/python -m bench.ingress [--people 500] [--no-postgres] [--platform telegram|slack] [--batch N]

For each platform, database (SQLite in WAL mode; PostgreSQL at DESKMATE_BENCH_PG, default the local
server) and inbox batch size (20 rows per transaction, a savepoint each, against 1), a bot process with
the real adapter and workers (`tests.faults.ingress_worker`) gets N signed requests spread over one second.
Printed: ack p95 (request sent to HTTP 200, i.e. stored and committed), whether every clock-in was stored
exactly once, the time from the first request to the last punch stored, the bot process's CPU time per
clock-in (user + system, from /proc), and for Telegram the time until the last reply reached the fake
Bot API, which answers 429 above 30 messages in any second (the bot paces itself at 29/s).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import statistics
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

import aiohttp
import sqlalchemy as sa
import yaml
from slack_sdk.signature import SignatureVerifier

from bot import roster_store
from bot.app import App
from bot.clock import FakeClock
from bot.db import Database
from bot.settings import Settings
from fakes.slack_api import FakeSlackAPI
from fakes.telegram_api import FakeBotAPI
from tests.conftest import local
from tests.faults.ingress_worker import SLACK_SECRET, TELEGRAM_TOKEN, WEBHOOK_SECRET

REPO = Path(__file__).resolve().parents[1]
PG_SERVER = os.environ.get("DESKMATE_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
START = local("2026-12-01 08:50")
TELEGRAM_LIMIT = 30  # messages a second the fake Bot API accepts before it answers 429


def telegram_id(i: int) -> int:
    return 720_000_000 + i


def slack_id(i: int) -> str:
    return f"UBN{i:07d}"


@dataclass
class Result:
    platform: str
    database: str
    batch: int
    ack_p95_ms: float
    exactly_once: bool
    last_punch_s: float
    cpu_ms: float
    replies_s: float | None
    throttled: int


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def prepare(url: str, people: int, workdir: Path) -> None:
    agents = [
        {
            "id": f"b{i:04d}",
            "name": f"客服{i}",
            "role": "agent",
            "team": "t",
            "telegram": str(telegram_id(i)),
            "slack": slack_id(i),
        }
        for i in range(people)
    ]
    agents.append({"id": "lead", "name": "组长", "role": "lead", "team": "t"})
    org_file = workdir / "org.yaml"
    org_file.write_text(
        yaml.safe_dump(
            {"teams": [{"id": "t", "name": "组", "lead": "lead"}], "people": agents}, allow_unicode=True
        ),
        encoding="utf-8",
    )
    settings = Settings(
        database_url=url, org_file=org_file, kb_semantic=False, roster_file=None, _env_file=None
    )  # type: ignore[call-arg]
    app = App(settings, clock=FakeClock(START))
    try:
        await app.prepare()
        async with app.db.transaction() as conn:
            await roster_store.upsert(
                conn, [(f"b{i:04d}", START.date(), "day") for i in range(people)], START
            )
    finally:
        await app.close()


async def count(db: Database, sql: str) -> int:
    async with db.read() as conn:
        return int((await conn.execute(sa.text(sql))).scalar_one())


async def one_run(platform: str, url: str, label: str, batch: int, people: int) -> Result:
    with tempfile.TemporaryDirectory(prefix="bench-ingress-") as tmp:
        workdir = Path(tmp)
        if url.startswith("sqlite"):
            url = f"sqlite+aiosqlite:///{workdir / 'bench.db'}"
        await prepare(url, people, workdir)
        telegram = await FakeBotAPI(TELEGRAM_TOKEN).start() if platform == "telegram" else None
        slack = await FakeSlackAPI().start() if platform == "slack" else None
        if telegram is not None:
            telegram.limit_per_second = TELEGRAM_LIMIT
        api_url = telegram.base_url if telegram is not None else slack.base_url  # type: ignore[union-attr]
        variant = "telegram-webhook" if platform == "telegram" else "slack-http"
        epoch = time.time()
        env = {**os.environ, "DESKMATE_INBOX_BATCH": str(batch)}
        process = await asyncio.create_subprocess_exec(
            *(sys.executable, "-m", "tests.faults.ingress_worker", variant, url, api_url, START.isoformat()),
            *(str(epoch), ""),
            cwd=REPO,
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL,
        )
        db = Database(url)
        try:
            assert process.stdout is not None
            port = int((await asyncio.wait_for(process.stdout.readline(), 300)).split()[1])
            acks: list[float] = []
            statuses: list[int] = []
            cpu_before = cpu_seconds(process.pid)
            async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:

                async def send(i: int, at: float) -> None:
                    await asyncio.sleep(max(0.0, at - time.monotonic()))
                    sent = time.monotonic()
                    if telegram is not None:
                        update = telegram.text_update(telegram_id(i), "打卡")
                        request = session.post(
                            f"http://127.0.0.1:{port}/telegram/webhook",
                            json=update,
                            headers={"X-Telegram-Bot-Api-Secret-Token": WEBHOOK_SECRET},
                        )
                    else:
                        body = urlencode(
                            {"command": "/desk", "text": "in", "user_id": slack_id(i), "team_id": "T0TEST001",
                             "channel_id": "D" + slack_id(i)[1:], "channel_name": "directmessage",
                             "trigger_id": f"bench.{i}", "response_url": "http://127.0.0.1:9/never",
                             "token": "legacy", "api_app_id": "A0DESK0001", "user_name": f"b{i:04d}"}
                        ).encode()  # fmt: skip
                        stamp = str(int(START.timestamp() + time.time() - epoch))
                        signature = SignatureVerifier(SLACK_SECRET).generate_signature(
                            timestamp=stamp, body=body
                        )
                        request = session.post(
                            f"http://127.0.0.1:{port}/slack/events",
                            data=body,
                            headers={
                                "Content-Type": "application/x-www-form-urlencoded",
                                "X-Slack-Request-Timestamp": stamp,
                                "X-Slack-Signature": signature or "",
                            },
                        )
                    async with request as response:
                        await response.read()
                        statuses.append(response.status)
                    acks.append(time.monotonic() - sent)

                began = time.monotonic()
                await asyncio.gather(*(send(i, began + i / people) for i in range(people)))
                punched = 0
                while punched < people and time.monotonic() - began < 600:
                    punched = await count(
                        db, "SELECT count(DISTINCT person_id) FROM punches WHERE kind = 'clock_in'"
                    )
                    if punched < people:
                        await asyncio.sleep(0.02)
                last_punch = time.monotonic() - began
                cpu = cpu_seconds(process.pid) - cpu_before
                replies_s: float | None = None
                if telegram is not None:
                    while len(telegram.deliveries()) < people and time.monotonic() - began < 900:  # noqa: ASYNC110
                        await asyncio.sleep(0.05)  # the fake's calls list is polled: it has no event
                    replies_s = time.monotonic() - began
            total = await count(db, "SELECT count(*) FROM punches WHERE kind = 'clock_in'")
            done = await count(db, "SELECT count(*) FROM inbox WHERE state = 'done'")
            once = total == people and punched == people and statuses.count(200) == people and done == people
            return Result(
                platform,
                label,
                batch,
                statistics.quantiles(acks, n=20)[18] * 1000,
                once,
                last_punch,
                cpu / people * 1000,
                replies_s,
                telegram.throttled if telegram is not None else 0,
            )
        finally:
            if process.returncode is None:
                process.send_signal(signal.SIGKILL)
                await process.wait()
            await db.dispose()
            if telegram is not None:
                await telegram.close()
            if slack is not None:
                await slack.stop()


async def postgres_database() -> tuple[str, str] | None:
    try:
        import asyncpg

        admin = await asyncpg.connect(PG_SERVER, timeout=5)
    except Exception:
        return None
    name = f"deskmate_bench_{uuid.uuid4().hex[:8]}"
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    return PG_SERVER.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://") + f"/{name}", name


async def drop(name: str) -> None:
    import asyncpg

    admin = await asyncpg.connect(PG_SERVER, timeout=5)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


async def run(people: int, postgres: bool, platforms: list[str], batches: list[int]) -> int:
    results: list[Result] = []
    for platform in platforms:
        for batch in batches:
            results.append(await one_run(platform, "sqlite", "SQLite WAL", batch, people))
            if postgres:
                created = await postgres_database()
                if created is None:
                    print("PostgreSQL not reachable: skipped", file=sys.stderr)
                    continue
                try:
                    results.append(await one_run(platform, created[0], "PostgreSQL", batch, people))
                finally:
                    await drop(created[1])
    print(f"{people} clock-ins within one second (load average now {os.getloadavg()[0]:.1f})")
    print("platform  database    batch  ack p95   exactly once  last punch  CPU/clock-in  replies (429s)")
    for r in results:
        replies = f"{r.replies_s:6.1f} s ({r.throttled})" if r.replies_s is not None else "-"
        print(
            f"{r.platform:<9} {r.database:<11} {r.batch:>5}  {r.ack_p95_ms:6.0f} ms"
            f"  {'yes' if r.exactly_once else 'NO':<12}"
            f"  {r.last_punch_s:7.1f} s  {r.cpu_ms:9.1f} ms  {replies}"
        )
    return 0 if all(r.exactly_once for r in results) else 1


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--people", type=int, default=500)
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--platform", choices=["telegram", "slack"], action="append", help="default: both")
    parser.add_argument(
        "--batch", type=int, action="append", help="inbox rows per transaction; default: 20 and 1"
    )
    args = parser.parse_args()
    platforms = args.platform or ["telegram", "slack"]
    raise SystemExit(asyncio.run(run(args.people, not args.no_postgres, platforms, args.batch or [20, 1])))


if __name__ == "__main__":
    main()
