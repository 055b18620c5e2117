"""Months that stay closed (schedules.closing): at 00:00 on the 3rd of the next month (第三十七条) a month's
verdicts are frozen; a later roster change does not move its report, a correction does (and is shown)."""

from __future__ import annotations

import csv
import io
import subprocess
from datetime import date
from pathlib import Path

import sqlalchemy as sa

from bot.app import App
from bot.clock import FakeClock
from bot.schema import audit_log
from handlers.report import attendance_report
from tests.conftest import REPO, local
from tests.helpers import Chat, deskmate, roster

NOV2, NOV3 = date(2026, 11, 2), date(2026, 11, 3)


async def report(app: App, *, detail: bool = False) -> dict[str, dict[str, str]]:
    data = await attendance_report(app, NOV2, NOV3, "service", "csv", "zh-CN", detail=detail)
    rows = csv.DictReader(io.StringIO(data.decode("utf-8-sig")))
    if detail:
        return {f"{r['工号']} {r['日期']}": r for r in rows}
    return {r["工号"]: r for r in rows}


async def test_a_closed_month_changes_only_through_corrections(app: App, clock: FakeClock) -> None:
    await roster(app, {"wangfang": "DD"}, start=NOV2)
    clock.set(local("2026-11-02 08:00"))
    chat = Chat(app, clock)
    await chat.line("clock: 2026-11-02 09:03")
    await chat.say("wangfang", "/in")  # grace (第二十九条)
    await chat.line("clock: 2026-11-02 18:00")
    await chat.say("wangfang", "/out")
    # 11-03: she never comes: a whole day absent (第三十二条), a demerit (第三十三条)
    await chat.line("clock: 2026-12-02 23:59")
    live = await report(app)
    row = live["wangfang"]
    assert (row["出勤天数"], row["宽限次数"], row["旷工(半天)"], row["记过"], row["全勤"]) == (
        "1",
        "1",
        "2",
        "1",
        "否",
    )

    await chat.line("clock: 2026-12-03 00:00")  # November closes by itself
    async with app.db.read() as conn:
        closed = (
            await conn.execute(
                sa.select(audit_log.c.actor, audit_log.c.object_id).where(
                    audit_log.c.action == "attendance.month_closed"
                )
            )
        ).all()
    assert [(c.actor, c.object_id) for c in closed] == [("system", "2026-11")]
    assert await report(app) == live

    # a later write to a closed day (here the roster says 11-03 was a rest day) does not move the report
    await roster(app, {"wangfang": "-"}, start=NOV3)
    assert await report(app) == live
    assert (await report(app, detail=True))["wangfang 2026-11-03"]["结果"] == "旷工1天"

    # a correction does, and says so
    sent = await chat.say("zhanglei", "/correct 王芳 11-03 准时 系统故障，班长当天已登记")
    assert [m["text"] for m in sent if m["to"] == "zhanglei"] == [
        "已更正 王芳 11-03 的考勤：旷工1天 → 准时。已记录并通知本人。"
    ]
    row = (await report(app))["wangfang"]
    shown = ("出勤天数", "准时", "宽限次数", "旷工(半天)", "记过", "全勤", "更正")
    assert [row[c] for c in shown] == ["2", "1", "1", "0", "0", "是", "1"]
    line = (await report(app, detail=True))["wangfang 2026-11-03"]
    assert line["结果"] == "准时" and "系统故障，班长当天已登记" in line["更正"]


def test_cli_close(tmp_path: Path) -> None:
    env = {
        "DATABASE_URL": f"sqlite:///{tmp_path / 'c.db'}",
        "PATH": "/usr/bin:/bin",
        "KB_SEMANTIC": "false",
        "ORG_FILE": "examples/org.yaml",
    }

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return deskmate(*args, env=env, cwd=REPO)

    (tmp_path / "r.csv").write_text("person,2026-11-02\nwangfang,白班\n", encoding="utf-8")
    assert run("roster", "import", str(tmp_path / "r.csv")).returncode == 0
    done = run("attendance", "close", "--month", "2026-11")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("closed 2026-11: 1 shift verdicts frozen")
    again = run("attendance", "close", "--month", "2026-11")
    assert again.returncode == 1 and "already closed" in again.stderr
    bad = run("attendance", "close", "--month", "November")
    assert bad.returncode == 2 and "not a month like 2026-11" in bad.stderr
