"""The roster in the database: the plan, the decisions over it, and the roster people see.

Two facts with two homes. The **plan** (``roster_entries``) is what an import or ``roster generate`` wrote.
A **decision** (approved leave, swap, give-away, missed punch) is a set of overrides (``roster_overrides``),
each naming one cell, written in the decision's own transaction. The roster everyone sees — shifts,
on duty, reminders, absence alerts, reports — is the plan with the active overrides applied in the order
they were decided (:func:`between`, :func:`entry`). A new plan therefore never undoes a decision: it can
only disagree with the cell a decision was taken against, which :func:`write_plan` reports as a conflict.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from bot import audit, db
from bot.schema import roster_entries, roster_overrides

Cell = tuple[str, date]
"""(person id, local date)."""


@dataclass(frozen=True)
class StoredEntry:
    """One cell as people see it: the shift (``None`` for rest) and the mark of a decision, if any."""

    person_id: str
    day: date
    shift_code: str | None
    note: str | None = None

    @property
    def on_leave(self) -> bool:
        """An approved leave covers this cell."""
        return bool(self.note and self.note.startswith("leave:"))


@dataclass(frozen=True)
class CellDecision:
    """What one decision does to one cell.

    ``sets_shift`` replaces the shift with ``shift_code`` (``None`` is rest): a swap, a give-away, or a
    missed punch pinning the shift it was punched for (with no ``note``, a mark already on the cell stays).
    Otherwise the shift stays and ``note`` marks the cell (``leave:annual``).
    """

    person_id: str
    day: date
    sets_shift: bool
    shift_code: str | None = None
    note: str | None = None


def set_shift(person_id: str, day: date, shift_code: str | None, note: str | None = None) -> CellDecision:
    """The cell becomes ``shift_code`` (``None``: rest)."""
    return CellDecision(person_id, day, True, shift_code, note)


def mark(person_id: str, day: date, note: str) -> CellDecision:
    """The cell keeps its shift and carries ``note`` (a leave)."""
    return CellDecision(person_id, day, False, None, note)


@dataclass(frozen=True)
class Override:
    """A stored decision over one cell, with the plan's value it was decided against."""

    id: int
    request_id: int | None
    decision: str
    person_id: str
    day: date
    sets_shift: bool
    shift_code: str | None
    note: str | None
    planned: bool
    planned_code: str | None

    @property
    def cell(self) -> Cell:
        return (self.person_id, self.day)

    @property
    def key(self) -> str:
        """The decision this override belongs to: ``swap#12``, or ``override#5`` without a request."""
        return f"{self.decision}#{self.request_id}" if self.request_id is not None else f"override#{self.id}"


@dataclass(frozen=True)
class Conflict:
    """A decision whose cell the new plan changed: the plan it was decided against is gone."""

    decision: str
    request_id: int | None
    key: str
    person_id: str
    day: date
    was: str | None
    now: str | None


@dataclass
class PlanResult:
    """What writing a plan did: cells written, decisions in conflict, and those un-applied."""

    written: int = 0
    conflicts: list[Conflict] = field(default_factory=list)
    undone: list[Override] = field(default_factory=list)


# ----- reading --------------------------------------------------------------------------------------------
def _override(row: sa.Row[tuple[object, ...]]) -> Override:
    m = row._mapping
    return Override(
        m["id"],
        m["request_id"],
        m["decision"],
        m["person_id"],
        m["day"],
        bool(m["sets_shift"]),
        m["shift_code"],
        m["note"],
        bool(m["planned"]),
        m["planned_code"],
    )


async def plan_between(
    conn: AsyncConnection, start: date, end: date, person_ids: Iterable[str] | None = None
) -> list[StoredEntry]:
    """The plan alone (no decision applied), start <= day <= end, ordered by day then person."""
    query = sa.select(roster_entries.c.person_id, roster_entries.c.day, roster_entries.c.shift_code).where(
        roster_entries.c.day >= start, roster_entries.c.day <= end
    )
    if person_ids is not None:
        query = query.where(roster_entries.c.person_id.in_(list(person_ids)))
    rows = await conn.execute(query.order_by(roster_entries.c.day, roster_entries.c.person_id))
    return [StoredEntry(r.person_id, r.day, r.shift_code) for r in rows]


async def overrides_between(
    conn: AsyncConnection, start: date, end: date, person_ids: Iterable[str] | None = None
) -> list[Override]:
    """Active overrides in the period, in the order they were decided."""
    query = sa.select(roster_overrides).where(
        roster_overrides.c.active.is_(True), roster_overrides.c.day >= start, roster_overrides.c.day <= end
    )
    if person_ids is not None:
        query = query.where(roster_overrides.c.person_id.in_(list(person_ids)))
    return [_override(r) for r in await conn.execute(query.order_by(roster_overrides.c.id))]


def apply_overrides(plan: Iterable[StoredEntry], overrides: Iterable[Override]) -> list[StoredEntry]:
    """The roster people see: each override, in order, changes its cell's shift or marks it."""
    cells: dict[Cell, StoredEntry] = {(e.person_id, e.day): e for e in plan}
    for o in overrides:
        current = cells.get(o.cell)
        if o.sets_shift:
            kept = o.note if o.note is not None else (current.note if current else None)
            cells[o.cell] = StoredEntry(o.person_id, o.day, o.shift_code, kept)
        elif current is not None:
            cells[o.cell] = StoredEntry(o.person_id, o.day, current.shift_code, o.note)
    return sorted(cells.values(), key=lambda e: (e.day, e.person_id))


async def between(
    conn: AsyncConnection, start: date, end: date, person_ids: Iterable[str] | None = None
) -> list[StoredEntry]:
    """The roster people see (plan + decisions), start <= day <= end, ordered by day then person."""
    ids = list(person_ids) if person_ids is not None else None
    plan = await plan_between(conn, start, end, ids)
    return apply_overrides(plan, await overrides_between(conn, start, end, ids))


async def entry(conn: AsyncConnection, person_id: str, day: date) -> StoredEntry | None:
    """One cell as people see it, or None when neither the plan nor a decision has it."""
    found = await between(conn, day, day, [person_id])
    return found[0] if found else None


# ----- decisions ------------------------------------------------------------------------------------------
async def record_decision(
    conn: AsyncConnection,
    *,
    decision: str,
    request_id: int | None,
    cells: Sequence[CellDecision],
    actor: str,
    now: datetime,
) -> None:
    """Store a decision's cells as overrides, with one audit row, inside the decision's transaction.

    Call it from the code that moves the request to approved, on the same ``conn``, so the decision and its
    effect on the roster commit together or not at all. Each override remembers the plan's cell it was
    decided against, so a later import can tell whether it still fits.
    """
    if not cells:
        return
    days = [c.day for c in cells]
    people = list({c.person_id for c in cells})
    first, last = min(days), max(days)
    plan = {(e.person_id, e.day): e.shift_code for e in await plan_between(conn, first, last, people)}
    seen = {(e.person_id, e.day): e for e in await between(conn, first, last, people)}
    rows = []
    before: dict[str, object] = {}
    after: dict[str, object] = {}
    for c in cells:
        cell = (c.person_id, c.day)
        rows.append(
            {
                "request_id": request_id,
                "decision": decision,
                "person_id": c.person_id,
                "day": c.day,
                "sets_shift": c.sets_shift,
                "shift_code": c.shift_code,
                "note": c.note,
                "planned": cell in plan,
                "planned_code": plan.get(cell),
                "active": True,
                "created_at": now,
            }
        )
        old = seen.get(cell)
        label = f"{c.person_id}@{c.day.isoformat()}"
        before[label] = _shown(old.shift_code, old.note) if old else None
        after[label] = _shown(c.shift_code if c.sets_shift else (old.shift_code if old else None), c.note)
    await conn.execute(roster_overrides.insert(), rows)
    await audit.record(
        conn,
        at=now,
        actor=actor,
        action="roster.changed",
        object_type="roster",
        object_id=f"{decision}#{request_id}" if request_id is not None else decision,
        before=before,
        after=after,
    )


def _shown(shift_code: str | None, note: str | None) -> str:
    text = shift_code or "rest"
    return f"{text} ({note})" if note else text


async def undo_decision(
    conn: AsyncConnection, overrides: Sequence[Override], *, actor: str, now: datetime, reason: str
) -> None:
    """Un-apply overrides (one decision's, usually) with an audit row naming why."""
    if not overrides:
        return
    await conn.execute(
        roster_overrides.update()
        .where(roster_overrides.c.id.in_([o.id for o in overrides]))
        .values(active=False, undone_at=now, undone_by=actor[:64])
    )
    await audit.record(
        conn,
        at=now,
        actor=actor,
        action="roster.decision_undone",
        object_type="roster",
        object_id=overrides[0].key,
        before={f"{o.person_id}@{o.day.isoformat()}": _shown(o.shift_code, o.note) for o in overrides},
        after={"reason": reason},
    )


# ----- the plan -------------------------------------------------------------------------------------------
async def upsert(
    conn: AsyncConnection,
    entries: Iterable[tuple[str, date, str | None]],
    now: datetime,
) -> int:
    """Insert or replace plan cells (person, day, shift or None for rest); returns how many were written.

    Only the plan changes: decisions stay as they are. Use :func:`write_plan` to learn which decisions a
    new plan disagrees with.
    """
    values = [
        {"person_id": p, "day": d, "shift_code": s, "note": None, "updated_at": now} for p, d, s in entries
    ]
    if not values:
        return 0
    for start in range(0, len(values), 500):
        chunk = values[start : start + 500]
        await conn.execute(
            db.upsert(
                conn,
                roster_entries,
                chunk,
                key=["person_id", "day"],
                update=lambda new: {"shift_code": new.shift_code, "updated_at": new.updated_at},
            )
        )
    return len(values)


async def write_plan(
    conn: AsyncConnection,
    entries: Sequence[tuple[str, date, str | None]],
    now: datetime,
    *,
    override_decisions: bool = False,
    actor: str = "system",
) -> PlanResult:
    """Store a new plan and keep every decision; list the decisions whose cell the new plan changed.

    A decision conflicts when any of its cells is in ``entries`` with another value than the plan it was
    decided against. It stays applied, unless ``override_decisions``: then the whole decision (every cell
    of it) is un-applied, with an audit row; the caller tells the people concerned.
    """
    result = PlanResult()
    if not entries:
        return result
    new = {(p, d): s for p, d, s in entries}
    first, last = min(d for _, d, _ in entries), max(d for _, d, _ in entries)
    active = await overrides_between(conn, first, last, list({p for p, _, _ in entries}))
    conflicting: dict[str, Override] = {}
    for o in active:
        if o.cell not in new:
            continue
        value = new[o.cell]
        if o.planned and value == o.planned_code:
            continue
        result.conflicts.append(
            Conflict(o.decision, o.request_id, o.key, o.person_id, o.day, o.planned_code, value)
        )
        conflicting.setdefault(o.key, o)
    result.written = await upsert(conn, entries, now)
    if override_decisions:
        for sample in conflicting.values():
            # cells of the decision outside the imported span belong to it too
            whole = await _decision_overrides(conn, sample)
            await undo_decision(conn, whole, actor=actor, now=now, reason="roster.imported")
            result.undone.extend(whole)
    return result


async def _decision_overrides(conn: AsyncConnection, sample: Override) -> list[Override]:
    if sample.request_id is None:
        return [sample]
    rows = await conn.execute(
        sa.select(roster_overrides)
        .where(
            roster_overrides.c.active.is_(True),
            roster_overrides.c.request_id == sample.request_id,
            roster_overrides.c.decision == sample.decision,
        )
        .order_by(roster_overrides.c.id)
    )
    return [_override(r) for r in rows]
