"""A platform-neutral form shown as a Slack modal: opened from /desk, filled in, checked, handled.

The demo form lives in the test; real features (swap, leave, escalation, missed punch) will describe
theirs the same way and keep their step-by-step conversation where `forms.offer` returns False.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode

import pytest

from bot import forms
from bot.app import App
from bot.clock import FakeClock
from bot.context import Context
from tests.helpers import Chat
from tests.slack.conftest import STRANGER, WANGFANG
from tests.slack.harness import SlackDesk

LIUYANG = "U0AGT00102"


@pytest.fixture
def demo_form(app: App) -> list[tuple[dict[str, str], dict[str, Any]]]:
    """`/demoform`: a leave-like form with one field of each kind; answers are recorded."""
    answers: list[tuple[dict[str, str], dict[str, Any]]] = []
    form = forms.Form(
        kind="demo.leave",
        title="请假申请 / Leave request form",
        submit="提交",
        fields=(
            forms.Field("day", "日期", "date", initial="2026-12-08"),
            forms.Field("cover", "顶班同事", "person", initial="liuyang"),
            forms.Field("type", "类型", "choice", choices=(("personal", "事假"), ("annual", "年假"))),
            forms.Field("reason", "事由", "long_text", required=False),
        ),
        payload={"draft": 7},
    )

    async def handle(ctx: Context, values: dict[str, str], payload: dict[str, Any]) -> dict[str, str] | None:
        if values.get("day", "") < "2026-12-01":
            return {"day": "不能选过去的日期"}
        answers.append((values, payload))
        await ctx.reply(f"已提交：{values['type']} {values['day']}，顶班 {values['cover']}")
        return None

    forms.register(app, "demo.leave", handle)

    @app.router.command("demoform")
    async def open_it(ctx: Context) -> None:
        if not await forms.offer(ctx, form):
            await ctx.reply("请按步骤填写")

    return answers


def submission(user: str, view: dict[str, Any], values: dict[str, dict[str, Any]]) -> bytes:
    payload = {
        "type": "view_submission",
        "team": {"id": "T0TEST001"},
        "user": {"id": user},
        "trigger_id": "t.submit",
        "view": {
            "id": "V0001",
            "type": "modal",
            "callback_id": view["callback_id"],
            "private_metadata": view["private_metadata"],
            "state": {"values": {name: {"value": answer} for name, answer in values.items()}},
        },
    }
    return urlencode({"payload": json.dumps(payload)}).encode()


def filled(day: str, cover: str) -> dict[str, dict[str, Any]]:
    return {
        "day": {"type": "datepicker", "selected_date": day},
        "cover": {"type": "users_select", "selected_user": cover},
        "type": {"type": "static_select", "selected_option": {"value": "annual"}},
        "reason": {"type": "plain_text_input", "value": "家里有事"},
    }


async def test_a_form_opens_as_a_modal_and_its_answers_reach_the_handler(
    desk: SlackDesk, app: App, demo_form: list[tuple[dict[str, str], dict[str, Any]]]
) -> None:
    await desk.command(WANGFANG, "demoform")
    opened = desk.api.calls_to("views.open")
    assert len(opened) == 1 and opened[0]["trigger_id"].startswith("trigger.")
    view = opened[0]["view"]
    assert view["type"] == "modal" and len(view["title"]["text"]) <= 24
    elements = {b["block_id"]: b["element"] for b in view["blocks"]}
    assert elements["day"] == {"type": "datepicker", "initial_date": "2026-12-08", "action_id": "value"}
    assert elements["cover"]["type"] == "users_select" and elements["cover"]["initial_user"] == LIUYANG
    assert [o["value"] for o in elements["type"]["options"]] == ["personal", "annual"]
    assert elements["reason"]["multiline"] is True
    assert [b["optional"] for b in view["blocks"]] == [False, False, False, True]

    # A colleague who is not registered is refused next to the field, and the modal stays open.
    status, body = await desk.post(
        submission(WANGFANG, view, filled("2026-12-08", STRANGER)), "application/x-www-form-urlencoded"
    )
    assert status == 200
    assert json.loads(body) == {
        "response_action": "errors",
        "errors": {"cover": "这位同事还没有在 Deskmate 登记。"},
    }
    # So is what the feature itself refuses.
    status, body = await desk.post(
        submission(WANGFANG, view, filled("2026-11-01", LIUYANG)), "application/x-www-form-urlencoded"
    )
    assert json.loads(body)["errors"] == {"day": "不能选过去的日期"}
    assert demo_form == []

    status, body = await desk.post(
        submission(WANGFANG, view, filled("2026-12-09", LIUYANG)), "application/x-www-form-urlencoded"
    )
    assert (status, body) == (200, "")
    assert demo_form == [
        ({"day": "2026-12-09", "cover": "liuyang", "type": "annual", "reason": "家里有事"}, {"draft": 7})
    ]
    await desk.flush()
    assert desk.last_text(WANGFANG) == "已提交：annual 2026-12-09，顶班 liuyang"


async def test_without_a_trigger_the_feature_asks_step_by_step(
    desk: SlackDesk, demo_form: list[tuple[dict[str, str], dict[str, Any]]]
) -> None:
    await desk.dm(WANGFANG, "demoform")  # a typed message carries no trigger: no modal possible
    await desk.flush()
    assert desk.api.calls_to("views.open") == []
    assert desk.last_text(WANGFANG) == "请按步骤填写"


async def test_an_expired_trigger_falls_back_too(
    desk: SlackDesk, demo_form: list[tuple[dict[str, str], dict[str, Any]]]
) -> None:
    desk.api.fail("views.open", "expired_trigger_id")
    await desk.command(WANGFANG, "demoform")
    await desk.flush()
    assert desk.last_text(WANGFANG) == "请按步骤填写"


async def test_the_console_has_no_modals(
    app: App, clock: FakeClock, demo_form: list[tuple[dict[str, str], dict[str, Any]]]
) -> None:
    chat = Chat(app, clock)
    [reply] = await chat.say("wangfang", "/demoform")
    assert reply["text"] == "请按步骤填写"


async def test_leave_and_swap_open_as_modals_and_create_the_requests(desk: SlackDesk, app: App) -> None:
    from datetime import date

    from tests.helpers import roster

    await roster(
        app,
        {"wangfang": "DDDD-DDDDD", "chenjing": "DD--DDDDDD", "liuyang": "EE-EEEE-EE"},
        start=date(2026, 12, 1),
    )
    await desk.command(WANGFANG, "leave")
    view = desk.api.calls_to("views.open")[-1]["view"]
    assert [b["block_id"] for b in view["blocks"]] == ["type", "start", "end", "half", "reason"]
    assert view["blocks"][3]["optional"] is True  # whole days unless a half is picked
    values: dict[str, dict[str, Any]] = {
        "type": {"type": "static_select", "selected_option": {"value": "personal"}},
        "start": {"type": "datepicker", "selected_date": "2026-12-08"},
        "end": {"type": "datepicker", "selected_date": "2026-12-08"},
        "half": {"type": "static_select", "selected_option": None},
        "reason": {"type": "plain_text_input", "value": "家里有事"},
    }
    status, body = await desk.post(submission(WANGFANG, view, values), "application/x-www-form-urlencoded")
    assert (status, body) == (200, "")
    await desk.flush()
    assert desk.last_text(WANGFANG).startswith("请假申请已提交给 张磊")

    await desk.command(WANGFANG, "换班")
    view = desk.api.calls_to("views.open")[-1]["view"]
    elements = {b["block_id"]: b["element"] for b in view["blocks"]}
    assert elements["colleague"]["type"] == "users_select" and elements["day"]["type"] == "datepicker"
    values = {
        "day": {"type": "datepicker", "selected_date": "2026-12-04"},
        "colleague": {"type": "users_select", "selected_user": LIUYANG},
        "their_day": {"type": "datepicker", "selected_date": None},
    }
    status, body = await desk.post(submission(WANGFANG, view, values), "application/x-www-form-urlencoded")
    assert (status, body) == (200, "")
    await desk.flush()
    assert "已发给 刘洋 确认" in desk.last_text(WANGFANG)


async def test_the_leave_modal_asks_for_half_a_day(desk: SlackDesk, app: App) -> None:
    """上午半天 / 下午半天 in the modal, as in the command and the step-by-step form: 病假 may be taken by the
    half day (0.5 day, the lead's tier, 第四十八条); 年休假 only in whole days (第五十二条), and a half day
    must start and end on one date; both refusals stand next to the half-day field."""
    from datetime import date

    from tests.helpers import roster

    await roster(app, {"wangfang": "DDDDDDDDDDDDDD"}, start=date(2026, 12, 1))

    def leave(kind: str, start: str, end: str, half: str) -> dict[str, dict[str, Any]]:
        return {
            "type": {"type": "static_select", "selected_option": {"value": kind}},
            "start": {"type": "datepicker", "selected_date": start},
            "end": {"type": "datepicker", "selected_date": end},
            "half": {"type": "static_select", "selected_option": {"value": half}},
            "reason": {"type": "plain_text_input", "value": "看牙"},
        }

    await desk.command(WANGFANG, "leave")
    view = desk.api.calls_to("views.open")[-1]["view"]
    form = "application/x-www-form-urlencoded"
    status, body = await desk.post(
        submission(WANGFANG, view, leave("annual", "2026-12-20", "2026-12-20", "am")), form
    )
    assert status == 200 and list(json.loads(body)["errors"]) == ["half"]
    assert "第五十二条" in json.loads(body)["errors"]["half"]
    status, body = await desk.post(
        submission(WANGFANG, view, leave("sick", "2026-12-09", "2026-12-10", "pm")), form
    )
    assert json.loads(body)["errors"] == {"half": "半天假只能请某一天的上午或下午，开始和结束须是同一天。"}
    status, body = await desk.post(
        submission(WANGFANG, view, leave("sick", "2026-12-09", "2026-12-09", "pm")), form
    )
    assert (status, body) == (200, "")
    await desk.flush()
    assert desk.last_text(WANGFANG).startswith("请假申请已提交给 张磊")
    assert "病假 12-09 下午半天（0.5 天），事由：看牙" in desk.last_text(WANGFANG)
