"""Block Kit rendering and Slack's text format, without a network."""

from __future__ import annotations

import pytest

from bot.adapters.slack import blocks
from bot.adapters.slack.transport import classify
from bot.outbox import RetryLater, Undeliverable


def test_escape_leaves_no_control_characters() -> None:
    assert blocks.escape("<!channel> & <@U1> 1<2>0") == "&lt;!channel&gt; &amp; &lt;@U1&gt; 1&lt;2&gt;0"


def test_long_text_is_split_into_sections_that_fit() -> None:
    text = "\n".join(f"第{i}条 " + "规定" * 60 + " <&>" for i in range(200))
    sections = blocks.text_sections(text)
    assert len(sections) > 1
    assert all(len(s["text"]["text"]) <= blocks.SECTION_LIMIT for s in sections)
    joined = "\n".join(s["text"]["text"] for s in sections)
    assert joined == blocks.escape(text)


def test_one_huge_line_is_cut_too() -> None:
    pieces = blocks.split_text("&" * 10_000)
    assert all(len(blocks.escape(p)) <= blocks.SECTION_LIMIT for p in pieces)
    assert "".join(pieces) == "&" * 10_000


def test_a_message_keeps_its_buttons_within_the_block_limit() -> None:
    rows = [
        [{"label": "批准", "token": "tok1"}, {"label": "驳回", "token": "tok2"}],
        [{"label": "x" * 100, "token": "t3"}],
    ]
    body = blocks.message("\n".join("行" * 2000 for _ in range(100)), rows)
    assert len(body["blocks"]) <= blocks.MAX_BLOCKS
    actions = [b for b in body["blocks"] if b["type"] == "actions"]
    assert len(actions) == 2
    first = actions[0]["elements"][0]
    assert first["value"] == "tok1" and first["action_id"] == blocks.BUTTON_ACTION_PREFIX + "tok1"
    assert len(actions[1]["elements"][0]["text"]["text"]) <= blocks.BUTTON_LABEL_LIMIT
    assert len(body["text"]) <= 3000


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("<@UBOT1> 打卡", "打卡"),
        ("换班 <@U0AGT00102> 12-05", "换班 @U0AGT00102 12-05"),
        ("看 <https://example.com/a|手册> 和 <https://example.com/b>", "看 手册 和 https://example.com/b"),
        ("&lt;!channel&gt; &amp; 你好", "<!channel> & 你好"),
        ("<!here> 在吗", "@here 在吗"),
        ("<#C123|general>", "#general"),
    ],
)
def test_from_slack(given: str, expected: str) -> None:
    assert blocks.from_slack(given, "UBOT1") == expected


def test_errors_map_onto_outbox_outcomes() -> None:
    from slack_sdk.errors import SlackApiError
    from slack_sdk.web.async_slack_response import AsyncSlackResponse

    def error(status: int, data: dict[str, object], headers: dict[str, str] | None = None) -> SlackApiError:
        response = AsyncSlackResponse(
            client=None,
            http_verb="POST",
            api_url="http://127.0.0.1/api/chat.postMessage",
            req_args={},
            data=data,
            headers=headers or {},
            status_code=status,
        )
        return SlackApiError("failed", response)  # type: ignore[no-untyped-call]

    limited = classify(error(429, {"ok": False, "error": "ratelimited"}, {"Retry-After": "17"}))
    assert isinstance(limited, RetryLater) and limited.seconds == 17
    outage = classify(error(503, {"ok": False}))
    assert isinstance(outage, RetryLater) and outage.seconds is None
    assert isinstance(classify(error(200, {"ok": False, "error": "channel_not_found"})), Undeliverable)
    revoked = classify(error(200, {"ok": False, "error": "token_revoked"}))
    assert isinstance(revoked, RetryLater) and revoked.seconds == 60
    assert isinstance(classify(ConnectionRefusedError()), RetryLater)
