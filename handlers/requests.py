"""Deciding requests: cards with buttons, approve / reject (with an optional reason) / cancel,
/pending and /requests, reminders to deciders and expiry. Each kind plugs in through `KindSpec`."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy.ext.asyncio import AsyncConnection

from bot import audit, home, org, roster_store
from bot import requests as engine
from bot.context import Context
from bot.conversations import ConversationState
from bot.messages import Button, Outgoing, Person
from handlers.common import cite, policy
from schedules import requests as rules
from schedules.requests import Refusal

if TYPE_CHECKING:
    from bot.core import Core

Summary = Callable[["Core", engine.Request, str], str]
Effect = Callable[[AsyncConnection, "Core", engine.Request, datetime], Awaitable[None]]
# Runs the kind's rule again on the roster as it is at the press; raises Refusal when it no longer holds.
Recheck = Callable[[AsyncConnection, "Core", engine.Request, datetime], Awaitable[None]]


@dataclass(frozen=True)
class KindSpec:
    """How one kind of request is described and what approving it changes."""

    summary: Summary
    on_approved: Effect | None = None
    # What the supervisors' group reads, where that must say less than the decider's own card (a leave
    # reason); None: the same as the card.
    group_summary: Summary | None = None
    undo: Effect | None = None  # puts back what on_approved changed (a cancellation approved)
    recheck: Recheck | None = None  # the rule again at approval time, on the roster as it is then


def cancellable(request: engine.Request, now: datetime) -> bool:
    """Approved, of a kind that changes the roster, and its first shift not started yet (see cancel.py)."""
    return (
        request.state == engine.APPROVED
        and request.kind in ("leave", "swap", "give_away")
        and request.expires_at is not None
        and now < request.expires_at
    )


async def refuse(conn: AsyncConnection, ctx: Context, action: str, refusal: Refusal, **fields: Any) -> None:
    """Audit a refusal and tell the requester why, quoting the article in their language."""
    values = {**refusal.fields, **fields}
    if refusal.article is not None:
        values["article"] = cite(refusal.article, ctx.lang)
    await ctx.app.audit_in(
        conn, actor=ctx.person.id, action=action, object_id=ctx.person.id, after={"reason": refusal.key}
    )
    await ctx.send(ctx.answer(ctx.t(refusal.key, **values)), conn=conn)


def kinds(app: Core) -> dict[str, KindSpec]:
    registry = app.shared.request_kinds
    return registry


def register_kind(app: Core, kind: str, spec: KindSpec) -> None:
    kinds(app)[kind] = spec


def local_time(app: Core, moment: datetime | None) -> str:
    return moment.astimezone(app.tz).strftime("%m-%d %H:%M") if moment else "-"


def state_label(app: Core, lang: str, state: str) -> str:
    return app.catalog.t(lang, f"request.state.{state}")


def kind_label(app: Core, lang: str, kind: str) -> str:
    return app.catalog.t(lang, f"request.kind.{kind}")


async def names(app: Core, *ids: str | None) -> dict[str, Person]:
    found: dict[str, Person] = {}
    async with app.db.read() as conn:
        for person_id in {i for i in ids if i}:
            person = await app.directory.by_id(conn, person_id)
            if person:
                found[person_id] = person
    return found


def name_of(people: dict[str, Person], person_id: str | None) -> str:
    if person_id is None:
        return "-"
    person = people.get(person_id)
    return person.name if person else person_id


def summary(app: Core, request: engine.Request, lang: str, *, in_group: bool = False) -> str:
    """The request in one line; `in_group`: as the supervisors' group may read it."""
    spec = kinds(app).get(request.kind)
    if spec is None:
        body = request.kind
    else:
        describe = spec.group_summary if in_group and spec.group_summary else spec.summary
        body = describe(app, request, lang)
    return (
        f"#{request.id} {kind_label(app, lang, request.kind)}：{body}"
        if lang != "en"
        else (f"#{request.id} {kind_label(app, lang, request.kind)}: {body}")
    )


def decision_buttons(app: Core, lang: str, request: engine.Request) -> list[list[Button]]:
    payload = {"id": request.id}
    return [
        [
            Button(app.catalog.t(lang, "request.button.approve"), "request.approve", payload),
            Button(app.catalog.t(lang, "request.button.reject"), "request.reject", payload),
        ],
        [Button(app.catalog.t(lang, "request.button.reject_reason"), "request.reject_reason", payload)],
    ]


async def send_card(
    conn: AsyncConnection,
    app: Core,
    request: engine.Request,
    recipient: Person,
    *,
    intro_key: str = "request.card.intro",
    buttons: list[list[Button]] | None = None,
    **fields: Any,
) -> Outgoing:
    """Send a decision card to one person and remember it so the decision edits it later."""
    lang = recipient.language
    requester = await app.directory.by_id(conn, request.requester_id)
    text = app.catalog.t(
        lang,
        intro_key,
        requester=requester.name if requester else request.requester_id,
        summary=summary(app, request, lang),
        **fields,
    )
    passed = request.payload.get("passed_over") or []
    if passed:
        people = await app.directory.by_ids(conn, [pid for pid, _ in passed])
        who = "、".join(
            app.catalog.t(lang, f"request.away.{why}", name=name_of(people, pid)) for pid, why in passed
        )
        text += "\n" + app.catalog.t(lang, "request.card.passed_over", who=who)
    out = Outgoing(
        text=text,
        to_person=recipient.id,
        buttons=buttons if buttons is not None else decision_buttons(app, lang, request),
    )
    await app.notify(conn, out)
    await engine.add_card(conn, request.id, out.id, recipient.id)
    return out


async def submit_for_decision(
    conn: AsyncConnection,
    ctx: Context,
    *,
    kind: str,
    level: str,
    payload: dict[str, Any],
    expires_at: datetime | None,
    card_key: str = "request.card.intro",
    to_group: bool = False,
    **card_fields: Any,
) -> engine.Request | None:
    """Create a pending request for its decider (in the requester's own chain, at least at `level`,
    passing over whoever is away today), chase them at the policy's interval, and send them the card (and
    the supervisors' group, when asked). None when nobody can decide: the requester has been told."""
    app = ctx.app
    try:
        decider = await engine.decider_for(conn, ctx.person.id, level, ctx.now.astimezone(app.tz).date())
    except Refusal as refusal:
        await refuse(conn, ctx, f"{kind}.refused", refusal)
        return None
    interval = timedelta(minutes=policy(app).reminders.approval_reminder_interval_minutes)
    request = await engine.create(
        conn,
        kind=kind,
        state=engine.PENDING,
        requester_id=ctx.person.id,
        now=ctx.now,
        payload={**payload, **decider_payload(decider)},
        team=ctx.person.team,
        decider_level=decider.level,
        decider_id=decider.person_id,
        expires_at=expires_at,
        next_reminder_at=ctx.now + interval,
    )
    person = await app.directory.by_id(conn, decider.person_id)
    if person is not None:
        fields = {k: (v(person.language) if callable(v) else v) for k, v in card_fields.items()}
        await send_card(conn, app, request, person, intro_key=card_key, **fields)
    await tell_leads(conn, app, request, decider)
    if to_group:
        await group_card(conn, app, request)
    return request


def decider_payload(decider: rules.Decider) -> dict[str, Any]:
    """What a request remembers of how its decider was found: who may also decide, who was passed over."""
    return {"above": list(decider.above), "passed_over": [list(p) for p in decider.passed_over]}


async def tell_leads(
    conn: AsyncConnection, app: Core, request: engine.Request, decider: rules.Decider
) -> None:
    """A cross-team request: both teams' leads hear who decides it."""
    if not decider.told:
        return
    people = await app.directory.by_ids(conn, [decider.person_id])
    for lead in decider.told:
        await tell(
            conn, app, lead, "request.told.cross_team", request, decider=name_of(people, decider.person_id)
        )


async def change_cells(
    conn: AsyncConnection,
    app: Core,
    request: engine.Request,
    changes: Mapping[tuple[str, date], str | None],
    now: datetime,
) -> None:
    """Write the roster cells a decision changes as overrides of the plan (roster_store.record_decision),
    in the decision's transaction, with its audit row."""
    note = f"{request.kind}#{request.id}"
    await roster_store.record_decision(
        conn,
        decision=request.kind,
        request_id=request.id,
        cells=[roster_store.set_shift(p, d, code, note) for (p, d), code in changes.items()],
        actor=request.decided_by or "system",
        now=now,
    )


SUPERVISORS_CHAT = "supervisors"


async def group_card(conn: AsyncConnection, app: Core, request: engine.Request) -> None:
    """Also show the decision card in the supervisors' group when a platform has one configured."""
    if not app.shared.supervisors_chat:
        return
    lang = app.settings.default_language
    requester = await app.directory.by_id(conn, request.requester_id)
    text = app.catalog.t(
        lang,
        "request.card.intro",
        requester=requester.name if requester else request.requester_id,
        summary=summary(app, request, lang, in_group=True),
    )
    out = Outgoing(text=text, to_chat=SUPERVISORS_CHAT, buttons=decision_buttons(app, lang, request))
    await app.notify(conn, out)
    await engine.add_card(conn, request.id, out.id, SUPERVISORS_CHAT)


async def close_cards(
    conn: AsyncConnection,
    app: Core,
    request: engine.Request,
    *,
    actor: str | None = None,
    key: str | None = None,
    why: Refusal | None = None,
) -> None:
    """Edit every open card of a request to show the outcome (or the step it moved to), who and when,
    with no buttons left; ``why``: the rule's refusal that closed it, in each reader's language."""
    final = request.final
    who_id = request.decided_by if final else actor
    when = request.decided_at if final else request.updated_at
    template = key or ("request.card.closed" if final else "request.card.progress")
    people = await names(app, who_id, request.requester_id)
    for message_id, recipient_id in await engine.take_open_cards(conn, request.id):
        recipient = await app.directory.by_id(conn, recipient_id)
        lang = recipient.language if recipient else app.settings.default_language
        text = app.catalog.t(
            lang,
            template,
            summary=summary(app, request, lang, in_group=recipient_id == SUPERVISORS_CHAT),
            state=state_label(app, lang, request.state),
            who=name_of(people, who_id),
            when=local_time(app, when),
            reason=request.reason or app.catalog.t(lang, "common.none"),
            why=refusal_text(app, lang, why) if why is not None else "",
        )
        await app.notify(conn, Outgoing(text=text, edit_of=message_id))


async def tell(
    conn: AsyncConnection,
    app: Core,
    person_id: str | None,
    key: str,
    request: engine.Request | None = None,
    **fields: Any,
) -> None:
    """Queue a catalog sentence to one person, in their language (with the request's summary in it)."""
    if person_id is None:
        return
    person = await app.directory.by_id(conn, person_id)
    if person is None:
        return
    if request is not None:
        fields["summary"] = summary(app, request, person.language)
    fields = {k: (v(person.language) if callable(v) else v) for k, v in fields.items()}  # per-language values
    await app.notify(conn, Outgoing(text=app.catalog.t(person.language, key, **fields), to_person=person.id))


async def refresh_homes(app: Core, *person_ids: str | None) -> None:
    """Redraw the Home page (where a platform has one) of everyone a change concerns, after it committed."""
    for person_id in dict.fromkeys(p for p in person_ids if p):
        await home.refresh(app, person_id)


async def lost_race(ctx: Context, request_id: int) -> None:
    """Someone else's decision got there first (the compare-and-set found another state): tell the presser
    what the request has become."""
    async with ctx.app.db.read() as conn:
        latest = await engine.get(conn, request_id)
    if latest is not None:
        await already_decided(ctx, latest)


async def already_decided(ctx: Context, request: engine.Request) -> None:
    """Told to the presser alone (never posted in the supervisors' group, however many pressed)."""
    people = await names(ctx.app, request.decided_by)
    await ctx.note(
        ctx.t(
            "request.already_decided",
            id=request.id,
            state=state_label(ctx.app, ctx.lang, request.state),
            who=name_of(people, request.decided_by) if request.decided_by else ctx.t("request.nobody"),
            when=local_time(ctx.app, request.decided_at or request.updated_at),
        )
    )


async def colleague_press(ctx: Context, payload: dict[str, Any]) -> engine.Request | None:
    """The request a swap colleague's press answers, or None (and the presser told why) when it is gone,
    no longer waits for the colleague, or names someone else as the colleague."""
    request = await load_for_press(ctx, payload)
    if request is None:
        return None
    if request.state != engine.AWAITING_COLLEAGUE:
        await already_decided(ctx, request)
        return None
    if ctx.person.id != request.subject_id:
        await refuse_press(ctx, request, "swap.not_colleague")
        return None
    return request


async def load_for_press(ctx: Context, payload: dict[str, Any]) -> engine.Request | None:
    try:
        request_id = int(payload["id"])
    except (KeyError, TypeError, ValueError):
        await ctx.note(ctx.t("error.unknown_button"))
        return None
    async with ctx.app.db.read() as conn:
        request = await engine.get(conn, request_id)
    if request is None:
        await ctx.note(ctx.t("error.unknown_button"))
    return request


async def refuse_press(ctx: Context, request: engine.Request, why_key: str) -> None:
    async with ctx.app.db.transaction() as conn:
        await audit.record(
            conn,
            at=ctx.now,
            actor=ctx.person.id,
            action="request.press_refused",
            object_type="request",
            object_id=str(request.id),
            after={"reason": why_key, "state": request.state},
        )
    people = await names(ctx.app, request.decider_id)
    await ctx.note(ctx.t(why_key, id=request.id, decider=name_of(people, request.decider_id)))


async def decide(ctx: Context, payload: dict[str, Any], to_state: str, reason: str | None = None) -> None:
    """Approve or reject: permission checked for whoever pressed, at press time; compare-and-set."""
    request = await load_for_press(ctx, payload)
    if request is None:
        return
    if request.final:
        await already_decided(ctx, request)
        return
    if request.state != engine.PENDING:
        await refuse_press(ctx, request, "request.not_ready")
        return
    if not engine.may_decide(ctx.person, request):
        own = ctx.person.id in (request.requester_id, request.subject_id)
        await refuse_press(ctx, request, "request.own" if own else "request.not_decider")
        return
    app = ctx.app
    refused: Refusal | None = None
    async with app.db.transaction() as conn:
        current = await engine.get(conn, request.id)
        done = None
        if current is not None and current.state == engine.PENDING:
            spec = kinds(app).get(current.kind)
            if to_state == engine.APPROVED and spec is not None and spec.recheck is not None:
                try:
                    await spec.recheck(conn, app, current, ctx.now)
                except Refusal as refusal:
                    refused = refusal
            if refused is not None:
                done = await refuse_at_approval(conn, ctx, current, refused)
            else:
                done = await engine.transition(
                    conn, current, to_state, actor=ctx.person.id, now=ctx.now, reason=reason
                )
        if done is not None and refused is None:
            spec = kinds(app).get(done.kind)
            if to_state == engine.APPROVED and spec and spec.on_approved:
                await spec.on_approved(conn, app, done, ctx.now)
            await close_cards(conn, app, done)
            key = "request.told.approved" if to_state == engine.APPROVED else "request.told.rejected"
            for person_id in {done.requester_id, done.subject_id} - {None}:
                person = await app.directory.by_id(conn, person_id) if person_id else None
                if person is None:
                    continue
                await tell(
                    conn,
                    app,
                    person.id,
                    key,
                    done,
                    who=ctx.person.name,
                    reason=reason or app.catalog.t(person.language, "common.none"),
                )
    if done is None:
        await lost_race(ctx, request.id)
        return
    await refresh_homes(app, done.requester_id, done.subject_id, done.decider_id, ctx.person.id)


def refusal_text(app: Core, lang: str, refusal: Refusal) -> str:
    """A refusal in one language, with its article."""
    values = dict(refusal.fields)
    if refusal.article is not None:
        values["article"] = cite(refusal.article, lang)
    return app.catalog.t(lang, refusal.key, **values)


async def refuse_at_approval(
    conn: AsyncConnection, ctx: Context, request: engine.Request, refusal: Refusal
) -> engine.Request | None:
    """The rule, run again at the press on the roster as it is now, says no: the request is rejected by
    the rule (not by the presser), audited with the refusal and its article, its cards closed, and the
    requester, the colleague and the presser told why, each in their language, once (the colleague may
    be the presser). The roster is untouched."""
    app = ctx.app
    article = refusal.article
    done = await engine.transition(
        conn,
        request,
        engine.REJECTED,
        actor=ctx.person.id,
        now=ctx.now,
        action=f"{request.kind}.refused_at_approval",
        reason=refusal_text(app, app.settings.default_language, refusal)[:500],
        payload={
            **request.payload,
            "refused_at_approval": {
                "key": refusal.key,
                "article": [article.zh, article.en] if article is not None else None,
                "pressed_by": ctx.person.id,
            },
        },
    )
    if done is None:
        return None
    await close_cards(conn, app, done, key="request.card.refused_now", why=refusal)
    for person_id in {done.requester_id, done.subject_id} - {None, ctx.person.id}:  # the presser: below
        await tell(
            conn,
            app,
            person_id,
            "request.told.refused_now",
            done,
            why=lambda lang: refusal_text(app, lang, refusal),
        )
    # To the presser's private chat even when pressed in the supervisors' group: the summary may carry a
    # leave reason the group does not see.
    told = ctx.t(
        "request.refused_now", summary=summary(app, done, ctx.lang), why=refusal_text(app, ctx.lang, refusal)
    )
    await ctx.send(Outgoing(text=told, to_person=ctx.person.id), conn=conn)
    return done


async def cancel_request(ctx: Context, request: engine.Request) -> None:
    if request.requester_id != ctx.person.id:
        await refuse_press(ctx, request, "request.cancel_not_yours")
        return
    if request.final:
        await already_decided(ctx, request)
        return
    app = ctx.app
    async with app.db.transaction() as conn:
        current = await engine.get(conn, request.id)
        done = None
        if current is not None and not current.final:
            done = await engine.transition(conn, current, engine.CANCELLED, actor=ctx.person.id, now=ctx.now)
        if done is not None:
            await close_cards(conn, app, done)
            await tell(conn, app, done.subject_id, "request.told.cancelled", done)
            await ctx.send(ctx.answer(ctx.t("request.cancelled", id=done.id)), conn=conn)
    if done is None:
        await lost_race(ctx, request.id)
        return
    await refresh_homes(app, done.requester_id, done.subject_id, done.decider_id)


def age(now: datetime, since: datetime, lang: str) -> str:
    minutes = max(0, int((now - since).total_seconds() // 60))
    if minutes < 60:
        return f"{minutes} min" if lang == "en" else f"{minutes}分钟"
    hours, rest = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {rest} min" if lang == "en" else f"{hours}小时{rest}分"
    return f"{hours // 24} d" if lang == "en" else f"{hours // 24}天"


# What an expiry means, with its article: a swap not approved before its shift is refused (第四十一条);
# leave is taken only once approved (第四十七条).
EXPIRED_KEYS = {
    "swap": "request.told.expired_swap",
    "give_away": "request.told.expired_swap",
    "leave": "request.told.expired_leave",
}


async def remind_and_expire(app: Core, t0: datetime, t1: datetime) -> None:
    """Scheduled: chase deciders of pending requests at the policy interval; expire what has passed."""
    interval = timedelta(minutes=policy(app).reminders.approval_reminder_interval_minutes)
    async with app.db.read() as conn:
        expiring = await engine.due_for_expiry(conn, t1)
        chasing = await engine.due_for_reminder(conn, t1)
    for request in expiring:
        if request.kind == "escalation":
            continue
        async with app.db.transaction() as conn:
            done = await engine.transition(conn, request, engine.EXPIRED, actor=audit.SYSTEM, now=t1)
            if done is not None:
                await close_cards(conn, app, done)
                key = EXPIRED_KEYS.get(done.kind, "request.told.expired")
                for person_id in {done.requester_id, done.subject_id} - {None}:
                    await tell(conn, app, person_id, key, done)
        if done is not None:
            await refresh_homes(app, done.requester_id, done.subject_id, done.decider_id)
    digests: dict[str, list[engine.Request]] = {}
    expired_ids = {r.id for r in expiring}
    for request in chasing:
        if request.kind == "escalation" or request.id in expired_ids:
            continue
        target = request.subject_id if request.state == engine.AWAITING_COLLEAGUE else request.decider_id
        if target:
            digests.setdefault(target, []).append(request)
    for target, waiting in sorted(digests.items()):
        waiting.sort(key=lambda r: (r.created_at, r.id))
        async with app.db.transaction() as conn:
            person = await app.directory.by_id(conn, target)
            if person is not None:
                await app.notify(
                    conn,
                    digest(app, person, waiting, t1),
                    idempotency_key="req-remind:"
                    + ",".join(
                        f"{r.id}@{r.next_reminder_at.isoformat() if r.next_reminder_at else ''}"
                        for r in waiting
                    ),
                )
            for request in waiting:
                await engine.push_reminder(conn, request, t1 + interval)


def digest(app: Core, person: Person, waiting: list[engine.Request], now: datetime) -> Outgoing:
    """One reminder for everything that waits for one person, with the buttons for each item."""
    lang = person.language
    lines = [app.catalog.t(lang, "request.reminder.title", count=len(waiting))]
    buttons: list[list[Button]] = []
    for request in waiting:
        lines.append(
            app.catalog.t(
                lang,
                "request.pending.line",
                summary=summary(app, request, lang),
                age=age(now, request.created_at, lang),
            )
        )
        if request.state == engine.AWAITING_COLLEAGUE:
            payload = {"id": request.id}
            buttons.append(
                [
                    Button(
                        app.catalog.t(lang, "request.button.accept_id", id=request.id), "swap.accept", payload
                    ),
                    Button(
                        app.catalog.t(lang, "request.button.decline_id", id=request.id),
                        "swap.decline",
                        payload,
                    ),
                ]
            )
        elif row := item_buttons(app, lang, request):
            buttons.append(row)
    return Outgoing(text="\n".join(lines), to_person=person.id, buttons=buttons)


def register(app: Core) -> None:
    router = app.router
    app.ticks.register("requests", remind_and_expire)

    @router.action("request.approve")
    async def approve(ctx: Context, payload: dict[str, Any]) -> None:
        await decide(ctx, payload, engine.APPROVED)

    @router.action("request.reject")
    async def reject(ctx: Context, payload: dict[str, Any]) -> None:
        await decide(ctx, payload, engine.REJECTED)

    @router.action("request.reject_reason")
    async def reject_with_reason(ctx: Context, payload: dict[str, Any]) -> None:
        request = await load_for_press(ctx, payload)
        if request is None:
            return
        if request.final:
            await already_decided(ctx, request)
            return
        if not engine.may_decide(ctx.person, request):
            await refuse_press(ctx, request, "request.not_decider")
            return
        await ctx.start_conversation("request_reason", "reason", {"id": request.id})
        await ctx.reply(ctx.t("request.ask_reason", id=request.id))

    @router.conversation("request_reason")
    async def reason_step(ctx: Context, state: ConversationState) -> None:
        reason = (ctx.incoming.text or "").strip()[:500]
        if not reason:
            await ctx.reply(ctx.t("request.ask_reason", id=state.data.get("id")))
            return
        await ctx.end_conversation()
        await decide(ctx, {"id": state.data.get("id")}, engine.REJECTED, reason=reason)

    @router.action("request.cancel")
    async def cancel_pressed(ctx: Context, payload: dict[str, Any]) -> None:
        request = await load_for_press(ctx, payload)
        if request is not None:
            await cancel_request(ctx, request)

    @router.command(
        "pending",
        keywords=("待审批", "审批"),
        min_role="lead",
        help_key="help.desc.pending",
        order=40,
        personal=True,
    )
    async def pending(ctx: Context) -> None:
        await show_pending(ctx, 0)

    @router.action("request.pending_page")
    async def pending_page(ctx: Context, payload: dict[str, Any]) -> None:
        try:
            page = max(0, int(payload.get("page", 0)))
        except (TypeError, ValueError):
            page = 0
        await show_pending(ctx, page)

    @router.command(
        "requests", keywords=("我的申请",), help_key="help.desc.requests", order=41, personal=True
    )
    async def mine(ctx: Context) -> None:
        text, own = await mine_text(ctx.app, ctx.person)
        buttons = [
            [Button(ctx.t("request.button.cancel", id=r.id), "request.cancel", {"id": r.id})]
            for r in own
            if not r.final and r.requester_id == ctx.person.id and r.kind != "escalation"
        ]
        buttons += [
            [
                Button(
                    ctx.t("request.button.cancel_approved", id=r.id), "request.cancel_approved", {"id": r.id}
                )
            ]
            for r in own
            if r.requester_id == ctx.person.id and cancellable(r, ctx.now)
        ]
        await ctx.reply(text, buttons[:8])

    async def home_requests(app_: Core, person: Person) -> list[str]:
        blocks = [(await mine_text(app_, person))[0]]
        if org.rank(person.role) >= org.rank("lead"):
            blocks.append((await pending_text(app_, person, app_.clock.now()))[0])
        return blocks

    home.register_section(app, home_requests)


PAGE_SIZE = 5


async def pending_text(
    app: Core, person: Person, now: datetime, page: int = 0
) -> tuple[str, list[engine.Request], int]:
    """One page of what waits for this person's decision, oldest first, with age; and how many wait."""
    lang = person.language
    async with app.db.read() as conn:
        waiting = await engine.list_for_decider(conn, person)
    if not waiting:
        return app.catalog.t(lang, "request.pending.none"), [], 0
    pages = -(-len(waiting) // PAGE_SIZE)
    page = min(page, pages - 1)
    shown = waiting[page * PAGE_SIZE : (page + 1) * PAGE_SIZE]
    lines = [app.catalog.t(lang, "request.pending.title", count=len(waiting))]
    if pages > 1:
        lines.append(app.catalog.t(lang, "request.pending.page", page=page + 1, pages=pages))
    for request in shown:
        lines.append(
            app.catalog.t(
                lang,
                "request.pending.line",
                summary=summary(app, request, lang),
                age=age(now, request.created_at, lang),
            )
        )
    return "\n".join(lines), shown, len(waiting)


def item_buttons(app: Core, lang: str, request: engine.Request) -> list[Button]:
    """The buttons that act on one waiting item, labelled with its number."""
    payload = {"id": request.id}
    if request.state == engine.PENDING:
        return [
            Button(
                app.catalog.t(lang, "request.button.approve_id", id=request.id), "request.approve", payload
            ),
            Button(app.catalog.t(lang, "request.button.reject_id", id=request.id), "request.reject", payload),
        ]
    if request.state == engine.OPEN:
        return [Button(app.catalog.t(lang, "request.button.ack_id", id=request.id), "esc.ack", payload)]
    if request.state == engine.ACKNOWLEDGED:
        return [
            Button(app.catalog.t(lang, "request.button.resolve_id", id=request.id), "esc.resolve", payload)
        ]
    return []


async def show_pending(ctx: Context, page: int) -> None:
    """/pending: a page of waiting items, buttons for every item shown, and a button to the next page."""
    text, shown, total = await pending_text(ctx.app, ctx.person, ctx.now, page)
    buttons = [row for r in shown if (row := item_buttons(ctx.app, ctx.lang, r))]
    if total > (page + 1) * PAGE_SIZE:
        buttons.append([Button(ctx.t("request.button.more"), "request.pending_page", {"page": page + 1})])
    await ctx.reply(text, buttons)


async def mine_text(app: Core, person: Person) -> tuple[str, list[engine.Request]]:
    """My requests with their state, newest first."""
    lang = person.language
    async with app.db.read() as conn:
        own = await engine.list_for_requester(conn, person.id)
    if not own:
        return app.catalog.t(lang, "request.mine.none"), []
    lines = [app.catalog.t(lang, "request.mine.title")]
    for request in own:
        lines.append(
            app.catalog.t(
                lang,
                "request.mine.line",
                summary=summary(app, request, lang),
                state=state_label(app, lang, request.state),
            )
        )
    return "\n".join(lines), own
