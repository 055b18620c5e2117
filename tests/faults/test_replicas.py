"""Two replicas on one PostgreSQL database: 1,000 reminders due in the same minute are each sent, and a
replica killed with SIGKILL mid-run loses nothing: the other sends what it had claimed."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
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
from tests.helpers import wait_until

AGENTS = 1000
# Two child processes send 1,000 reminders over HTTP on PostgreSQL: minutes on a loaded 2-core machine.
pytestmark = pytest.mark.slow


@pytest.fixture
def backend() -> str:
    return "postgresql"


class Platform:
    """A fake chat platform that records each message it accepts.

    With `hold_after`, once that many messages are in it stops answering: replica 0's sends then wait for
    ever (it is killed with them in flight), replica 1's wait until `release()`. So the kill always lands
    in the middle of the run with replica 0 mid-send, however fast or slow the machine is.
    """

    def __init__(self, hold_after: int | None) -> None:
        self.received: list[dict[str, str]] = []
        self.hold_after = hold_after
        self.replica0_in_flight = asyncio.Event()
        self.released = asyncio.Event()
        self.closing = asyncio.Event()
        self.runner: web.AppRunner | None = None
        self.url = ""

    async def message(self, request: web.Request) -> web.Response:
        body = await request.json()
        if (
            self.hold_after is not None
            and len(self.received) >= self.hold_after
            and not self.released.is_set()
        ):
            if request.headers["X-Replica"] == "0":
                self.replica0_in_flight.set()
                await asyncio.Event().wait()  # never answered: cancelled when the test ends
            await self.released.wait()
        self.received.append(body)
        return web.json_response({"ok": True})

    async def start(self) -> None:
        web_app = web.Application()
        web_app.router.add_post("/send", self.message)
        self.runner = web.AppRunner(web_app)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}/send"

    async def stop(self) -> None:
        self.closing.set()
        if self.runner is not None:
            await self.runner.cleanup()


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
    """Two replicas deliver the reminders; optionally SIGKILL the first once `kill_after` arrived and it
    has a send in flight, then let the survivor's clock pass the dead replica's claims."""
    await prepare_department(database_url, tmp_path)
    platform = Platform(hold_after=kill_after)
    await platform.start()
    start = local("2026-12-01 08:45:30").isoformat()
    jump_file = tmp_path / "jump"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    logs = [tmp_path / f"replica{n}.log" for n in range(2)]
    args = [database_url, platform.url, start, str(time.time())]
    replicas: list[asyncio.subprocess.Process] = []
    for n, log in enumerate(logs):
        with log.open("wb") as stderr:
            replicas.append(
                await asyncio.create_subprocess_exec(
                    *(sys.executable, "-m", "tests.faults.replica_worker", *args, str(n), str(jump_file)),
                    cwd=REPO,
                    env=env,
                    stdout=asyncio.subprocess.DEVNULL,
                    stderr=stderr,
                )
            )

    def state() -> str:
        codes = [r.returncode for r in replicas]
        tails = "".join(f"\n--- replica {n} stderr:\n{p.read_text()[-2000:]}" for n, p in enumerate(logs))
        return f"{len(platform.received)} messages received, replica exit codes {codes}{tails}"

    survivors = replicas[1:] if kill_after is not None else replicas
    at_kill = -1
    try:
        if kill_after is not None:
            await wait_until(
                platform.replica0_in_flight.is_set,
                timeout=600,
                what=f"{kill_after} messages, then a send of replica 0 in flight",
                state=state,
            )
            replicas[0].send_signal(signal.SIGKILL)
            await asyncio.wait_for(replicas[0].wait(), 60)
            at_kill = len(platform.received)
            jump_file.touch()  # the survivor's clock passes the dead replica's claims
            platform.released.set()
        await wait_until(
            lambda: all(r.returncode is not None for r in survivors),
            timeout=900,
            what="the replicas to send every reminder and exit",
            state=state,
        )
    finally:
        for replica in replicas:
            if replica.returncode is None:
                replica.kill()
            await asyncio.wait_for(replica.wait(), 60)
        await platform.stop()
    if kill_after is not None:
        assert replicas[0].returncode == -signal.SIGKILL, state()
    assert all(r.returncode == 0 for r in survivors), state()
    return platform.received, at_kill


async def test_two_replicas_send_each_reminder_exactly_once(database_url: str, tmp_path: Path) -> None:
    received, _ = await run_replicas(database_url, tmp_path, kill_after=None)
    reminders = [m for m in received if m["text"].startswith("⏰")]
    assert len(reminders) == AGENTS
    assert Counter(m["to"] for m in reminders).most_common(1)[0][1] == 1
    assert Counter(m["message_id"] for m in received).most_common(1)[0][1] == 1


async def test_a_replica_killed_mid_run_loses_nothing(database_url: str, tmp_path: Path) -> None:
    received, at_kill = await run_replicas(database_url, tmp_path, kill_after=300)
    assert at_kill == 300  # killed in the middle of the run, with a send in flight
    reminders = [m for m in received if m["text"].startswith("⏰")]
    assert len({m["to"] for m in reminders}) == AGENTS  # the survivor sent what the dead one had claimed
    # Only what the killed replica had in flight (8 sends at a time) can reach the platform twice.
    counts = Counter(m["message_id"] for m in received)
    assert sum(n - 1 for n in counts.values()) <= 8
