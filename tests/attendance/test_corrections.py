"""/correct and `deskmate attendance correct`: a lead (own team) or an admin corrects one finished shift,
audited, shown in the report's detail rows, the person told; nobody else, and never a running shift."""

from __future__ import annotations

import csv
import io
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest
import sqlalchemy as sa

from bot.app import App
from bot.clock import FakeClock
from bot.schema import audit_log
from handlers.report import attendance_report
from tests.conftest import REPO, local
from tests.helpers import Chat, roster

DEC1 = date(2026, 12, 1)
CORRECTED = audit_log.c.action == "attendance.corrected"


async def report_rows(app: App, *, detail: bool = False) -> dict[str, dict[str, str]]:
    data = await attendance_report(app, DEC1, DEC1, "service", "csv", "zh-CN", detail=detail)
    return {r["工号"]: r for r in csv.DictReader(io.StringIO(data.decode("utf-8-sig")))}


@pytest.fixture
async def rostered(app: App) -> App:
    await roster(app, {"wangfang": "DD", "zhanglei": "DD"}, start=date(2026, 12, 1))
    return app


async def test_a_lead_corrects_a_no_show_and_the_report_follows(rostered: App, clock: FakeClock) -> None:
    clock.set(local("2026-12-02 10:00"))  # 12-01 is over: wangfang never came (旷工1天, 第三十二条)
    chat = Chat(rostered, clock)
    before = await attendance_report(
        rostered, date(2026, 12, 1), date(2026, 12, 1), "service", "csv", "zh-CN"
    )
    rows = {r["工号"]: r for r in csv.DictReader(io.StringIO(before.decode("utf-8-sig")))}
    assert (rows["wangfang"]["旷工(半天)"], rows["wangfang"]["记过"]) == ("2", "1")

    sent = await chat.say("zhanglei", "/correct 王芳 12-01 准时 企业微信故障，班长已当天登记")
    assert [m["text"] for m in sent if m["to"] == "zhanglei"] == [
        "已更正 王芳 12-01 的考勤：旷工1天 → 准时。已记录并通知本人。"
    ]
    assert [m["text"] for m in sent if m["to"] == "wangfang"] == [
        "您 12-01 的考勤已由张磊更正：旷工1天 → 准时。原因：企业微信故障，班长已当天登记"
    ]
    async with rostered.db.read() as conn:
        audited = (
            await conn.execute(
                sa.select(audit_log.c.actor).where(audit_log.c.action == "attendance.corrected")
            )
        ).all()
    assert [a.actor for a in audited] == ["zhanglei"]

    row = (await report_rows(rostered))["wangfang"]
    assert (row["旷工(半天)"], row["记过"], row["更正"]) == ("0", "0", "1")
    line = (await report_rows(rostered, detail=True))["wangfang"]
    assert line["结果"] == "准时"
    assert line["更正"].endswith("zhanglei 2026-12-02 10:00: 企业微信故障，班长已当天登记")


async def test_who_may_correct_and_when(rostered: App, clock: FakeClock) -> None:
    clock.set(local("2026-12-02 10:00"))
    chat = Chat(rostered, clock)
    other_team = await chat.say("lina", "/correct wangfang 12-01 on_time typo")
    assert "只有王芳所在组的组长或管理员" in other_team[0]["text"]
    own = await chat.say("zhanglei", "/correct zhanglei 12-01 on_time mine")
    assert "本人不能更正自己的考勤" in own[0]["text"]
    above = await chat.say("zhanglei", "/correct liujun 12-01 on_time 主管")  # his supervisor shares the team
    assert "只有刘军所在组的组长" in above[0]["text"]
    running = await chat.say("admin", "/correct wangfang 12-02 准时 还在班上")
    assert running[0]["text"] == "王芳 12-02 的班次还没有结束，结束后才能更正。"
    bad = await chat.say("zhanglei", "/correct 王芳 12-01 很好 原因")
    assert bad[0]["text"].startswith("用法：/correct")
    unknown = await chat.say("zhanglei", "/correct 无名氏 12-01 准时 原因")
    assert unknown[0]["text"] == "找不到“无名氏”，请写姓名或工号。"
    async with rostered.db.read() as conn:
        count = (
            await conn.execute(
                sa.select(sa.func.count())
                .select_from(audit_log)
                .where(audit_log.c.action == "attendance.corrected")
            )
        ).scalar()
    assert count == 0


async def test_an_admin_corrects_anyone_and_the_person_is_told_in_their_language(
    app: App, clock: FakeClock
) -> None:
    """徐明 (订单组, English) missed 12-01 without a punch: a whole day absent (第三十二条). 张磊 (客服组's
    lead) may not correct him; the admin may, and 徐明 is told in English."""
    await roster(app, {"xuming": "D"}, start=DEC1)
    clock.set(local("2026-12-02 10:00"))
    chat = Chat(app, clock)
    other = await chat.say("zhanglei", "/correct xuming 12-01 on_time wrong team")
    assert [m["to"] for m in other] == ["zhanglei"]
    sent = await chat.say("admin", "/correct 徐明 12-01 请假 病假条已补交")
    assert sorted((m["to"], m["text"]) for m in sent) == [
        ("admin", "已更正 徐明 12-01 的考勤：旷工1天 → 请假。已记录并通知本人。"),
        (
            "xuming",
            "Your attendance on 12-01 was corrected by 系统管理员: absent a whole day → on leave. "
            "Reason: 病假条已补交",
        ),
    ]
    data = await attendance_report(app, DEC1, DEC1, "order", "csv", "zh-CN")
    row = {r["工号"]: r for r in csv.DictReader(io.StringIO(data.decode("utf-8-sig")))}["xuming"]
    assert (row["旷工(半天)"], row["请假班次"], row["记过"], row["更正"]) == ("0", "1", "0", "1")


@pytest.mark.slow
def test_cli_correct(tmp_path: Path) -> None:
    env = {
        "DATABASE_URL": f"sqlite:///{tmp_path / 'c.db'}",
        "PATH": "/usr/bin:/bin",
        "KB_SEMANTIC": "false",
        "ORG_FILE": "examples/org.yaml",
    }

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "bot.cli", *args],
            capture_output=True,
            text=True,
            env=env,
            cwd=REPO,
            timeout=120,
        )

    assert run("roster", "import", "examples/roster.csv").returncode == 0
    refused = run(
        "attendance", "correct", "--person", "wangfang", "--date", "2026-12-01", "--verdict", "on_time",
        "--reason", "x", "--by", "wangfang",
    )  # fmt: skip
    assert refused.returncode == 1 and "not allowed" in refused.stderr
    done = run(
        "attendance", "correct", "--person", "wangfang", "--date", "2026-12-01", "--verdict", "late",
        "--reason", "checked the log", "--by", "admin",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("corrected wangfang 2026-12-01: ") and "-> late" in done.stdout
