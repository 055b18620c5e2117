"""Clock-in rush through `deskmate telegram` webhook replicas: SQLite, PostgreSQL, two on PostgreSQL.

Run:   .venv/bin/python -m bench.load                      # 2,000 agents in 60 s, the three set-ups
       .venv/bin/python -m bench.load --seconds 20         # quicker: the same 2,000 in 20 s
       .venv/bin/python -m bench.load --agents 500 --configs sqlite,pg2
Needs: the PostgreSQL of the tests on 127.0.0.1:5432 (user postgres, trust; --pg-url or DESKMATE_TEST_PG
       to change it). Loopback only, no Telegram: the Bot API is fakes/telegram_api.py in this process.

What it measures, for each set-up:
  (a) one replica on SQLite, (b) one replica on PostgreSQL, (c) two replicas on one PostgreSQL database.
  N agents (default 2,000, in teams of 25 with a lead each, every one with a numeric Telegram id) each send
  `/in` from their private chat once, within `--seconds` (default 60) of their shift's start. This process
  plays Telegram: it POSTs each update (unique update_id, the X-Telegram-Bot-Api-Secret-Token header) to the
  replicas' webhook URLs round-robin, like a load balancer, evenly spread over the window, with at most
  `--concurrency` requests in flight; an update that gets no 200 is posted again to the next replica, as
  Telegram would (the update-id check makes that harmless). The replicas are separate processes
  (`.venv/bin/deskmate telegram` in webhook mode, each on its own 127.0.0.1 port) and send their replies to
  the fake Bot API. Figures:
  - latency: from the POST of an agent's `/in` to the reply for that chat ("✅ 上班打卡 …") reaching the fake
    Bot API, p50 / p95 / max; beside it the webhook's own answer time (the update is handled before the 200);
  - throughput: replies per second from the first POST to the last reply;
  - zero lost, zero duplicated: every agent gets exactly one message at the fake, and it is the clock-in
    reply; the database (table `punches`) holds exactly one clock_in per agent and none twice; each agent
    has exactly one outbox row, sent.
  Then a table of the three set-ups side by side.

Honest timing. The replicas run on the real clock, so the punches are made to happen at a real shift start:
each set-up gets its own policy file (examples/policy.yaml with only the day shift's times changed) whose day
shift starts exactly when the window ends, to the second (for example 15:12:31–00:12:31 Asia/Shanghai, still
nine hours; real rosters start on the minute, but this spares up to a minute of idling per set-up, and at the
policy's minute resolution the punches compare exactly as they would), and a roster putting every agent on
that day shift on that local date. So every `/in` arrives in the last `--seconds` before the shift starts,
inside the clock-in window, and the verdict is "on time" (the output counts the verdicts the database
recorded, so a window that started late would show). With windows under about 13 minutes the shift's
15-minute reminder falls before the replicas start, so no reminders compete with the replies.

Telegram allows a bot about 30 messages a second. The outbox paces the bot's sends at SEND_PER_SECOND
(29/s, bot/adapters/telegram/transport.py); on PostgreSQL the replicas share that rate's slots through the
database (bot/shared_rate.py), so two replicas together also keep to 29/s: 2,000 replies need about 69 s
however many replicas there are. The fake does not refuse; the output shows the busiest second it saw, timed
on arrival in this process, whose event loop adds a little jitter.
Everything is bounded: start-up, the window, the wait for replies (--drain). Replicas get SIGTERM then
SIGKILL, the PostgreSQL databases (deskmate_load_<pid>_<set-up>) are dropped and the temporary files removed,
whatever happens. Exit code 0 when every set-up lost nothing and duplicated nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import re
import secrets
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
import asyncpg
import yaml

from bot.adapters.telegram.runner import SECRET_HEADER, webhook_path
from bot.adapters.telegram.transport import SEND_PER_SECOND
from bot.settings import Settings
from fakes.telegram_api import Call, FakeBotAPI

REPO = Path(__file__).resolve().parents[1]

DESKMATE = REPO / ".venv" / "bin" / "deskmate"
TZ_NAME = "Asia/Shanghai"
TZ = ZoneInfo(TZ_NAME)
TEAM_SIZE = 25
FIRST_AGENT_ID = 300_000_001  # agent i has Telegram id (and private chat id) FIRST_AGENT_ID + i
FIRST_LEAD_ID = 290_000_001
REPLY_PREFIX = "✅ 上班打卡"
WEBHOOK_URL = "https://example.invalid/telegram"
SHIFT_HOURS = 9  # as the sample policy's 09:00-18:00 day shift
TELEGRAM_PER_SECOND = 30
START_TIMEOUT = 60.0  # a replica that does not answer /healthz by then fails the set-up
STARTUP_BUDGET = 8.0  # planned seconds from starting the replicas to the first `/in`
POST_ATTEMPTS = 3
SETTLE = 2.0  # seconds to keep watching after the last reply, so a late duplicate would show
DEFAULT_PG = os.environ.get("DESKMATE_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")


@dataclass(frozen=True)
class Setup:
    key: str
    label: str
    backend: str  # "sqlite" | "postgresql"
    replicas: int


SETUPS = {
    "sqlite": Setup("sqlite", "a: 1 replica, SQLite", "sqlite", 1),
    "pg": Setup("pg", "b: 1 replica, PostgreSQL", "postgresql", 1),
    "pg2": Setup("pg2", "c: 2 replicas, PostgreSQL", "postgresql", 2),
}


@dataclass
class Result:
    setup: Setup
    agents: int
    sent: int = 0
    retried: int = 0
    refused: int = 0  # POSTs that never got a 200 after every attempt
    answered_ms: list[float] = field(default_factory=list)
    latencies_ms: list[float] = field(default_factory=list)
    replied: int = 0
    lost: int = 0
    duplicated: int = 0
    wrong_replies: int = 0
    punched_once: int = 0
    punched_twice: int = 0
    verdicts: dict[str, int] = field(default_factory=dict)
    outbox: dict[str, int] = field(default_factory=dict)
    outbox_per_agent_ok: int = 0
    send_window: float = 0.0
    run_seconds: float = 0.0
    throughput: float = 0.0
    send_lag_ms: float = 0.0
    peak_per_second: int = 0
    seconds_over_limit: int = 0
    replica_lines: list[str] = field(default_factory=list)
    shift: str = ""
    startup: str = ""
    error: str | None = None

    @property
    def clean(self) -> bool:
        return (
            self.error is None
            and self.lost == 0
            and self.duplicated == 0
            and self.wrong_replies == 0
            and self.punched_once == self.agents
            and self.punched_twice == 0
            and self.outbox_per_agent_ok == self.agents
        )


# ----- the department -------------------------------------------------------------------------------
def agent_id(index: int) -> str:
    return f"a{index:05d}"


def write_org(path: Path, agents: int) -> int:
    """Teams of 25 agents, each with a lead; everyone has a Telegram id. Returns the number of teams."""
    teams = (agents + TEAM_SIZE - 1) // TEAM_SIZE
    lines = ["teams:"]
    lines += [f"  - {{id: t{t:03d}, name: 第{t + 1}组, lead: lead{t:03d}}}" for t in range(teams)]
    lines.append("people:")
    lines.append(f'  - {{id: boss, name: 经理, role: manager, team: null, telegram: "{FIRST_LEAD_ID - 1}"}}')
    lines += [
        f'  - {{id: lead{t:03d}, name: 组长{t}, role: lead, team: t{t:03d}, telegram: "{FIRST_LEAD_ID + t}"}}'
        for t in range(teams)
    ]
    lines += [
        f"  - {{id: {agent_id(i)}, name: 客服{i}, role: agent, team: t{i // TEAM_SIZE:03d}, "
        f'telegram: "{FIRST_AGENT_ID + i}"}}'
        for i in range(agents)
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return teams


def write_roster(path: Path, agents: int, day: date) -> None:
    rows = "".join(f"{agent_id(i)},{day.isoformat()},day\n" for i in range(agents))
    path.write_text("person,date,shift\n" + rows, encoding="utf-8")


def write_policy(path: Path, start: datetime) -> None:
    """examples/policy.yaml with the day shift moved to `start` (local, to the second), nine hours long."""
    policy = yaml.safe_load((REPO / "examples" / "policy.yaml").read_text(encoding="utf-8"))
    end = start + timedelta(hours=SHIFT_HOURS)
    for shift in policy["shifts"]:
        if shift["code"] == "day":
            shift["start"] = start.strftime("%H:%M:%S")
            shift["end"] = end.strftime("%H:%M:%S")
    path.write_text(yaml.safe_dump(policy, allow_unicode=True, sort_keys=False), encoding="utf-8")


# ----- processes --------------------------------------------------------------------------------------
def base_env(workdir: Path, database_url: str, policy: Path, roster: Path) -> dict[str, str]:
    """The environment of every deskmate process: no setting inherited from the caller's shell."""
    names = {name.upper() for name in Settings.model_fields}
    env = {k: v for k, v in os.environ.items() if k.upper() not in names}
    env.update(
        DATABASE_URL=database_url,
        ORG_FILE=str(workdir / "org.yaml"),
        POLICY_FILE=str(policy),
        ROSTER_FILE=str(roster),
        KB_SEMANTIC="false",
        KB_CACHE_DIR=str(workdir / "cache"),
        TIMEZONE=TZ_NAME,
        LOG_LEVEL="WARNING",
        PYTHONUNBUFFERED="1",
    )
    return env


# ASYNC109: the deadline is the child process's (communicate), not this coroutine's.
async def deskmate(env: dict[str, str], cwd: Path, *args: str, timeout: float = 120.0) -> None:  # noqa: ASYNC109
    """One `deskmate …` command (db upgrade, org import, roster import); raises with its output on failure."""
    proc = await asyncio.create_subprocess_exec(
        str(DESKMATE),
        *args,
        cwd=cwd,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:
        out, _ = await asyncio.wait_for(proc.communicate(), timeout)
    except BaseException:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        await proc.wait()
        raise
    if proc.returncode != 0:
        text = out.decode(errors="replace").strip()
        raise RuntimeError(f"deskmate {' '.join(args)} exited {proc.returncode}: {text[-800:]}")


@dataclass
class Replica:
    name: str
    proc: subprocess.Popen[bytes]
    log: Path
    port: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log_tail(self, lines: int = 15) -> str:
        try:
            text = self.log.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def errors_logged(self) -> int:
        try:
            text = self.log.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return 0
        return sum(1 for line in text.splitlines() if " ERROR " in line or "Traceback" in line)


def start_replica(name: str, env: dict[str, str], workdir: Path) -> Replica:
    log_path = workdir / f"{name}.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [str(DESKMATE), "telegram"],
            cwd=workdir,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    return Replica(name, proc, log_path)


LISTENING = re.compile(r"listening on 127\.0\.0\.1:(\d+)")


async def wait_ready(replica: Replica, session: aiohttp.ClientSession, deadline: float) -> None:
    """Until the replica announced its port and answers /healthz with 200."""
    while time.monotonic() < deadline:
        if replica.proc.poll() is not None:
            raise RuntimeError(
                f"{replica.name} exited with {replica.proc.returncode} at start:\n{replica.log_tail()}"
            )
        if not replica.port:
            match = LISTENING.search(replica.log.read_text(encoding="utf-8", errors="replace"))
            if match:
                replica.port = int(match.group(1))
        if replica.port:
            with contextlib.suppress(aiohttp.ClientError, TimeoutError):
                async with session.get(replica.url + "/healthz") as response:
                    if response.status == 200:
                        return
        await asyncio.sleep(0.1)
    raise RuntimeError(f"{replica.name} not ready after {START_TIMEOUT:.0f} s:\n{replica.log_tail()}")


async def stop_replicas(replicas: list[Replica]) -> None:
    """SIGTERM (a clean stop), then SIGKILL after 15 s."""
    for replica in replicas:
        if replica.proc.poll() is None:
            replica.proc.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + 15
    # ASYNC110: child processes end on their own: there is no event to wait on, only their exit.
    while time.monotonic() < deadline and any(r.proc.poll() is None for r in replicas):  # noqa: ASYNC110
        await asyncio.sleep(0.1)
    for replica in replicas:
        if replica.proc.poll() is None:
            replica.proc.kill()
        replica.proc.wait(timeout=10)


async def replica_metrics(replica: Replica, session: aiohttp.ClientSession) -> dict[str, float]:
    """A few counters from the replica's /metrics (Prometheus text)."""
    wanted = {
        'deskmate_messages_in_total{platform="telegram"}': "in",
        'deskmate_messages_out_total{platform="telegram"}': "out",
        "deskmate_handler_seconds_count": "handled",
        "deskmate_handler_seconds_sum": "handler_seconds",
    }
    found: dict[str, float] = {}
    with contextlib.suppress(aiohttp.ClientError, TimeoutError):
        async with session.get(replica.url + "/metrics") as response:
            for line in (await response.text()).splitlines():
                name, _, value = line.rpartition(" ")
                if name in wanted:
                    found[wanted[name]] = float(value)
                elif name.startswith("deskmate_errors_total{"):
                    found["errors"] = found.get("errors", 0.0) + float(value)
    return found


# ----- databases ----------------------------------------------------------------------------------------
def pg_url(server: str, name: str) -> str:
    return server.rsplit("/", 1)[0] + "/" + name


async def create_pg_database(server: str, name: str) -> None:
    conn = await asyncpg.connect(server, timeout=10)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()


async def drop_pg_database(server: str, name: str) -> None:
    conn = await asyncpg.connect(server, timeout=10)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


CHECKS = {
    "punches": "SELECT person_id, count(*) FROM punches WHERE kind = 'clock_in' GROUP BY person_id",
    "verdicts": "SELECT verdict, count(*) FROM punches WHERE kind = 'clock_in' GROUP BY verdict",
    "outbox": "SELECT status, count(*) FROM outbox GROUP BY status",
    "outbox_agents": "SELECT to_person, status, count(*) FROM outbox WHERE to_person LIKE 'a%' "
    "GROUP BY to_person, status",
}


async def read_checks(database: str) -> dict[str, list[tuple[Any, ...]]]:
    """The verification queries, on the SQLite file or the PostgreSQL database (replicas stopped)."""
    if database.startswith("sqlite"):
        path = database.split(":///", 1)[1]

        def read() -> dict[str, list[tuple[Any, ...]]]:
            with contextlib.closing(sqlite3.connect(path)) as conn:
                return {key: list(conn.execute(sql)) for key, sql in CHECKS.items()}

        return await asyncio.to_thread(read)
    conn = await asyncpg.connect(database, timeout=10)
    try:
        return {key: [tuple(r) for r in await conn.fetch(sql)] for key, sql in CHECKS.items()}
    finally:
        await conn.close()


# ----- driving the load ---------------------------------------------------------------------------------
def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, round(len(ordered) * share) - 1))]


def busiest_second(times: list[float]) -> tuple[int, int]:
    """(most sends in any rolling second, seconds-long stretches starting at a send that exceed 30)."""
    ordered = sorted(times)
    best, over, j = 0, 0, 0
    for i, t in enumerate(ordered):
        while ordered[j] <= t - 1.0:
            j += 1
        best = max(best, i - j + 1)
    # Whole clock seconds (from the first send) with more than Telegram's 30.
    if ordered:
        per_second = Counter(int(t - ordered[0]) for t in ordered)
        over = sum(1 for n in per_second.values() if n > TELEGRAM_PER_SECOND)
    return best, over


class Driver:
    """Plays Telegram for one set-up: posts the updates, watches the fake Bot API for the replies."""

    def __init__(self, api: FakeBotAPI, agents: int, secret: str) -> None:
        self.api = api
        self.agents = agents
        self.secret = secret
        self.posted_at: dict[int, float] = {}
        self.answered_ms: list[float] = []
        self.reply_at: dict[int, float] = {}
        self.deliveries: Counter[int] = Counter()
        self.wrong: Counter[int] = Counter()
        self.send_times: list[float] = []
        self.retried = 0
        self.refused = 0
        self.max_lag = 0.0
        self.all_replied = asyncio.Event()
        api.listeners.append(self._on_call)

    def _on_call(self, call: Call) -> None:
        chat = call.chat_id
        if call.method not in ("sendMessage", "sendDocument", "sendPhoto") or chat is None:
            return
        if not FIRST_AGENT_ID <= chat < FIRST_AGENT_ID + self.agents:
            return
        self.send_times.append(call.at)
        self.deliveries[chat] += 1
        if (call.text or "").startswith(REPLY_PREFIX):
            if chat not in self.reply_at:
                self.reply_at[chat] = call.at
                if len(self.reply_at) >= self.agents:
                    self.all_replied.set()
        else:
            self.wrong[chat] += 1

    async def post(
        self, session: aiohttp.ClientSession, urls: list[str], first: int, update: dict[str, Any]
    ) -> bool:
        """POST one update; on anything but 200, again to the next replica (as Telegram redelivers)."""
        headers = {SECRET_HEADER: self.secret}
        for attempt in range(POST_ATTEMPTS):
            url = urls[(first + attempt) % len(urls)]
            started = time.monotonic()
            try:
                async with session.post(url, json=update, headers=headers) as response:
                    await response.read()
                    if response.status == 200:
                        self.answered_ms.append((time.monotonic() - started) * 1000)
                        return True
            except (aiohttp.ClientError, TimeoutError):
                pass
            self.retried += 1
            await asyncio.sleep(0.5)
        self.refused += 1
        return False

    async def run(
        self, session: aiohttp.ClientSession, urls: list[str], start: float, seconds: float, concurrency: int
    ) -> None:
        """Update i is due at start + seconds * i / agents (monotonic clock), round-robin over `urls`."""
        gate = asyncio.Semaphore(concurrency)

        async def one(index: int, due: float) -> None:
            chat = FIRST_AGENT_ID + index
            update = self.api.text_update(chat, "/in")
            async with gate:
                now = time.monotonic()
                self.max_lag = max(self.max_lag, now - due)
                self.posted_at[chat] = now
                await self.post(session, urls, index, update)

        tasks: list[asyncio.Task[None]] = []
        try:
            for index in range(self.agents):
                due = start + seconds * index / self.agents
                delay = due - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
                tasks.append(asyncio.create_task(one(index, due)))
            await asyncio.gather(*tasks)
        finally:
            for task in tasks:
                task.cancel()


async def warm_up(
    api: FakeBotAPI, session: aiohttp.ClientSession, urls: list[str], secret: str, teams: int
) -> None:
    """Three `/whoami` from team leads through each replica, replies awaited, so connections and caches are
    warm before the window (leads are not in the measured crowd)."""
    expected: Counter[int] = Counter()
    arrived: Counter[int] = Counter()

    def on_call(call: Call) -> None:
        if call.method == "sendMessage" and call.chat_id is not None and call.chat_id in expected:
            arrived[call.chat_id] += 1

    api.listeners.append(on_call)
    try:
        for n in range(3 * len(urls)):
            lead = FIRST_LEAD_ID + n % teams
            expected[lead] += 1
            update = api.text_update(lead, "/whoami")
            headers = {SECRET_HEADER: secret}
            async with session.post(urls[n % len(urls)], json=update, headers=headers) as response:
                if response.status != 200:
                    raise RuntimeError(f"warm-up update answered {response.status}")
        deadline = time.monotonic() + 30
        # ASYNC110: the count grows in the fake server's handlers; polling keeps hooks out of them.
        while arrived != expected and time.monotonic() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.05)
        if arrived != expected:
            raise RuntimeError("warm-up replies did not arrive within 30 s")
    finally:
        api.listeners.remove(on_call)


# ----- one set-up ---------------------------------------------------------------------------------------
async def run_setup(setup: Setup, args: argparse.Namespace) -> Result:
    result = Result(setup, args.agents)
    pg_name = f"deskmate_load_{os.getpid()}_{setup.key}"
    created = False
    replicas: list[Replica] = []
    api = await FakeBotAPI().start()
    try:
        with tempfile.TemporaryDirectory(prefix="deskmate-load-") as tmp:
            workdir = Path(tmp)
            if setup.backend == "sqlite":
                database = f"sqlite:///{workdir / 'deskmate.db'}"
            else:
                await create_pg_database(args.pg_url, pg_name)
                created = True
                database = pg_url(args.pg_url, pg_name)
            teams = write_org(workdir / "org.yaml", args.agents)
            policy, roster = workdir / "policy.yaml", workdir / "roster.csv"
            write_policy(policy, datetime.now(TZ))  # replaced below; the roster import needs the codes
            env = base_env(workdir, database, policy, roster)
            await deskmate(env, workdir, "db", "upgrade")
            await deskmate(env, workdir, "org", "import", str(workdir / "org.yaml"))
            # The shift starts when the window ends: start-up budget + window from now, to the second.
            shift_start = (datetime.now(TZ) + timedelta(seconds=STARTUP_BUDGET + args.seconds)).replace(
                microsecond=0
            )
            write_policy(policy, shift_start)
            write_roster(roster, args.agents, shift_start.date())
            await deskmate(env, workdir, "roster", "import", str(roster))
            result.shift = (
                f"day shift {shift_start:%Y-%m-%d %H:%M:%S}–"
                f"{shift_start + timedelta(hours=SHIFT_HOURS):%H:%M:%S} {TZ_NAME}"
            )

            secret = secrets.token_urlsafe(24)
            replica_env = {
                **env,
                "TELEGRAM_TOKEN": api.token,
                "TELEGRAM_BASE_URL": api.base_url,
                "TELEGRAM_WEBHOOK_URL": WEBHOOK_URL,
                "TELEGRAM_SECRET_TOKEN": secret,
                "TELEGRAM_LISTEN_HOST": "127.0.0.1",
                "TELEGRAM_LISTEN_PORT": "0",
            }
            launched = time.monotonic()
            for n in range(setup.replicas):
                replicas.append(start_replica(f"replica{n + 1}", replica_env, workdir))
            timeout = aiohttp.ClientTimeout(total=30)
            connector = aiohttp.TCPConnector(limit=args.concurrency + 8)
            async with aiohttp.ClientSession(timeout=timeout, connector=connector) as session:
                deadline = time.monotonic() + START_TIMEOUT
                for replica in replicas:
                    await wait_ready(replica, session, deadline)
                urls = [r.url + webhook_path(WEBHOOK_URL) for r in replicas]
                await warm_up(api, session, urls, secret, teams)

                # The first `/in` goes out `seconds` before the shift starts (later if start-up was slow).
                window_start = shift_start.timestamp() - args.seconds
                start = time.monotonic() + max(0.0, window_start - time.time())
                ready = time.monotonic()
                await asyncio.sleep(max(0.0, start - ready))
                result.startup = (
                    f"replicas started and warmed up in {ready - launched:.1f} s, "
                    f"then {max(0.0, start - ready):.1f} s idle until the window"
                )
                driver = Driver(api, args.agents, secret)
                await driver.run(session, urls, start, args.seconds, args.concurrency)
                result.send_window = time.monotonic() - start
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(
                        driver.all_replied.wait(), max(1.0, start + args.drain - time.monotonic())
                    )
                await asyncio.sleep(SETTLE)
                for replica in replicas:
                    counters = await replica_metrics(replica, session)
                    handled = counters.get("handled", 0.0)
                    mean = counters.get("handler_seconds", 0.0) / handled * 1000 if handled else 0.0
                    errors, logged = counters.get("errors", 0.0), replica.errors_logged()
                    result.replica_lines.append(
                        f"{replica.name}: {counters.get('in', 0):.0f} messages in, "
                        f"{counters.get('out', 0):.0f} out, handler mean {mean:.1f} ms, "
                        f"{errors:.0f} errors, {logged} error lines in its log"
                    )
            await stop_replicas(replicas)
            checks = await read_checks(database)
            collect(result, driver, start, checks)
    except Exception as exc:
        result.error = f"{type(exc).__name__}: {exc}"
    finally:
        await stop_replicas(replicas)
        await api.close()
        if created:
            try:
                await drop_pg_database(args.pg_url, pg_name)
            except Exception as exc:
                print(f"  could not drop database {pg_name}: {exc}", file=sys.stderr)
    return result


def collect(result: Result, driver: Driver, start: float, checks: dict[str, list[tuple[Any, ...]]]) -> None:
    agents = result.agents
    chats = range(FIRST_AGENT_ID, FIRST_AGENT_ID + agents)
    result.sent = len(driver.posted_at)
    result.retried, result.refused = driver.retried, driver.refused
    result.answered_ms = driver.answered_ms
    result.send_lag_ms = driver.max_lag * 1000
    result.latencies_ms = [
        (driver.reply_at[c] - driver.posted_at[c]) * 1000
        for c in chats
        if c in driver.reply_at and c in driver.posted_at
    ]
    result.replied = len(driver.reply_at)
    result.lost = sum(1 for c in chats if c not in driver.reply_at)
    result.duplicated = sum(1 for c in chats if driver.deliveries[c] > 1)
    result.wrong_replies = sum(driver.wrong.values())
    if driver.reply_at:
        result.run_seconds = max(driver.reply_at.values()) - start
        result.throughput = len(driver.reply_at) / result.run_seconds
    result.peak_per_second, result.seconds_over_limit = busiest_second(driver.send_times)
    punched = {str(person): int(n) for person, n in checks["punches"]}
    result.punched_once = sum(1 for i in range(agents) if punched.get(agent_id(i)) == 1)
    result.punched_twice = sum(1 for n in punched.values() if n > 1)
    result.verdicts = {str(v): int(n) for v, n in checks["verdicts"]}
    result.outbox = {str(s): int(n) for s, n in checks["outbox"]}
    rows: Counter[str] = Counter()
    sent_rows: Counter[str] = Counter()
    for person, status, n in checks["outbox_agents"]:
        rows[str(person)] += int(n)
        if status == "sent":
            sent_rows[str(person)] += int(n)
    result.outbox_per_agent_ok = sum(
        1 for i in range(agents) if rows[agent_id(i)] == 1 and sent_rows[agent_id(i)] == 1
    )


# ----- output -------------------------------------------------------------------------------------------
def fmt_ms(values: list[float]) -> str:
    if not values:
        return "–"
    return (
        f"{statistics.median(values):.0f} / {percentile(values, 0.95):.0f} / {max(values):.0f} ms"
        " (p50 / p95 / max)"
    )


def report(result: Result, seconds: float) -> None:
    s = result.setup
    print(f"[{s.label}]  {result.shift}")
    if result.startup:
        print(f"  start-up:            {result.startup}")
    if result.error is not None:
        print(f"  FAILED (no figures): {result.error}")
        sys.stdout.flush()
        return
    n = result.agents
    print(
        f"  updates sent:        {result.sent} `/in` in {result.send_window:.1f} s "
        f"(offered {n / seconds:.1f}/s), round-robin over {s.replicas} replica(s); "
        f"{result.retried} re-posted, {result.refused} never accepted; "
        f"largest delay behind schedule {result.send_lag_ms:.0f} ms"
    )
    print(f"  webhook answered:    {fmt_ms(result.answered_ms)}  (the update is handled before the 200)")
    print(f"  update → reply:      {fmt_ms(result.latencies_ms)}")
    print(
        f"  throughput:          {result.throughput:.1f} replies/s "
        f"({result.replied} replies, first POST to last reply {result.run_seconds:.1f} s)"
    )
    verdicts = ", ".join(f"{k} {v}" for k, v in sorted(result.verdicts.items())) or "none"
    print(
        f"  punches:             {result.punched_once}/{n} agents with exactly one clock_in, "
        f"{result.punched_twice} with two or more (verdicts: {verdicts})"
    )
    outbox = ", ".join(f"{k} {v}" for k, v in sorted(result.outbox.items())) or "empty"
    print(
        f"  outbox:              {outbox}; {result.outbox_per_agent_ok}/{n} agents with exactly one row, sent"
    )
    print(
        f"  lost / duplicated:   {result.lost} / {result.duplicated}  "
        f"(other messages to agents: {result.wrong_replies})  → {'OK' if result.clean else 'NOT MET'}"
    )
    print(
        f"  Bot API send rate:   busiest rolling second {result.peak_per_second} messages; "
        f"{result.seconds_over_limit} clock second(s) over Telegram's {TELEGRAM_PER_SECOND}/s"
        + (f" (the replicas share one pace of {SEND_PER_SECOND:.0f}/s for the bot)" if s.replicas > 1 else "")
    )
    for line in result.replica_lines:
        print(f"  {line}")
    sys.stdout.flush()


def table(results: list[Result]) -> None:
    heads = ["", *[r.setup.label for r in results]]

    def ms(values: list[float], share: float | None) -> str:
        if not values:
            return "–"
        if share is None:
            value = max(values)
        else:
            value = statistics.median(values) if share == 0.5 else percentile(values, share)
        return f"{value:.0f} ms"

    rows = [
        ["updates sent", *[str(r.sent) for r in results]],
        ["throughput (replies/s)", *[f"{r.throughput:.1f}" for r in results]],
        ["first POST → last reply", *[f"{r.run_seconds:.1f} s" for r in results]],
        ["update → reply p50", *[ms(r.latencies_ms, 0.5) for r in results]],
        ["update → reply p95", *[ms(r.latencies_ms, 0.95) for r in results]],
        ["update → reply max", *[ms(r.latencies_ms, None) for r in results]],
        ["webhook answer p95", *[ms(r.answered_ms, 0.95) for r in results]],
        ["lost", *[str(r.lost) for r in results]],
        ["duplicated", *[str(r.duplicated) for r in results]],
        ["clock_in punches once", *[f"{r.punched_once}/{r.agents}" for r in results]],
        ["busiest second at Bot API", *[str(r.peak_per_second) for r in results]],
        ["zero lost, zero duplicated", *["yes" if r.clean else "NO" for r in results]],
    ]
    for column, result in enumerate(results, start=1):
        if result.error is not None:
            for row in rows[:-1]:
                row[column] = "failed"
    widths = [max(len(row[i]) for row in [heads, *rows]) for i in range(len(heads))]
    print()
    print("  ".join(h.ljust(w) for h, w in zip(heads, widths, strict=True)))
    print("  ".join("-" * w for w in widths))
    for row in rows:
        print(
            "  ".join(
                c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True))
            )
        )


async def run(args: argparse.Namespace) -> int:
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(
        f"{args.agents} agents clock in within {args.seconds:g} s of their shift start, through the fake "
        f"Telegram Bot API; webhook replicas are `deskmate telegram` processes.\n"
        f"machine: {os.cpu_count()} CPUs, load average {load} (bench, replicas, PostgreSQL and any other "
        f"work share them). Each replica's outbox sends at most {SEND_PER_SECOND:.0f}/s."
    )
    results: list[Result] = []
    for key in args.configs:
        result = await run_setup(SETUPS[key], args)
        report(result, args.seconds)
        results.append(result)
    table(results)
    print(
        f"\nThe bot's sends are paced at {SEND_PER_SECOND:.0f}/s (Telegram allows "
        f"~{TELEGRAM_PER_SECOND}/s per bot): {args.agents} replies need at least "
        f"{args.agents / SEND_PER_SECOND:.0f} s, whatever the "
        "database; replicas on PostgreSQL share that pace, so a second replica adds handling capacity, "
        "not sending capacity."
    )
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"\nload average after the runs: {load}")
    return 0 if all(r.clean for r in results) else 1


def configs(text: str) -> list[str]:
    keys = [k.strip() for k in text.split(",") if k.strip()]
    unknown = [k for k in keys if k not in SETUPS]
    if unknown or not keys:
        raise argparse.ArgumentTypeError(f"choose from {', '.join(SETUPS)} (comma-separated)")
    return keys


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--agents", type=int, default=2000, help="agents clocking in (default 2000)")
    parser.add_argument("--seconds", type=float, default=60.0, help="length of the window (default 60)")
    parser.add_argument("--concurrency", type=int, default=64, help="most webhook POSTs in flight (64)")
    parser.add_argument(
        "--drain",
        type=float,
        default=None,
        help="seconds from the first POST to give up waiting for replies "
        "(default: 1.5 x the longer of the window and agents / 29, plus 15)",
    )
    parser.add_argument(
        "--configs", type=configs, default=list(SETUPS), help="sqlite,pg,pg2 (all by default)"
    )
    parser.add_argument("--pg-url", default=DEFAULT_PG, help="PostgreSQL server to create databases on")
    args = parser.parse_args()
    if args.agents < 1 or args.seconds <= 0 or args.concurrency < 1:
        parser.error("--agents, --seconds and --concurrency must be positive")
    if args.drain is None:
        args.drain = 1.5 * max(args.seconds, args.agents / SEND_PER_SECOND) + 15
    if not DESKMATE.exists():
        parser.error(f"{DESKMATE} not found: run `make install` first")

    async def guarded() -> int:
        task = asyncio.current_task()
        assert task is not None
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGTERM, task.cancel)
        return await run(args)

    try:
        code = asyncio.run(guarded())
    except (KeyboardInterrupt, asyncio.CancelledError):
        code = 130
    sys.exit(code)


if __name__ == "__main__":
    main()
