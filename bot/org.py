"""The department: people, teams and roles, validated as a whole before anything is stored."""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import date, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
import yaml
from sqlalchemy.ext.asyncio import AsyncConnection

from bot import audit, identities
from bot.identities import PLATFORMS
from bot.messages import Person
from bot.schema import identities as identities_table
from bot.schema import org_settings, people, teams
from schedules.safe_yaml import MAX_YAML_BYTES, YamlLimitError, load_bounded

ROLES = ("agent", "lead", "supervisor", "manager", "admin")
ROLE_RANK = {role: rank for rank, role in enumerate(ROLES)}
PERSON_ID = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
LANGUAGES = ("zh-CN", "en")


class OrgError(Exception):
    """The org file is wrong; `problems` names each bad entry."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = problems
        super().__init__(f"{source}: " + "; ".join(problems))


@dataclass(frozen=True)
class Team:
    id: str
    name: str
    name_en: str | None
    lead_id: str | None
    supervisor_id: str | None


# Fields a person's entry may give; a field left out keeps its stored value, an empty one clears it.
PERSON_FIELDS = ("name", "role", "team", "language", *PLATFORMS, "joined_on", "left_on")
# How a platform account is named in the stored department and its audit rows ("telegram_id" …).
_COLUMN = {platform: f"{platform}_id" for platform in PLATFORMS}


@dataclass(frozen=True)
class PersonRecord:
    person: Person
    joined_on: date | None
    left_on: date | None = None  # the first day they no longer work here: no messages, ids stop resolving
    given: frozenset[str] = frozenset(PERSON_FIELDS)


@dataclass(frozen=True)
class Org:
    teams: list[Team]
    people: list[PersonRecord]
    last_resort: str | None = None  # `approver_of_last_resort`: decides above the manager
    last_resort_given: bool = False  # the key is in the file (left out: the stored value stays)
    warnings: tuple[str, ...] = ()


LAST_RESORT_KEY = "approver_of_last_resort"


def rank(role: str) -> int:
    return ROLE_RANK.get(role, -1)


def _text(value: Any) -> str | None:
    if value is None:
        return None
    return str(value).strip() or None


def _date_field(entry: dict[str, Any], key: str, label: str, problems: list[str]) -> date | None:
    value = entry.get(key)
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if value is None:
        return None
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        problems.append(f"{label}: {key} {value!r} is not a date like 2026-01-31")
        return None


def has_left(left_on: date | None, today: date) -> bool:
    """Someone whose `left_on` day has come no longer works here."""
    return left_on is not None and left_on <= today


def parse_org(data: Any, source: str = "org file", *, partial: bool = False) -> Org:
    """Check the whole document and return it, or raise OrgError listing every problem found.

    ``partial``: the file may update people already stored, so what it leaves out (a name, a role, a
    team defined earlier, a lead not listed) is checked by :func:`import_org` against the stored
    department instead of being a problem here."""
    problems: list[str] = []
    if not isinstance(data, dict):
        raise OrgError(source, ["the file must be a mapping with `teams` and `people`"])
    raw_teams = data.get("teams") or []
    raw_people = data.get("people") or []
    if not isinstance(raw_teams, list) or not isinstance(raw_people, list):
        raise OrgError(source, ["`teams` and `people` must be lists"])
    if not raw_people:
        problems.append("no people listed")

    team_ids: dict[str, dict[str, Any]] = {}
    for index, entry in enumerate(raw_teams, start=1):
        if not isinstance(entry, dict) or not _text(entry.get("id")):
            problems.append(f"team #{index}: needs an id")
            continue
        team_id = str(entry["id"]).strip()
        if team_id in team_ids:
            problems.append(f"team {team_id}: duplicate id")
        if not _text(entry.get("name")):
            problems.append(f"team {team_id}: needs a name")
        team_ids[team_id] = entry

    records: list[PersonRecord] = []
    seen: dict[str, int] = {}
    platform_seen: dict[tuple[str, str], str] = {}
    for index, entry in enumerate(raw_people, start=1):
        label = f"person #{index}"
        if not isinstance(entry, dict):
            problems.append(f"{label}: must be a mapping")
            continue
        person_id = _text(entry.get("id"))
        if person_id:
            label = f"person {person_id}"
        if not person_id or not PERSON_ID.match(person_id):
            problems.append(f"{label}: id must be lower-case ASCII letters, digits, . _ or -")
            continue
        if person_id in seen:
            problems.append(f"{label}: duplicate id (also entry #{seen[person_id]})")
            continue
        seen[person_id] = index
        strict = not partial
        name = _text(entry.get("name"))
        if not name and (strict or "name" in entry):
            problems.append(f"{label}: needs a name")
        role = _text(entry.get("role")) or ""
        if role not in ROLE_RANK and (strict or "role" in entry):
            problems.append(f"{label}: unknown role {role!r} (use one of {', '.join(ROLES)})")
        team = _text(entry.get("team"))
        if team is not None and team not in team_ids and strict:
            problems.append(f"{label}: unknown team {team!r}")
        if team is None and role in ("agent", "lead") and (strict or "team" in entry):
            problems.append(f"{label}: an {role} needs a team")
        language = _text(entry.get("language")) or "zh-CN"
        if language not in LANGUAGES:
            problems.append(f"{label}: unknown language {language!r} (use zh-CN or en)")
        accounts: list[tuple[str, str]] = []
        for platform in PLATFORMS:
            value = _text(entry.get(platform))
            if value is None:
                continue
            problem = identities.account_problem(platform, value)
            if problem is not None:
                problems.append(f"{label}: {problem}")
            accounts.append((platform, value))
            other = platform_seen.get((platform, value))
            if other:
                problems.append(f"{label}: {platform} id {value} is already used by {other}")
            platform_seen[(platform, value)] = person_id
        joined_on = _date_field(entry, "joined_on", label, problems)
        left_on = _date_field(entry, "left_on", label, problems)
        if joined_on and left_on and left_on < joined_on:
            problems.append(f"{label}: left_on {left_on} is before joined_on {joined_on}")
        person = Person(person_id, name or "", role, team, language, tuple(accounts))
        given = frozenset(key for key in PERSON_FIELDS if key in entry)
        records.append(PersonRecord(person, joined_on, left_on, given=given))

    by_id = {r.person.id: r.person for r in records}
    parsed_teams: list[Team] = []
    for team_id, entry in team_ids.items():
        leads = [p for p in by_id.values() if p.team == team_id and p.role == "lead"]
        lead_id = _text(entry.get("lead")) or (leads[0].id if len(leads) == 1 else None)
        if lead_id is None:
            problems.append(f"team {team_id}: has no lead")
        elif lead_id not in by_id and not partial:
            problems.append(f"team {team_id}: lead {lead_id!r} is not in people")
        supervisor_id = _text(entry.get("supervisor"))
        if (supervisor_id is not None and not partial) and (
            supervisor_id not in by_id or by_id[supervisor_id].role not in ("supervisor", "manager")
        ):
            problems.append(f"team {team_id}: supervisor {supervisor_id!r} is not a supervisor in people")
        parsed_teams.append(
            Team(team_id, str(entry.get("name", "")), _text(entry.get("name_en")), lead_id, supervisor_id)
        )

    last_resort = _text(data.get(LAST_RESORT_KEY))
    warnings: list[str] = []
    if last_resort is not None and last_resort not in by_id:
        problems.append(f"{LAST_RESORT_KEY}: {last_resort!r} is not in people")
    elif last_resort is None and not any(p.role == "admin" for p in by_id.values()):
        warnings.append(
            f"no {LAST_RESORT_KEY} and no admin: requests of the manager (and anything the manager "
            f"cannot decide) will be refused until one is configured"
        )
    if problems:
        raise OrgError(source, problems)
    return Org(parsed_teams, records, last_resort, LAST_RESORT_KEY in data, tuple(warnings))


class _OrgLoader(yaml.SafeLoader):
    """Safe YAML where dates stay text, so `joined_on: 2026-02-30` is a problem named with its person
    (PyYAML would raise a bare ValueError while loading)."""


_OrgLoader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def load_org_file(path: Path) -> Org:
    try:
        with path.open("rb") as fh:
            raw = fh.read(MAX_YAML_BYTES + 1)
        if len(raw) > MAX_YAML_BYTES:
            raise OrgError(str(path), [f"the file is larger than the limit of {MAX_YAML_BYTES // 1024} KB"])
        text = raw.decode("utf-8")
    except OSError as exc:
        raise OrgError(str(path), [f"cannot read the file ({exc.strerror})"]) from None
    except UnicodeDecodeError:
        raise OrgError(str(path), ["not UTF-8 text"]) from None
    try:
        data = load_bounded(text, _OrgLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark is not None else "somewhere"
        raise OrgError(str(path), [f"not valid YAML at {where}"]) from None
    except YamlLimitError as exc:
        raise OrgError(str(path), [str(exc)]) from None
    return parse_org(data, str(path), partial=True)


def _merged(org: Org, existing: dict[str, dict[str, Any]], stored_teams: set[str]) -> Org:
    """The file applied to the stored department as a whole: a field the file leaves out keeps its
    stored value; then every rule is checked on the result, naming both people when two would share a
    platform id (an id moves only when the same file gives its holder another value or clears it)."""
    problems: list[str] = []
    records: list[PersonRecord] = []
    for record in org.people:
        p, given = record.person, record.given
        before = existing.get(p.id)
        label = f"person {p.id}"

        def keep(
            field: str, new: Any, column: str | None = None, before: Any = before, given: Any = given
        ) -> Any:
            if field in given or before is None:
                return new
            return before[column or field]

        name = keep("name", p.name)
        role = keep("role", p.role)
        team = keep("team", p.team)
        kept = (
            (platform, keep(platform, p.account(platform), column)) for platform, column in _COLUMN.items()
        )
        person = Person(
            p.id,
            name or "",
            role or "",
            team,
            keep("language", p.language),
            tuple((platform, value) for platform, value in kept if value is not None),
        )
        if before is None and "name" not in given:
            problems.append(f"{label}: needs a name")
        if before is None and "role" not in given:
            problems.append(f"{label}: unknown role '' (use one of {', '.join(ROLES)})")
        if team is not None and "team" in given and team not in {t.id for t in org.teams} | stored_teams:
            problems.append(f"{label}: unknown team {team!r}")
        if team is None and role in ("agent", "lead") and "team" not in given:
            problems.append(f"{label}: an {role} needs a team")
        joined_on = record.joined_on if "joined_on" in given or before is None else before["joined_on"]
        left_on = record.left_on if "left_on" in given or before is None else before["left_on"]
        records.append(
            replace(
                record, person=person, joined_on=joined_on, left_on=left_on, given=frozenset(PERSON_FIELDS)
            )
        )

    in_file = {r.person.id: r.person for r in records}
    for platform, column in _COLUMN.items():
        owners: dict[str, list[str]] = {}
        for pid in sorted(set(existing) | set(in_file)):
            value = in_file[pid].account(platform) if pid in in_file else existing[pid][column]
            if value is not None:
                owners.setdefault(value, []).append(pid)
        for value, pids in owners.items():
            if len(pids) < 2:
                continue
            # Who is taking the id now (new to the store, or not holding it before) is the one refused.
            takers = [q for q in pids if q not in existing or existing[q][column] != value] or pids[1:]
            holder = next(q for q in pids if q not in takers)
            for taker in takers:
                problems.append(
                    f"person {taker}: {platform} id {value} already belongs to {holder};"
                    f" clear it from {holder} in the same file to move it"
                )

    everyone = {pid: (row["role"], row["team"]) for pid, row in existing.items()}
    everyone.update({pid: (p.role, p.team) for pid, p in in_file.items()})
    for team in org.teams:
        if team.lead_id is not None and team.lead_id not in everyone:
            problems.append(f"team {team.id}: lead {team.lead_id!r} is not in people")
        if team.supervisor_id is not None and everyone.get(team.supervisor_id, ("", ""))[0] not in (
            "supervisor",
            "manager",
        ):
            problems.append(
                f"team {team.id}: supervisor {team.supervisor_id!r} is not a supervisor in people"
            )
    if problems:
        raise OrgError("org file", problems)
    return replace(org, people=records)


def _person_row(record: PersonRecord, now: datetime, today: date) -> dict[str, Any]:
    p = record.person
    return {
        "id": p.id,
        "name": p.name,
        "role": p.role,
        "team": p.team,
        "language": p.language,
        "joined_on": record.joined_on,
        "left_on": record.left_on,
        "active": not has_left(record.left_on, today),
        "updated_at": now,
    }


def _comparable(row: dict[str, Any]) -> dict[str, Any]:
    keys = ("name", "role", "team", "language", *_COLUMN.values(), "joined_on", "left_on", "active")
    return {k: (row[k].isoformat() if isinstance(row.get(k), date) else row.get(k)) for k in keys}


def _with_accounts(row: dict[str, Any], accounts: dict[str, str]) -> dict[str, Any]:
    """A people row with its accounts beside it, as the import compares and audits them."""
    return {**row, **{column: accounts.get(platform) for platform, column in _COLUMN.items()}}


async def import_org(
    conn: AsyncConnection, org: Org, *, actor: str, now: datetime, today: date | None = None
) -> dict[str, int]:
    """Upsert teams and people in the caller's transaction; each change gets an audit row. `today` (the
    department's local date) decides who has left already; someone leaving later is let go by the
    housekeeping tick on their day."""
    today = today or now.date()
    counts = {"added": 0, "updated": 0, "unchanged": 0}
    stored_accounts = await identities.all_accounts(conn)
    existing = {
        row.id: _with_accounts(dict(row._mapping), stored_accounts.get(row.id, {}))
        for row in await conn.execute(sa.select(people))
    }
    stored_teams = set((await conn.execute(sa.select(teams.c.id))).scalars())
    org = _merged(org, existing, stored_teams)  # raises OrgError before anything is written
    for record in org.people:
        row = _person_row(record, now, today)
        before = existing.get(record.person.id)
        if before is not None and before["erased_at"] is not None:
            counts["unchanged"] += 1  # an erased person's data does not come back with an old file
            continue
        # Accounts are given (or taken from whoever held them) first; the audit row below names them.
        for platform, column in _COLUMN.items():
            value = record.person.account(platform)
            if value != (before[column] if before is not None else None):
                await identities.set_account(conn, record.person.id, platform, value, now=now, source="org")
        row_and_accounts = _with_accounts(row, dict(record.person.accounts))
        if before is None:
            await conn.execute(people.insert().values(row))
            counts["added"] += 1
            await audit.record(
                conn,
                at=now,
                actor=actor,
                action="org.person_added",
                object_type="person",
                object_id=record.person.id,
                after=_comparable(row_and_accounts),
            )
        elif _comparable(before) != _comparable(row_and_accounts):
            await conn.execute(people.update().where(people.c.id == record.person.id).values(row))
            counts["updated"] += 1
            await audit.record(
                conn,
                at=now,
                actor=actor,
                action="org.person_updated",
                object_type="person",
                object_id=record.person.id,
                before=_comparable(before),
                after=_comparable(row_and_accounts),
            )
        else:
            counts["unchanged"] += 1
    for team in org.teams:
        values = {
            "name": team.name,
            "name_en": team.name_en,
            "lead_id": team.lead_id,
            "supervisor_id": team.supervisor_id,
        }
        current = (await conn.execute(sa.select(teams).where(teams.c.id == team.id))).first()
        if current is None:
            await conn.execute(teams.insert().values(id=team.id, **values))
            await audit.record(
                conn,
                at=now,
                actor=actor,
                action="org.team_added",
                object_type="team",
                object_id=team.id,
                after=values,
            )
        else:
            before_values = {k: current._mapping[k] for k in values}
            if before_values != values:
                await conn.execute(teams.update().where(teams.c.id == team.id).values(values))
                await audit.record(
                    conn,
                    at=now,
                    actor=actor,
                    action="org.team_updated",
                    object_type="team",
                    object_id=team.id,
                    before=before_values,
                    after=values,
                )
    before_resort = await last_resort_setting(conn)
    if org.last_resort_given and before_resort != org.last_resort:
        await conn.execute(org_settings.delete().where(org_settings.c.key == LAST_RESORT_KEY))
        if org.last_resort is not None:
            await conn.execute(org_settings.insert().values(key=LAST_RESORT_KEY, value=org.last_resort))
        await audit.record(
            conn,
            at=now,
            actor=actor,
            action="org.last_resort_changed",
            object_type="org",
            object_id=LAST_RESORT_KEY,
            before={"person": before_resort},
            after={"person": org.last_resort},
        )
    return counts


async def last_resort_setting(conn: AsyncConnection) -> str | None:
    """The approver of last resort the org file named, if any."""
    value = (
        await conn.execute(sa.select(org_settings.c.value).where(org_settings.c.key == LAST_RESORT_KEY))
    ).scalar()
    return str(value) if value is not None else None


def _to_person(row: Any, accounts: dict[str, str]) -> Person:
    m = row._mapping
    return Person(
        m["id"],
        m["name"],
        m["role"],
        m["team"],
        m["language"],
        tuple((platform, accounts[platform]) for platform in PLATFORMS if platform in accounts),
        m["blocked_at"] is not None,
    )


async def _people(conn: AsyncConnection, rows: Any) -> list[Person]:
    """People rows with their accounts (one more query for all of them)."""
    found = list(rows)
    accounts = await identities.accounts_of(conn, [r.id for r in found])
    return [_to_person(r, accounts.get(r.id, {})) for r in found]


class Directory:
    """Reads people and teams; every lookup is one indexed query."""

    async def by_id(self, conn: AsyncConnection, person_id: str) -> Person | None:
        rows = await conn.execute(sa.select(people).where(people.c.id == person_id, people.c.active))
        return next(iter(await _people(conn, rows)), None)

    async def by_ids(self, conn: AsyncConnection, person_ids: list[str]) -> dict[str, Person]:
        """Many people in one query (the outbox looks up a whole batch of recipients at once)."""
        if not person_ids:
            return {}
        rows = await conn.execute(sa.select(people).where(people.c.id.in_(person_ids), people.c.active))
        return {person.id: person for person in await _people(conn, rows)}

    async def by_platform(self, conn: AsyncConnection, platform: str, user_id: str) -> Person | None:
        """Who this platform account belongs to, if they work here (the identity store decides)."""
        joined = people.join(identities_table, identities_table.c.person_id == people.c.id)
        rows = await conn.execute(
            sa.select(people)
            .select_from(joined)
            .where(
                identities_table.c.platform == platform,
                identities_table.c.external_id == user_id,
                people.c.active,
            )
        )
        return next(iter(await _people(conn, rows)), None)

    async def all(self, conn: AsyncConnection) -> list[Person]:
        rows = await conn.execute(sa.select(people).where(people.c.active).order_by(people.c.id))
        return await _people(conn, rows)

    async def count(self, conn: AsyncConnection) -> int:
        return int((await conn.execute(sa.select(sa.func.count()).select_from(people))).scalar_one())

    async def team(self, conn: AsyncConnection, team_id: str) -> Team | None:
        row = (await conn.execute(sa.select(teams).where(teams.c.id == team_id))).first()
        if row is None:
            return None
        m = row._mapping
        return Team(m["id"], m["name"], m["name_en"], m["lead_id"], m["supervisor_id"])

    async def teams(self, conn: AsyncConnection) -> list[Team]:
        rows = await conn.execute(sa.select(teams).order_by(teams.c.id))
        return [Team(r.id, r.name, r.name_en, r.lead_id, r.supervisor_id) for r in rows]

    async def mark_blocked(self, conn: AsyncConnection, person_id: str, at: datetime) -> bool:
        """The platform refused a message to them (blocked, or no longer a member); False when they
        were marked already, so what follows (their lead told) happens once."""
        result = await conn.execute(
            people.update()
            .where(people.c.id == person_id, people.c.blocked_at.is_(None))
            .values(blocked_at=at)
        )
        return bool(result.rowcount)

    async def clear_blocked(self, conn: AsyncConnection, person_ids: list[str]) -> list[str]:
        """A message reached them: of these, the ones that were marked blocked, now unmarked."""
        was_blocked = people.c.id.in_(person_ids) & people.c.blocked_at.is_not(None)
        unblocked = list((await conn.execute(sa.select(people.c.id).where(was_blocked))).scalars())
        if unblocked:
            await conn.execute(people.update().where(was_blocked).values(blocked_at=None))
        return unblocked

    async def set_language(self, conn: AsyncConnection, person_id: str, language: str) -> str | None:
        before = (await conn.execute(sa.select(people.c.language).where(people.c.id == person_id))).scalar()
        await conn.execute(people.update().where(people.c.id == person_id).values(language=language))
        return before


def person_json(person: Person) -> dict[str, Any]:
    return {
        "id": person.id,
        "name": person.name,
        "role": person.role,
        "team": person.team,
        "language": person.language,
        **{platform: person.account(platform) for platform in PLATFORMS},
    }
