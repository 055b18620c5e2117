"""Alembic environment: always runs on a connection handed over by `bot.migrate`."""

from __future__ import annotations

from alembic import context

from bot.schema import metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations with `deskmate db upgrade`, which provides the connection")

context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
