"""Operations endpoints for the HTTP modes: GET /healthz (database reachable, scheduler alive) and
GET /metrics (Prometheus). Both adapters mount these on their aiohttp application."""

from __future__ import annotations

import asyncio
import json
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from aiohttp import web

from bot import inbox
from bot.metrics import CONTENT_TYPE

if TYPE_CHECKING:
    from bot.core import Core


async def health(app: Core) -> tuple[bool, dict[str, Any]]:
    try:
        async with asyncio.timeout(3):
            async with app.db.read() as conn:
                await conn.execute(sa.text("SELECT 1"))
        database = True
    except Exception:
        database = False
    alive = app.hooks.scheduler_alive
    scheduler = bool(alive()) if callable(alive) else False
    depth = await app.dispatcher.pending_count() if app.dispatcher is not None and database else None
    return database and scheduler, {"database": database, "scheduler": scheduler, "outbox_depth": depth}


def add_routes(web_app: web.Application, app: Core) -> None:
    async def healthz(_request: web.Request) -> web.Response:
        ok, body = await health(app)
        return web.Response(status=200 if ok else 503, text=json.dumps(body), content_type="application/json")

    async def metrics(_request: web.Request) -> web.Response:
        if app.dispatcher is not None:
            await app.dispatcher.pending_count()
        by_state = await inbox.counts(app.db)
        for state in (inbox.PENDING, inbox.DONE, inbox.PARKED):
            app.metrics.inbox_state.labels(state).set(by_state.get(state, 0))
        return web.Response(body=app.metrics.render(), headers={"Content-Type": CONTENT_TYPE})

    web_app.router.add_get("/healthz", healthz)
    web_app.router.add_get("/metrics", metrics)
