"""Two replicas on one PostgreSQL database: 1,000 reminders due in the same minute are each sent, and a
replica killed with SIGKILL mid-run loses nothing: the other sends what it had claimed."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections import Counter
from datetime import date
from pathlib import Path

import pytest
import yaml
from aiohttp import web

from bot import roster_store
from bot.app import App
from bot.clock import FakeClock
from bot.settings import Settings
from tests.conftest import REPO, local

AGENTS = 1000


@pytest.fixture
def backend() -> str:
    return "postgresql"


async def start_platform(received: list[dict[str, str]]) -> tuple[web.AppRunner, str]:
    async def message(request: web.Request) -> web.Response:
        received.append(await request.json())
        return web.json_response({"ok": True})

    web_app = web.Application()
    web_app.router.add_post("/send", message)
    runner = web.AppRunner(web_app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    return runner, f"http://127.0.0.1:{port}/send"


async def prepare_department(url: str, tmp_path: Path) -> None:
    org_file = tmp_path / "org.yaml"
    people = [{"id": f"a{i:04d}", "name": f"客服{i}", "role": "agent", "team": "t"} for i in range(AGENTS)]
    people.append({"id": "lead", "name": "组长", "role": "lead", "team": "t"})
    org_file.write_text(
        yaml.safe_dump(
            {"teams": [{"id": "t", "name": "组", "lead": "lead"}], "people": people}, allow_unicode=True
        ),
        encoding="utf-8",
    )
    clock = FakeClock(local("2026-12-01 08:00"))
    app = App(
        Settings(database_url=url, org_file=org_file, kb_semantic=False, roster_file=None, _env_file=None),  # type: ignore[call-arg]
        clock=clock,
    )
    await app.prepare()
    async with app.db.transaction() as conn:
        await roster_store.upsert(
            conn, [(f"a{i:04d}", date(2026, 12, 1), "day") for i in range(AGENTS)], clock.now()
        )
    await app.run_due(local("2026-12-01 08:44"))  # the scheduler's last run, just before the reminders
    await app.close()


async def run_replicas(
    database_url: str, tmp_path: Path, *, kill_after: int | None
) -> tuple[list[dict[str, str]], int]:
    """Two replicas deliver the reminders; optionally SIGKILL the first once `kill_after` arrived."""
    await prepare_department(database_url, tmp_path)
    received: list[dict[str, str]] = []
    runner, platform = await start_platform(received)
    start = local("2026-12-01 08:45:30").isoformat()
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    replicas = [
        subprocess.Popen(
            [sys.executable, "-m", "tests.faults.replica_worker", database_url, platform, start],
            cwd=REPO,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(2)
    ]
    at_kill = -1
    try:
        if kill_after is not None:
            for _ in range(600):
                if len(received) >= kill_after:
                    break
                await asyncio.sleep(0.05)
            replicas[0].send_signal(signal.SIGKILL)
            at_kill = len(received)
        for _ in range(600):
            if all(r.poll() is not None for r in replicas[1 if kill_after is not None else 0 :]):
                break
            await asyncio.sleep(0.1)
    finally:
        for replica in replicas:
            if replica.poll() is None:
                replica.kill()
            replica.wait(timeout=30)
        await runner.cleanup()
    if kill_after is not None:
        assert replicas[0].returncode == -signal.SIGKILL
    assert replicas[1].returncode == 0
    return received, at_kill


async def test_two_replicas_send_each_reminder_exactly_once(database_url: str, tmp_path: Path) -> None:
    received, _ = await run_replicas(database_url, tmp_path, kill_after=None)
    reminders = [m for m in received if m["text"].startswith("⏰")]
    assert len(reminders) == AGENTS
    assert Counter(m["to"] for m in reminders).most_common(1)[0][1] == 1
    assert Counter(m["message_id"] for m in received).most_common(1)[0][1] == 1


async def test_a_replica_killed_mid_run_loses_nothing(database_url: str, tmp_path: Path) -> None:
    received, at_kill = await run_replicas(database_url, tmp_path, kill_after=300)
    assert 300 <= at_kill < AGENTS  # killed in the middle of the run
    reminders = [m for m in received if m["text"].startswith("⏰")]
    assert len({m["to"] for m in reminders}) == AGENTS  # the survivor sent what the dead one had claimed
    # Only what the killed replica had in flight (8 sends at a time) can reach the platform twice.
    counts = Counter(m["message_id"] for m in received)
    assert sum(n - 1 for n in counts.values()) <= 8
