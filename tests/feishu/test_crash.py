"""kill -9 of the Feishu bot in the middle of a burst of clock-ins: nothing acknowledged is lost, nothing is
recorded twice. Like Feishu, the test sends every event again whose callback got no answer (and, to be
sure, the answered ones too) to the restarted process, which finishes what was stored and takes the rest."""

from __future__ import annotations

import asyncio
import signal
import sqlite3
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml

from bot.adapters.feishu.transport import FeishuTransport
from fakes.feishu_api import FakeFeishu
from tests.conftest import REPO
from tests.feishu.crash_worker import TOKEN

AGENTS = 80
KILL_AFTER = 30  # answered callbacks


def agent(i: int) -> str:
    return f"ou_crashagent{i:05d}"


def write_org(path: Path) -> None:
    people = [
        {"id": f"a{i:03d}", "name": f"客服{i}", "role": "agent", "team": "t", "feishu": agent(i)}
        for i in range(AGENTS)
    ]
    people.append({"id": "lead", "name": "组长", "role": "lead", "team": "t", "feishu": "ou_crashlead00000"})
    org = {"teams": [{"id": "t", "name": "组", "lead": "lead"}], "people": people}
    path.write_text(yaml.safe_dump(org, allow_unicode=True), encoding="utf-8")


async def start_worker(
    db: Path, org: Path, fake: FakeFeishu, minute: int
) -> tuple[asyncio.subprocess.Process, str]:
    worker = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.feishu.crash_worker",
        str(db),
        str(org),
        fake.url,
        str(minute),
        cwd=REPO,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
    )
    assert worker.stdout is not None
    line = await asyncio.wait_for(worker.stdout.readline(), 180)
    assert line.startswith(b"READY "), f"worker did not start: {line!r}"
    return worker, f"http://127.0.0.1:{int(line.split()[1])}/feishu/events"


@pytest.mark.slow  # two child processes, one killed under load
async def test_kill_9_during_a_burst_loses_nothing_acknowledged(tmp_path: Path) -> None:
    db, org = tmp_path / "crash.db", tmp_path / "org.yaml"
    write_org(org)
    fake = await FakeFeishu().start()
    created = 1796086200.0  # 2026-12-01 08:50 in Shanghai
    events = [fake.message_event(agent(i), "打卡", token=TOKEN, created=created) for i in range(AGENTS)]
    answered: set[int] = set()
    try:
        worker, url = await start_worker(db, org, fake, 50)
        gate = asyncio.Semaphore(8)

        async def post(session: aiohttp.ClientSession, i: int, event: dict[str, Any]) -> None:
            async with gate:
                try:
                    async with session.post(url, json=event) as response:
                        if response.status == 200:
                            answered.add(i)
                except (TimeoutError, aiohttp.ClientError):
                    pass  # no answer: Feishu will send it again

        async def kill_when_enough() -> None:
            loop = asyncio.get_running_loop()
            deadline = loop.time() + 180
            while len(answered) < KILL_AFTER:
                assert loop.time() < deadline, f"only {len(answered)} answers before the deadline"
                await asyncio.sleep(0.005)
            worker.send_signal(signal.SIGKILL)

        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as session:
            await asyncio.gather(kill_when_enough(), *(post(session, i, e) for i, e in enumerate(events)))
        await worker.wait()
        assert worker.returncode == -signal.SIGKILL
        assert KILL_AFTER <= len(answered) < AGENTS, "the kill came too late to test anything"

        worker, url = await start_worker(db, org, fake, 52)  # past the dead run's claims
        async with aiohttp.ClientSession() as session:
            for event in events:  # everything again: the unanswered, and the answered ones too
                async with session.post(url, json=event) as response:
                    assert response.status == 200
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 180
        while (reached := len({c.body["receive_id"] for c in fake.sends()})) < AGENTS:
            assert loop.time() < deadline, f"{reached} of {AGENTS} agents answered before the deadline"
            await asyncio.sleep(0.02)
        worker.send_signal(signal.SIGKILL)
        await worker.wait()
    finally:
        await fake.stop()

    conn = sqlite3.connect(db)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        punched = Counter(
            row[0] for row in conn.execute("SELECT person_id FROM punches WHERE kind = 'clock_in'")
        )
        stored = conn.execute("SELECT count(*) FROM inbox WHERE platform = 'feishu'").fetchone()[0]
    finally:
        conn.close()
    assert punched == Counter({f"a{i:03d}": 1 for i in range(AGENTS)})  # every one once, none twice
    assert stored == AGENTS  # an event sent again was dropped at the inbox
    replies = Counter(str(c.body["receive_id"]) for c in fake.sends())
    assert set(replies) == {agent(i) for i in range(AGENTS)}
    # A reply in flight at the kill may go out again after the restart; no more than the outbox's
    # concurrent sends to Feishu can be.
    assert sum(1 for n in replies.values() if n > 1) <= FeishuTransport.concurrency
