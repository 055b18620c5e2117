"""Forms: a platform-neutral description of a few fields to fill in at once.

A feature describes the form (text, date, person, choice) and registers what to do with the answers;
`offer` shows it where the platform can (a Slack modal with date pickers and member selects) and
returns False elsewhere, where the feature keeps its step-by-step conversation. Answers arrive as
plain strings: ISO dates, person ids, choice values.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from bot.context import Context
from bot.messages import Incoming

if TYPE_CHECKING:
    from bot.core import Core

log = logging.getLogger(__name__)

FieldKind = Literal["text", "long_text", "date", "person", "choice"]
# Returns None when the answers are accepted, else {field name: catalog-translated problem}.
FormHandler = Callable[[Context, dict[str, str], dict[str, Any]], Awaitable[dict[str, str] | None]]
FormOpener = Callable[[Context, "Form"], Awaitable[bool]]


@dataclass(frozen=True)
class Field:
    name: str
    label: str
    kind: FieldKind = "text"
    required: bool = True
    choices: tuple[tuple[str, str], ...] = ()  # (value, label) for kind="choice"
    initial: str | None = None  # ISO date, person id, choice value or text
    hint: str | None = None


@dataclass(frozen=True)
class Form:
    kind: str  # names the handler registered with `register`
    title: str
    submit: str
    fields: tuple[Field, ...]
    payload: dict[str, Any] = field(default_factory=dict)  # handed back to the handler untouched


def register(app: Core, kind: str, handler: FormHandler) -> None:
    handlers = app.hooks.form_handlers
    if kind in handlers:
        raise ValueError(f"form {kind!r} registered twice")
    handlers[kind] = handler


async def offer(ctx: Context, form: Form) -> bool:
    """Show the form if this platform, for this message, can; False means ask step by step."""
    opener = ctx.app.hooks.open_form
    if opener is None or form.kind not in ctx.app.hooks.form_handlers:
        return False
    return await opener(ctx, form)


async def submit(
    app: Core, incoming: Incoming, kind: str, values: dict[str, str], payload: dict[str, Any]
) -> dict[str, str] | None:
    """Hand the answers to the form's handler as the person who filled it in."""
    handler = app.hooks.form_handlers.get(kind)
    if incoming.person is None or handler is None:
        return None
    ctx = Context(app, incoming, incoming.person)
    try:
        return await handler(ctx, values, payload)
    except Exception:
        from bot.core import error_code

        code = error_code()
        log.exception("[%s] form %s from %s failed", code, kind, incoming.person.id)
        await ctx.reply(ctx.t("error.internal", code=code))
        return None
