"""Config files that can't hurt: alias bombs and oversized YAML are refused quickly, impossible dates
are named with their entry."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from bot.org import OrgError, load_org_file
from schedules.calendar import HolidayError, load_holidays
from schedules.policy import PolicyError, load_policy
from schedules.safe_yaml import YamlLimitError, load_bounded


def alias_bomb(levels: int = 12, width: int = 9) -> str:
    """~1 KB: each level a list of `width` aliases of the level below (9**12 values when expanded)."""
    lines = ['a0: &a0 ["lol"]']
    for i in range(1, levels + 1):
        lines.append(f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * width)}]")
    lines.append(f"people: [{{id: x, name: *a{levels}, role: agent}}]")
    return "\n".join(lines) + "\n"


def test_alias_bomb_is_refused_before_it_is_built() -> None:
    text = alias_bomb()
    assert len(text) < 1500
    started = time.process_time()
    with pytest.raises(YamlLimitError, match="more than the limit of 200000 values"):
        load_bounded(text)
    assert time.process_time() - started < 1.0
    with pytest.raises(YamlLimitError):
        load_bounded("a: &a [*a]\n")  # an alias inside itself never ends


def test_aliases_within_the_limit_still_work() -> None:
    data = load_bounded("base: &b {start: '09:00'}\nday: *b\nlate: {<<: *b, end: '21:00'}\n")
    assert data["day"] == {"start": "09:00"} and data["late"] == {"start": "09:00", "end": "21:00"}


def test_oversized_and_bombed_files_name_the_limit(tmp_path: Path) -> None:
    bomb = tmp_path / "org.yaml"
    bomb.write_text(alias_bomb(), encoding="utf-8")
    with pytest.raises(OrgError, match="expands to more than the limit"):
        load_org_file(bomb)
    big = tmp_path / "big.yaml"
    big.write_text("people: []\n" + "# padding\n" * 200_000, encoding="utf-8")
    with pytest.raises(OrgError, match="larger than the limit of 1024 KB"):
        load_org_file(big)
    policy = tmp_path / "policy.yaml"
    policy.write_text(alias_bomb(), encoding="utf-8")
    with pytest.raises(PolicyError, match="expands to more than the limit"):
        load_policy(policy)
    with pytest.raises(HolidayError, match="expands to more than the limit"):
        load_holidays(policy)


def test_impossible_join_date_is_named_with_the_person(tmp_path: Path) -> None:
    path = tmp_path / "org.yaml"
    path.write_text(
        "teams: [{id: t, name: T, lead: lee}]\n"
        "people:\n"
        "  - {id: lee, name: Lee, role: lead, team: t, joined_on: 2026-02-30}\n"
        "  - {id: amy, name: Amy, role: agent, team: t, joined_on: 2026-01-31}\n",
        encoding="utf-8",
    )
    with pytest.raises(OrgError) as info:
        load_org_file(path)
    assert info.value.problems == ["person lee: joined_on '2026-02-30' is not a date like 2026-01-31"]


def test_cli_org_import_bad_date_exits_2_without_traceback(tmp_path: Path) -> None:
    from tests.helpers import deskmate

    path = tmp_path / "org.yaml"
    path.write_text(
        "teams: [{id: t, name: T}]\n"
        "people:\n  - {id: lee, name: Lee, role: lead, team: t, joined_on: 2026-02-30}\n",
        encoding="utf-8",
    )
    env = {"DATABASE_URL": f"sqlite:///{tmp_path / 'o.db'}", "PATH": "/usr/bin:/bin"}
    result = deskmate("org", "import", str(path), env=env, cwd=tmp_path, check=False)
    assert result.returncode == 2, result.stderr
    assert "person lee: joined_on '2026-02-30' is not a date" in result.stderr
    assert "Traceback" not in result.stderr
