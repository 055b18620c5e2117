"""The request forms (swap, leave, escalation, missed punch) as one-screen forms where a platform can
show them (Slack modals with date pickers and member selects). Elsewhere the features ask step by step."""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING, Any

from bot import forms
from bot.context import Context
from bot.forms import Field, Form
from handlers import escalation, leave, missed, swap
from handlers.common import policy

if TYPE_CHECKING:
    from bot.app import App


def _day(value: str | None) -> date | None:
    try:
        return date.fromisoformat(value) if value else None
    except ValueError:
        return None


def leave_form(ctx: Context) -> Form:
    types = tuple((t.code, leave.leave_name(t, ctx.lang)) for t in policy(ctx.app).leave.types)
    return Form(
        "leave",
        ctx.t("form.leave.title"),
        ctx.t("form.submit"),
        (
            Field("type", ctx.t("form.leave.type"), "choice", choices=types),
            Field("start", ctx.t("form.leave.start"), "date"),
            Field("end", ctx.t("form.leave.end"), "date"),
            Field("reason", ctx.t("form.leave.reason"), "long_text"),
        ),
    )


def swap_form(ctx: Context) -> Form:
    return Form(
        "swap",
        ctx.t("form.swap.title"),
        ctx.t("form.submit"),
        (
            Field("day", ctx.t("form.swap.day"), "date"),
            Field("colleague", ctx.t("form.swap.colleague"), "person"),
            Field(
                "their_day",
                ctx.t("form.swap.their_day"),
                "date",
                required=False,
                hint=ctx.t("form.swap.their_day_hint"),
            ),
        ),
    )


def escalation_form(ctx: Context) -> Form:
    categories = tuple((c, ctx.t(f"esc.category.{c}")) for c in escalation.CATEGORIES)
    return Form(
        "escalation",
        ctx.t("form.esc.title"),
        ctx.t("form.submit"),
        (
            Field("category", ctx.t("form.esc.category"), "choice", choices=categories),
            Field("description", ctx.t("form.esc.description"), "long_text"),
            Field("order", ctx.t("form.esc.order"), "text", required=False),
            Field(
                "urgency",
                ctx.t("form.esc.urgency"),
                "choice",
                initial="normal",
                choices=(
                    ("normal", ctx.t("esc.button.normal")),
                    ("emergency", ctx.t("esc.button.emergency")),
                ),
            ),
        ),
    )


def missed_form(ctx: Context) -> Form:
    return Form(
        "missed",
        ctx.t("form.missed.title"),
        ctx.t("form.submit"),
        (
            Field("day", ctx.t("form.missed.day"), "date"),
            Field(
                "punch",
                ctx.t("form.missed.punch"),
                "choice",
                choices=(("in", ctx.t("missed.kind.clock_in")), ("out", ctx.t("missed.kind.clock_out"))),
            ),
            Field("time", ctx.t("form.missed.time"), "text", hint="08:58"),
            Field("reason", ctx.t("form.missed.reason"), "text"),
        ),
    )


async def submit_leave(
    ctx: Context, values: dict[str, str], payload: dict[str, Any]
) -> dict[str, str] | None:
    leave_type = policy(ctx.app).leave.leave_type(values.get("type", ""))
    start, end = _day(values.get("start")), _day(values.get("end"))
    problems = {}
    if leave_type is None:
        problems["type"] = ctx.t("form.problem.choose")
    if start is None:
        problems["start"] = ctx.t("form.problem.date")
    if end is None:
        problems["end"] = ctx.t("form.problem.date")
    if problems or leave_type is None or start is None or end is None:
        return problems
    await leave.create_leave(ctx, leave_type, start, end, values.get("reason", "").strip() or "-")
    return None


async def submit_swap(ctx: Context, values: dict[str, str], payload: dict[str, Any]) -> dict[str, str] | None:
    day = _day(values.get("day"))
    their_day = _day(values.get("their_day")) or day
    if day is None:
        return {"day": ctx.t("form.problem.date")}
    if not values.get("colleague"):
        return {"colleague": ctx.t("form.problem.choose")}
    await swap.create_swap(ctx, swap.SWAP, values["colleague"], day, their_day)
    return None


async def submit_escalation(
    ctx: Context, values: dict[str, str], payload: dict[str, Any]
) -> dict[str, str] | None:
    if not values.get("description", "").strip():
        return {"description": ctx.t("form.problem.required")}
    await escalation.create(
        ctx,
        {
            "category": values.get("category") or "other",
            "description": values["description"].strip(),
            "order": values.get("order") or None,
            "emergency": values.get("urgency") == "emergency",
        },
    )
    return None


async def submit_missed(
    ctx: Context, values: dict[str, str], payload: dict[str, Any]
) -> dict[str, str] | None:
    if _day(values.get("day")) is None:
        return {"day": ctx.t("form.problem.date")}
    punch, at = values.get("punch", "in"), values.get("time", "").strip()
    ctx.args = f"{values['day']} {punch} {at} {values.get('reason', '-')}"
    await missed.missed_punch(ctx)
    return None


def register(app: App) -> None:
    forms.register(app, "leave", submit_leave)
    forms.register(app, "swap", submit_swap)
    forms.register(app, "escalation", submit_escalation)
    forms.register(app, "missed", submit_missed)
