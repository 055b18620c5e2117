"""The adapter's pieces on their own: text splitting, keyboards, limits, ordering, redaction, settings."""

from __future__ import annotations

import logging

import pytest
from pydantic import SecretStr

from bot.adapters.launch import Redactor, StartupError
from bot.adapters.telegram import render
from bot.adapters.telegram.cli import check_settings, token_shapes
from bot.adapters.telegram.render import file_url_for
from bot.adapters.telegram.runner import webhook_path
from bot.adapters.telegram.transport import Pacing, SendWindow
from bot.messages import Outgoing
from bot.outbox import enqueue
from bot.settings import Settings
from fakes.telegram_api import TOKEN
from tests.telegram.conftest import SUPERVISORS_CHAT, StartTelegram, Telegram


def test_split_text_keeps_lines_and_limits() -> None:
    text = "\n".join(["短行"] * 10)
    assert render.split_text(text) == [text]
    long_lines = "\n".join("行" * 3000 for _ in range(3))
    pieces = render.split_text(long_lines)
    assert len(pieces) == 3 and all(render.utf16_len(p) <= render.MAX_TEXT for p in pieces)
    one_huge_line = "字" * 10_000
    assert "".join(render.split_text(one_huge_line)) == one_huge_line
    emoji = "😀" * 3000  # two UTF-16 units each: Telegram counts those
    assert all(render.utf16_len(p) <= render.MAX_TEXT for p in render.split_text(emoji))


def test_keyboard_carries_tokens_and_refuses_oversized_data() -> None:
    markup = render.keyboard([[{"label": "批准", "token": "abc"}, {"label": "驳回", "token": "def"}], []])
    assert markup is not None
    assert [[b.callback_data for b in row] for row in markup.inline_keyboard] == [["abc", "def"]]
    assert render.keyboard([]) is None
    with pytest.raises(ValueError):
        render.keyboard([[{"label": "x", "token": "t" * 65}]])


def test_group_keys_and_urls() -> None:
    assert render.is_group_key("supervisors") and render.is_group_key("-100123")
    assert not render.is_group_key("wangfang") and not render.is_group_key("100000101")
    assert file_url_for("https://api.telegram.org/bot") == "https://api.telegram.org/file/bot"
    assert file_url_for("http://127.0.0.1:8081/bot/") == "http://127.0.0.1:8081/file/bot"
    assert webhook_path("https://desk.example.com/tg/hook") == "/tg/hook"
    assert webhook_path("https://desk.example.com") == "/"


def test_send_window_counts_a_rolling_period_per_chat() -> None:
    now = [0.0]
    window = SendWindow(20, 60.0, now=lambda: now[0])
    for _ in range(20):
        assert window.wait("-1") == 0
        window.record("-1")
    assert window.wait("-1") == pytest.approx(60.0)
    assert window.wait("-2") == 0  # another chat is not affected
    now[0] = 30.0
    assert window.wait("-1") == pytest.approx(30.0)
    now[0] = 60.0
    assert window.wait("-1") == 0


def test_pacing_private_bursts_and_group_minutes() -> None:
    now = [0.0]
    pacing = Pacing(now=lambda: now[0])
    assert [pacing.reserve(100) for _ in range(4)] == [0, 0, 0, pytest.approx(3.0)]
    now[0] = 3.0
    assert pacing.reserve(100) == 0
    group = -100
    waits = []
    for second in range(25):
        now[0] = 10.0 + second * 1.5  # never more than the chat burst: only the group's minute binds
        waits.append(pacing.reserve(group))
    assert waits[:20] == [0] * 20 and waits[20] == pytest.approx(60.0 - 30.0)
    assert pacing.reserve(200) == 0  # a refused chat counted nothing, others go on


def test_redaction_hides_the_token_wherever_it_appears() -> None:
    redactor = Redactor([TOKEN], token_shapes)
    record = logging.LogRecord(
        "httpx", logging.INFO, __file__, 1, "POST %s", (f"https://x/bot{TOKEN}/getMe",), None
    )
    redactor.filter(record)
    assert TOKEN not in record.getMessage() and "(redacted)" in record.getMessage()
    other = "7071234567:AAH3kq9_fake-looking-token-0123456789abc"
    assert other not in Redactor([], token_shapes).redact(f"url /bot{other}/x")


def base_settings(**values: object) -> Settings:
    return Settings(_env_file=None, **values)  # type: ignore[call-arg,arg-type]


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ({}, "setting TELEGRAM_TOKEN: required"),
        ({"telegram_token": SecretStr("not a token")}, "setting TELEGRAM_TOKEN: not a bot token"),
        (
            {"telegram_token": SecretStr(TOKEN), "telegram_webhook_url": "http://desk.example.com/hook"},
            "setting TELEGRAM_WEBHOOK_URL",
        ),
        (
            {"telegram_token": SecretStr(TOKEN), "telegram_webhook_url": "https://desk.example.com/hook"},
            "setting TELEGRAM_SECRET_TOKEN: required",
        ),
        (
            {
                "telegram_token": SecretStr(TOKEN),
                "telegram_webhook_url": "https://desk.example.com/hook",
                "telegram_secret_token": SecretStr("has spaces!"),
            },
            "setting TELEGRAM_SECRET_TOKEN: only",
        ),
    ],
)
def test_settings_are_checked_before_any_network_call(values: dict[str, object], expected: str) -> None:
    with pytest.raises(StartupError) as caught:
        check_settings(base_settings(**values))
    assert str(caught.value).startswith(expected) and TOKEN not in str(caught.value)


def test_good_settings_pass() -> None:
    check_settings(base_settings(telegram_token=SecretStr(TOKEN)))
    check_settings(
        base_settings(
            telegram_token=SecretStr(TOKEN),
            telegram_webhook_url="https://desk.example.com/hook",
            telegram_secret_token=SecretStr("Abc_123-x"),
        )
    )


# ----- limits and chats over the fake API ------------------------------------------------------
async def queue_to_group(telegram: Telegram, count: int) -> None:
    async with telegram.app.db.transaction() as conn:
        for i in range(count):
            await enqueue(conn, Outgoing(f"卡片{i}", to_chat="supervisors"), telegram.clock.now())


async def test_a_group_gets_at_most_twenty_messages_a_minute(telegram: Telegram) -> None:
    await queue_to_group(telegram, 22)
    for _ in range(40):  # cards to one group: three at a time, then one a second …
        await telegram.advance(1.0)
    delivered = [c.text for c in telegram.api.deliveries(SUPERVISORS_CHAT)]
    assert delivered == [f"卡片{i}" for i in range(20)]  # … and no more than 20 a minute
    await telegram.advance(30)
    assert [c.text for c in telegram.api.deliveries(SUPERVISORS_CHAT)][20:] == ["卡片20", "卡片21"]
    assert all(c.status != 429 for c in telegram.api.calls)


async def test_a_burst_to_one_person_does_not_hold_up_the_others(telegram: Telegram) -> None:
    async with telegram.app.db.transaction() as conn:
        for i in range(5):
            await enqueue(conn, Outgoing(f"王芳{i}", to_person="wangfang"), telegram.clock.now())
        await enqueue(conn, Outgoing("刘洋", to_person="liuyang"), telegram.clock.now())
    await telegram.flush()
    assert [c.text for c in telegram.to("wangfang")] == ["王芳0", "王芳1", "王芳2"]
    assert [c.text for c in telegram.to("liuyang")] == ["刘洋"]
    await telegram.advance(3)
    assert [c.text for c in telegram.to("wangfang")][3:] == ["王芳3", "王芳4"]


async def test_a_group_that_became_a_supergroup_still_gets_its_cards(telegram: Telegram) -> None:
    new_id = -1009999999999
    telegram.api.fail(
        "sendMessage",
        400,
        description="Bad Request: group chat was upgraded to a supergroup chat",
        chat_id=SUPERVISORS_CHAT,
        migrate_to=new_id,
    )
    await queue_to_group(telegram, 2)
    await telegram.flush()
    assert [c.text for c in telegram.api.deliveries(new_id)] == ["卡片0", "卡片1"]


async def test_supervisors_chat_not_configured_is_undeliverable(start_telegram: StartTelegram) -> None:
    telegram = await start_telegram(telegram_supervisors_chat_id=None)
    assert telegram.app.shared.supervisors_chat is None
    await queue_to_group(telegram, 1)
    await telegram.flush()
    assert telegram.api.deliveries() == [] and await telegram.app.dispatcher.pending_count() == 0  # type: ignore[union-attr]
