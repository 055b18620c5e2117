"""Issue 13 as a user meets it: approve a leave and a swap, re-import the roster, generate a new one; the
shifts, on-duty view, reminders and the report still follow the decisions.

The roster is examples/roster.csv (service team). 王芳 works evening 12-04 and 陈静 day; they swap, so
王芳 works the day shift. 王芳's 事假 on 12-08 is approved by her lead 张磊.
"""

from __future__ import annotations

import csv
import io
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO
from tests.helpers import json_lines


def deskmate(env: dict[str, str], *args: str, script: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot.cli", *args],
        input=script,
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
        check=True,
        timeout=300,
    )


def test_decisions_survive_reimport_and_generate(tmp_path: Path) -> None:
    env = {
        "DATABASE_URL": f"sqlite:///{tmp_path / 'd.db'}",
        "ORG_FILE": "examples/org.yaml",
        "PATH": "/usr/bin:/bin",
        "KB_SEMANTIC": "false",
    }
    deskmate(env, "roster", "import", "examples/roster.csv")
    decide = "\n".join(
        [
            "clock: 2026-12-01 10:00",
            "wangfang: /leave 事假 12-08 12-08 体检",
            "zhanglei: press 批准",
            "wangfang: /swap 12-04 chenjing 12-04",
            "chenjing: press 1",
            "zhanglei: press 1",
        ]
    )
    decided = json_lines(deskmate(env, "console", "--script", "-", "--json", script=decide).stdout)
    assert sum(m["to"] == "wangfang" and "已批准" in m["text"] for m in decided) == 2

    again = deskmate(env, "roster", "import", "examples/roster.csv")
    assert "conflict" not in again.stdout and "un-applied" not in again.stdout

    generated = deskmate(
        env,
        "roster",
        "generate",
        "--from",
        "2026-12-01",
        "--to",
        "2026-12-13",
        "--team",
        "service",
        "--apply",
    )
    # the new plan puts 王芳 on days 12-04: the swap was decided against her evening shift, so it is listed
    assert "swap #2: wangfang 12-04 was evening when decided" in generated.stderr
    assert "the decisions stay applied" in generated.stderr

    follow = "\n".join(
        [
            "clock: 2026-12-04 08:00",
            "clock: 2026-12-04 08:50",
            "wangfang: /shifts",
            "chenjing: /shifts",
            "clock: 2026-12-04 10:00",
            "zhanglei: /onduty",
            "clock: 2026-12-08 10:00",
            "zhanglei: /onduty",
        ]
    )
    seen = json_lines(deskmate(env, "console", "--script", "-", "--json", script=follow).stdout)
    morning = [m for m in seen if m["at"].startswith("2026-12-04T08")]
    # the day-shift reminder goes to 王芳, who took the day shift, and not to 陈静, who gave it away
    assert any(m["to"] == "wangfang" and m["text"].startswith("⏰ 王芳") for m in morning)
    assert not any(m["to"] == "chenjing" and m["text"].startswith("⏰") for m in morning)
    mine = next(m["text"] for m in seen if m["to"] == "wangfang" and m["text"].startswith("我未来7天"))
    assert "12-04 周五  白班 09:00–18:00" in mine
    assert next(line for line in mine.splitlines() if line.startswith("12-08")).endswith("（请假）")
    hers = next(m["text"] for m in seen if m["to"] == "chenjing" and m["text"].startswith("My shifts"))
    assert "12-04 Fri  evening 14:00–23:00" in hers
    on_duty = [m["text"] for m in seen if m["to"] == "zhanglei" and "在班情况" in m["text"]]
    assert "王芳（白班）" in on_duty[0] and "陈静（白班）" not in on_duty[0]
    assert next(line for line in on_duty[1].splitlines() if "王芳" in line).endswith("🌴 请假")

    report = deskmate(
        env,
        "report",
        "attendance",
        "--from",
        "2026-12-04",
        "--to",
        "2026-12-08",
        "--team",
        "service",
        "--format",
        "csv",
        "--detail",
        "--output",
        "-",
    )
    rows = {(r[0], r[3]): r for r in csv.reader(io.StringIO(report.stdout.lstrip("\ufeff")))}
    assert rows[("wangfang", "2026-12-04")][4] == "白班"
    assert rows[("chenjing", "2026-12-04")][4] == "晚班"
    assert rows[("wangfang", "2026-12-08")][7] == "请假"
