"""kill -9 while 300 agents clock in (Telegram webhook and polling, Slack HTTP and Socket Mode) and while
300 agents press a button (Telegram webhook): after a restart every acknowledged update was applied
exactly once, every agent got an answer, and a reply went out twice only if it was in flight at the kill.

One harness for all five: the test prepares the department in a SQLite file, starts the fake platform,
runs `tests.faults.ingress_worker` (the real adapters and workers) and sends the 300 updates as the
platform would, 16 at a time, noting which ones the bot acknowledged (HTTP 200, a Socket Mode ack, a
getUpdates offset past the update). After a seeded random number of acknowledgements the process gets
SIGKILL. What the platform would send again is sent again (Telegram redelivers an unanswered webhook
update and unconfirmed polled ones; a Slack user whose command was not acknowledged types it again);
the restarted process's clock starts past the dead one's claims.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import signal
import sqlite3
import sys
import time
from collections import Counter
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import aiohttp
import pytest
import yaml
from slack_sdk.signature import SignatureVerifier

from bot import buttons, roster_store
from bot.app import App
from bot.clock import FakeClock
from bot.messages import Button
from bot.settings import Settings
from fakes.slack_api import FakeSlackAPI
from fakes.telegram_api import FakeBotAPI
from tests.conftest import REPO, local
from tests.faults.ingress_worker import SLACK_SECRET, TELEGRAM_TOKEN, WEBHOOK_SECRET
from tests.helpers import wait_until

AGENTS = 300
AT_ONCE = 16
VARIANTS = ("telegram-webhook", "telegram-polling", "slack-http", "slack-socket", "telegram-buttons")
START = local("2026-12-01 08:50")  # the first clock: after the 08:45 reminders, before the 09:00 start
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"

pytestmark = pytest.mark.slow  # two bot processes and 300 updates per variant


def telegram_id(i: int) -> int:
    return 710_000_000 + i


def slack_id(i: int) -> str:
    return f"UAG{i:07d}"


def agent(i: int) -> str:
    return f"a{i:04d}"


async def prepare(database: Path, tmp_path: Path, *, with_buttons: bool) -> dict[str, str]:
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
        database_url=f"sqlite+aiosqlite:///{database}",
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

    def __init__(self, variant: str, database: Path, api_url: str, start: datetime, log: Path) -> None:
        self.variant = variant
        self.database = database
        self.api_url = api_url
        self.start_at = start
        self.epoch = time.time()
        self.log = log
        self.process: asyncio.subprocess.Process | None = None
        self.port = 0

    def clock_now(self) -> datetime:
        return self.start_at + timedelta(seconds=time.time() - self.epoch)

    async def start(self) -> None:
        with self.log.open("ab") as stderr:
            self.process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "tests.faults.ingress_worker",
                self.variant,
                str(self.database),
                self.api_url,
                self.start_at.isoformat(),
                str(self.epoch),
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
        self.session = aiohttp.ClientSession()
        self.updates: dict[str, dict[str, Any]] = {}  # agent -> the update last sent for them
        self.acked: set[str] = set()
        self.typed = Counter[str]()  # Slack: how often each agent typed the command
        self._triggers = 0

    async def start(self) -> str:
        if self.telegram is not None:
            await self.telegram.start()
            return self.telegram.base_url
        assert self.slack is not None
        await self.slack.start()
        return self.slack.base_url

    async def close(self) -> None:
        await self.session.close()
        if self.telegram is not None:
            await self.telegram.close()
        if self.slack is not None:
            await self.slack.stop()

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
        else:
            assert self.slack is not None
            by_channel = {"D" + slack_id(i)[1:]: agent(i) for i in range(AGENTS)}
            for params in self.slack.messages():
                channel = str(params.get("channel"))
                if channel in by_channel:
                    counts[by_channel[channel]] += 1
        return counts


def query(database: Path, sql: str) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(database)
    try:
        return list(conn.execute(sql))
    finally:
        conn.close()


async def send_all(
    platform: Platform, worker: Worker, agents: list[int], *, again: bool, kill_at: int | None
) -> None:
    """Send to `agents`, AT_ONCE at a time; with `kill_at`, SIGKILL the worker once that many updates
    were acknowledged (the remaining sends then fail, as they would against a dead bot)."""
    queue = list(agents)
    killed = asyncio.Event()

    async def lane() -> None:
        while queue and not killed.is_set():
            await platform.send(worker, queue.pop(0), again=again)

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
        await worker.kill()
        killed.set()

    tasks = [asyncio.create_task(lane()) for _ in range(AT_ONCE)]
    if kill_at is not None:
        await killer()
    await asyncio.gather(*tasks)


async def run_variant(variant: str, tmp_path: Path) -> dict[str, int]:
    database = tmp_path / "kill9.db"
    tokens = await prepare(database, tmp_path, with_buttons=variant == "telegram-buttons")
    platform = Platform(variant, tokens)
    api_url = await platform.start()
    rng = random.Random(f"issue-15-{variant}")
    kill_at = rng.randint(30, AGENTS - 30)
    log = tmp_path / "worker.log"
    first = Worker(variant, database, api_url, START, log)
    second: Worker | None = None
    try:
        await first.start()
        await send_all(platform, first, list(range(AGENTS)), again=False, kill_at=kill_at)
        assert first.process is not None and first.process.returncode == -signal.SIGKILL
        platform.refresh_acks()
        acked_at_kill = set(platform.acked)
        # Replies claimed by the dead process and not yet marked sent: the only ones that may go twice.
        in_flight = query(
            database, "SELECT count(*) FROM outbox WHERE status = 'pending' AND claimed_by IS NOT NULL"
        )[0][0]
        replied_at_kill = sum(platform.replies().values())
        # The restarted process's clock starts past every claim of the dead one (60 s).
        second = Worker(variant, database, api_url, first.clock_now() + timedelta(seconds=65), log)
        await second.start()
        await send_all(platform, second, platform.unacknowledged(), again=True, kill_at=None)

        def state() -> str:
            replies = platform.replies()
            missing = [agent(i) for i in range(AGENTS) if not replies[agent(i)]]
            pending = query(database, "SELECT state, count(*) FROM inbox GROUP BY state")
            return (
                f"{len(missing)} agents without an answer (e.g. {missing[:5]}); inbox {pending}; log:\n"
                + (log.read_text()[-3000:])
            )

        await wait_until(
            lambda: all(platform.replies()[agent(i)] for i in range(AGENTS)),
            timeout=900,
            what="an answer for every agent",
            state=state,
        )
        await wait_until(
            lambda: (
                not query(database, "SELECT 1 FROM outbox WHERE status = 'pending' LIMIT 1")
                and not query(database, "SELECT 1 FROM inbox WHERE state = 'pending' LIMIT 1")
            ),
            timeout=600,
            what="the inbox and the outbox to be empty",
            state=state,
        )
    finally:
        await first.stop()
        if second is not None:
            await second.stop()
        await platform.close()
    platform.refresh_acks()
    assert "Traceback" not in log.read_text(), log.read_text()[-5000:]
    # Every update stored once, handled once.
    rows = query(database, "SELECT sender_id, state FROM inbox")
    assert {state for _, state in rows} == {"done"}, rows[:5]
    stored = Counter(sender for sender, _ in rows)
    if variant.startswith("telegram"):
        senders = {str(telegram_id(i)): agent(i) for i in range(AGENTS)}
    else:
        senders = {slack_id(i): agent(i) for i in range(AGENTS)}
    stored_per_agent = Counter({senders[s]: n for s, n in stored.items()})
    if variant.startswith("telegram"):
        # One update id per agent, delivered once or twice: stored once.
        assert set(stored_per_agent.values()) == {1}
    else:
        # A person who typed the command twice made two requests (their first one was not acknowledged).
        assert all(stored_per_agent[a] <= platform.typed[a] for a in stored_per_agent)
    everyone = {agent(i) for i in range(AGENTS)}
    assert acked_at_kill <= set(stored_per_agent) and set(stored_per_agent) == everyone
    if variant == "telegram-buttons":
        applied = Counter(
            r[0] for r in query(database, "SELECT object_id FROM audit_log WHERE action = 'person.language'")
        )
        assert set(applied) == everyone and set(applied.values()) == {1}
        languages = {r[0] for r in query(database, "SELECT language FROM people WHERE id != 'lead'")}
        assert languages == {"en"}
    else:
        punches = Counter(
            r[0] for r in query(database, "SELECT person_id FROM punches WHERE kind = 'clock_in'")
        )
        assert set(punches) == everyone
        assert set(punches.values()) == {1}, [p for p, n in punches.items() if n > 1][:5]  # no punch twice
    # Each stored update is answered; more messages than that to an agent are replies sent twice.
    replies = platform.replies()
    duplicates = sum(max(0, replies[a] - stored_per_agent[a]) for a in everyone)
    print(
        f"\n{variant}: killed after {len(acked_at_kill)} acknowledged updates"
        f" ({replied_at_kill} replies out);"
        f" {in_flight} replies in flight at the kill; {duplicates} duplicate replies after the restart;"
        f" {sum(stored_per_agent.values()) - AGENTS} commands typed again"
    )
    assert duplicates <= in_flight
    return {"duplicates": duplicates, "in_flight": in_flight}


@pytest.mark.parametrize("variant", VARIANTS)
async def test_kill_9_loses_no_acknowledged_update(variant: str, tmp_path: Path) -> None:
    await run_variant(variant, tmp_path)
