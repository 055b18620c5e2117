"""The assembly: which features make up the bot. Only the entry points build an `App` (the command
line, each platform's runner); features, adapters and core modules receive the `Core`.
"""

from __future__ import annotations

import importlib

from bot import housekeeping
from bot.clock import Clock
from bot.core import Core, table_count
from bot.i18n import Catalog
from bot.settings import Settings

__all__ = ["FEATURES", "App", "table_count"]

FEATURES = (
    "handlers.help",
    "handlers.requests",
    "handlers.clock",
    "handlers.shifts",
    "handlers.missed",
    "handlers.corrections",
    "handlers.roster",
    "handlers.publish",
    "handlers.swap",
    "handlers.leave",
    "handlers.cancel",
    "handlers.escalation",
    "handlers.overtime",
    "handlers.rules",
    "handlers.blocked",
)


class App(Core):
    """The core with the department's features registered (all of them unless a test names some)."""

    def __init__(
        self,
        settings: Settings,
        *,
        clock: Clock | None = None,
        catalog: Catalog | None = None,
        features: tuple[str, ...] = FEATURES,
    ) -> None:
        super().__init__(settings, clock=clock, catalog=catalog)
        housekeeping.register(self)
        for name in features:
            importlib.import_module(name).register(self)
