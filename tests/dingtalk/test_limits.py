"""DingTalk's sending limits as the outbox keeps them, on an injected clock (no waiting), and its errors as
the outbox's outcomes."""

from __future__ import annotations

import pytest

from bot.adapters.dingtalk.api import DingTalkError, oapi_url
from bot.adapters.dingtalk.transport import DingTalkLimiter, classify, split_text
from bot.outbox import RetryLater, Undeliverable


class Time:
    def __init__(self) -> None:
        self.t = 0.0

    def now(self) -> float:
        return self.t

    async def sleep(self, seconds: float) -> None:
        self.t += seconds


async def test_groups_get_20_a_minute_and_everything_19_a_second() -> None:
    clock = Time()
    limiter = DingTalkLimiter(now=clock.now, sleep=clock.sleep)
    granted = []
    for _ in range(4):
        await limiter.acquire("supervisors")
        granted.append(clock.t)
    assert granted == pytest.approx([0.0, 3.0, 6.0, 9.0])  # 60 s / 20 messages

    clock.t = 100.0
    start = clock.t
    for i in range(39):
        await limiter.acquire(f"person{i}")  # private chats: only the app's rate
    assert clock.t - start == pytest.approx(38 / 19)


@pytest.mark.parametrize(
    ("error", "outcome", "seconds"),
    [
        (DingTalkError(403, "Forbidden.AccessDenied.QpsLimitForAppkeyAndApi"), RetryLater, 1.0),
        (DingTalkError(429, "Throttling"), RetryLater, 1.0),
        (DingTalkError(200, "90018", "oapi qps"), RetryLater, 1.0),
        (DingTalkError(200, "90002", "oapi minute"), RetryLater, 60.0),
        (DingTalkError(503, ""), RetryLater, None),
        (DingTalkError(401, "InvalidAuthentication"), RetryLater, 60.0),
        (DingTalkError(403, "Forbidden.AccessDenied.AccessTokenPermissionDenied"), RetryLater, 60.0),
        (DingTalkError(400, "invalidParameter"), Undeliverable, None),
    ],
)
def test_errors_become_outbox_outcomes(error: DingTalkError, outcome: type, seconds: float | None) -> None:
    result = classify(error)
    assert isinstance(result, outcome)
    if isinstance(result, RetryLater):
        assert result.seconds == seconds


def test_long_texts_are_split_at_line_ends_and_the_oapi_host_is_derived() -> None:
    text = "\n".join(["一二三四五"] * 3000)  # 17,999 characters
    parts = split_text(text)
    assert all(len(p) <= 5000 for p in parts) and "\n".join(parts) == text
    assert oapi_url("https://api.dingtalk.com") == "https://oapi.dingtalk.com"
    assert oapi_url("http://127.0.0.1:8080/") == "http://127.0.0.1:8080"
