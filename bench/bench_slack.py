"""500 signed `/desk in` commands within one second against a running `deskmate slack`.

Run: .venv/bin/python -m bench.bench_slack [--people 500] [--seconds 1.0]
Target: every command acked within 3 s, p95 ack <= 50 ms, every command recorded exactly once.

The bot runs as operators run it (`python -m bot.cli slack`, HTTP mode, production ack-then-work) in its
own process, on a temporary org of N people with Slack ids and a temporary SQLite file. This process plays
Slack: it signs and sends the commands, timing each HTTP round trip (the ack), and serves a fake Web API on
127.0.0.1 for the replies. "Recorded" means one clock-in punch per person (attendance feature); without
that feature the replies to `/desk whoami` are counted instead, and the output says so.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import signal
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlencode

import aiohttp
from slack_sdk.signature import SignatureVerifier

from fakes.slack_api import TOKEN, FakeSlackAPI

REPO = Path(__file__).resolve().parents[1]

SECRET = "bench-signing-secret-0123456789"
TEAM_SIZE = 20


def slack_id(index: int) -> str:
    return f"UB{index:08d}"


def write_org(path: Path, people: int) -> None:
    """Teams of 20 (the first of each is its lead) and one manager who warms the server up."""
    teams = (people + TEAM_SIZE - 1) // TEAM_SIZE
    lines = ["teams:"]
    for t in range(teams):
        lines.append(f"  - {{id: t{t:03d}, name: 第{t + 1}组, lead: p{t * TEAM_SIZE:05d}}}")
    lines.append("people:")
    lines.append("  - {id: boss, name: 经理, role: manager, team: null, slack: UBOSS00001}")
    for i in range(people):
        role = "lead" if i % TEAM_SIZE == 0 else "agent"
        team = f"t{i // TEAM_SIZE:03d}"
        lines.append(f"  - {{id: p{i:05d}, name: 员工{i}, role: {role}, team: {team}, slack: {slack_id(i)}}}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def attendance_registered() -> bool:
    from bot.app import App
    from bot.settings import Settings

    app = App(Settings(_env_file=None, database_url="sqlite+aiosqlite:///:memory:"))  # type: ignore[call-arg]
    return "in" in app.router.commands


def signed(body: bytes) -> dict[str, str]:
    stamp = str(int(time.time()))
    signature = SignatureVerifier(SECRET).generate_signature(timestamp=stamp, body=body)
    assert signature is not None
    return {
        "X-Slack-Request-Timestamp": stamp,
        "X-Slack-Signature": signature,
        "Content-Type": "application/x-www-form-urlencoded",
    }


def command(user: str, text: str, n: int) -> bytes:
    return urlencode(
        {
            "command": "/desk",
            "text": text,
            "user_id": user,
            "channel_id": "D" + user[1:],
            "channel_name": "directmessage",
            "team_id": "T0BENCH01",
            "trigger_id": f"bench.{n}",
        }
    ).encode()


async def start_bot(workdir: Path, api: FakeSlackAPI) -> tuple[asyncio.subprocess.Process, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "DATABASE_"))}
    env.update(
        PYTHONPATH=str(REPO),
        DATABASE_URL=f"sqlite+aiosqlite:///{workdir / 'bench.db'}",
        ORG_FILE=str(workdir / "org.yaml"),
        POLICY_FILE=str(REPO / "examples" / "policy.yaml"),
        SLACK_BOT_TOKEN=TOKEN,
        SLACK_SIGNING_SECRET=SECRET,
        SLACK_API_URL=api.base_url,
        SLACK_LISTEN_HOST="127.0.0.1",
        SLACK_LISTEN_PORT="0",
        LOG_LEVEL="WARNING",
    )
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot.cli", "slack", cwd=workdir, env=env, stderr=asyncio.subprocess.PIPE
    )
    assert process.stderr is not None
    while True:
        line = (await asyncio.wait_for(process.stderr.readline(), 120)).decode()
        if not line:
            raise SystemExit("deskmate slack exited before listening")
        match = re.search(r"listening on (http://\S+)", line)
        if match:
            return process, match.group(1)


def recorded(db: Path, users: list[str], attendance: bool) -> dict[str, int]:
    """How many times each benchmark person's command was recorded."""
    ids = [f"p{i:05d}" for i in range(len(users))]
    counts = dict.fromkeys(ids, 0)
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30) as conn:
        if attendance:
            query = "SELECT person_id, COUNT(*) FROM punches WHERE kind = 'clock_in' GROUP BY person_id"
        else:
            query = "SELECT to_person, COUNT(*) FROM outbox WHERE to_person LIKE 'p%' GROUP BY to_person"
        rows = conn.execute(query)
        for person, count in rows:
            if person in counts:
                counts[person] = count
    return counts


async def run(people: int, seconds: float) -> int:
    attendance = attendance_registered()
    text = "in" if attendance else "whoami"
    users = [slack_id(i) for i in range(people)]
    with tempfile.TemporaryDirectory(prefix="deskmate-bench-") as tmp:
        workdir = Path(tmp)
        write_org(workdir / "org.yaml", people)
        api = await FakeSlackAPI(token=TOKEN).start()
        process, url = await start_bot(workdir, api)
        try:
            connector = aiohttp.TCPConnector(limit=0)
            async with aiohttp.ClientSession(connector=connector) as session:
                body = command("UBOSS00001", "help", 0)  # warm-up: bolt's first auth.test, connections
                async with session.post(url, data=body, headers=signed(body)) as response:
                    assert response.status == 200
                await asyncio.sleep(0.5)

                latencies: list[float] = [0.0] * people
                statuses: list[int] = [0] * people
                loop = asyncio.get_running_loop()
                start = loop.time() + 0.05

                async def send(n: int) -> None:
                    await asyncio.sleep(max(0.0, start + n * seconds / people - loop.time()))
                    body = command(users[n], text, n + 1)
                    began = time.perf_counter()
                    async with session.post(url, data=body, headers=signed(body)) as response:
                        await response.read()
                        statuses[n] = response.status
                    latencies[n] = time.perf_counter() - began

                began_all = time.perf_counter()
                await asyncio.gather(*(send(n) for n in range(people)))
                sent_in = time.perf_counter() - began_all

            deadline = time.perf_counter() + 120
            counts = recorded(workdir / "bench.db", users, attendance)
            while sum(1 for c in counts.values() if c) < people and time.perf_counter() < deadline:
                await asyncio.sleep(0.2)
                counts = recorded(workdir / "bench.db", users, attendance)
            all_recorded_in = time.perf_counter() - began_all
        finally:
            process.send_signal(signal.SIGTERM)
            await asyncio.wait_for(process.wait(), 60)
            await api.stop()

    ms = sorted(x * 1000 for x in latencies)
    p95 = ms[max(0, int(len(ms) * 0.95) - 1)]
    exactly_once = sum(1 for c in counts.values() if c == 1)
    ok = all(s == 200 for s in statuses) and ms[-1] <= 3000 and p95 <= 50 and exactly_once == people
    what = "clock-in punches (/desk in)"
    if not attendance:
        what = "replies to /desk whoami (attendance not registered)"
    print(f"commands sent:        {people} in {sent_in:.2f} s (`/desk {text}`, signed, HTTP mode)")
    print(f"acked 200:            {sum(1 for s in statuses if s == 200)}/{people}")
    p99 = ms[max(0, int(len(ms) * 0.99) - 1)]
    print(f"ack p50 / p95 / p99:  {statistics.median(ms):.1f} / {p95:.1f} / {p99:.1f} ms")
    print(f"ack max:              {ms[-1]:.1f} ms (limit 3000 ms)")
    print(f"recorded exactly once: {exactly_once}/{people} {what}; all in {all_recorded_in:.1f} s")
    print(f"target (p95 <= 50 ms, all acked < 3 s, all recorded once): {'met' if ok else 'MISSED'}")
    return 0 if ok else 1


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--people", type=int, default=500)
    parser.add_argument("--seconds", type=float, default=1.0)
    args = parser.parse_args()
    sys.exit(asyncio.run(run(args.people, args.seconds)))


if __name__ == "__main__":
    main()
