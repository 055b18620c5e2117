"""SIGTERM at 50 random moments: `deskmate telegram` (long polling and webhook) is stopped while it
starts, while updates stream in (claims, handler transactions, sends, scheduler ticks every 0.1 s) and
while a send hangs. Every process must be gone within 10 s of the signal, with no traceback on stderr.

The moments are drawn from a fixed seed, so a failing run can be repeated; what each run was doing
when the signal came is printed with the timings.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import signal
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest

from bot.adapters.telegram.runner import SECRET_HEADER
from fakes.telegram_api import TOKEN, FakeBotAPI
from tests.conftest import REPO
from tests.helpers import wait_until
from tests.telegram.conftest import TG

SEED = 15_2026
RUNS = int(os.environ.get("SIGTERM_RUNS", "50"))
AT_ONCE = 3  # processes stopped side by side (the 2-core machine is shared)
STOP_LIMIT = 10.0  # seconds from SIGTERM until the process is gone (issue 15)
WEBHOOK_URL = "https://deskmate.example.com/telegram/webhook"
SECRET = "sigterm-test_secret"
TEXTS = ("打卡", "帮助", "/whoami", "下班打卡", "/help", "年假有几天？")


@dataclass
class Moment:
    """When one run gets its SIGTERM."""

    index: int
    webhook: bool
    phase: str  # "starting": a delay after the spawn; "running": while updates stream in; "hung send"
    delay: float

    def describe(self) -> str:
        mode = "webhook" if self.webhook else "polling"
        return f"run {self.index} ({mode}, {self.phase}, +{self.delay:.2f} s)"


@dataclass
class Stopped:
    moment: Moment
    seconds: float
    returncode: int
    stderr: str
    running: bool  # the process had said it was running before the signal
    fed: int


def moments(rng: random.Random) -> list[Moment]:
    plan = []
    for index in range(RUNS):
        phase = rng.choices(("starting", "running", "hung send"), weights=(2, 5, 3))[0]
        delay = rng.uniform(0.0, 4.0) if phase == "starting" else rng.uniform(0.0, 2.5)
        plan.append(Moment(index, rng.random() < 0.5, phase, delay))
    return plan


def environment(tmp_path: Path, moment: Moment) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "SLACK_", "DATABASE_"))}
    env.update(
        PYTHONPATH=str(REPO),
        DATABASE_URL=f"sqlite:///{tmp_path / f'run{moment.index}.db'}",
        ORG_FILE=str(REPO / "examples" / "org.yaml"),
        POLICY_FILE=str(REPO / "examples" / "policy.yaml"),
        KB_CACHE_DIR=str(tmp_path / "cache"),
        # Lexical search only: the semantic model's first build takes minutes on a loaded machine, and an
        # update waiting for it holds the inbox (see the report of issue 15).
        KB_SEMANTIC="false",
        LOG_LEVEL="INFO",
        TELEGRAM_TOKEN=TOKEN,
        SCHEDULER_TICK_SECONDS="0.1",  # a tick is nearly always running
        PYTHONFAULTHANDLER="1",  # a process that hangs is ended with SIGABRT: its threads' stacks show why
    )
    if moment.webhook:
        env.update(TELEGRAM_WEBHOOK_URL=WEBHOOK_URL, TELEGRAM_SECRET_TOKEN=SECRET, TELEGRAM_LISTEN_PORT="0")
    return env


async def feed(
    api: FakeBotAPI, port: int | None, rng: random.Random, counter: list[int], first: int | None
) -> None:
    """People write to the bot without pause (about 50 updates a second), until cancelled; `first`
    writes first."""
    people = sorted(TG.values())
    async with aiohttp.ClientSession() as session:
        while True:
            if first is not None and counter[0] == 0:
                update = api.text_update(first, "帮助")
            else:
                update = api.text_update(rng.choice(people), rng.choice(TEXTS))
            if port is None:
                api.push(update)
            else:
                with contextlib.suppress(aiohttp.ClientError):
                    async with session.post(
                        f"http://127.0.0.1:{port}/telegram/webhook",
                        json=update,
                        headers={SECRET_HEADER: SECRET},
                    ) as response:
                        await response.read()
            counter[0] += 1
            await asyncio.sleep(0.02)


async def one_run(moment: Moment, tmp_path: Path, rng: random.Random) -> Stopped:
    api = await FakeBotAPI().start()
    env = environment(tmp_path, moment)
    env["TELEGRAM_BASE_URL"] = api.base_url
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot.cli",
        "telegram",
        cwd=tmp_path,
        env=env,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    assert process.stderr is not None
    lines: list[str] = []
    running = asyncio.Event()
    port: list[int] = []

    async def read_stderr() -> None:
        assert process.stderr is not None
        async for raw in process.stderr:
            line = raw.decode(errors="replace")
            lines.append(line)
            if line.startswith("deskmate telegram: @"):
                if "listening on" in line:
                    port.append(int(line.rsplit(":", 1)[1]))
                running.set()

    reader = asyncio.create_task(read_stderr())
    counter = [0]
    feeder: asyncio.Task[None] | None = None

    def state() -> str:
        return f"{moment.describe()}: exit code {process.returncode}; stderr tail:\n{''.join(lines[-30:])}"

    try:
        if moment.phase == "starting":
            await asyncio.sleep(moment.delay)  # the moment itself: a delay after the spawn
        else:
            await wait_until(running.is_set, timeout=180, what="the bot to say it runs", state=state)
            hung = TG["wangfang"] if moment.phase == "hung send" else None
            if hung is not None:
                api.hanging.add(hung)  # one person's chat stops answering: a send stays in flight
            feeder = asyncio.create_task(feed(api, port[0] if port else None, rng, counter, hung))
            if hung is not None:
                await wait_until(lambda: api.hung > 0, timeout=180, what="a hung send", state=state)
            await asyncio.sleep(moment.delay)
        was_running = running.is_set()
        process.send_signal(signal.SIGTERM)
        sent_at = time.monotonic()
        # Bounds only a hung process; the 10 s limit is checked on the measured time.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(process.wait(), 60)
        seconds = time.monotonic() - sent_at
        if process.returncode is None:
            process.send_signal(signal.SIGABRT)  # hung: the fault handler prints every thread's stack
    finally:
        if feeder is not None:
            feeder.cancel()
            await asyncio.gather(feeder, return_exceptions=True)
        if process.returncode is None:
            process.kill()
            await process.wait()
        await asyncio.wait_for(reader, 60)
        await api.close()
    assert process.returncode is not None
    return Stopped(moment, seconds, process.returncode, "".join(lines), was_running, counter[0])


@pytest.mark.slow  # 50 bot processes started and stopped (about 3 minutes on a loaded 2-core machine)
async def test_sigterm_at_50_random_moments_ends_every_process_within_10_s(tmp_path: Path) -> None:
    rng = random.Random(SEED)
    plan = moments(rng)
    gate = asyncio.Semaphore(AT_ONCE)

    async def gated(moment: Moment) -> Stopped:
        async with gate:
            return await one_run(moment, tmp_path, random.Random(rng.random()))

    outcomes = await asyncio.gather(*(gated(m) for m in plan), return_exceptions=True)
    for outcome in outcomes:
        if isinstance(outcome, BaseException):
            raise outcome
    results = [o for o in outcomes if isinstance(o, Stopped)]
    seconds = sorted(r.seconds for r in results)
    phases = ", ".join(
        f"{p}: {sum(r.moment.phase == p for r in results)}" for p in ("starting", "running", "hung send")
    )
    print(
        f"\nSIGTERM at {len(results)} moments (seed {SEED}): stopped in median"
        f" {statistics.median(seconds):.2f} s, max {seconds[-1]:.2f} s; {phases}"
    )
    for result in results:
        print(
            f"  {result.moment.describe()}: {result.seconds:.2f} s, exit {result.returncode},"
            f" {result.fed} updates fed"
        )
    for result in results:
        where = result.moment.describe()
        assert result.seconds <= STOP_LIMIT, f"{where} took {result.seconds:.1f} s:\n{result.stderr[-3000:]}"
        assert "Traceback" not in result.stderr, f"{where}:\n{result.stderr[-6000:]}"
        assert "Error running job" not in result.stderr, f"{where}:\n{result.stderr[-3000:]}"
        if result.running:
            # Stopped by its own signal handler: a clean exit, not death by the signal.
            assert result.returncode == 0, f"{where}: exit {result.returncode}\n{result.stderr[-3000:]}"
        else:
            # Before the handler is installed SIGTERM's default action ends the process; either way it
            # is gone, without a traceback.
            assert result.returncode in (0, -signal.SIGTERM), f"{where}: exit {result.returncode}"
    assert sum(r.moment.phase == "hung send" for r in results) >= 5
