"""kill -9 of the DingTalk bot in the middle of a burst of clock-ins: nothing acknowledged is lost, nothing
is recorded twice. The fake gateway, like DingTalk, sends every frame that was not acked again to the next
connection; the restarted process finishes what was stored and takes the rest."""

from __future__ import annotations

import asyncio
import signal
import sqlite3
import sys
from collections import Counter
from pathlib import Path

import pytest
import yaml

from bot.adapters.dingtalk.stream import ROBOT_TOPIC
from fakes.dingtalk_api import SEND_TO_USERS, FakeDingTalk
from tests.conftest import REPO

AGENTS = 80
KILL_AFTER = 30  # acks


def write_org(path: Path) -> None:
    people = [
        {"id": f"a{i:03d}", "name": f"客服{i}", "role": "agent", "team": "t", "dingtalk": f"dta{i:03d}"}
        for i in range(AGENTS)
    ]
    people.append({"id": "lead", "name": "组长", "role": "lead", "team": "t", "dingtalk": "dtlead"})
    org = {"teams": [{"id": "t", "name": "组", "lead": "lead"}], "people": people}
    path.write_text(yaml.safe_dump(org, allow_unicode=True), encoding="utf-8")


async def start_worker(db: Path, org: Path, fake: FakeDingTalk, minute: int) -> asyncio.subprocess.Process:
    worker = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.dingtalk.crash_worker",
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
    assert line.strip() == b"READY", f"worker did not start: {line!r}"
    return worker


def clock_in(i: int) -> dict[str, object]:
    return {
        "msgId": f"msgCRASH{i:04d}",
        "msgtype": "text",
        "text": {"content": "打卡"},
        "conversationType": "1",
        "conversationId": f"cidP{i:03d}",
        "senderStaffId": f"dta{i:03d}",
        "senderId": f"$:dta{i:03d}",
        "createAt": 1796086200000,  # 2026-12-01 08:50 in Shanghai
    }


@pytest.mark.slow  # two child processes, one killed under load
async def test_kill_9_during_a_burst_loses_nothing_acknowledged(tmp_path: Path) -> None:
    db, org = tmp_path / "crash.db", tmp_path / "org.yaml"
    write_org(org)
    fake = await FakeDingTalk().start()
    try:
        worker = await start_worker(db, org, fake, 50)
        frames = [await fake.push(ROBOT_TOPIC, clock_in(i)) for i in range(AGENTS)]
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 180
        while len(fake.acks) < KILL_AFTER:
            assert loop.time() < deadline, f"only {len(fake.acks)} acks before the deadline"
            await asyncio.sleep(0.005)
        worker.send_signal(signal.SIGKILL)
        await worker.wait()
        acked_before = set(fake.acks)
        assert worker.returncode == -signal.SIGKILL
        assert KILL_AFTER <= len(acked_before) < AGENTS, "the kill came too late to test anything"

        # The same frames again, as DingTalk does to a new connection, on top of the unacked ones.
        worker = await start_worker(db, org, fake, 52)  # past the dead run's claims
        for message_id in frames:
            await fake.wait_ack(message_id, timeout=180)
        deadline = loop.time() + 180
        while (reached := len({c["userIds"][0] for c in fake.calls_to(SEND_TO_USERS)})) < AGENTS:
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
        stored = conn.execute("SELECT count(*) FROM inbox WHERE platform = 'dingtalk'").fetchone()[0]
    finally:
        conn.close()
    assert punched == Counter({f"a{i:03d}": 1 for i in range(AGENTS)})  # every one once, none twice
    assert stored == AGENTS  # a frame sent again was dropped at the inbox
    answered = Counter(str(c["userIds"][0]) for c in fake.calls_to(SEND_TO_USERS))
    assert set(answered) == {f"dta{i:03d}" for i in range(AGENTS)}
    # A reply in flight at the kill may go out again after the restart; no more than the outbox's
    # concurrent sends (8) can be.
    assert sum(1 for n in answered.values() if n > 1) <= 8
