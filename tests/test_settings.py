"""A bad setting prints one line naming the variable and exits with code 2, never a traceback."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bot.settings import Settings
from tests.conftest import REPO
from tests.helpers import deskmate


@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        ("TIMEZONE", "Mars/Olympus", "setting TIMEZONE: unknown time zone 'Mars/Olympus'"),
        ("DATABASE_URL", "mysql://x", "setting DATABASE_URL: must start with sqlite:/// or postgresql://"),
        ("DEFAULT_LANGUAGE", "fr", "setting DEFAULT_LANGUAGE:"),
        ("TELEGRAM_LISTEN_PORT", "99999", "setting TELEGRAM_LISTEN_PORT:"),
        # A named file that is not there stops the command: no silent start without an org or holidays.
        ("ORG_FILE", "/nonexistent/org.yaml", "setting ORG_FILE: no such file: /nonexistent/org.yaml"),
        ("HOLIDAYS_FILE", "holidays-2027.yaml", "setting HOLIDAYS_FILE: no such file: holidays-2027.yaml"),
    ],
)
def test_bad_setting_is_one_line_and_exit_2(variable: str, value: str, expected: str) -> None:
    env = {variable: value, "PATH": "/usr/bin:/bin"}
    result = deskmate("db", "upgrade", env=env, cwd=REPO, check=False)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(expected), result.stderr


def test_defaults_and_url_normalisation(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://me@127.0.0.1:5432/desk")
    monkeypatch.setenv("HANDBOOK_PATHS", "a.md, b.docx")
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert settings.database_url == "postgresql+asyncpg://me@127.0.0.1:5432/desk"
    assert settings.timezone == "Asia/Shanghai" and settings.default_language == "zh-CN"
    assert [p.name for p in settings.handbook_files] == ["a.md", "b.docx"]


def test_empty_values_in_env_file_mean_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TELEGRAM_SUPERVISORS_CHAT_ID", "")
    monkeypatch.setenv("TELEGRAM_TOKEN", "")
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert settings.telegram_supervisors_chat_id is None and settings.telegram_token is None


def test_token_is_never_shown() -> None:
    settings = Settings(telegram_token="123:SECRET", _env_file=None)  # type: ignore[call-arg,arg-type]
    assert "SECRET" not in repr(settings) and "SECRET" not in str(settings.model_dump())


def test_bad_policy_or_org_file_stops_the_bot_with_one_line(tmp_path: object) -> None:
    from pathlib import Path

    folder = Path(str(tmp_path))
    policy = folder / "policy.yaml"
    policy.write_text("clock_in:\n  grace_minutes: -1\n", encoding="utf-8")
    env = {
        "POLICY_FILE": str(policy),
        "DATABASE_URL": f"sqlite:///{folder / 'a.db'}",
        "PATH": "/usr/bin:/bin",
    }
    result = deskmate("console", "--script", "-", input="wangfang: /help\n", env=env, cwd=REPO, check=False)
    assert result.returncode == 2 and result.stdout == ""
    assert (
        result.stderr.strip()
        == "policy.yaml: clock_in.grace_minutes: Input should be greater than or equal to 0 (got -1)"
    )
    org = folder / "org.yaml"
    org.write_text("teams: []\npeople:\n  - {id: a, name: A, role: boss}\n", encoding="utf-8")
    env = {"ORG_FILE": str(org), "DATABASE_URL": f"sqlite:///{folder / 'b.db'}", "PATH": "/usr/bin:/bin"}
    result = deskmate("console", "--script", "-", input="a: /help\n", env=env, cwd=REPO, check=False)
    assert result.returncode == 2 and "person a: unknown role 'boss'" in result.stderr
    assert "Traceback" not in result.stderr


def test_demo_runs_from_any_folder(tmp_path: Path) -> None:
    """`--demo` finds the sample department beside the code, not in the folder the command starts in."""
    env = {
        "DATABASE_URL": f"sqlite:///{tmp_path / 'demo.db'}",
        "KB_SEMANTIC": "false",
        "PATH": "/usr/bin:/bin",
    }
    done = deskmate(
        "console", "--demo", "--script", "-", "--json", env=env, cwd=tmp_path, input="wangfang: /whoami\n"
    )
    assert done.returncode == 0, done.stderr
    replies = [json.loads(line) for line in done.stdout.splitlines()]
    assert [r["to"] for r in replies] == ["wangfang"]
    assert "王芳" in replies[0]["text"]
