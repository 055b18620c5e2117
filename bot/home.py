"""A person's overview page ("Home"): features contribute sections, platforms decide how to show them.

Slack shows it in the App Home tab; another platform may show it on a command. Features register
`async fn(app, person) -> list[str]` under `app.services["home_sections"]`, each string one block of
catalog-translated text, so no feature needs to know which platform draws it.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from bot.messages import Person

if TYPE_CHECKING:
    from bot.app import App

log = logging.getLogger(__name__)

HomeSection = Callable[["App", Person], Awaitable[list[str]]]
SECTIONS_KEY = "home_sections"
REFRESH_KEY = "refresh_home"


def register_section(app: App, section: HomeSection) -> None:
    app.services.setdefault(SECTIONS_KEY, []).append(section)


async def collect(app: App, person: Person) -> list[str]:
    """Every registered section's blocks, in registration order; a failing section is left out
    (and logged) so one broken feature never blanks the whole page."""
    blocks: list[str] = []
    for section in list(app.services.get(SECTIONS_KEY, [])):
        try:
            produced = await section(app, person)
        except Exception:
            log.exception("home section %s failed for %s", getattr(section, "__name__", section), person.id)
            continue
        blocks.extend(text for text in produced if text and text.strip())
    return blocks


async def refresh(app: App, person_id: str) -> None:
    """Ask whichever platform shows a Home to redraw this person's; a no-op where none does."""
    hook: Callable[[str], Awaitable[None]] | None = app.services.get(REFRESH_KEY)
    if hook is not None:
        await hook(person_id)
