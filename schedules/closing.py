"""Months that stay closed: a finished month's shift verdicts are frozen once, and from then on the report
of that month is those frozen verdicts with the corrections (``/correct``) applied on top: nothing else, not
a later roster import, a late 补卡 approval or a changed policy file, can move a closed month's figures.

Why freeze verdicts and not refuse every later write: the inputs of a verdict live in many stores (roster
cells, punches, requests, the policy), and each has legitimate later writers. Freezing the output keeps one
rule that a reader can check: *a closed month changes only through a correction, and every correction is a
detail row with who, when and why*.

A month closes at 00:00 local on ``attendance.close_on_day`` (3) of the next month (第三十七条: the lead sums
up last month's attendance before the 3rd), or earlier on command (``deskmate attendance close``). This
module is pure: it says when a month closes and turns a verdict into a stored mapping and back.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import fields, replace
from typing import Any
from zoneinfo import ZoneInfo

from schedules.attendance import Cause, Correction, ShiftFacts, ShiftVerdict, ShiftVerdictKind, corrected
from schedules.policy import Article, Policy
from schedules.timeutil import local_instant

__all__ = ["closes_at", "freeze", "month_of", "thaw"]

_COUNTS = tuple(
    f.name
    for f in fields(ShiftVerdict)
    if f.name not in ("facts", "kind", "causes", "articles", "start", "end", "arrival", "departure", "so_far")
)
_MOMENTS = ("clock_in", "clock_out", "rest_day_punch", "rest_day_clock_out")
_TEXTS = (
    "shift_code",
    "leave",
    "request",
    "clock_in_by_request",
    "clock_out_by_request",
    "leave_half",
    "overtime_request",
)


def month_of(day: dt.date) -> dt.date:
    """The first day of ``day``'s month: how a month is named."""
    return day.replace(day=1)


def closes_at(month: dt.date, policy: Policy, tz: ZoneInfo | None = None) -> dt.datetime:
    """The instant the month starting ``month`` closes by itself: 00:00 on ``close_on_day`` of the next."""
    nxt = (month.replace(day=28) + dt.timedelta(days=4)).replace(day=policy.attendance.close_on_day)
    return local_instant(nxt, dt.time(0), tz or policy.tz)


def _moment(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _parse(value: Any) -> dt.datetime | None:
    return dt.datetime.fromisoformat(value) if isinstance(value, str) else None


def freeze(verdict: ShiftVerdict) -> dict[str, Any]:
    """A verdict judged without its correction, as JSON-safe values (what the report and detail rows read)."""
    if verdict.facts.correction is not None:
        raise ValueError("freeze the verdict before its correction: corrections are applied on top")
    f = verdict.facts
    facts: dict[str, Any] = {"person_id": f.person_id, "day": f.day.isoformat()}
    facts.update({name: getattr(f, name) for name in _TEXTS})
    facts.update({name: _moment(getattr(f, name)) for name in _MOMENTS})
    facts["overtime_cap_minutes"] = f.overtime_cap_minutes
    return {
        "facts": facts,
        "kind": verdict.kind.value,
        "causes": [c.value for c in verdict.causes],
        "articles": [[a.zh, a.en] for a in verdict.articles],
        "start": _moment(verdict.start),
        "end": _moment(verdict.end),
        "counts": {name: getattr(verdict, name) for name in _COUNTS},
    }


def thaw(frozen: dict[str, Any], correction: Correction | None, policy: Policy) -> ShiftVerdict:
    """The frozen verdict back, with ``correction`` (the latest, if any) applied as it is on a live one.

    A verdict frozen before a count existed reads that count as its default (0): a month closed before
    approved rest-day overtime was counted keeps reading as it did."""
    raw = frozen["facts"]
    facts = ShiftFacts(
        person_id=raw["person_id"],
        day=dt.date.fromisoformat(raw["day"]),
        shift_code=raw.get("shift_code"),
        clock_in=_parse(raw.get("clock_in")),
        clock_out=_parse(raw.get("clock_out")),
        leave=raw.get("leave"),
        request=raw.get("request"),
        clock_in_by_request=raw.get("clock_in_by_request"),
        clock_out_by_request=raw.get("clock_out_by_request"),
        rest_day_punch=_parse(raw.get("rest_day_punch")),
        leave_half=raw.get("leave_half"),
        rest_day_clock_out=_parse(raw.get("rest_day_clock_out")),
        overtime_request=raw.get("overtime_request"),
        overtime_cap_minutes=raw.get("overtime_cap_minutes"),
    )
    base = ShiftVerdict(
        facts=facts,
        kind=ShiftVerdictKind(frozen["kind"]),
        causes=tuple(Cause(c) for c in frozen["causes"]),
        articles=tuple(Article(zh=zh, en=en) for zh, en in frozen["articles"]),
        start=_parse(frozen.get("start")),
        end=_parse(frozen.get("end")),
        **frozen["counts"],
    )
    if correction is None:
        return base
    return corrected(replace(base, facts=replace(facts, correction=correction)), correction, policy)
