"""A month of one team (客服组, November 2026) as a console script, then its report compared cell by cell with
one worked out by hand from the handbook (第二十五、二十九至三十五条, 第四十条 and 第五十条).

The script is built below: on every rostered day everyone clocks in 5 minutes early and out at the end, except
for the days listed in ``EXCEPTIONS``, which a reader can follow one by one. The department's policy is the
demo's (examples/policy.yaml: 双11 support period 11-08..11-14, no swaps and no 事假 then) plus a night
shift 夜班 22:00–06:00 for the overnight case. Mon–Fri are work days (白班 09:00–18:00), Sat/Sun rest,
except: 刘洋 rests on 11-19 (after the evening shift he swapped into on 11-18); 杨敏 works 晚班 on 11-18,
夜班 on 11-23 and rests on 11-24.

The same script through the CLI (``deskmate console --script - --json``) gives the same replies; this test
runs it in-process (the console's own ``run_line``) because a month through a subprocess takes minutes.
"""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from datetime import date, timedelta
from pathlib import Path

import pytest
import yaml

from bot import roster_store
from bot.app import App
from bot.clock import FakeClock
from bot.settings import Settings
from handlers.report import attendance_report
from tests.conftest import REPO, local
from tests.helpers import Chat

FIRST, LAST = date(2026, 11, 1), date(2026, 11, 30)
TEAM = ("wangfang", "liuyang", "chenjing", "yangmin")
SPECIAL_ROSTER = {
    ("liuyang", date(2026, 11, 19)): None,
    ("yangmin", date(2026, 11, 18)): "evening",
    ("yangmin", date(2026, 11, 23)): "night",
    ("yangmin", date(2026, 11, 24)): None,
}
TIMES = {"day": ("08:55", "18:00"), "evening": ("13:55", "23:00"), "night": ("21:55", "06:00")}

# (person, day) → the script lines of that shift instead of the usual in/out, each "HH:MM text" at that time
# on that day ("+1 HH:MM" the next day). An empty list: nothing at all that day (a no-show).
EXCEPTIONS: dict[tuple[str, str], list[str]] = {
    # 王芳: three grace uses (第二十九条, the 5th minute included), the 4th is late; then late, seriously
    # late, and more than 2 hours late: half a day absent (第三十条)
    ("wangfang", "11-02"): ["09:03 /in", "18:00 /out"],
    ("wangfang", "11-03"): ["09:05 /in", "18:00 /out"],
    ("wangfang", "11-04"): ["09:01 /in", "18:00 /out"],
    ("wangfang", "11-05"): ["09:02 /in", "18:00 /out"],
    ("wangfang", "11-09"): ["09:20 /in", "18:00 /out"],
    ("wangfang", "11-10"): ["09:45 /in", "18:00 /out"],
    ("wangfang", "11-16"): ["11:30 /in", "18:00 /out"],
    # 刘洋: early leave 15, leaving 40 min early (half a day absent), overtime 40 min (one unit, 第二十四条),
    # late 10 and 8, early leave 10 (with the two lates: 4 in the month, a written warning, 第三十一条), a
    # grace use; on 11-18 he works the evening shift he swapped into (asked 11-16, 第四十条: 24 h ahead).
    # Each early /out is asked about first and stored when he confirms (第二十八条: one clock-out a shift)
    ("liuyang", "11-02"): ["08:55 /in", "17:45 /out", "17:45 press 确认下班打卡"],
    ("liuyang", "11-03"): ["08:55 /in", "17:20 /out", "17:20 press 确认下班打卡"],
    ("liuyang", "11-04"): ["08:55 /in", "18:40 /out"],
    ("liuyang", "11-05"): ["09:10 /in", "18:00 /out"],
    ("liuyang", "11-06"): ["09:08 /in", "18:00 /out"],
    ("liuyang", "11-13"): ["08:55 /in", "17:50 /out", "17:50 press 确认下班打卡"],
    ("liuyang", "11-16"): ["09:04 /in", "18:00 /out"],
    ("liuyang", "11-18"): ["13:55 /in", "23:00 /out"],
    # 陈静: a no-show (旷工1天, a 记过, 第三十二、三十三条); a missing clock-out (early leave, 第三十五条); a
    # missing clock-out with a 补卡 approved (第三十四条: asked the next morning); a missing clock-in
    # (seriously late, 第三十五条); a no-show the lead corrects the next day
    ("chenjing", "11-02"): [],
    ("chenjing", "11-03"): ["08:55 /in"],
    ("chenjing", "11-04"): ["08:55 /in"],
    ("chenjing", "11-05"): [
        "08:55 /in",
        "08:56 /missed 11-04 out 18:05 forgot to clock out",
        "08:57 zhanglei: press ✅ 批准",
        "18:00 /out",
    ],
    ("chenjing", "11-09"): ["18:00 /out"],
    ("chenjing", "11-10"): [],
    ("chenjing", "11-11"): [
        "08:55 /in",
        "10:00 zhanglei: /correct chenjing 11-10 on_time 企业微信故障，班长当天已登记",
        "18:00 /out",
    ],
    # 杨敏: agrees to the swap of 11-18 (白 ↔ 晚); sick leave on 11-20 asked at 07:30 (第五十条: at least an
    # hour before) and approved; an overnight shift 11-23 22:00 to 11-24 06:00; 事假 for 11-27 refused, and
    # she stays away: a whole day absent (第三十二条: leave not approved)
    ("yangmin", "11-16"): [
        "08:55 /in",
        "10:00 liuyang: /swap 11-18 yangmin 11-18",
        "10:01 press 👍 同意",
        "10:02 zhanglei: press ✅ 批准",
        "18:00 /out",
    ],
    ("yangmin", "11-18"): ["09:00 /in", "18:00 /out"],  # she works his day shift, on time to the minute
    ("yangmin", "11-20"): ["07:30 /leave 病假 11-20 11-20 发烧", "07:35 zhanglei: press ✅ 批准"],
    ("yangmin", "11-23"): [
        "10:00 /leave 事假 11-27 11-27 家里有事",
        "10:05 zhanglei: press ❌ 驳回",
        "21:55 /in",
        "+1 06:00 /out",
    ],
    ("yangmin", "11-27"): [],
}
# a punch on a rest day: recorded, not attendance, and an overtime request to the supervisor (第二十五条)
EXTRA = {"11-07": ["10:00 wangfang: /in"]}

COLUMNS = [
    "出勤天数", "准时", "宽限次数", "迟到次数", "迟到分钟", "严重迟到", "早退次数", "早退分钟", "旷工(半天)",
    "漏打卡", "加班单位", "书面警告", "全勤", "排班班次", "请假班次", "进行中", "记过", "更正",
]  # fmt: skip


def cells(text: str) -> list[str]:
    """A row of the report as written by hand: its cells separated by spaces."""
    return text.split()


EXPECTED = {
    # 准时 counts shifts whose one verdict is on time: with 宽限, 迟到, 严重迟到, 早退 and 旷工 (each shift
    # in one of them) and the days on leave or not worked, a person's columns add up to their shifts.
    # 王芳, 21 shifts: grace 3; late 11-05 (2) and 11-09 (20); seriously late 11-10 (45): minutes 2+20+45 =
    # 67; half a day absent 11-16 (150 min, not a late). On time 21-3-2-1-1 = 14. Late+early = 3 < 4: no
    # monthly warning; the half day brings one (第三十三条). Lates cost the 全勤奖 (第三十一条).
    "wangfang": cells("21 14 3 2 67 1 0 0 1 0 0 1 否 21 0 0 0 0"),
    # 刘洋, 20 shifts (rests 11-19): early leaves 15+10; half a day 11-03 (40 min early); one overtime unit
    # 11-04; lates 10+8; grace 11-16. On time 20-1-2-2-1 = 14. Late+early = 4: a warning (第三十一条), plus
    # one for the half day.
    "liuyang": cells("20 14 1 2 18 0 2 25 1 0 1 2 否 20 0 0 0 0"),
    # 陈静, 21 shifts: no-show 11-02: 2 half days and a 记过, not worked. Missing clock-out 11-03: an early
    # leave of no minutes; missing clock-in 11-09: seriously late; 2 missed punches. On time: 21-3 = 18
    # (11-04 has its 补卡 18:05; 11-10 corrected). Late+early = 2: no warning.
    "chenjing": cells("20 18 0 0 0 1 1 0 2 2 0 0 否 21 0 0 1 1"),
    # 杨敏, 20 shifts (rests 11-24): sick leave 11-20 (only 事假 costs the 全勤奖); refused 事假 for 11-27 and
    # stayed away: 2 half days, a 记过, not worked. The other 18 on time.
    "yangmin": cells("18 18 0 0 0 0 0 0 2 0 0 0 否 20 1 0 1 0"),
    # the lead and the newest agent are not on this roster: a row of zeros, full attendance
    "zhanglei": cells("0 0 0 0 0 0 0 0 0 0 0 0 是 0 0 0 0 0"),
    "zhaoqiang": cells("0 0 0 0 0 0 0 0 0 0 0 0 是 0 0 0 0 0"),
}


def shift_of(person: str, day: date) -> str | None:
    if (person, day) in SPECIAL_ROSTER:
        return SPECIAL_ROSTER[(person, day)]
    return "day" if day.weekday() < 5 else None


def script() -> list[str]:
    """The month as console script lines, in time order."""
    timed: list[tuple[str, str]] = []  # ("2026-11-02 08:55", "wangfang: /in")
    day = FIRST
    while day <= LAST:
        md = f"{day:%m-%d}"
        for line in EXTRA.get(md, []):
            at, text = line.split(" ", 1)
            timed.append((f"{day} {at}", text))
        for person in TEAM:
            code = shift_of(person, day)
            planned = EXCEPTIONS.get((person, md))
            if planned is None:
                if code is None:
                    continue
                start, end = TIMES[code]
                next_day = code == "night"
                planned = [f"{start} /in", ("+1 " if next_day else "") + f"{end} /out"]
            for line in planned:
                when = day
                if line.startswith("+1 "):
                    when, line = day + timedelta(days=1), line[3:]
                at, text = line.split(" ", 1)
                if ":" not in text.split(" ", 1)[0]:
                    text = f"{person}: {text}"
                timed.append((f"{when} {at}", text))
        day += timedelta(days=1)
    timed.sort(key=lambda t: t[0])  # stable: lines at one minute keep their order
    lines: list[str] = []
    for at, text in timed:
        lines += [f"clock: {at}", text]
    lines.append("clock: 2026-12-01 10:00")  # 11-30's shifts are over
    return lines


def month_policy(folder: Path) -> Path:
    """The demo policy plus a night shift 22:00–06:00."""
    data = yaml.safe_load((REPO / "examples/policy.yaml").read_text(encoding="utf-8"))
    data["shifts"].append(
        {
            "code": "night",
            "name_zh": "夜班",
            "name_en": "night",
            "start": "22:00",
            "end": "06:00",
            "aliases": ["夜"],
        }
    )
    path = folder / "policy.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


@pytest.fixture
async def month_app(tmp_path: Path, clock: FakeClock) -> AsyncIterator[App]:
    settings = Settings(
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'month.db'}",
        policy_file=month_policy(tmp_path),
        kb_semantic=False,
        roster_file=None,
        org_file=REPO / "examples/org.yaml",
        _env_file=None,
    )  # type: ignore[call-arg]
    app = App(settings, clock=clock)
    await app.prepare()
    entries = [
        (person, FIRST + timedelta(days=i), shift_of(person, FIRST + timedelta(days=i)))
        for person in TEAM
        for i in range((LAST - FIRST).days + 1)
    ]
    async with app.db.transaction() as conn:
        await roster_store.upsert(conn, entries, clock.now())
    yield app
    await app.close()


@pytest.mark.slow
async def test_a_month_of_one_team(month_app: App, clock: FakeClock) -> None:
    clock.set(local("2026-11-01 08:00"))
    chat = Chat(month_app, clock)
    for line in script():
        await chat.line(line)
    said = [(m["to"], m["text"]) for m in chat.sent]

    def replies(person: str, needle: str) -> list[str]:
        return [text for to, text in said if to == person and needle in text]

    # a few replies as people read them
    assert replies("wangfang", "上班打卡 09:02") == [
        "✅ 上班打卡 09:02：白班 09:00–18:00\n迟到 2 分钟（第二十九条、第三十条）。"
    ]
    assert replies("wangfang", "今天（11-07）是您的休息日")[0].endswith(
        "已为您提交今天的加班申请 #2，由刘军审批，时长以上下班打卡为准（第二十五条）。"
    )
    assert replies("chenjing", "corrected by 张磊") == [
        "Your attendance on 11-10 was corrected by 张磊: absent a whole day → on time. "
        "Reason: 企业微信故障，班长当天已登记"
    ]
    assert replies("yangmin", "上班打卡 21:55") == ["✅ 上班打卡 21:55：夜班 22:00–06:00\n准时。"]

    data = await attendance_report(month_app, FIRST, LAST, "service", "csv", "zh-CN")
    rows = {r["工号"]: r for r in csv.DictReader(io.StringIO(data.decode("utf-8-sig")))}
    assert set(rows) == set(EXPECTED)
    for person, expected in EXPECTED.items():
        assert [rows[person][c] for c in COLUMNS] == expected, person

    detail = await attendance_report(month_app, FIRST, LAST, "service", "csv", "zh-CN", detail=True)
    lines = {(r["工号"], r["日期"]): r for r in csv.DictReader(io.StringIO(detail.decode("utf-8-sig")))}
    assert lines["chenjing", "2026-11-04"]["下班打卡"] == "18:05"
    assert lines["chenjing", "2026-11-04"]["相关申请"].startswith("missed_punch#")
    assert lines["chenjing", "2026-11-10"]["结果"] == "准时"
    assert lines["liuyang", "2026-11-18"]["班次"] == "晚班"
    assert lines["liuyang", "2026-11-18"]["相关申请"].startswith("swap#")
    assert lines["yangmin", "2026-11-18"]["班次"] == "白班"
    assert lines["yangmin", "2026-11-20"]["结果"] == "请假"
    assert lines["yangmin", "2026-11-23"]["下班打卡"] == "2026-11-24 06:00"
    assert lines["yangmin", "2026-11-27"]["结果"] == "旷工1天"
    assert (lines["wangfang", "2026-11-07"]["结果"], lines["wangfang", "2026-11-07"]["上班打卡"]) == (
        "休息",
        "10:00",
    )
