"""/help, /whoami, /lang and /cancel: what every person can do from the first day."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot import audit, org
from bot.context import Context
from bot.conversations import ConversationState
from bot.i18n import normalise_language
from bot.messages import Button, Person

if TYPE_CHECKING:
    from bot.core import Core

LANG_CHOICES = {
    "zh": "zh-CN",
    "zh-cn": "zh-CN",
    "中文": "zh-CN",
    "cn": "zh-CN",
    "en": "en",
    "english": "en",
    "英文": "en",
}


def help_text(app: Core, person: Person) -> str:
    t = app.catalog.t
    lines = [t(person.language, "help.title", name=person.name)]
    for command in app.router.visible_commands(org.rank(person.role), org.rank):
        keyword = next((k for k in command.keywords if not k.isascii()), None) or "/" + command.name
        assert command.help_key is not None
        lines.append(
            t(
                person.language,
                "help.line",
                command="/" + command.name,
                keyword=keyword,
                description=t(person.language, command.help_key),
            )
        )
    lines.append(t(person.language, "help.footer"))
    return "\n".join(lines)


def parse_language(value: str) -> str | None:
    return LANG_CHOICES.get(value.strip().lower())


async def set_language(ctx: Context, language: str) -> None:
    async with ctx.app.db.transaction() as conn:
        before = await ctx.app.directory.set_language(conn, ctx.person.id, language)
        await audit.record(
            conn,
            at=ctx.now,
            actor=ctx.person.id,
            action="person.language",
            object_type="person",
            object_id=ctx.person.id,
            before=before,
            after=language,
        )
        await ctx.app.conversations.end(conn, ctx.person.id)
        text = ctx.app.catalog.t(language, "lang.set")
        await ctx.send(ctx.answer(text), conn=conn)


def language_buttons(ctx: Context) -> list[list[Button]]:
    return [
        [
            Button(ctx.t("lang.button.zh"), "lang.set", {"language": "zh-CN"}),
            Button(ctx.t("lang.button.en"), "lang.set", {"language": "en"}),
        ]
    ]


def register(app: Core) -> None:
    router = app.router

    # A greeting alone is how many people open a chat: it gets the menu, not "no regulation found".
    greetings = ("你好", "您好", "在吗", "hi", "hello", "hey")

    @router.command("help", keywords=("帮助", "help", "菜单", *greetings), help_key="help.desc.help", order=0)
    async def show_help(ctx: Context) -> None:
        await ctx.reply(help_text(ctx.app, ctx.person))

    @router.command("whoami", keywords=("我是谁",), help_key="help.desc.whoami", order=1, personal=True)
    async def whoami(ctx: Context) -> None:
        p = ctx.person
        team_name = ctx.t("common.none")
        if p.team:
            async with ctx.app.db.read() as conn:
                team = await ctx.app.directory.team(conn, p.team)
            if team:
                team_name = (team.name_en or team.name) if ctx.lang == "en" else team.name
        none = ctx.t("common.none")
        await ctx.reply(
            ctx.t(
                "whoami.text",
                name=p.name,
                id=p.id,
                role=ctx.t(f"common.role.{p.role}"),
                team=team_name,
                language=p.language,
                telegram=p.telegram or none,
                slack=p.slack or none,
                feishu=p.feishu or none,
                dingtalk=p.dingtalk or none,
            )
        )

    @router.command(
        "lang", keywords=("语言", "language"), help_key="help.desc.lang", order=2, takes_args=True
    )
    async def lang(ctx: Context) -> None:
        if not ctx.args:
            await ctx.start_conversation("lang", "choose")
            await ctx.reply(ctx.t("lang.ask"), language_buttons(ctx))
            return
        language = parse_language(ctx.args)
        if language is None:
            await ctx.reply(ctx.t("lang.bad", value=ctx.args[:40]), language_buttons(ctx))
            return
        await set_language(ctx, language)

    @router.conversation("lang")
    async def lang_step(ctx: Context, state: ConversationState) -> None:
        text = (ctx.incoming.text or "").strip()
        language = parse_language(text)
        if language is None:
            await ctx.reply(ctx.t("lang.bad", value=text[:40]), language_buttons(ctx))
            return
        await set_language(ctx, language)

    @router.action("lang.set")
    async def lang_pressed(ctx: Context, payload: dict[str, object]) -> None:
        await set_language(ctx, normalise_language(str(payload.get("language")), ctx.lang))

    @router.command("cancel", keywords=("取消",), help_key="help.desc.cancel", order=99)
    async def cancel(ctx: Context) -> None:
        async with ctx.app.db.transaction() as conn:
            ended = await ctx.app.conversations.end(conn, ctx.person.id)
        await ctx.reply(ctx.t("common.cancelled" if ended else "common.nothing_to_cancel"))
