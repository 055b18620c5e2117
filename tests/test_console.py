"""Console script mode, the public interface used by demos and acceptance checks."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.helpers import deskmate, json_lines


def run_script(
    tmp_path: Path, script: str, *extra: str, child: bool = False
) -> subprocess.CompletedProcess[str]:
    """`deskmate console --demo --script -`, in this process or (child=True) as a real child process."""
    env = {"DATABASE_URL": f"sqlite:///{tmp_path / 'console.db'}", "PATH": "/usr/bin:/bin"}
    args = ("console", "--demo", "--script", "-", *extra)
    if not child:
        return deskmate(*args, env=env, cwd=REPO, input=script)
    return subprocess.run(
        [sys.executable, "-m", "bot.cli", *args],
        input=script,
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
        check=False,
        timeout=120,
    )


# The child-process run is the `deskmate` command's real start-up test (slow: `make test` runs it).
@pytest.mark.parametrize("child", [False, pytest.param(True, marks=pytest.mark.slow, id="child")])
def test_help_for_a_demo_agent_is_one_chinese_json_line(tmp_path: Path, child: bool) -> None:
    result = run_script(tmp_path, "wangfang: /help\n", "--json", child=child)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 1
    message = json.loads(lines[0])
    assert message["to"] == "wangfang"
    assert message["text"].startswith("王芳，您好！")
    assert "/help（帮助）" in message["text"]
    assert set(message) >= {"to", "text", "buttons", "edit_of", "file", "at"}
    assert message["buttons"] == [] and message["edit_of"] is None and message["file"] is None


def test_script_clock_press_comments_and_bad_lines(tmp_path: Path) -> None:
    script = "\n".join(
        [
            "# a demo",
            "",
            "clock: 2026-12-01 08:45",
            "wangfang: /lang",
            "this line is malformed",
            "wangfang: press English",
            "clock: 2026-12-32 09:00",
            "wangfang: press 9",
            "chenjing: 帮助",
        ]
    )
    result = run_script(tmp_path, script + "\n", "--json")
    assert result.returncode == 0
    # The demo roster is loaded on first start, so 08:45 also brings shift reminders; leave those aside.
    messages = [m for m in json_lines(result.stdout) if not m["text"].startswith("⏰")]
    assert [m["to"] for m in messages] == ["wangfang", "wangfang", "chenjing"]
    assert messages[0]["buttons"] == ["中文", "English"]
    assert messages[0]["at"] == "2026-12-01T08:45:00+08:00"
    assert messages[1]["text"] == "OK, I will talk to you in English from now on."
    assert messages[2]["text"].startswith("Hello 陈静!")
    errors = result.stderr.strip().splitlines()
    assert errors[0].startswith("script line 5:")
    assert errors[1].startswith("script line 7:")
    assert errors[2].startswith("script line 8:") and "1..2" in errors[2]
    assert "Traceback" not in result.stderr


def test_plain_output_shows_numbered_buttons(tmp_path: Path) -> None:
    result = run_script(tmp_path, "liuyang: 语言\n")
    assert "→ 刘洋 (liuyang): 请选择语言：" in result.stdout
    assert "[1] 中文  [2] English" in result.stdout


def test_unregistered_sender_in_script(tmp_path: Path) -> None:
    result = run_script(tmp_path, "ghost: 你好\n", "--json")
    messages = json_lines(result.stdout)
    assert len(messages) == 1 and "console:ghost" in messages[0]["text"]
