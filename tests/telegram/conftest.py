"""Fixtures for end-to-end Telegram tests: the real PTB Application and our adapter against the fake Bot
API on 127.0.0.1, with the fake clock driving the core.

A new scenario is usually a few lines:

    async def test_something(telegram: Telegram) -> None:
        replies = await telegram.say("wangfang", "/help")
        assert replies[0].text.startswith("王芳")

`telegram.say/press/upload` feed an update through getUpdates, wait until the adapter handled it and the
outbox has delivered everything due, and return the calls the bot made meanwhile. Each of them first
moves the fake clock on by HUMAN_PAUSE (people do not type faster), which also keeps a multi-step form
within Telegram's per-chat pace. `telegram.advance(s)` moves the fake clock and lets the outbox catch
up. `start_telegram(setup=..., webhook=True)` starts a second flavour (features registered before start,
webhook mode, other settings).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from typing import Any

import aiohttp
import pytest
import sqlalchemy as sa
from pydantic import SecretStr

from bot import org
from bot.adapters.telegram.runner import SECRET_HEADER, TelegramBot
from bot.adapters.telegram.transport import SEND_PER_SECOND
from bot.app import App
from bot.clock import FakeClock
from bot.outbox import PENDING
from bot.ratelimit import RateLimiter
from bot.schema import outbox
from bot.settings import Settings
from fakes.telegram_api import Call, FakeBotAPI
from tests.conftest import REPO
from tests.helpers import wait_until

SUPERVISORS_CHAT = -1001234567890
WEBHOOK_URL = "https://deskmate.example.com/telegram/webhook"
WEBHOOK_SECRET = "webhook-secret_123"
STRANGER = 999000111  # a Telegram user who is not in the org file
HUMAN_PAUSE = 1.0  # seconds of fake time before each thing a person does


def _telegram_ids() -> dict[str, int]:
    department = org.load_org_file(REPO / "examples" / "org.yaml")
    return {r.person.id: int(r.person.telegram) for r in department.people if r.person.telegram}


TG = _telegram_ids()


class Telegram:
    """One running bot, its fake API and the fake clock, with the verbs tests need."""

    def __init__(self, app: App, api: FakeBotAPI, bot: TelegramBot, clock: FakeClock) -> None:
        self.app = app
        self.api = api
        self.bot = bot
        self.clock = clock
        self.expected_updates = 0

    # ----- feeding updates ------------------------------------------------------------------
    @staticmethod
    def user_id(who: str | int) -> int:
        return TG[who] if isinstance(who, str) else who

    async def feed(self, *updates: dict[str, Any]) -> list[Call]:
        """Serve updates through getUpdates (several at once come in one batch, as after a restart);
        returns the calls the bot made until things settled."""
        assert self.bot.webhook_url is None, "in webhook mode, use post_webhook"
        before = len(self.api.calls)
        self.clock.set(self.clock.now() + timedelta(seconds=HUMAN_PAUSE))
        for update in updates:
            self.api.push(update)
        self.expected_updates += len(updates)
        await self.settle()
        return [c for c in self.api.calls[before:] if c.method != "getUpdates"]

    async def say(self, who: str | int, text: str, **kw: Any) -> list[Call]:
        """`who` sends `text`; returns the messages that reached any chat meanwhile."""
        kw.setdefault("date", int(self.clock.now().timestamp()))  # sent now, by the fake clock
        calls = await self.feed(self.api.text_update(self.user_id(who), text, **kw))
        return [c for c in calls if c.ok and c.method in ("sendMessage", "sendDocument", "sendPhoto")]

    async def press(
        self, who: str | int, token: str, *, chat_id: int | None = None, message_id: int = 1
    ) -> list[Call]:
        """`who` presses the button with callback data `token`; returns every call made meanwhile."""
        update = self.api.press_update(self.user_id(who), token, chat_id=chat_id, message_id=message_id)
        return await self.feed(update)

    async def upload(self, who: str | int, name: str, data: bytes, **kw: Any) -> list[Call]:
        return await self.feed(self.api.document_update(self.user_id(who), name, data, **kw))

    async def post_webhook(self, update: dict[str, Any], secret: str | None = WEBHOOK_SECRET) -> int:
        """POST an update to the webhook as Telegram would; returns the HTTP status."""
        assert self.bot.port is not None and self.bot.webhook_url is not None
        path = self.bot.webhook_url.split("deskmate.example.com", 1)[1]
        headers = {SECRET_HEADER: secret} if secret is not None else {}
        self.clock.set(self.clock.now() + timedelta(seconds=HUMAN_PAUSE))
        async with (
            aiohttp.ClientSession() as session,
            session.post(f"http://127.0.0.1:{self.bot.port}{path}", json=update, headers=headers) as response,
        ):
            status = response.status
        if status == 200:  # stored in the inbox (or not for us): the worker's outcome is awaited
            self.expected_updates += 1
            await self.settle()
        return status

    async def get(self, path: str) -> tuple[int, Any]:
        assert self.bot.port is not None
        async with (
            aiohttp.ClientSession() as session,
            session.get(f"http://127.0.0.1:{self.bot.port}{path}") as response,
        ):
            return response.status, await response.json()

    # ----- time and quiet -------------------------------------------------------------------
    async def advance(self, seconds: float) -> None:
        """Move the fake clock; the outbox delivers whatever became due."""
        self.clock.set(self.clock.now() + timedelta(seconds=seconds))
        await self.flush()

    async def flush(self) -> None:
        assert self.app.dispatcher is not None
        self.app.dispatcher.wakeup.set()
        await self.settle()

    async def settle(self) -> None:
        """Every fed update handled and every due outbox row delivered (or put off until later)."""
        # Generous deadlines: a loaded machine is slow, and only a real hang should fail here.
        await wait_until(
            lambda: self.bot.updates_seen >= self.expected_updates,
            timeout=30,
            what="the update to be handled",
        )
        await wait_until(self._outbox_idle, timeout=30, what="the outbox to deliver what is due")

    async def _outbox_idle(self) -> bool:
        if self.app.dispatcher is not None and self.app.dispatcher.sending:
            return False  # a send in hand may queue more (a blocked person's lead is told)
        earlier = outbox.alias("earlier")
        waiting_behind = (
            sa.select(earlier.c.id)
            .where(
                earlier.c.chat_key == outbox.c.chat_key,
                earlier.c.status == PENDING,
                earlier.c.id < outbox.c.id,
            )
            .exists()
        )
        query = (
            sa.select(sa.func.count())
            .select_from(outbox)
            .where(outbox.c.status == PENDING, outbox.c.next_attempt_at <= self.clock.now(), ~waiting_behind)
        )
        async with self.app.db.read() as conn:
            idle = int((await conn.execute(query)).scalar_one()) == 0
        if not idle and self.app.dispatcher is not None:
            # Rows queued during a pass (a lead told about a block) wait for the worker's idle tick in
            # production (≤ 1 s); nudge it so the tests need not wait.
            self.app.dispatcher.wakeup.set()
        return idle

    # ----- reading what happened ------------------------------------------------------------
    def to(self, who: str | int) -> list[Call]:
        """Messages delivered to a person's private chat (or any chat id)."""
        return self.api.deliveries(self.user_id(who))


def fast_limiter(clock: FakeClock) -> RateLimiter:
    """The global rate, timed by the fake clock and never really sleeping: tests stay fast. (Per-chat
    and per-group pacing is the adapter's own, on the App's fake clock already.)"""

    skipped = [0.0]  # time "slept" runs on here, so the limiter sees its waits as passed

    async def no_sleep(seconds: float) -> None:
        skipped[0] += seconds

    return RateLimiter(SEND_PER_SECOND, now=lambda: clock.now().timestamp() + skipped[0], sleep=no_sleep)


StartTelegram = Callable[..., Awaitable[Telegram]]


@pytest.fixture
async def fake_api() -> AsyncIterator[FakeBotAPI]:
    api = await FakeBotAPI().start()
    yield api
    await api.close()


@pytest.fixture
def telegram_settings(settings: Settings, fake_api: FakeBotAPI) -> Settings:
    return settings.model_copy(
        update={
            "telegram_token": SecretStr(fake_api.token),
            "telegram_base_url": fake_api.base_url,
            "telegram_supervisors_chat_id": SUPERVISORS_CHAT,
        }
    )


@pytest.fixture
async def start_telegram(
    telegram_settings: Settings, fake_api: FakeBotAPI, clock: FakeClock
) -> AsyncIterator[StartTelegram]:
    """A factory: `await start_telegram(setup=fn, webhook=False, **settings)`; stopped after the test."""
    async with contextlib.AsyncExitStack() as stack:

        async def start(
            *, setup: Callable[[App], None] | None = None, webhook: bool = False, **overrides: Any
        ) -> Telegram:
            values = dict(overrides)
            if webhook:
                values.setdefault("telegram_webhook_url", WEBHOOK_URL)
                values.setdefault("telegram_secret_token", SecretStr(WEBHOOK_SECRET))
                values.setdefault("telegram_listen_port", 0)
            app = App(telegram_settings.model_copy(update=values), clock=clock)
            stack.push_async_callback(app.close)
            await app.prepare()
            if setup is not None:
                setup(app)
            bot = TelegramBot(app, limiter=fast_limiter(clock), poll_timeout=1)
            await stack.enter_async_context(bot.running())
            return Telegram(app, fake_api, bot, clock)

        yield start


@pytest.fixture
async def telegram(start_telegram: StartTelegram) -> Telegram:
    """The bot in long-polling mode over the demo department."""
    return await start_telegram()
