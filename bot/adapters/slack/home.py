"""The App Home tab: the person's overview from `bot.home` sections, plus what they can type.

Drawn from the same platform-neutral sections any platform could show, so a feature adds to the
Home without knowing Slack exists.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from bot import home, org
from bot.adapters.slack import blocks
from bot.messages import Person

if TYPE_CHECKING:
    from bot.core import Core

HOME_COMMANDS = ("help", "whoami", "lang")  # quick buttons, when those commands exist
MAX_HOME_BLOCKS = 100
HEADER_LIMIT = 150


def _section(text: str) -> list[dict[str, Any]]:
    return blocks.text_sections(text)


async def view(app: Core, person: Person, now: datetime) -> dict[str, Any]:
    t = app.catalog.t
    lang = person.language
    async with app.db.read() as conn:
        team = await app.directory.team(conn, person.team) if person.team else None
    team_name = t(lang, "common.none")
    if team is not None:
        team_name = (team.name_en or team.name) if lang == "en" else team.name
    out: list[dict[str, Any]] = [
        {
            "type": "header",
            "text": {
                "type": "plain_text",
                "text": t(lang, "slack.home.title", name=person.name)[:HEADER_LIMIT],
            },
        },
        {
            "type": "context",
            "elements": [
                {
                    "type": "mrkdwn",
                    "text": blocks.escape(
                        t(
                            lang,
                            "slack.home.subtitle",
                            role=t(lang, f"common.role.{person.role}"),
                            team=team_name,
                            time=now.astimezone(app.tz).strftime("%Y-%m-%d %H:%M"),
                        )
                    ),
                }
            ],
        },
        {"type": "divider"},
    ]
    sections = await home.collect(app, person)
    if not sections:
        out.extend(_section(t(lang, "slack.home.empty")))
    for text in sections:
        out.extend(_section(text))
        out.append({"type": "divider"})
    commands = app.router.visible_commands(org.rank(person.role), org.rank)
    if commands:
        lines = [t(lang, "slack.home.commands")]
        for command in commands:
            assert command.help_key is not None
            lines.append(t(lang, "slack.home.command", command=command.name, text=t(lang, command.help_key)))
        out.extend(_section("\n".join(lines)))
    quick = [
        {
            "type": "button",
            "text": {"type": "plain_text", "text": t(lang, f"slack.home.button.{name}")},
            "value": name,
            "action_id": blocks.HOME_ACTION_PREFIX + name,
        }
        for name in HOME_COMMANDS
        if name in app.router.commands
    ]
    if quick:
        out.append({"type": "actions", "block_id": "deskmate.home.quick", "elements": quick})
    return {"type": "home", "blocks": out[:MAX_HOME_BLOCKS]}


def unregistered_view(app: Core, user_id: str) -> dict[str, Any]:
    lang = app.settings.default_language
    text = app.catalog.t(lang, "error.unregistered", sender=f"slack:{user_id}")
    return {"type": "home", "blocks": _section(text)}
