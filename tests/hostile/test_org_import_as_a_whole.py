"""`deskmate org import` applies a file as a whole to the stored department: a field left out keeps
its stored value, an explicit empty value clears it, and a platform id held by someone else is refused
naming both, with nothing changed, unless the same file takes it from them."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest
import sqlalchemy as sa

from bot import identities, org
from bot.app import App
from bot.schema import audit_log, people


async def _import(app: App, tmp_path: Path, text: str) -> dict[str, int]:
    path = tmp_path / "org.yaml"
    path.write_text(text, encoding="utf-8")
    department = org.load_org_file(path)
    async with app.db.transaction() as conn:
        return await org.import_org(conn, department, actor="test", now=app.clock.now())


async def _row(app: App, person_id: str) -> SimpleNamespace:
    """The stored person with their accounts from the identity store (`telegram_id`, `slack_id` …)."""
    async with app.db.read() as conn:
        row = (await conn.execute(sa.select(people).where(people.c.id == person_id))).one()
        accounts = (await identities.accounts_of(conn, [person_id]))[person_id]
    ids = {f"{platform}_id": accounts.get(platform) for platform in identities.PLATFORMS}
    return SimpleNamespace(**dict(row._mapping), **ids)


async def _audit_count(app: App) -> int:
    async with app.db.read() as conn:
        return int((await conn.execute(sa.select(sa.func.count()).select_from(audit_log))).scalar_one())


async def test_a_partial_file_keeps_what_it_leaves_out(app: App, tmp_path: Path) -> None:
    counts = await _import(app, tmp_path, "people:\n  - {id: wangfang, language: en}\n")
    assert counts == {"added": 0, "updated": 1, "unchanged": 0}
    row = await _row(app, "wangfang")
    assert (row.name, row.role, row.team, row.language) == ("王芳", "agent", "service", "en")
    assert (row.telegram_id, row.slack_id, str(row.joined_on)) == ("100000101", "U0AGT00101", "2024-03-01")


async def test_only_an_explicit_empty_value_clears(app: App, tmp_path: Path) -> None:
    await _import(app, tmp_path, "people:\n  - {id: wangfang, telegram: '', slack: null}\n")
    row = await _row(app, "wangfang")
    assert (row.telegram_id, row.slack_id, row.name) == (None, None, "王芳")


async def test_someone_elses_platform_id_is_refused_naming_both(app: App, tmp_path: Path) -> None:
    before = await _audit_count(app)
    text = (
        "people:\n"
        "  - {id: newbie, name: 新人, role: agent, team: service, telegram: '100000101'}\n"
        "  - {id: liuyang, slack: U0AGT00101}\n"
    )
    with pytest.raises(org.OrgError) as caught:
        await _import(app, tmp_path, text)
    assert caught.value.problems == [
        "person newbie: telegram id 100000101 already belongs to wangfang;"
        " clear it from wangfang in the same file to move it",
        "person liuyang: slack id U0AGT00101 already belongs to wangfang;"
        " clear it from wangfang in the same file to move it",
    ]
    assert (await _row(app, "wangfang")).telegram_id == "100000101"
    assert (await _row(app, "liuyang")).slack_id == "U0AGT00102"
    async with app.db.read() as conn:
        assert (await conn.execute(sa.select(people.c.id).where(people.c.id == "newbie"))).first() is None
    assert await _audit_count(app) == before  # nothing changed, nothing audited


async def test_the_same_file_may_move_an_id(app: App, tmp_path: Path) -> None:
    text = (
        "people:\n"
        "  - {id: newbie, name: 新人, role: agent, team: service, telegram: '100000101'}\n"
        "  - {id: wangfang, telegram: ''}\n"
    )
    counts = await _import(app, tmp_path, text)
    assert counts == {"added": 1, "updated": 1, "unchanged": 0}
    assert (await _row(app, "newbie")).telegram_id == "100000101"
    assert (await _row(app, "wangfang")).telegram_id is None


async def test_a_new_person_still_needs_name_role_and_team(app: App, tmp_path: Path) -> None:
    with pytest.raises(org.OrgError) as caught:
        await _import(app, tmp_path, "people:\n  - {id: ghost, team: nowhere}\n")
    assert caught.value.problems == [
        "person ghost: needs a name",
        "person ghost: unknown role '' (use one of agent, lead, supervisor, manager, admin)",
        "person ghost: unknown team 'nowhere'",
    ]
