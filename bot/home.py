"""A person's overview page ("Home"): features contribute sections, platforms decide how to show them.

Slack shows it in the App Home tab; another platform may show it on a command. Features register
`async fn(app, person) -> list[str]` in `app.hooks.home_sections`, each string one block of
catalog-translated text, so no feature needs to know which platform draws it.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from bot.messages import Person

if TYPE_CHECKING:
    from bot.core import Core

log = logging.getLogger(__name__)

HomeSection = Callable[["Core", Person], Awaitable[list[str]]]


def register_section(app: Core, section: HomeSection) -> None:
    app.hooks.home_sections.append(section)


async def collect(app: Core, person: Person) -> list[str]:
    """Every registered section's blocks, in registration order; a failing section is left out
    (and logged) so one broken feature never blanks the whole page."""
    blocks: list[str] = []
    for section in list(app.hooks.home_sections):
        try:
            produced = await section(app, person)
        except Exception:
            log.exception("home section %s failed for %s", getattr(section, "__name__", section), person.id)
            continue
        blocks.extend(text for text in produced if text and text.strip())
    return blocks


async def refresh(app: Core, person_id: str) -> None:
    """Ask whichever platform shows a Home to redraw this person's; a no-op where none does."""
    hook = app.hooks.refresh_home
    if hook is not None:
        await hook(person_id)
