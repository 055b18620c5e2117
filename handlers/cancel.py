"""Changing one's mind: cancelling an approved leave, swap or give-away before it starts.

A cancellation is a request of its own, decided like the original: for a swap or give-away the colleague
agrees first, then the decider the original would have today; once approved the original becomes cancelled
and the roster goes back, in the decision's transaction, with audit rows for each step.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from bot import requests as engine
from bot.context import Context
from bot.messages import Button
from bot.schema import requests, roster_overrides
from handlers import requests as decisions
from handlers.common import policy
from schedules.requests import Refusal

if TYPE_CHECKING:
    from datetime import datetime

    from sqlalchemy.ext.asyncio import AsyncConnection

    from bot.core import Core

KIND = "cancellation"
WITH_COLLEAGUE = ("swap", "give_away")


def cancellation_summary(app: Core, request: engine.Request, lang: str) -> str:
    of = request.payload.get("of_kind", "")
    spec = decisions.kinds(app).get(of)
    original = replace(request, kind=of, payload=request.payload.get("original", {}))
    body = spec.summary(app, original, lang) if spec else of
    return app.catalog.t(lang, "cancel.summary", id=request.payload.get("of"), body=body)


async def _pending_cancellation(conn: AsyncConnection, original_id: int) -> int | None:
    rows = await conn.execute(
        sa.select(requests.c.id, requests.c.payload).where(
            requests.c.kind == KIND, requests.c.state.in_([engine.AWAITING_COLLEAGUE, engine.PENDING])
        )
    )
    return next((int(r.id) for r in rows if r.payload.get("of") == original_id), None)


async def changed_since(conn: AsyncConnection, original: engine.Request) -> None:
    """Refuses (``Refusal``) when a later decision changed one of the cells the original set: putting the
    original's cells back would silently undo that later decision, so it is never done."""
    own = list(
        await conn.execute(
            sa.select(roster_overrides.c.id, roster_overrides.c.person_id, roster_overrides.c.day).where(
                roster_overrides.c.request_id == original.id, roster_overrides.c.active.is_(True)
            )
        )
    )
    if not own:
        return
    cells = {(r.person_id, r.day) for r in own}
    later = await conn.execute(
        sa.select(roster_overrides.c.request_id, roster_overrides.c.person_id, roster_overrides.c.day).where(
            roster_overrides.c.active.is_(True),
            roster_overrides.c.id > max(r.id for r in own),
            roster_overrides.c.person_id.in_({person for person, _ in cells}),
            sa.or_(roster_overrides.c.request_id.is_(None), roster_overrides.c.request_id != original.id),
        )
    )
    for row in later:
        if (row.person_id, row.day) in cells:
            other = f"#{row.request_id}" if row.request_id is not None else "-"
            raise Refusal("cancel.refused.changed_since", id=original.id, later=other)


async def recheck_cancellation(
    conn: AsyncConnection, app: Core, request: engine.Request, now: datetime
) -> None:
    """At the approver's press: the original's cells must still be as its approval left them."""
    original = await engine.get(conn, int(request.payload["of"]))
    if original is not None:
        await changed_since(conn, original)


async def ask(ctx: Context, payload: dict[str, Any]) -> None:
    """The requester pressed "cancel" on an approved request: start its cancellation."""
    original = await decisions.load_for_press(ctx, payload)
    if original is None:
        return
    if original.requester_id != ctx.person.id:
        await decisions.refuse_press(ctx, original, "request.cancel_not_yours")
        return
    if not decisions.cancellable(original, ctx.now):
        await ctx.reply(ctx.t("cancel.refused.started", id=original.id))
        return
    app = ctx.app
    async with app.db.transaction() as conn:
        waiting = await _pending_cancellation(conn, original.id)
        if waiting is not None:
            await ctx.send(ctx.answer(ctx.t("cancel.refused.pending", id=waiting)), conn=conn)
            return
        try:
            await changed_since(conn, original)
        except Refusal as refusal:
            await decisions.refuse(conn, ctx, f"{KIND}.refused", refusal)
            return
        level = str(original.payload.get("level") or original.decider_level or "lead")
        if level not in ("lead", "supervisor", "manager"):
            level = "manager"
        body: dict[str, Any] = {
            "of": original.id,
            "of_kind": original.kind,
            "original": original.payload,
            "level": level,
            "requester_name": ctx.person.name,
        }
        if original.kind in WITH_COLLEAGUE and original.subject_id:
            try:
                decider = await engine.decider_for(
                    conn,
                    ctx.person.id,
                    level,
                    ctx.now.astimezone(app.tz).date(),
                    colleague=original.subject_id,
                )
            except Refusal as refusal:
                await decisions.refuse(conn, ctx, f"{KIND}.refused", refusal)
                return
            interval = timedelta(minutes=policy(app).reminders.approval_reminder_interval_minutes)
            request = await engine.create(
                conn,
                kind=KIND,
                state=engine.AWAITING_COLLEAGUE,
                requester_id=ctx.person.id,
                now=ctx.now,
                payload={**body, "decider": decider.person_id, "decider_level": decider.level},
                subject_id=original.subject_id,
                team=ctx.person.team,
                expires_at=original.expires_at,
                next_reminder_at=ctx.now + interval,
            )
            colleague = await app.directory.by_id(conn, original.subject_id)
            if colleague is not None:
                lang = colleague.language
                buttons = [
                    [
                        Button(
                            app.catalog.t(lang, "swap.button.accept"), "cancel.accept", {"id": request.id}
                        ),
                        Button(
                            app.catalog.t(lang, "swap.button.decline"), "cancel.decline", {"id": request.id}
                        ),
                    ]
                ]
                await decisions.send_card(
                    conn, app, request, colleague, intro_key="cancel.card.colleague", buttons=buttons
                )
        else:
            created = await decisions.submit_for_decision(
                conn, ctx, kind=KIND, level=level, payload=body, expires_at=original.expires_at
            )
            if created is None:
                return
            request = created
        await ctx.send(
            ctx.answer(ctx.t("cancel.sent", summary=decisions.summary(app, request, ctx.lang))), conn=conn
        )
    await decisions.refresh_homes(app, ctx.person.id, request.subject_id, request.decider_id)


async def colleague_answer(ctx: Context, payload: dict[str, Any], accept: bool) -> None:
    """The colleague of the swap agrees (the decider is asked next) or declines (nothing changes)."""
    request = await decisions.colleague_press(ctx, payload)
    if request is None:
        return
    app = ctx.app
    async with app.db.transaction() as conn:
        current = await engine.get(conn, request.id)
        done = None
        if current is not None and current.state == engine.AWAITING_COLLEAGUE:
            if not accept:
                done = await engine.transition(
                    conn, current, engine.DECLINED, actor=ctx.person.id, now=ctx.now
                )
                if done is not None:
                    await decisions.close_cards(conn, app, done)
                    await decisions.tell(
                        conn, app, done.requester_id, "cancel.told.declined", done, name=ctx.person.name
                    )
            else:
                try:
                    decider = await engine.decider_for(
                        conn,
                        current.requester_id,
                        current.payload["level"],
                        ctx.now.astimezone(app.tz).date(),
                        colleague=current.subject_id,
                    )
                    decider_id, level = decider.person_id, decider.level
                    extra = decisions.decider_payload(decider)
                except Refusal:
                    decider_id, level, extra = (
                        current.payload["decider"],
                        current.payload["decider_level"],
                        {},
                    )
                done = await engine.transition(
                    conn,
                    current,
                    engine.PENDING,
                    actor=ctx.person.id,
                    now=ctx.now,
                    action=f"{KIND}.accepted",
                    decider_id=decider_id,
                    decider_level=level,
                    payload={**current.payload, **extra},
                )
                if done is not None:
                    await decisions.close_cards(conn, app, done, actor=ctx.person.id)
                    person = await app.directory.by_id(conn, decider_id)
                    if person is not None:
                        await decisions.send_card(conn, app, done, person)
    if done is None:
        await decisions.lost_race(ctx, request.id)
        return
    await decisions.refresh_homes(app, done.requester_id, done.subject_id, done.decider_id)


async def apply_cancellation(
    conn: AsyncConnection, app: Core, request: engine.Request, now: datetime
) -> None:
    """Approved: the original becomes cancelled and its roster change is undone, in this transaction."""
    original = await engine.get(conn, int(request.payload["of"]))
    if original is None or original.state != engine.APPROVED:
        return
    done = await engine.transition(
        conn,
        original,
        engine.CANCELLED,
        actor=request.decided_by or "system",
        now=now,
        action=f"{original.kind}.cancelled",
    )
    if done is None:
        return
    spec = decisions.kinds(app).get(original.kind)
    if spec is not None and spec.undo is not None:
        await spec.undo(conn, app, done, now)


def register(app: Core) -> None:
    router = app.router
    decisions.register_kind(
        app, KIND, decisions.KindSpec(cancellation_summary, apply_cancellation, recheck=recheck_cancellation)
    )
    router.action("request.cancel_approved")(ask)

    @router.action("cancel.accept")
    async def accept(ctx: Context, payload: dict[str, Any]) -> None:
        await colleague_answer(ctx, payload, True)

    @router.action("cancel.decline")
    async def decline(ctx: Context, payload: dict[str, Any]) -> None:
        await colleague_answer(ctx, payload, False)
