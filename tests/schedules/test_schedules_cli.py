"""The file-checking subcommands."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from schedules.cli import add_commands

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def run(*argv: str) -> int:
    parser = argparse.ArgumentParser()
    add_commands(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    result: int = args.func(args)
    return result


def test_policy_check(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run("policy", "check", str(EXAMPLES / "policy.yaml")) == 0
    assert "ok (Asia/Shanghai; shifts day 09:00-18:00, evening 14:00-23:00" in capsys.readouterr().out
    bad = tmp_path / "p.yaml"
    bad.write_text("clock_in:\n  grace_minutes: many\n", encoding="utf-8")
    assert run("policy", "check", str(bad)) == 2
    assert capsys.readouterr().err.startswith("p.yaml: clock_in.grace_minutes:")


def test_holidays_check(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run("holidays", "check", str(EXAMPLES / "holidays.yaml")) == 0
    assert "8 holidays, 2 makeup workdays" in capsys.readouterr().out
    bad = tmp_path / "h.yaml"
    bad.write_text("holidays: [tomorrow]\n", encoding="utf-8")
    assert run("holidays", "check", str(bad)) == 2
