"""Handbook questions: /rule (查询, 问) and any private message that is not a command.

Three replies, by the search's mode: "answer" cites the article (ref and chapter), trims long
text behind a "全文" button, offers the next two matches and 👍/👎 (one vote per person per
answer); "choice" asks "您是想问：" with the top three as buttons (pressing one shows it and
is stored as feedback); "none" says so, or whom to ask when the handbook names a department.
"""

from __future__ import annotations

import asyncio
import contextvars
import hashlib
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from bot.context import Context
from bot.inbox import NotReady
from bot.messages import Button
from bot.schema import kb_feedback

if TYPE_CHECKING:
    from bot.core import Core
    from knowledge.index import Hit, SearchResult
    from knowledge.model import Article
    from knowledge.service import KnowledgeService

log = logging.getLogger(__name__)

TRIM = 300
QUESTION_KEEP = 300
PREVIEW_ZH = 18  # characters of an article shown on a "您是想问" button
PREVIEW_EN = 40
# kb_feedback.vote: -1 / 1 a 👎 / 👍 on an answer, 0 a question nothing answered, 2 an article
# picked from a "您是想问" choice.
VOTE_NONE = 0
VOTE_CHOSEN = 2
_NOT_WORD = re.compile(r"[\W_]+")
KEY_LENGTH = 200  # kb_feedback.question_key


def learn_key(question: str) -> str:
    """What makes two questions "near-identical": the same words once width, traditional
    characters, case, spaces and punctuation are set aside (晚班几点下班？ = 晚班 几点下班)."""
    from knowledge.textnorm import normalize

    return _NOT_WORD.sub("", normalize(question))[:KEY_LENGTH]


def vote_key(person_id: str, key: str, ref: str) -> str:
    """kb_feedback.vote_key, unique: one 👍/👎 row per person, question key and article."""
    return hashlib.sha256(f"{person_id}\x1f{key}\x1f{ref}".encode()).hexdigest()[:40]


@dataclass(frozen=True)
class Learned:
    """An article people chose or 👍 for a question (``net``: distinct people for minus against)."""

    key: str
    question: str
    ref: str
    net: int
    people: int
    last: datetime


def knowledge_ready(app: Core) -> KnowledgeService:
    """The knowledge base for a chat handler: built already, or `NotReady` with its build started in
    a task of its own, so the inbox hands the update back rather than hold its transaction (and
    SQLite's write lock) open for the seconds, or cold minutes, a build takes."""
    if app.shared.kb is not None:
        return app.shared.kb
    building = app.shared.kb_building
    if building is None or building.done():
        building = asyncio.get_running_loop().create_task(knowledge(app), context=contextvars.Context())
        app.shared.kb_building = building
    raise NotReady(building)


async def knowledge(app: Core) -> KnowledgeService:
    """The live knowledge base, built once in a worker thread on first use."""
    if app.shared.kb is not None:
        return app.shared.kb
    async with app.shared.kb_lock:
        if app.shared.kb is None:
            from knowledge.service import KnowledgeService

            settings = app.settings
            paths = settings.handbook_files or None
            synonyms = [settings.synonyms_file] if settings.synonyms_file else []
            app.shared.kb = await KnowledgeService.acreate(
                paths,
                semantic=settings.kb_semantic,
                synonyms=synonyms,
                cache_dir=settings.kb_cache_dir / "kb",
            )
    return app.shared.kb


def _trim(text: str) -> tuple[str, bool]:
    if len(text) <= TRIM:
        return text, False
    return text[:TRIM].rstrip() + "…", True


def _hit_payload(hit: Hit) -> dict[str, str]:
    return {"ref": hit.ref, "doc": hit.doc}


def _preview(hit: Hit) -> str:
    """Title and first words of an article, for a choice button."""
    text = " ".join((hit.article.title + " " if hit.article.title else "").split() + hit.text.split())
    limit = PREVIEW_ZH if hit.article.lang == "zh" else PREVIEW_EN
    return text if len(text) <= limit else text[:limit].rstrip() + "…"


def _vote_row(ref: str, question: str) -> list[Button]:
    vote = {"ref": ref, "q": question[:QUESTION_KEEP]}
    return [
        Button("👍", "rule.vote", {**vote, "vote": 1}),
        Button("👎", "rule.vote", {**vote, "vote": -1}),
    ]


async def answer(ctx: Context, question: str) -> None:
    question = question.strip()
    if not question:
        await ctx.reply(ctx.t("rule.ask"))
        return
    kb = knowledge_ready(ctx.app)
    result: SearchResult = await kb.asearch(question, 3)
    taught = await learned(ctx.app, learn_key(question))
    hits = list(result.hits)
    if taught is not None:
        # People chose this article for this very question before: it comes first and is
        # answered, saying so (a lead removes a wrong pair with `deskmate kb feedback remove`).
        article = next((a for a in kb.index.articles if a.ref == taught.ref and a.lang == result.lang), None)
        if article is not None:
            from knowledge.index import Hit

            hits = [Hit(article, 1.0), *(h for h in hits if h.ref != article.ref)][:3]
    if (result.mode == "answer" or hits != list(result.hits)) and hits:
        best = hits[0]
        text, trimmed = _trim(best.text)
        body = ctx.t("rule.answer", ref=best.ref, chapter=best.chapter, text=text)
        if hits != list(result.hits):
            body += "\n" + ctx.t("rule.learned")
        rows: list[list[Button]] = []
        if trimmed:
            rows.append([Button(ctx.t("rule.button.full"), "rule.full", _hit_payload(best))])
        others = [
            Button(ctx.t("rule.button.other", ref=h.ref), "rule.full", _hit_payload(h)) for h in hits[1:3]
        ]
        if others:
            rows.append(others)
        rows.append(_vote_row(best.ref, question))
        await ctx.reply(body, rows)
        return
    if result.mode == "choice" and result.hits:
        choices = [
            [
                Button(
                    f"{h.ref} {_preview(h)}",
                    "rule.pick",
                    {**_hit_payload(h), "q": question[:QUESTION_KEEP]},
                )
            ]
            for h in result.hits[:3]
        ]
        await ctx.reply(ctx.t("rule.choice"), choices)
        return
    await record_feedback(ctx.app, ctx.person.id, question, None, VOTE_NONE, ctx.now)
    from knowledge import referrals

    refer = referrals.find(question, frozenset(a.ref for a in kb.index.articles))
    if refer is not None:
        await ctx.reply(ctx.t("rule.refer", ref=refer.ref, department=refer.department))
        return
    await ctx.reply(ctx.t("rule.not_found_plain"))


async def record_feedback(
    app: Core, person_id: str, question: str, ref: str | None, vote: int, now: datetime
) -> bool:
    """Store one feedback row; a person's 👍/👎 on one answer is one row (the unique vote key):
    the latest press replaces an earlier one. Returns False when the press repeated the vote
    already stored."""
    question = question[:1000]
    key = learn_key(question)
    values = {"at": now, "person_id": person_id, "question": question, "ref": ref, "vote": vote}
    values["question_key"] = key or None
    async with app.db.transaction() as conn:
        if vote not in (1, -1) or ref is None:
            await conn.execute(kb_feedback.insert().values(**values))
            return True
        values["vote_key"] = vote_key(person_id, key, ref)
        from sqlalchemy.dialects import postgresql, sqlite

        # ON CONFLICT on the unique vote key: two presses at once cannot both insert, and
        # repeating the stored vote changes no row (rowcount 0).
        dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
        statement: Any = dialect.insert(kb_feedback).values(**values)
        statement = statement.on_conflict_do_update(
            index_elements=[kb_feedback.c.vote_key],
            set_={"vote": statement.excluded.vote, "at": statement.excluded.at},
            where=kb_feedback.c.vote != statement.excluded.vote,
        )
        changed = (await conn.execute(statement)).rowcount
    return bool(changed)


def _best_pairs(rows: Sequence[Any]) -> list[Learned]:
    """Per question key, the article most distinct people chose or 👍 (minus those who 👎 it);
    a person's latest word counts, and pairs at zero or below are not learned."""
    votes: dict[tuple[str, str], dict[str, int]] = {}
    seen: dict[tuple[str, str], tuple[str, datetime]] = {}
    for row in rows:
        pair = (str(row.question_key), str(row.ref))
        person = votes.setdefault(pair, {})
        person[row.person_id] = 1 if row.vote in (1, VOTE_CHOSEN) else -1  # rows come oldest first
        if pair not in seen or row.at > seen[pair][1]:
            seen[pair] = (row.question, row.at)
    best: dict[str, Learned] = {}
    for (key, ref), people in votes.items():
        net = sum(people.values())
        if net <= 0 or not key:
            continue
        taught = Learned(key, seen[(key, ref)][0], ref, net, len(people), seen[(key, ref)][1])
        if key not in best or (taught.net, taught.last) > (best[key].net, best[key].last):
            best[key] = taught
    return sorted(best.values(), key=lambda p: (-p.net, p.key))


def _taught_rows(*where: Any) -> Any:
    return (
        sa.select(
            kb_feedback.c.person_id,
            kb_feedback.c.question,
            kb_feedback.c.question_key,
            kb_feedback.c.ref,
            kb_feedback.c.vote,
            kb_feedback.c.at,
        )
        .where(
            kb_feedback.c.ref.is_not(None),
            kb_feedback.c.vote != VOTE_NONE,
            kb_feedback.c.question_key.is_not(None),
            *where,
        )
        .order_by(kb_feedback.c.id)
    )


async def learned(app: Core, key: str) -> Learned | None:
    """The article people taught for this question key, read from the database (one indexed
    lookup), so every replica answers with what was learned on any of them, at once."""
    if not key:
        return None
    async with app.db.read() as conn:
        rows = (await conn.execute(_taught_rows(kb_feedback.c.question_key == key))).all()
    pairs = _best_pairs(rows)
    return pairs[0] if pairs else None


async def learned_pairs(app: Core) -> list[Learned]:
    """Every question -> article pair people taught, most supported first (reviewable)."""
    async with app.db.read() as conn:
        rows = (await conn.execute(_taught_rows())).all()
    return _best_pairs(rows)


async def forget(app: Core, key: str, ref: str, actor: str, now: datetime) -> int:
    """Remove what was learned for a question key and article (its picks and votes), audited."""
    async with app.db.transaction() as conn:
        where = (
            kb_feedback.c.question_key == key,
            kb_feedback.c.ref == ref,
            kb_feedback.c.vote != VOTE_NONE,
        )
        rows = (await conn.execute(sa.select(kb_feedback.c.id, kb_feedback.c.question).where(*where))).all()
        if rows:
            await conn.execute(kb_feedback.delete().where(kb_feedback.c.id.in_([r.id for r in rows])))
            await app.audit_in(
                conn,
                actor=actor,
                action="kb.forget",
                object_type="kb_feedback",
                object_id=f"{ref}:{key[:100]}",
                before={"rows": len(rows), "question": rows[0].question},
                after=None,
            )
    return len(rows)


async def reload_handbook(app: Core, t0: datetime, t1: datetime) -> None:
    """Scheduled: pick up an edited handbook without a restart; a bad file keeps the old index."""
    kb = app.shared.kb
    if kb is None:
        return
    result = await kb.areload_if_changed()
    if result.error:
        log.error("handbook not reloaded: %s", result.error)


def register(app: Core) -> None:
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
        found = await _article(ctx, payload)
        if found is not None:
            await ctx.reply(ctx.t("rule.answer", ref=found.ref, chapter=found.chapter, text=found.text))

    @router.action("rule.pick")
    async def pick(ctx: Context, payload: dict[str, Any]) -> None:
        """An article picked from "您是想问": shown in full, stored as what the question meant."""
        found = await _article(ctx, payload)
        if found is None:
            return
        question = str(payload.get("q", ""))
        await record_feedback(ctx.app, ctx.person.id, question, found.ref, VOTE_CHOSEN, ctx.now)
        await ctx.reply(
            ctx.t("rule.answer", ref=found.ref, chapter=found.chapter, text=found.text),
            [_vote_row(found.ref, question)],
        )

    @router.action("rule.vote")
    async def vote(ctx: Context, payload: dict[str, Any]) -> None:
        value = 1 if payload.get("vote") == 1 else -1
        stored = await record_feedback(
            ctx.app, ctx.person.id, str(payload.get("q", "")), str(payload.get("ref")), value, ctx.now
        )
        if not stored:
            await ctx.reply(ctx.t("rule.already_voted"))
            return
        await ctx.reply(ctx.t("rule.thanks_up" if value > 0 else "rule.thanks_down"))


async def _article(ctx: Context, payload: dict[str, Any]) -> Article | None:
    """The article a button points to, or None (and a reply) when the handbook no longer has it."""
    kb = knowledge_ready(ctx.app)
    found = next(
        (a for a in kb.index.articles if a.ref == payload.get("ref") and a.doc == payload.get("doc")),
        None,
    )
    if found is None:
        await ctx.reply(ctx.t("rule.gone"))
    return found
