"""kill -9 while 300 agents clock in (Telegram webhook and polling, Slack HTTP and Socket Mode, Feishu's
long connection) and while 300 agents press a button (Telegram webhook): after a restart every acknowledged
update was applied exactly once, every agent got an answer, and a reply went out twice only if it was in
flight at the kill.

One harness for all six: the test prepares the department in a SQLite file, starts the fake platform,
runs `tests.faults.ingress_worker` (the real adapters and workers; for Feishu `deskmate feishu`'s own
serve) and sends the 300 updates as the platform would, 16 at a time, noting which ones the bot
acknowledged (HTTP 200, a Socket Mode ack, a getUpdates offset past the update, a Feishu event frame
answered with code 200). After a seeded random number of acknowledgements the process gets SIGKILL. What
the platform would send again is sent again (Telegram redelivers an unanswered webhook update and
unconfirmed polled ones; a Slack user whose command was not acknowledged types it again; the Feishu fake
sends every unanswered event again, by itself, on the restarted process's long connection); the restarted
process's clock starts past the dead one's claims.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import signal
import socket
import sys
import time
from collections import Counter
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import aiohttp
import pytest
import sqlalchemy as sa
import yaml
from slack_sdk.signature import SignatureVerifier

from bot import buttons, roster_store
from bot.app import App
from bot.clock import FakeClock
from bot.db import Database
from bot.messages import Button
from bot.settings import Settings
from fakes.feishu_api import FakeFeishu
from fakes.slack_api import FakeSlackAPI
from fakes.telegram_api import FakeBotAPI
from tests.conftest import REPO, local
from tests.faults.ingress_worker import (
    FEISHU_APP_ID,
    FEISHU_APP_SECRET,
    JUMP,
    SLACK_SECRET,
    TELEGRAM_TOKEN,
    WEBHOOK_SECRET,
)
from tests.helpers import wait_until

AGENTS = 300
AT_ONCE = 16
VARIANTS = (
    "telegram-webhook",
    "telegram-polling",
    "slack-http",
    "slack-socket",
    "telegram-buttons",
    "feishu-ws",
)
START = local("2026-12-01 08:50")  # the first clock: after the 08:45 reminders, before the 09:00 start
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"

pytestmark = pytest.mark.slow  # two bot processes and 300 updates per variant


def telegram_id(i: int) -> int:
    return 710_000_000 + i


def slack_id(i: int) -> str:
    return f"UAG{i:07d}"


def feishu_id(i: int) -> str:
    return f"ou_kill9agent{i:05d}"


def agent(i: int) -> str:
    return f"a{i:04d}"


async def prepare(database_url: str, tmp_path: Path, *, with_buttons: bool) -> dict[str, str]:
    """The department (300 agents on the day shift of 2026-12-01, one lead) and, for the button
    variant, a language card per agent; returns each agent's button token."""
    people = [
        {
            "id": agent(i),
            "name": f"客服{i}",
            "role": "agent",
            "team": "t",
            "telegram": str(telegram_id(i)),
            "slack": slack_id(i),
            "feishu": feishu_id(i),
        }
        for i in range(AGENTS)
    ]
    people.append({"id": "lead", "name": "组长", "role": "lead", "team": "t"})
    org_file = tmp_path / "org.yaml"
    org_file.write_text(
        yaml.safe_dump(
            {"teams": [{"id": "t", "name": "组", "lead": "lead"}], "people": people}, allow_unicode=True
        ),
        encoding="utf-8",
    )
    settings = Settings(
        database_url=database_url,
        org_file=org_file,
        kb_semantic=False,
        roster_file=None,
        _env_file=None,
    )  # type: ignore[call-arg]
    clock = FakeClock(START)
    app = App(settings, clock=clock)
    tokens: dict[str, str] = {}
    try:
        await app.prepare()
        async with app.db.transaction() as conn:
            await roster_store.upsert(
                conn, [(agent(i), date(2026, 12, 1), "day") for i in range(AGENTS)], clock.now()
            )
            if with_buttons:
                for i in range(AGENTS):
                    rendered = await buttons.register(
                        conn, f"card-{i}", [[Button("English", "lang.set", {"language": "en"})]], clock.now()
                    )
                    tokens[agent(i)] = rendered[0][0]["token"]
    finally:
        await app.close()
    return tokens


class Worker:
    """One bot process; its stdout says when it is ready and on which port."""

    def __init__(
        self,
        variant: str,
        database_url: str,
        api_url: str,
        start: datetime,
        log: Path,
        jump: Path | None = None,
    ) -> None:
        self.variant = variant
        self.database_url = database_url
        self.jump = jump
        self.api_url = api_url
        self.start_at = start
        self.epoch = time.time()
        self.log = log
        self.process: asyncio.subprocess.Process | None = None
        self.port = 0

    def clock_now(self) -> datetime:
        moved = JUMP if self.jump is not None and self.jump.exists() else timedelta(0)
        return self.start_at + timedelta(seconds=time.time() - self.epoch) + moved

    async def start(self) -> None:
        with self.log.open("ab") as stderr:
            self.process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "tests.faults.ingress_worker",
                self.variant,
                self.database_url,
                self.api_url,
                self.start_at.isoformat(),
                str(self.epoch),
                str(self.jump or ""),
                cwd=REPO,
                stdout=asyncio.subprocess.PIPE,
                stderr=stderr,
            )
        assert self.process.stdout is not None
        line = await asyncio.wait_for(self.process.stdout.readline(), 300)
        assert line.startswith(b"READY"), f"{line!r}; stderr:\n{self.log.read_text()[-3000:]}"
        self.port = int(line.split()[1])

    async def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        await asyncio.wait_for(self.process.wait(), 60)

    async def stop(self) -> None:
        if self.process is not None and self.process.returncode is None:
            self.process.kill()
            await self.process.wait()


class Platform:
    """What differs between platforms: how an update is sent and acknowledged, what is redelivered,
    and where an agent's replies land."""

    def __init__(self, variant: str, tokens: dict[str, str]) -> None:
        self.variant = variant
        self.tokens = tokens
        self.telegram = FakeBotAPI(TELEGRAM_TOKEN) if variant.startswith("telegram") else None
        self.slack = FakeSlackAPI() if variant.startswith("slack") else None
        self.feishu = (
            FakeFeishu(app_id=FEISHU_APP_ID, app_secret=FEISHU_APP_SECRET)
            if variant.startswith("feishu")
            else None
        )
        self.session = aiohttp.ClientSession()
        self.updates: dict[str, dict[str, Any]] = {}  # agent -> the update last sent for them
        self.acked: set[str] = set()
        self.typed = Counter[str]()  # Slack: how often each agent typed the command
        self._triggers = 0

    async def start(self) -> str:
        if self.telegram is not None:
            await self.telegram.start()
            return self.telegram.base_url
        if self.feishu is not None:
            await self.feishu.start()
            return self.feishu.url
        assert self.slack is not None
        await self.slack.start()
        return self.slack.base_url

    async def close(self) -> None:
        await self.session.close()
        if self.telegram is not None:
            await self.telegram.close()
        if self.slack is not None:
            await self.slack.stop()
        if self.feishu is not None:
            await self.feishu.stop()

    # ----- in ------------------------------------------------------------------------------------
    def _update(self, i: int) -> dict[str, Any]:
        assert self.telegram is not None
        if self.variant == "telegram-buttons":
            return self.telegram.press_update(telegram_id(i), self.tokens[agent(i)])
        return self.telegram.text_update(telegram_id(i), "打卡")

    def _slack_command(self, i: int) -> dict[str, str]:
        self._triggers += 1
        self.typed[agent(i)] += 1
        return {
            "token": "legacy",
            "team_id": "T0TEST001",
            "channel_id": "D" + slack_id(i)[1:],
            "channel_name": "directmessage",
            "user_id": slack_id(i),
            "user_name": agent(i),
            "command": "/desk",
            "text": "in",
            "api_app_id": "A0DESK0001",
            "response_url": "http://127.0.0.1:9/never",
            "trigger_id": f"trigger.{self._triggers}",
        }

    async def send(self, worker: Worker, i: int, *, again: bool = False) -> None:
        """Send agent i's update (or, with `again`, what the platform or the person sends once more)."""
        who = agent(i)
        if self.variant in ("telegram-webhook", "telegram-buttons"):
            update = self.updates.get(who) or self.updates.setdefault(who, self._update(i))
            with contextlib.suppress(aiohttp.ClientError):
                async with self.session.post(
                    f"http://127.0.0.1:{worker.port}/telegram/webhook",
                    json=update,
                    headers={SECRET_HEADER: WEBHOOK_SECRET},
                ) as response:
                    if response.status == 200:
                        self.acked.add(who)
        elif self.variant == "feishu-ws":
            assert self.feishu is not None
            if who in self.updates:
                return  # sent before the kill: the fake sends it again on the new connection by itself
            event = self.feishu.message_event(feishu_id(i), "打卡", created=worker.clock_now().timestamp())
            self.updates[who] = event
            if await self.feishu.deliver(event):  # False: the connection closed before the answer
                self.acked.add(who)
        elif self.variant == "telegram-polling":
            assert self.telegram is not None
            if not again:  # an unconfirmed update stays in getUpdates: the restarted bot reads it again
                self.updates[who] = self.telegram.push(self._update(i))
        elif self.variant == "slack-http":
            body = urlencode(self._slack_command(i)).encode()
            stamp = str(int(worker.clock_now().timestamp()))
            signature = SignatureVerifier(SLACK_SECRET).generate_signature(timestamp=stamp, body=body)
            assert signature is not None
            headers = {
                "Content-Type": "application/x-www-form-urlencoded",
                "X-Slack-Request-Timestamp": stamp,
                "X-Slack-Signature": signature,
            }
            with contextlib.suppress(aiohttp.ClientError):
                async with self.session.post(
                    f"http://127.0.0.1:{worker.port}/slack/events", data=body, headers=headers
                ) as response:
                    if response.status == 200:
                        self.acked.add(who)
        else:
            assert self.slack is not None
            if again and self.updates[who]["envelope_id"] not in self.slack.pushed:
                return  # still queued at Slack: the restarted bot's connection gets it
            envelope = {
                "envelope_id": f"env-{who}-{self.typed[who] + 1}",
                "type": "slash_commands",
                "accepts_response_payload": True,
                "payload": self._slack_command(i),
            }
            self.updates[who] = envelope
            await self.slack.envelopes.put(envelope)

    def refresh_acks(self) -> None:
        """Acknowledgements that come back asynchronously: getUpdates offsets, Socket Mode acks."""
        if self.variant == "telegram-polling":
            assert self.telegram is not None
            offsets = [int(c.params.get("offset") or 0) for c in self.telegram.attempts("getUpdates")]
            confirmed = max(offsets, default=0)
            self.acked |= {who for who, u in self.updates.items() if u["update_id"] < confirmed}
        elif self.variant == "slack-socket":
            assert self.slack is not None
            acked = {a.get("envelope_id") for a in self.slack.socket_acks}
            self.acked |= {who for who, e in self.updates.items() if e["envelope_id"] in acked}

    def unacknowledged(self) -> list[int]:
        self.refresh_acks()
        return [i for i in range(AGENTS) if agent(i) not in self.acked]

    # ----- out -----------------------------------------------------------------------------------
    def replies(self) -> Counter[str]:
        """How many messages reached each agent's private chat."""
        counts = Counter[str]()
        if self.telegram is not None:
            by_chat = {telegram_id(i): agent(i) for i in range(AGENTS)}
            for call in self.telegram.deliveries():
                if call.chat_id in by_chat:
                    counts[by_chat[call.chat_id]] += 1
        elif self.feishu is not None:
            by_open_id = {feishu_id(i): agent(i) for i in range(AGENTS)}
            for sent in self.feishu.sends():
                receiver = str(sent.body.get("receive_id"))
                if receiver in by_open_id and not sent.body.get("_refused"):
                    counts[by_open_id[receiver]] += 1
        else:
            assert self.slack is not None
            by_channel = {"D" + slack_id(i)[1:]: agent(i) for i in range(AGENTS)}
            for params in self.slack.messages():
                channel = str(params.get("channel"))
                if channel in by_channel:
                    counts[by_channel[channel]] += 1
        return counts


async def query(db: Database, sql: str) -> list[tuple[Any, ...]]:
    async with db.read() as conn:
        return [tuple(row) for row in await conn.execute(sa.text(sql))]


async def send_all(
    platform: Platform,
    workers: list[Worker],
    agents: list[int],
    *,
    again: bool,
    kill_at: int | None,
    victim: Worker | None = None,
) -> None:
    """Send to `agents` (agent i through workers[i % len(workers)], as a proxy alternates), AT_ONCE at
    a time; with `kill_at`, SIGKILL the victim (the first worker) once that many updates were
    acknowledged and stop sending (what was not acknowledged is sent again later)."""
    queue = list(agents)
    killed = asyncio.Event()

    async def lane() -> None:
        while queue and not killed.is_set():
            i = queue.pop(0)
            await platform.send(workers[i % len(workers)], i, again=again)

    async def killer() -> None:
        assert kill_at is not None

        def enough() -> bool:
            platform.refresh_acks()
            return len(platform.acked) >= kill_at

        await wait_until(
            enough,
            timeout=600,
            what=f"{kill_at} acknowledged updates",
            state=lambda: f"{len(platform.acked)} acknowledged",
        )
        await (victim or workers[0]).kill()
        killed.set()

    tasks = [asyncio.create_task(lane()) for _ in range(AT_ONCE)]
    if kill_at is not None:
        await killer()
    await asyncio.gather(*tasks)


IN_FLIGHT = "SELECT count(*) FROM outbox WHERE status = 'pending' AND claimed_by IS NOT NULL"


async def settled(db: Database, platform: Platform, log: Path) -> None:
    """Wait until every agent has an answer and nothing is left pending in the inbox or the outbox."""
    seen: dict[str, Any] = {}

    def state() -> str:
        return f"{seen}; log:\n{log.read_text()[-3000:]}"

    def answered() -> bool:
        replies = platform.replies()
        seen["without an answer"] = [agent(i) for i in range(AGENTS) if not replies[agent(i)]][:5]
        return not seen["without an answer"]

    async def empty() -> bool:
        seen["inbox"] = await query(db, "SELECT state, count(*) FROM inbox GROUP BY state")
        seen["outbox"] = await query(db, "SELECT status, count(*) FROM outbox GROUP BY status")
        return not await query(db, "SELECT 1 FROM outbox WHERE status = 'pending' LIMIT 1") and not (
            await query(db, "SELECT 1 FROM inbox WHERE state = 'pending' LIMIT 1")
        )

    await wait_until(answered, timeout=900, what="an answer for every agent", state=state)
    await wait_until(empty, timeout=600, what="the inbox and the outbox to be empty", state=state)


async def check(
    db: Database, variant: str, platform: Platform, acked_at_kill: set[str], in_flight: int
) -> dict[str, int]:
    """Every acknowledged update applied exactly once, every agent answered, replies sent twice only
    among those in flight at the kill (returned, with how many there were)."""
    rows = await query(db, "SELECT sender_id, state FROM inbox")
    assert {state for _, state in rows} == {"done"}, rows[:5]
    stored = Counter(str(sender) for sender, _ in rows)
    if variant.startswith("slack"):
        senders = {slack_id(i): agent(i) for i in range(AGENTS)}
    elif variant.startswith("feishu"):
        senders = {feishu_id(i): agent(i) for i in range(AGENTS)}
    else:
        senders = {str(telegram_id(i)): agent(i) for i in range(AGENTS)}
    stored_per_agent = Counter({senders[s]: n for s, n in stored.items()})
    if variant.startswith("slack"):
        # A person who typed the command twice made two requests (their first one was not acknowledged).
        assert all(stored_per_agent[a] <= platform.typed[a] for a in stored_per_agent)
    else:
        # One update (event) id per agent, delivered once or more: stored once.
        assert set(stored_per_agent.values()) == {1}
    everyone = {agent(i) for i in range(AGENTS)}
    assert acked_at_kill <= set(stored_per_agent) and set(stored_per_agent) == everyone
    if variant == "telegram-buttons":
        changes = await query(db, "SELECT object_id FROM audit_log WHERE action = 'person.language'")
        applied = Counter(str(r[0]) for r in changes)
        assert set(applied) == everyone and set(applied.values()) == {1}
        languages = {r[0] for r in await query(db, "SELECT language FROM people WHERE id != 'lead'")}
        assert languages == {"en"}
    else:
        punches = Counter(
            str(r[0]) for r in await query(db, "SELECT person_id FROM punches WHERE kind = 'clock_in'")
        )
        assert set(punches) == everyone
        assert set(punches.values()) == {1}, [p for p, n in punches.items() if n > 1][:5]  # no punch twice
    # Each stored update is answered; more messages than that to an agent are replies sent twice.
    replies = platform.replies()
    duplicates = sum(max(0, replies[a] - stored_per_agent[a]) for a in everyone)
    print(
        f"\n{variant}: killed after {len(acked_at_kill)} acknowledged updates;"
        f" {in_flight} replies in flight at the kill; {duplicates} duplicate replies after the restart;"
        f" {sum(stored_per_agent.values()) - AGENTS} commands typed again"
    )
    assert duplicates <= in_flight
    return {"duplicates": duplicates, "in_flight": in_flight}


async def run_variant(variant: str, tmp_path: Path) -> dict[str, int]:
    url = f"sqlite+aiosqlite:///{tmp_path / 'kill9.db'}"
    tokens = await prepare(url, tmp_path, with_buttons=variant == "telegram-buttons")
    platform = Platform(variant, tokens)
    api_url = await platform.start()
    rng = random.Random(f"issue-15-{variant}")
    kill_at = rng.randint(30, AGENTS - 30)
    log = tmp_path / "worker.log"
    first = Worker(variant, url, api_url, START, log)
    second: Worker | None = None
    db = Database(url)
    try:
        await first.start()
        await send_all(platform, [first], list(range(AGENTS)), again=False, kill_at=kill_at)
        assert first.process is not None and first.process.returncode == -signal.SIGKILL
        platform.refresh_acks()
        acked_at_kill = set(platform.acked)
        # Replies claimed by the dead process and not yet marked sent: the only ones that may go twice.
        in_flight = (await query(db, IN_FLIGHT))[0][0]
        # The restarted process's clock starts past every claim of the dead one (60 s).
        second = Worker(variant, url, api_url, first.clock_now() + JUMP, log)
        await second.start()
        await send_all(platform, [second], platform.unacknowledged(), again=True, kill_at=None)
        await settled(db, platform, log)
        assert "Traceback" not in log.read_text(), log.read_text()[-5000:]
        if platform.feishu is not None:
            frames = platform.feishu.frames_sent
            print(
                f"\n{variant}: {sum(frames.values())} event frames for {len(frames)} events;"
                f" {sum(1 for n in frames.values() if n > 1)} events sent again by the fake"
            )
        return await check(db, variant, platform, acked_at_kill, in_flight)
    finally:
        await first.stop()
        if second is not None:
            await second.stop()
        await platform.close()
        await db.dispose()


@pytest.mark.parametrize("variant", VARIANTS)
async def test_kill_9_loses_no_acknowledged_update(variant: str, tmp_path: Path) -> None:
    await run_variant(variant, tmp_path)


@pytest.mark.parametrize("backend", ["postgresql"])
async def test_two_replicas_on_postgresql_share_one_inbox(database_url: str, tmp_path: Path) -> None:
    """Two replicas behind one webhook address (updates alternate between them, as a proxy would) on one
    PostgreSQL database; one is killed with SIGKILL mid-run. Its acknowledged updates and the claims it
    held are taken over by the other once their claims expire: its clock is moved past them (the jump
    file), no waiting. Each update is handled once."""
    variant = "telegram-webhook"
    await prepare(database_url, tmp_path, with_buttons=False)
    platform = Platform(variant, {})
    api_url = await platform.start()
    kill_at = random.Random("issue-15-replicas").randint(60, AGENTS - 60)
    jump = tmp_path / "jump"
    logs = [tmp_path / f"replica{n}.log" for n in range(2)]
    replicas = [Worker(variant, database_url, api_url, START, logs[n], jump) for n in range(2)]
    db = Database(database_url)
    try:
        await asyncio.gather(*(r.start() for r in replicas))
        await send_all(
            platform, replicas, list(range(AGENTS)), again=False, kill_at=kill_at, victim=replicas[0]
        )
        dead = replicas[0].process
        assert dead is not None and dead.returncode == -signal.SIGKILL
        acked_at_kill = set(platform.acked)
        worker_id = f"{socket.gethostname()}:{dead.pid}"
        in_flight = (await query(db, f"{IN_FLIGHT} AND claimed_by = '{worker_id}'"))[0][0]
        held = (
            await query(
                db, f"SELECT count(*) FROM inbox WHERE state = 'pending' AND claimed_by = '{worker_id}'"
            )
        )[0][0]
        jump.touch()  # the survivor's clock passes the dead replica's claims
        await send_all(platform, replicas[1:], platform.unacknowledged(), again=True, kill_at=None)
        await settled(db, platform, logs[1])
        for log in logs:
            assert "Traceback" not in log.read_text(), log.read_text()[-5000:]
        print(f"\nreplicas: {held} inbox rows claimed by the killed replica were taken over by the other")
        await check(db, "replicas", platform, acked_at_kill, in_flight)
    finally:
        for replica in replicas:
            await replica.stop()
        await platform.close()
        await db.dispose()
