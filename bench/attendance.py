"""Attendance benchmark: clock-in latency in process on SQLite with a year of history for 2,000 agents
(about 1.5 M punch rows, generated here), then the reminder-planning figure from attendance_plan.py.
Run with `.venv/bin/python -m bench.attendance`; it prints its figures."""

from __future__ import annotations

import asyncio
import random
import resource
import sqlite3
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import yaml

from bot.app import App
from bot.clock import FakeClock
from bot.messages import Incoming
from bot.settings import Settings

AGENTS = 2000
DAYS = 365
TODAY = date(2026, 12, 1)


def write_org(path: Path) -> None:
    teams = [{"id": f"t{i}", "name": f"组{i}", "lead": f"lead{i}"} for i in range(20)]
    people = [{"id": f"lead{i}", "name": f"组长{i}", "role": "lead", "team": f"t{i}"} for i in range(20)]
    people += [
        {"id": f"a{i:04d}", "name": f"客服{i}", "role": "agent", "team": f"t{i % 20}"} for i in range(AGENTS)
    ]
    path.write_text(yaml.safe_dump({"teams": teams, "people": people}, allow_unicode=True), encoding="utf-8")


def fill_history(db_file: Path) -> int:
    """A year of punches and roster rows, written straight with sqlite3 (setup only, not measured)."""
    rng = random.Random(7)
    conn = sqlite3.connect(db_file)
    now = datetime(2026, 11, 30, tzinfo=UTC).replace(tzinfo=None)
    total = 0
    for n in range(AGENTS):
        punches = []
        roster = []
        person = f"a{n:04d}"
        for d in range(DAYS):
            day = TODAY - timedelta(days=DAYS - d)
            roster.append((person, day.isoformat(), "day" if (d + n) % 7 else None, None, now))
            start = datetime.combine(day, datetime.min.time()) + timedelta(hours=1)  # 09:00 +08:00 in UTC
            late = rng.choice([-10, -3, 0, 2, 7, 40])
            punches.append(
                (
                    person,
                    "clock_in",
                    start + timedelta(minutes=late),
                    day.isoformat(),
                    "day",
                    "on_time" if late <= 0 else "late",
                    max(late, 0),
                    0,
                    0,
                    "chat",
                    now,
                )
            )
            punches.append(
                (
                    person,
                    "clock_out",
                    start + timedelta(hours=9, minutes=rng.choice([0, 5, 35])),
                    day.isoformat(),
                    "day",
                    "on_time",
                    0,
                    0,
                    0,
                    "chat",
                    now,
                )
            )
        roster.append((person, TODAY.isoformat(), "day", None, now))
        conn.executemany(
            "INSERT INTO punches (person_id, kind, at, shift_day, shift_code, verdict, minutes, grace_used, "
            "overtime_units, source, created_at) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
            punches,
        )
        conn.executemany(
            "INSERT INTO roster_entries (person_id, day, shift_code, note, updated_at) VALUES (?,?,?,?,?)",
            roster,
        )
        total += len(punches)
    conn.commit()
    conn.execute("ANALYZE")
    conn.close()
    return total


async def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        org_file = Path(tmp) / "org.yaml"
        write_org(org_file)
        db_file = Path(tmp) / "bench.db"
        settings = Settings(
            database_url=f"sqlite+aiosqlite:///{db_file}",
            org_file=org_file,
            kb_semantic=False,
            roster_file=None,
            _env_file=None,
        )  # type: ignore[call-arg]
        clock = FakeClock(datetime(2026, 12, 1, 0, 55, tzinfo=UTC))  # 08:55 in Shanghai
        app = App(settings, clock=clock)
        await app.prepare()
        started = time.perf_counter()
        rows = await asyncio.to_thread(fill_history, db_file)
        print(
            f"history: {rows:,} punch rows for {AGENTS} agents over {DAYS} days "
            f"(generated in {time.perf_counter() - started:.0f} s)"
        )
        people = {}
        async with app.db.read() as conn:
            for p in await app.directory.all(conn):
                people[p.id] = p
        latencies = []
        for n in range(500):
            person = people[f"a{n:04d}"]
            t0 = time.perf_counter()
            await app.handle(Incoming("console", person.id, person.id, person, clock.now(), text="打卡"))
            latencies.append(time.perf_counter() - t0)
        latencies.sort()
        p50 = latencies[len(latencies) // 2] * 1000
        p95 = latencies[int(len(latencies) * 0.95) - 1] * 1000
        print(
            f"clock-in in process on SQLite: p50 {p50:.1f} ms, p95 {p95:.1f} ms (target ≤ 10 ms), 500 punches"
        )
        await app.close()
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak resident memory of this process: {rss:.0f} MB")


if __name__ == "__main__":
    asyncio.run(main())
    # Planning runs in its own process so its memory figure is its own.
    import subprocess

    repo = Path(__file__).resolve().parents[1]
    subprocess.run([sys.executable, "-m", "bench.attendance_plan"], cwd=repo, check=True)
