"""The org file: every bad case named, nothing imported on error, upserts audited."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import cast

import pytest
import sqlalchemy as sa
import yaml

from bot import org
from bot.app import App
from bot.schema import audit_log, people
from tests.conftest import REPO
from tests.helpers import deskmate

GOOD = {
    "teams": [{"id": "t1", "name": "客服组", "lead": "lead1"}],
    "people": [
        {"id": "lead1", "name": "张三", "role": "lead", "team": "t1", "language": "zh-CN"},
        {
            "id": "agent1",
            "name": "李四",
            "role": "agent",
            "team": "t1",
            "language": "zh-CN",
            "telegram": "123456",
        },
    ],
}


def with_changes(**changes: object) -> dict[str, object]:
    data = json.loads(json.dumps(GOOD))
    for path, value in changes.items():
        kind, index, field = path.split("__")
        data[kind][int(index)][field] = value
    return cast(dict[str, object], data)


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (with_changes(people__1__team="nowhere"), "person agent1: unknown team 'nowhere'"),
        (with_changes(people__1__id="lead1"), "person lead1: duplicate id"),
        (with_changes(people__1__role="boss"), "person agent1: unknown role 'boss'"),
        (with_changes(people__1__telegram="abc"), "person agent1: malformed telegram user id 'abc'"),
        (with_changes(people__1__slack="not-a-slack-id"), "person agent1: malformed slack user id"),
        (with_changes(people__1__id="王五"), "person 王五: id must be lower-case ASCII"),
        (with_changes(people__1__language="fr"), "person agent1: unknown language 'fr'"),
        (with_changes(teams__0__lead=None, people__0__role="agent"), "team t1: has no lead"),
        (with_changes(teams__0__lead="ghost"), "team t1: lead 'ghost' is not in people"),
    ],
)
def test_each_bad_case_names_the_entry(data: dict[str, object], expected: str) -> None:
    with pytest.raises(org.OrgError) as caught:
        org.parse_org(data, "org.yaml")
    assert any(expected in problem for problem in caught.value.problems), caught.value.problems


def test_all_problems_are_reported_at_once() -> None:
    data = with_changes(people__1__role="boss", people__0__team="nowhere")
    with pytest.raises(org.OrgError) as caught:
        org.parse_org(data)
    assert len(caught.value.problems) >= 2


def test_example_department_is_valid() -> None:
    department = org.load_org_file(REPO / "examples" / "org.yaml")
    teams = {t.id: t for t in department.teams}
    assert set(teams) == {"service", "order", "complaint"}
    assert all(t.lead_id for t in teams.values())
    roles = [r.person.role for r in department.people]
    assert roles.count("supervisor") == 2 and roles.count("manager") == 1
    assert roles.count("agent") >= 12


async def test_import_upserts_and_audits(app: App) -> None:
    department = org.parse_org(GOOD)
    now = app.clock.now()
    async with app.db.transaction() as conn:
        first = await org.import_org(conn, department, actor="test", now=now)
    assert first["added"] == 2
    changed = with_changes(people__1__name="李四四")
    async with app.db.transaction() as conn:
        second = await org.import_org(conn, org.parse_org(changed), actor="test", now=now)
    assert second == {"added": 0, "updated": 1, "unchanged": 1}
    async with app.db.read() as conn:
        name = (await conn.execute(sa.select(people.c.name).where(people.c.id == "agent1"))).scalar()
        rows = (
            await conn.execute(
                sa.select(audit_log).where(audit_log.c.object_id == "agent1").order_by(audit_log.c.id)
            )
        ).all()
    assert name == "李四四"
    assert [r.action for r in rows] == ["org.person_added", "org.person_updated"]
    assert rows[1].before["name"] == "李四" and rows[1].after["name"] == "李四四"
    assert rows[1].actor == "test"


def _deskmate(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {"DATABASE_URL": f"sqlite:///{tmp_path / 'cli.db'}", "PATH": "/usr/bin:/bin"}
    return deskmate(*args, env=env, cwd=REPO, check=False)


def test_cli_import_refuses_a_bad_file_and_changes_nothing(tmp_path: Path) -> None:
    good = tmp_path / "good.yaml"
    good.write_text(yaml.safe_dump(GOOD, allow_unicode=True), encoding="utf-8")
    assert _deskmate(tmp_path, "org", "import", str(good)).returncode == 0
    bad = tmp_path / "bad.yaml"
    data = with_changes(people__1__role="boss")
    data["people"].append({"id": "new1", "name": "新人", "role": "agent", "team": "t1"})  # type: ignore[attr-defined]
    bad.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    result = _deskmate(tmp_path, "org", "import", str(bad))
    assert result.returncode == 2
    assert "person agent1: unknown role 'boss'" in result.stderr
    assert "Traceback" not in result.stderr
    listed = json.loads(_deskmate(tmp_path, "org", "list", "--json").stdout)
    assert {p["id"] for p in listed} == {"lead1", "agent1"}
    assert next(p for p in listed if p["id"] == "agent1") == {
        "id": "agent1",
        "name": "李四",
        "role": "agent",
        "team": "t1",
        "language": "zh-CN",
        "telegram": "123456",
        "slack": None,
        "feishu": None,
        "dingtalk": None,
    }


def test_cli_import_reports_unreadable_and_invalid_yaml(tmp_path: Path) -> None:
    missing = _deskmate(tmp_path, "org", "import", str(tmp_path / "missing.yaml"))
    assert missing.returncode == 2 and "cannot read the file" in missing.stderr
    broken = tmp_path / "broken.yaml"
    broken.write_text("people: [\n  - {id: a\n", encoding="utf-8")
    result = _deskmate(tmp_path, "org", "import", str(broken))
    assert result.returncode == 2 and "not valid YAML at line" in result.stderr


def test_no_last_resort_and_no_admin_is_a_warning_not_an_error() -> None:
    department = org.parse_org(GOOD)
    assert department.last_resort is None
    assert len(department.warnings) == 1 and "approver_of_last_resort" in department.warnings[0]
    with pytest.raises(org.OrgError, match="approver_of_last_resort: 'ghost' is not in people"):
        org.parse_org({**GOOD, "approver_of_last_resort": "ghost"})


async def test_the_last_resort_is_stored_and_audited(app: App) -> None:
    department = org.parse_org({**GOOD, "approver_of_last_resort": "lead1"})
    assert department.warnings == ()
    async with app.db.transaction() as conn:
        await org.import_org(conn, department, actor="test", now=app.clock.now())
    async with (
        app.db.transaction() as conn
    ):  # a later file without the key keeps it; an empty value clears it
        await org.import_org(conn, org.parse_org(GOOD), actor="test", now=app.clock.now())
        assert await org.last_resort_setting(conn) == "lead1"
        await org.import_org(
            conn, org.parse_org({**GOOD, "approver_of_last_resort": None}), actor="test", now=app.clock.now()
        )
        assert await org.last_resort_setting(conn) is None
        actions = (await conn.execute(sa.select(audit_log.c.action))).scalars().all()
    assert actions.count("org.last_resort_changed") == 2


def test_cli_import_warns_when_nobody_decides_above_the_manager(tmp_path: Path) -> None:
    good = tmp_path / "good.yaml"
    good.write_text(yaml.safe_dump(GOOD, allow_unicode=True), encoding="utf-8")
    result = _deskmate(tmp_path, "org", "import", str(good))
    assert result.returncode == 0
    assert result.stderr.startswith("warning: no approver_of_last_resort and no admin")
