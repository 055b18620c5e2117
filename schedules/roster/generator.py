"""The six_on_one_off roster generator (第二十条, 第四十三条)."""

from __future__ import annotations

import datetime as dt
import math
import random
from collections import Counter, defaultdict
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from schedules.policy import Policy, ShiftType
from schedules.roster.checks import RosterViolation, validate_roster
from schedules.roster.model import RosterEntry


class RosterGenerationError(ValueError):
    """The generator cannot meet the rules for this team (too few people for the minimum staff)."""


def _rest_gap_ok(prev: ShiftType | None, nxt: ShiftType, min_rest_hours: int) -> bool:
    """Whether ``nxt`` may follow ``prev`` on the next day with enough rest (wall-clock, 第四十三条)."""
    if prev is None:
        return True
    prev_end = prev.end.hour * 60 + prev.end.minute + (1440 if prev.overnight else 0)
    gap = 1440 + nxt.start.hour * 60 + nxt.start.minute - prev_end
    return gap >= min_rest_hours * 60


@dataclass(slots=True)
class _Person:
    pid: str
    streak: int
    block: str | None = None  # shift of the current run of work days
    last_block: str | None = None  # shift of the previous run
    yesterday: str | None = None
    late_since: dt.date | None = None  # first day of the current late streak (rest days do not end it)
    late_ok: bool = False  # may start a new late run today and stay within the evening limit
    weekend_months: set[tuple[int, int]] = field(default_factory=set)


def generate_roster(
    team_members: Mapping[str, Sequence[str]],
    start: dt.date,
    end: dt.date,
    policy: Policy,
    *,
    seed: int = 0,
    previous: Iterable[RosterEntry] = (),
    attempts: int = 60,
) -> list[RosterEntry]:
    """Plan ``start``..``end`` (inclusive) as six_on_one_off for every team (第二十条, 第四十三条).

    Rest days rotate (each person rests at most every seventh day, with rests spread over the week), shifts
    rotate by runs of work days between rests (a late run is always followed by a day run, so nobody has
    evening shifts for two weeks and nobody gets less than the minimum rest), everyone gets a weekend day
    off in every month the period covers whole, and every day each team has the policy's minimum staff per
    shift. ``previous`` (e.g. last week's roster) continues runs instead of starting fresh. Same inputs and
    seed give the same roster.
    """
    if end < start:
        raise ValueError(f"end {end} is before start {start}")
    prev_entries = list(previous)
    out: list[RosterEntry] = []
    for team in sorted(team_members):
        members = list(dict.fromkeys(team_members[team]))
        if not members:
            continue
        _check_feasible(team, members, policy)
        for attempt in range(attempts):
            rng = random.Random(f"{seed}:{team}:{attempt}")
            planned = _plan_team(team, members, start, end, policy, rng, prev_entries)
            if planned is not None and not _team_violations(
                team, members, planned, prev_entries, start, policy
            ):
                out.extend(planned)
                break
        else:
            raise RosterGenerationError(
                f"team {team}: no roster found that keeps the minimum staff with {len(members)} people; "
                "add people or lower staffing minimums"
            )
    out.sort(key=lambda e: (e.date, e.person_id))
    return out


def _check_feasible(team: str, members: Sequence[str], policy: Policy) -> None:
    need = sum(policy.staffing.minimum(team, c) for c in policy.roster.rotation)
    n = len(members)
    capacity = n - need
    if capacity < 1 or capacity * (policy.roster.max_consecutive_days + 1) < n:
        raise RosterGenerationError(
            f"team {team}: {n} people cannot cover minimum staff {need} a day while each rests "
            f"at least one day in {policy.roster.max_consecutive_days + 1}"
        )


def _team_violations(
    team: str,
    members: Sequence[str],
    planned: Sequence[RosterEntry],
    previous: Sequence[RosterEntry],
    start: dt.date,
    policy: Policy,
) -> list[RosterViolation]:
    keep = set(members)
    context = [e for e in previous if e.person_id in keep and start - dt.timedelta(days=14) <= e.date < start]
    found = validate_roster([*context, *planned], policy, teams={team: members})
    return [v for v in found if v.date >= start or v.code in ("consecutive_days", "evening_streak")]


def _initial_state(
    members: Sequence[str],
    start: dt.date,
    policy: Policy,
    rng: random.Random,
    previous: Sequence[RosterEntry],
) -> list[_Person]:
    limit = policy.roster.max_consecutive_days
    history: dict[str, dict[dt.date, str | None]] = defaultdict(dict)
    for e in previous:
        if e.date < start:
            history[e.person_id][e.date] = e.shift_code
    order = list(range(len(members)))
    rng.shuffle(order)
    people: list[_Person] = []
    for pid, k in zip(members, order, strict=True):
        days = history.get(pid)
        if not days:
            # stagger first rests evenly over the first week
            people.append(_Person(pid, streak=limit - (k % (limit + 1))))
            continue
        p = _Person(pid, streak=0)
        day = start - dt.timedelta(days=1)
        p.yesterday = days.get(day)
        while days.get(day, None) is not None and day in days:
            p.streak += 1
            day -= dt.timedelta(days=1)
        p.block = p.yesterday
        # the run before the current one, for alternation
        while day in days and days[day] is None:
            day -= dt.timedelta(days=1)
        p.last_block = days.get(day)
        late = set(policy.roster.rotation[1:])
        back = start - dt.timedelta(days=1)
        while back in days and days[back] != policy.roster.rotation[0]:
            if days[back] in late:
                p.late_since = back
            back -= dt.timedelta(days=1)
        for d, code in days.items():
            if code is None and d.weekday() >= 5 and (d.year, d.month) == (start.year, start.month):
                p.weekend_months.add((d.year, d.month))
        people.append(p)
    return people


def _plan_team(
    team: str,
    members: Sequence[str],
    start: dt.date,
    end: dt.date,
    policy: Policy,
    rng: random.Random,
    previous: Sequence[RosterEntry],
) -> list[RosterEntry] | None:
    rules = policy.roster
    limit = rules.max_consecutive_days
    rotation = list(rules.rotation)
    shifts = {c: policy.shift(c) for c in rotation}
    mins = {c: policy.staffing.minimum(team, c) for c in rotation}
    n = len(members)
    capacity = n - sum(mins.values())
    max_span = rules.max_evening_weeks * 7
    people = _initial_state(members, start, policy, rng, previous)
    noise = {p.pid: rng.random() for p in people}
    entries: list[RosterEntry] = []
    day = start
    while day <= end:
        for p in people:
            noise[p.pid] = rng.random()
        weekend = day.weekday() >= 5
        ym = (day.year, day.month)
        for p in people:
            p.late_ok = p.late_since is None or (day - p.late_since).days + limit <= max_span

        def needs_weekend(p: _Person, ym: tuple[int, int] = ym) -> bool:
            return ym not in p.weekend_months

        # 1. earliest-deadline-first: the fewest rests today that keep every later day feasible
        slack = {p.pid: max(0, limit - p.streak) for p in people}
        r_min = 0
        for k in range(limit + 1):
            due = sum(1 for p in people if slack[p.pid] <= k)
            r_min = max(r_min, due - capacity * k)
        if r_min > capacity:
            return None
        late_set = set(rotation[1:])
        order = sorted(
            people,
            key=lambda p: (
                slack[p.pid],
                not (weekend and needs_weekend(p)),
                p.yesterday not in late_set,  # resting a late worker keeps early-capable people at work
                noise[p.pid],
            ),
        )
        resting = {p.pid for p in order[:r_min]}
        if not _coverable(people, resting, rotation, shifts, mins, rules.min_rest_hours):
            return None

        def optional_rest_ok(
            candidate: set[str], slack: Mapping[str, int] = slack, late_set: set[str] = late_set
        ) -> bool:
            # resting someone early moves their next rest; keep the busiest future day coverable for
            # the people already on late shifts (they cannot switch to the early shift mid-run)
            if not _coverable(people, candidate, rotation, shifts, mins, rules.min_rest_hours):
                return False
            after = [limit if p.pid in candidate else slack[p.pid] - 1 for p in people]
            peak = min(capacity, max(Counter(after).values()))
            on_late = sum(1 for p in people if p.pid not in candidate and p.yesterday in late_set)
            return n - peak - mins[rotation[0]] >= on_late

        # weekend rest for those who have none this month yet, when staffing allows. On a weekday, if the
        # weekends left this month are taken by people who already had one, rest some of them a little
        # earlier instead: their rest day moves off the weekend and frees it (the rotation of 第二十条).
        if not weekend:
            _free_weekends(
                day,
                end,
                people,
                slack,
                resting,
                limit,
                capacity,
                needs_weekend,
                optional_rest_ok,
            )
        else:
            wanting = sorted(
                (
                    p
                    for p in people
                    if p.pid not in resting
                    and needs_weekend(p)
                    and not _natural_weekend(day, slack[p.pid], limit, end)
                ),
                key=lambda p: (slack[p.pid], noise[p.pid]),
            )
            target = _weekend_target(day, end, people, slack, limit, capacity, len(wanting))
            for p in wanting:
                if target <= 0 or len(resting) >= capacity:
                    break
                if optional_rest_ok(resting | {p.pid}):
                    resting.add(p.pid)
                    target -= 1

        # 2. shifts for the people working today. Someone on a late shift cannot take the early shift
        # tomorrow, so late shifts are capped to what still leaves enough early-capable people on the
        # busiest day of rests ahead.
        after = [limit if p.pid in resting else slack[p.pid] - 1 for p in people]
        peak = min(capacity, max(Counter(after).values()))
        late_cap = max(sum(mins[c] for c in rotation[1:]), n - peak - mins[rotation[0]])
        assigned: dict[str, str] = {}
        counts: Counter[str] = Counter()
        fresh: list[_Person] = []
        for p in people:
            if p.pid in resting:
                continue
            if p.block is not None and p.yesterday is not None:
                assigned[p.pid] = p.block
                counts[p.block] += 1
            else:
                fresh.append(p)
        # those who last had an early run go first, so late runs pass around the team week by week
        fresh.sort(key=lambda p: (p.last_block != rotation[0], noise[p.pid]))
        for p in fresh:
            allowed = _next_blocks(p, rotation)
            allowed = [
                c
                for c in allowed
                if _rest_gap_ok(shifts.get(p.yesterday or ""), shifts[c], rules.min_rest_hours)
            ] or allowed
            late_now = sum(counts[c] for c in rotation[1:])
            allowed = [c for c in allowed if c == rotation[0] or late_now < late_cap] or allowed
            wanted = _rotate_from(p.last_block, rotation)
            choice = min(allowed, key=lambda c: (counts[c] >= mins[c], c != wanted, counts[c]))
            assigned[p.pid] = choice
            counts[choice] += 1
        # 3. fill shortages by moving people whose rest allows it (day → evening mid-run is fine)
        for code in rotation:
            while counts[code] < mins[code]:
                movable = [
                    p
                    for p in people
                    if p.pid in assigned
                    and assigned[p.pid] != code
                    and counts[assigned[p.pid]] > mins[assigned[p.pid]]
                    and (
                        code in _next_blocks(p, rotation)
                        if p.yesterday is None
                        else _rest_gap_ok(shifts.get(p.yesterday), shifts[code], rules.min_rest_hours)
                    )
                ]
                if not movable:
                    return None
                pick = min(movable, key=lambda p: (slack[p.pid], noise[p.pid]))
                counts[assigned[pick.pid]] -= 1
                assigned[pick.pid] = code
                counts[code] += 1
        # 4. record and advance
        for p in people:
            if p.pid in resting:
                entries.append(RosterEntry(p.pid, day, None))
                if p.block is not None:
                    p.last_block = p.block
                p.block = None
                p.yesterday = None
                p.streak = 0
                if weekend:
                    p.weekend_months.add(ym)
            else:
                code = assigned[p.pid]
                entries.append(RosterEntry(p.pid, day, code))
                p.block = code
                p.yesterday = code
                p.streak += 1
                if code in late_set:
                    p.late_since = p.late_since or day
                else:
                    p.late_since = None
        day += dt.timedelta(days=1)
    return entries


def _coverable(
    people: Sequence[_Person],
    resting: Collection[str],
    rotation: Sequence[str],
    shifts: Mapping[str, ShiftType],
    mins: Mapping[str, int],
    min_rest_hours: int,
) -> bool:
    """Whether the people not resting can still cover the minimum of the early and the late shifts."""
    early, late_codes = rotation[0], rotation[1:]
    must_early = must_late = flexible = 0
    for p in people:
        if p.pid in resting:
            continue
        can_early = (
            early in _next_blocks(p, rotation)
            if p.yesterday is None
            else (p.block == early or _rest_gap_ok(shifts.get(p.yesterday), shifts[early], min_rest_hours))
        )
        can_late = (
            any(c in _next_blocks(p, rotation) for c in late_codes)
            if p.yesterday is None
            else any(_rest_gap_ok(shifts.get(p.yesterday), shifts[c], min_rest_hours) for c in late_codes)
        )
        if can_early and can_late:
            flexible += 1
        elif can_early:
            must_early += 1
        elif can_late:
            must_late += 1
    need_early = mins[early]
    need_late = sum(mins[c] for c in late_codes)
    return (
        must_early + flexible >= need_early
        and must_late + flexible >= need_late
        and must_early + must_late + flexible >= need_early + need_late
    )


def _next_blocks(p: _Person, rotation: Sequence[str]) -> list[str]:
    """After an early run, any shift; after a late run, the next in the rotation, unless another late run
    still fits in the evening limit (a short late run, e.g. one day moved to cover a gap)."""
    if p.last_block is None or p.last_block not in rotation:
        return list(rotation)
    i = rotation.index(p.last_block)
    if i == 0 or p.late_ok:
        return list(rotation)
    return [rotation[(i + 1) % len(rotation)]]


def _rotate_from(last: str | None, rotation: Sequence[str]) -> str:
    """The shift a new run should take: the one after the last run's (early after late, late after early)."""
    if last is None or last not in rotation:
        return rotation[0]
    return rotation[(rotation.index(last) + 1) % len(rotation)]


def _month_end(day: dt.date) -> dt.date:
    return dt.date(day.year + day.month // 12, day.month % 12 + 1, 1) - dt.timedelta(days=1)


def _natural_weekend(day: dt.date, slack: int, limit: int, end: dt.date) -> bool:
    """Whether resting only when due (every ``limit + 1`` days) still gives a weekend rest this month."""
    last = min(_month_end(day), end)
    rest = day + dt.timedelta(days=slack)
    while rest <= last:
        if rest.weekday() >= 5:
            return True
        rest += dt.timedelta(days=limit + 1)
    return False


def _free_weekends(
    day: dt.date,
    end: dt.date,
    people: Sequence[_Person],
    slack: Mapping[str, int],
    resting: set[str],
    limit: int,
    capacity: int,
    needs_weekend: Callable[[_Person], bool],
    coverable: Callable[[set[str]], bool],
) -> None:
    last = min(_month_end(day), end)
    wanting = [
        p
        for p in people
        if p.pid not in resting and needs_weekend(p) and not _natural_weekend(day, slack[p.pid], limit, end)
    ]
    if not wanting:
        return
    due: dict[dt.date, list[_Person]] = defaultdict(list)
    for p in people:
        if p.pid in resting:
            continue
        rest = day + dt.timedelta(days=slack[p.pid])
        while rest <= last:
            due[rest].append(p)
            rest += dt.timedelta(days=limit + 1)
    weekends = [d for d in sorted(due.keys() | _weekend_dates(day, last)) if d > day and d.weekday() >= 5]
    free = sum(max(0, capacity - len(due[d])) for d in weekends)
    if free >= len(wanting):
        return
    movable = [p for d in weekends for p in due[d] if not needs_weekend(p) and slack[p.pid] == (d - day).days]
    for p in sorted(movable, key=lambda p: slack[p.pid]):
        if free >= len(wanting) or len(resting) >= capacity:
            break
        if coverable(resting | {p.pid}):
            resting.add(p.pid)
            free += 1


def _weekend_dates(first: dt.date, last: dt.date) -> set[dt.date]:
    return {
        first + dt.timedelta(days=i)
        for i in range((last - first).days + 1)
        if (first + dt.timedelta(days=i)).weekday() >= 5
    }


def _weekend_target(
    day: dt.date,
    end: dt.date,
    people: Sequence[_Person],
    slack: Mapping[str, int],
    limit: int,
    capacity: int,
    wanting: int,
) -> int:
    """How many early weekend rests to give today: an even share, or more if later weekends are full."""
    last = min(_month_end(day), end)
    later = [day + dt.timedelta(days=i) for i in range(1, (last - day).days + 1)]
    later = [d for d in later if d.weekday() >= 5]
    due: Counter[dt.date] = Counter()
    for p in people:
        rest = day + dt.timedelta(days=slack[p.pid])
        while rest <= last:
            due[rest] += 1
            rest += dt.timedelta(days=limit + 1)
    free_later = sum(max(0, capacity - due[d]) for d in later)
    return max(math.ceil(wanting / (len(later) + 1)), wanting - free_later)
