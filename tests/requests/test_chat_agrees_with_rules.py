"""Hypothesis over random org charts, rosters and requests, driven through the real chat (issue 14):

- the chat never accepts what the pure rule in ``schedules.requests`` refuses (and accepts what it accepts);
- no request is ever stored without a decider, and the decider stands above the requester in their own
  chain (for a cross-team swap, in both people's chains);
- an approved swap or give-away changes the roster in exactly the cells its card names.

One app and one SQLite database serve every example (the org, the roster and the requests are rewritten per
example), so the test stays fast; the expected outcome is computed from the drawn facts with the pure rules,
never read back from what the chat did.
"""

from __future__ import annotations

import asyncio
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot import roster_store
from bot.app import App
from bot.clock import FakeClock
from bot.org import LAST_RESORT_KEY
from bot.schema import (
    conversations,
    org_settings,
    people,
    request_cards,
    requests,
    roster_entries,
    roster_overrides,
    teams,
)
from bot.settings import Settings
from handlers.common import calendar, policy
from schedules.requests import (
    Chart,
    Member,
    Refusal,
    SwapKind,
    check_leave,
    check_swap,
    decider_chain,
    pick_decider,
)
from tests.conftest import REPO, local
from tests.helpers import Chat

START = date(2026, 12, 1)  # the fake clock's today
DAYS = 14
POOL = ("wangfang", "liuyang", "chenjing", "huangwei", "zhanglei", "lina", "liujun", "chenhui", "wangjianguo")
TEAMS = ("service", "order")
ROLES = ("agent", "agent", "agent", "lead", "supervisor", "manager", "admin")
RANK = {"agent": 0, "lead": 1, "supervisor": 2, "manager": 3, "admin": 4}
CODES = {"D": "day", "E": "evening", "-": None}
LEAVE_WORDS = {"personal": "事假", "sick": "病假", "day_in_lieu": "调休", "annual": "年假"}


@st.composite
def orgs(draw: st.DrawFn) -> dict[str, Any]:
    """Roles and teams for the pool, each team's lead (a lead) and supervisor (a supervisor or manager), and
    maybe an approver of last resort, as an org file could say them."""
    roles = {p: draw(st.sampled_from(ROLES)) for p in POOL}
    team = {
        p: (draw(st.sampled_from(TEAMS)) if roles[p] in ("agent", "lead", "supervisor") else None)
        for p in POOL
    }
    leads = {t: draw(st.sampled_from([None, *[p for p in POOL if roles[p] == "lead"]])) for t in TEAMS}
    sups = {
        t: draw(st.sampled_from([None, *[p for p in POOL if roles[p] in ("supervisor", "manager")]]))
        for t in TEAMS
    }
    last = draw(st.sampled_from([None, *POOL]))
    return {"roles": roles, "team": team, "leads": leads, "sups": sups, "last": last}


@st.composite
def rosters(draw: st.DrawFn) -> dict[str, str]:
    """Two weeks per person: each works one kind of shift (白 or 晚) with rest days between, as a 做六休一
    roster mostly does, so that swaps which keep 第四十三条 are common; a few mix both kinds."""
    rows = {}
    for p in POOL:
        pattern = draw(st.text(alphabet="X-", min_size=DAYS, max_size=DAYS))
        code = draw(st.sampled_from("DE"))
        rows[p] = "".join(code if c == "X" else c for c in pattern)
        if draw(st.integers(0, 4)) == 0:
            rows[p] = draw(st.text(alphabet="DE-", min_size=DAYS, max_size=DAYS))
    return rows


def draw_request(data: st.DataObject, org: dict[str, Any], rows: dict[str, str]) -> tuple[Any, ...]:
    """A swap, give-away or leave line. Half the time it is a plausible one (two rostered people, days on
    which each works), so that acceptances are common enough to check what approval does; the rest are
    drawn from anything, refusals included."""
    kind = data.draw(st.sampled_from(["swap", "giveaway", "leave"]))
    plausible = data.draw(st.integers(0, 3)) > 0
    rostered = [p for p in POOL if org["roles"][p] in ("agent", "lead")] if plausible else []
    people = rostered if len(rostered) >= 2 else list(POOL)
    requester = data.draw(st.sampled_from(people))
    if kind == "leave":
        code = data.draw(st.sampled_from(sorted(LEAVE_WORDS)))
        half = data.draw(st.sampled_from([None, "上午", "pm"]))
        return (
            "leave",
            requester,
            code,
            data.draw(st.integers(0, DAYS - 1)),
            data.draw(st.integers(0, 3)),
            half,
        )
    if not plausible:
        colleague = data.draw(st.sampled_from(POOL))
        mine = data.draw(st.integers(1, DAYS - 1))
        if kind == "giveaway":
            return ("giveaway", requester, colleague, mine)
        return ("swap", requester, colleague, mine, data.draw(st.integers(1, DAYS - 1)))
    # Plausible: a day the requester works, and a colleague who could take it (resting that day), or who
    # works another shift that day (a same-day swap), or works a day the requester rests (across two days).
    working = [i for i in range(2, DAYS) if rows[requester][i] != "-"] or list(range(2, DAYS))
    mine = data.draw(st.sampled_from(working))
    others = [p for p in people if p != requester] or list(POOL)
    resting = [p for p in others if rows[p][mine] == "-"]
    if kind == "giveaway":
        return ("giveaway", requester, data.draw(st.sampled_from(resting or others)), mine)
    if data.draw(st.booleans()):
        differ = [p for p in others if rows[p][mine] not in ("-", rows[requester][mine])]
        return ("swap", requester, data.draw(st.sampled_from(differ or others)), mine, mine)
    colleague = data.draw(st.sampled_from(resting or others))
    theirs = [i for i in range(2, DAYS) if rows[colleague][i] != "-" and rows[requester][i] == "-"]
    return ("swap", requester, colleague, mine, data.draw(st.sampled_from(theirs or working)))


def chart_of(org: dict[str, Any], joined: dict[str, date | None]) -> Chart:
    members = {p: Member(p, p, org["roles"][p], org["team"][p], joined[p]) for p in POOL}
    # Several admins and no approver named: the one with the lowest id (as bot.requests.load_chart).
    last = org["last"] or min((p for p in POOL if org["roles"][p] == "admin"), default=None)
    return Chart(members, dict(org["leads"]), dict(org["sups"]), last)


def cells_of(rows: dict[str, str]) -> dict[tuple[str, date], str | None]:
    return {
        (p, START + timedelta(days=i)): CODES[c] for p, letters in rows.items() for i, c in enumerate(letters)
    }


async def reset(app: App, org: dict[str, Any], rows: dict[str, str]) -> None:
    """This example's department: the pool active with the drawn roles and teams, everyone else inactive,
    the drawn roster as the plan, no requests."""
    now = app.clock.now()
    async with app.db.transaction() as conn:
        for table in (request_cards, requests, roster_overrides, roster_entries, conversations):
            await conn.execute(table.delete())
        await conn.execute(people.update().values(active=False))
        for p in POOL:
            await conn.execute(
                people.update()
                .where(people.c.id == p)
                .values(active=True, role=org["roles"][p], team=org["team"][p])
            )
        for t in TEAMS:
            await conn.execute(
                teams.update()
                .where(teams.c.id == t)
                .values(lead_id=org["leads"][t], supervisor_id=org["sups"][t])
            )
        await conn.execute(org_settings.delete().where(org_settings.c.key == LAST_RESORT_KEY))
        if org["last"]:
            await conn.execute(org_settings.insert().values(key=LAST_RESORT_KEY, value=org["last"]))
        entries = [
            (p, START + timedelta(days=i), CODES[c])
            for p, letters in rows.items()
            for i, c in enumerate(letters)
        ]
        await roster_store.upsert(conn, entries, now)


async def stored(app: App) -> list[Any]:
    async with app.db.read() as conn:
        return list((await conn.execute(sa.select(requests).order_by(requests.c.id))).all())


async def roster_now(app: App) -> dict[tuple[str, date], str | None]:
    async with app.db.read() as conn:
        found = await roster_store.between(conn, START, START + timedelta(days=DAYS - 1))
    return {(e.person_id, e.day): e.shift_code for e in found}


def assert_decider_in_chain(chart: Chart, requester: str, colleague: str | None, decider: str) -> None:
    chain = [pid for _, pid in decider_chain(requester, chart)]
    assert decider in chain, (requester, decider, chain)
    assert decider not in (requester, colleague)
    if colleague is not None and chart.people[colleague].team != chart.people[requester].team:
        assert decider in [pid for _, pid in decider_chain(colleague, chart)]
    level = next(lv for lv, pid in decider_chain(requester, chart) if pid == decider)
    is_last_resort = level == "last_resort" and decider == chart.last_resort
    assert is_last_resort or RANK[chart.people[decider].role] > RANK[chart.people[requester].role]


async def one_example(
    app: App, clock: FakeClock, org: dict[str, Any], rows: dict[str, str], req: tuple[Any, ...]
) -> bool:
    """One request through the chat; whether it was accepted (after every check on it held)."""
    clock.set(local("2026-12-01 08:00"))
    await reset(app, org, rows)
    async with app.db.read() as conn:
        joined = dict((await conn.execute(sa.select(people.c.id, people.c.joined_on))).all())
    chart = chart_of(org, joined)
    cells = cells_of(rows)
    away = {p: "off" for p in POOL if rows[p][0] == "-"}  # today's rest day passes a decider over
    now = clock.now()
    chat = Chat(app, clock)
    kind = req[0]
    if kind in ("swap", "giveaway"):
        requester, colleague, d = req[1], req[2], START + timedelta(days=req[3])
        their = START + timedelta(days=req[4]) if kind == "swap" else None
        rule_kind: SwapKind = "swap" if kind == "swap" else "give_away"
        try:
            plan = check_swap(
                rule_kind,
                chart.people[requester],
                chart.people[colleague],
                d,
                their,
                now,
                cells,
                policy(app),
                swaps_this_month={},
            )
            decider = pick_decider(requester, plan.level, chart, colleague=colleague, away=away)
            expected = True
        except Refusal:
            expected = False
        line = f"/swap {d:%m-%d} {colleague} {their:%m-%d}" if their else f"/giveaway {d:%m-%d} {colleague}"
        sent = await chat.say(requester, line)
        made = await stored(app)
        reached = any(m["to"] == colleague and m["buttons"] for m in sent) and colleague != requester
        assert (bool(made) and reached) == expected, (org, rows, line, sent)
        assert len(made) == int(expected)
        if not expected:
            return False
        assert made[0].payload["decider"] == decider.person_id
        before = await roster_now(app)
        accepted = await chat.say(colleague, "press 1")
        row = (await stored(app))[0]
        assert row.state == "pending" and row.decider_id is not None, (row, accepted)
        assert_decider_in_chain(chart, requester, colleague, row.decider_id)
        assert any(m["to"] == row.decider_id and m["buttons"] for m in accepted), accepted
        await chat.say(row.decider_id, "press 1")
        row = (await stored(app))[0]
        assert row.state == "approved", (row.state, row.reason)
        after = await roster_now(app)
        changed = {k for k in set(before) | set(after) if before.get(k) != after.get(k)}
        if their is None or their == d:
            card = {(requester, d), (colleague, d)}
        else:
            card = {(requester, d), (colleague, d), (requester, their), (colleague, their)}
        assert changed == card, (line, changed, card)
        # The shifts only changed hands: each day named keeps the same shifts between the two people.
        for day in {d, their or d}:
            pair = (requester, colleague)
            assert sorted(str(after.get((p, day))) for p in pair) == sorted(
                str(before.get((p, day))) for p in pair
            )
        return True
    else:
        _, requester, code, offset, length, half = req
        first = START + timedelta(days=offset)
        last = first if half else min(first + timedelta(days=length), START + timedelta(days=DAYS - 1))
        leave_type = policy(app).leave.leave_type(code)
        assert leave_type is not None
        try:
            leave_plan = check_leave(
                requester,
                leave_type,
                first,
                last,
                now,
                cells,
                policy(app),
                half_day=half is not None,
                calendar=calendar(app),
            )
            decider = pick_decider(requester, leave_plan.level, chart, away=away)
            expected = True
        except Refusal:
            expected = False
        end = half if half else f"{last:%m-%d}"
        line = f"/leave {LEAVE_WORDS[code]} {first:%m-%d} {end} 有事"
        sent = await chat.say(requester, line)
        made = await stored(app)
        assert len(made) == int(expected), (org, rows, line, sent)
        if not expected:
            return False
        row = made[0]
        assert row.decider_id == decider.person_id and row.state == "pending"
        assert float(row.payload["days"]) == leave_plan.days
        assert_decider_in_chain(chart, requester, None, row.decider_id)
        assert any(m["to"] == row.decider_id and m["buttons"] for m in sent), sent
        return True


def test_the_chat_does_what_the_rules_say(tmp_path: Path) -> None:
    loop = asyncio.new_event_loop()
    clock = FakeClock(local("2026-12-01 08:00"))
    app = App(
        Settings(
            database_url=f"sqlite+aiosqlite:///{tmp_path / 'h.db'}",
            org_file=REPO / "examples" / "org.yaml",
            policy_file=REPO / "examples" / "policy.yaml",
            kb_cache_dir=tmp_path / "cache",
            kb_semantic=False,
            roster_file=None,
            _env_file=None,  # type: ignore[call-arg]
        ),
        clock=clock,
    )
    loop.run_until_complete(app.prepare())
    seen: dict[str, int] = {}

    @settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow], database=None)
    @given(org=orgs(), rows=rosters(), data=st.data())
    def check(org: dict[str, Any], rows: dict[str, str], data: st.DataObject) -> None:
        req = draw_request(data, org, rows)
        accepted = loop.run_until_complete(one_example(app, clock, org, rows, req))
        key = f"{req[0]} {'accepted' if accepted else 'refused'}"
        seen[key] = seen.get(key, 0) + 1

    try:
        check()
    finally:
        loop.run_until_complete(app.close())
        loop.close()
    # Every kind was tried, and both outcomes happened (the counts vary with the draws, not the verdicts).
    assert {k.split()[0] for k in seen} == {"swap", "giveaway", "leave"}, seen
    assert any(k.endswith("accepted") for k in seen) and any(k.endswith("refused") for k in seen), seen
