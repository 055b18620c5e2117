"""The demo scripts in examples/scripts run as a newcomer would run them: `deskmate console --script`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.conftest import REPO
from tests.helpers import deskmate, json_lines


def run(tmp_path: Path, name: str) -> list[dict[str, Any]]:
    env = {
        "DATABASE_URL": f"sqlite:///{tmp_path / 'demo.db'}",
        "PATH": "/usr/bin:/bin",
        "KB_SEMANTIC": "false",
    }
    result = deskmate(
        "console",
        "--demo",
        "--script",
        f"examples/scripts/{name}.txt",
        "--json",
        env=env,
        cwd=REPO,
        check=True,
    )
    assert result.stderr == "", result.stderr
    return json_lines(result.stdout)


def test_full_swap_changes_the_roster(tmp_path: Path) -> None:
    messages = run(tmp_path, "swap")
    shifts = [
        m["text"] for m in messages if m["to"] == "wangfang" and m["text"].startswith("我未来7天的排班")
    ]
    assert "12-04 周五  晚班 14:00–23:00" in shifts[0]
    assert "12-04 周五  白班 09:00–18:00" in shifts[1]
    assert any(m["to"] == "zhanglei" and m["edit_of"] and "已批准（张磊" in m["text"] for m in messages)
    assert any(m["to"] == "chenjing" and m["text"].startswith("Your request was approved") for m in messages)


def test_escalation_nobody_acknowledges_climbs_to_the_manager(tmp_path: Path) -> None:
    messages = run(tmp_path, "escalation")
    cards = [m for m in messages if "确认接收" in " ".join(m["buttons"])]
    assert [m["to"] for m in cards][:3] == ["maqiang", "liujun", "wangjianguo"]
    assert [m["at"][11:16] for m in cards][:3] == ["10:00", "10:05", "10:20"]
    assert any(m["to"] == "wangfang" and "处理意见：同意补偿50元优惠券" in m["text"] for m in messages)


def test_emergency_tells_the_skipped_levels(tmp_path: Path) -> None:
    messages = run(tmp_path, "emergency")
    assert messages[0]["to"] == "wangjianguo" and "🚨" in messages[0]["text"]
    told = sorted(m["to"] for m in messages if "越级直接报告（第八十六条）" in m["text"])
    assert told == ["lina", "liujun"]  # the lead on duty (liuyang's own lead rests today) and the supervisor


def test_attendance_reminder_late_and_absence_alert(tmp_path: Path) -> None:
    messages = run(tmp_path, "attendance")
    assert any(m["to"] == "wangfang" and m["text"].startswith("⏰ 王芳") for m in messages)
    assert any(m["to"] == "wangfang" and m["text"].endswith("迟到 7 分钟（第三十条）。") for m in messages)
    assert any(m["to"] == "zhanglei" and m["text"].startswith("❗ 陈静") for m in messages)
