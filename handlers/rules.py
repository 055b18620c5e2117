"""Handbook questions: /rule (查询, 问) and any private message that is not a command.

The answer cites the article (ref and chapter), trims long text behind a "全文" button, offers the
next two matches and 👍/👎 buttons whose votes are stored for whoever maintains the handbook.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime
from typing import TYPE_CHECKING, Any

from bot.context import Context
from bot.messages import Button
from bot.schema import kb_feedback

if TYPE_CHECKING:
    from bot.app import App
    from knowledge.index import Hit, SearchResult
    from knowledge.service import KnowledgeService

log = logging.getLogger(__name__)

TRIM = 300
QUESTION_KEEP = 300


async def knowledge(app: App) -> KnowledgeService:
    """The live knowledge base, built once in a worker thread on first use."""
    existing = app.services.get("kb")
    if existing is not None:
        return existing  # type: ignore[no-any-return]
    lock: asyncio.Lock = app.services.setdefault("kb_lock", asyncio.Lock())
    async with lock:
        if "kb" not in app.services:
            from knowledge.service import KnowledgeService

            settings = app.settings
            paths = settings.handbook_files or None
            synonyms = [settings.synonyms_file] if settings.synonyms_file else []
            app.services["kb"] = await KnowledgeService.acreate(
                paths,
                semantic=settings.kb_semantic,
                synonyms=synonyms,
                cache_dir=settings.kb_cache_dir / "kb",
            )
    return app.services["kb"]  # type: ignore[no-any-return]


def _trim(text: str) -> tuple[str, bool]:
    if len(text) <= TRIM:
        return text, False
    return text[:TRIM].rstrip() + "…", True


def _hit_payload(hit: Hit) -> dict[str, str]:
    return {"ref": hit.ref, "doc": hit.doc}


async def answer(ctx: Context, question: str) -> None:
    question = question.strip()
    if not question:
        await ctx.reply(ctx.t("rule.ask"))
        return
    kb = await knowledge(ctx.app)
    result: SearchResult = await kb.asearch(question, 3)
    if result.answered and result.hits:
        best = result.hits[0]
        text, trimmed = _trim(best.text)
        body = ctx.t("rule.answer", ref=best.ref, chapter=best.chapter, text=text)
        rows: list[list[Button]] = []
        if trimmed:
            rows.append([Button(ctx.t("rule.button.full"), "rule.full", _hit_payload(best))])
        others = [
            Button(ctx.t("rule.button.other", ref=h.ref), "rule.full", _hit_payload(h))
            for h in result.hits[1:3]
        ]
        if others:
            rows.append(others)
        vote = {"ref": best.ref, "q": question[:QUESTION_KEEP]}
        rows.append(
            [
                Button("👍", "rule.vote", {**vote, "vote": 1}),
                Button("👎", "rule.vote", {**vote, "vote": -1}),
            ]
        )
        await ctx.reply(body, rows)
        return
    await record_feedback(ctx.app, ctx.person.id, question, None, 0, ctx.now)
    suggestions = [
        [Button(ctx.t("rule.button.other", ref=h.ref), "rule.full", _hit_payload(h))] for h in result.hits[:3]
    ]
    await ctx.reply(ctx.t("rule.not_found" if suggestions else "rule.not_found_plain"), suggestions)


async def record_feedback(
    app: App, person_id: str, question: str, ref: str | None, vote: int, now: datetime
) -> None:
    async with app.db.transaction() as conn:
        await conn.execute(
            kb_feedback.insert().values(
                at=now, person_id=person_id, question=question[:1000], ref=ref, vote=vote
            )
        )


async def reload_handbook(app: App, t0: datetime, t1: datetime) -> None:
    """Scheduled: pick up an edited handbook without a restart; a bad file keeps the old index."""
    kb = app.services.get("kb")
    if kb is None:
        return
    result = await kb.areload_if_changed()
    if result.error:
        log.error("handbook not reloaded: %s", result.error)


def register(app: App) -> None:
    router = app.router
    app.ticks.register("handbook_reload", reload_handbook)

    @router.command(
        "rule", keywords=("查询", "问", "制度"), help_key="help.desc.rule", order=20, free_text=True
    )
    async def rule(ctx: Context) -> None:
        await answer(ctx, ctx.args)

    @router.set_fallback
    async def question(ctx: Context) -> None:
        await answer(ctx, ctx.args)

    @router.action("rule.full")
    async def full(ctx: Context, payload: dict[str, Any]) -> None:
        kb = await knowledge(ctx.app)
        found = next(
            (a for a in kb.index.articles if a.ref == payload.get("ref") and a.doc == payload.get("doc")),
            None,
        )
        if found is None:
            await ctx.reply(ctx.t("rule.gone"))
            return
        await ctx.reply(ctx.t("rule.answer", ref=found.ref, chapter=found.chapter, text=found.text))

    @router.action("rule.vote")
    async def vote(ctx: Context, payload: dict[str, Any]) -> None:
        value = 1 if payload.get("vote") == 1 else -1
        await record_feedback(
            ctx.app, ctx.person.id, str(payload.get("q", "")), str(payload.get("ref")), value, ctx.now
        )
        await ctx.reply(ctx.t("rule.thanks_up" if value > 0 else "rule.thanks_down"))
