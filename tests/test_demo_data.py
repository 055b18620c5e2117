"""Demo data stays in the demo (issue 13): default settings load no org, roster or holiday file; the demo
loads examples/ only when asked for, and plans its live roster once."""

from __future__ import annotations

import sqlite3
import subprocess
from pathlib import Path

from bot.settings import Settings
from tests.conftest import REPO
from tests.helpers import deskmate, json_lines


def console(db: Path, script: str, *extra: str) -> subprocess.CompletedProcess[str]:
    env = {"DATABASE_URL": f"sqlite:///{db}", "PATH": "/usr/bin:/bin", "KB_SEMANTIC": "false"}
    return deskmate("console", *extra, "--script", "-", "--json", input=script, env=env, cwd=REPO, check=True)


def counts(db: Path) -> tuple[int, int, int]:
    with sqlite3.connect(db) as conn:
        people = conn.execute("SELECT count(*) FROM people").fetchone()[0]
        cells = conn.execute("SELECT count(*) FROM roster_entries").fetchone()[0]
        generated = conn.execute(
            "SELECT count(*) FROM audit_log WHERE action = 'roster.generated'"
        ).fetchone()[0]
    return people, cells, generated


def test_default_settings_name_no_demo_file() -> None:
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert (settings.org_file, settings.roster_file, settings.holidays_file) == (None, None, None)


def test_a_fresh_database_holds_nobody_and_every_command_says_how_to_import_an_org(tmp_path: Path) -> None:
    db = tmp_path / "fresh.db"
    replies = json_lines(console(db, "wangfang: /help\nzhanglei: /shifts\nsomeone: 你好\n").stdout)
    assert len(replies) == 3
    assert all("deskmate org import" in m["text"] for m in replies)
    assert counts(db)[:2] == (0, 0)


def test_the_demo_loads_examples_and_plans_its_live_roster_once(tmp_path: Path) -> None:
    db = tmp_path / "demo.db"
    first = console(db, "wangfang: /help\n", "--demo")
    assert json_lines(first.stdout)[0]["text"].startswith("王芳，您好！")
    people, cells, generated = counts(db)
    assert people > 0 and cells > 0
    console(db, "wangfang: /help\n", "--demo")
    assert counts(db) == (people, cells, generated)  # a second start plans nothing new
