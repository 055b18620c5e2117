"""Runs the Alembic migrations on a connection we own, so it works inside a running event loop."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection

from bot.db import Database

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def _config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["connection"] = connection
    return config


def _upgrade(connection: Connection, revision: str) -> None:
    command.upgrade(_config(connection), revision)


def _current(connection: Connection) -> str | None:
    from alembic.runtime.migration import MigrationContext

    return MigrationContext.configure(connection).get_current_revision()


async def upgrade(db: Database, revision: str = "head") -> str | None:
    """Bring the schema to `revision`; returns the revision it ends at. A schema already at head is only
    looked at: Alembic's upgrade would load and compile every migration script again to do nothing."""
    if revision == "head":
        async with db.engine.connect() as conn:
            current = await conn.run_sync(_current)
        if current is not None and current == head_revision():
            return current
    async with db.engine.begin() as conn:
        await conn.run_sync(_upgrade, revision)
    async with db.engine.connect() as conn:
        return await conn.run_sync(_current)


@cache
def head_revision() -> str | None:
    """The newest revision of the scripts shipped with this code (read once: they do not change)."""
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(_config()).get_current_head()
