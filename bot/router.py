"""The router: decides which handler gets an incoming message.

Order: a pressed button → its action; `/command` or a keyword (帮助, 打卡 …) → the command; the
person's open conversation → its step; anything else → the fallback (the handbook question).
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from bot import audit, buttons, org

if TYPE_CHECKING:
    from bot.context import Context
    from bot.conversations import ConversationState
    from bot.messages import Incoming

Handler = Callable[["Context"], Awaitable[None]]
ActionHandler = Callable[["Context", dict[str, Any]], Awaitable[None]]
StepHandler = Callable[["Context", "ConversationState"], Awaitable[None]]
FileHandler = Callable[["Context"], Awaitable[None]]

MAX_TEXT = 4096  # characters of one message a command or question may have

COMMAND_RE = re.compile(r"^[/／]([A-Za-z_][A-Za-z0-9_]*)(?:@\S+)?(?:\s+(.*))?$", re.S)
QUESTION_RE = re.compile(
    r"[?？]|[吗呢么]$|怎么|怎样|如何|什么|多少|多久|几点|几天|几次|几个|几小时|为什么|是否|能不能|可不可以|要不要|"
    r"哪些|哪个|哪天|谁|\b(how|what|when|why|which|who|can i|do i|is it)\b",
    re.I,
)


def looks_like_question(rest: str) -> bool:
    """ "请假要提前几天？" is a question about leave, not a leave request: it goes to the handbook."""
    return bool(QUESTION_RE.search(rest.strip()))


@dataclass(frozen=True)
class Command:
    name: str
    handler: Handler
    keywords: tuple[str, ...] = ()
    min_role: str = "agent"
    help_key: str | None = None
    personal: bool = False  # shows someone's data: in a group it is answered in the private chat
    order: int = 100
    takes_args: bool = False
    free_text: bool = False

    def accepts(self, rest: str) -> bool:
        """Whether a keyword followed by `rest` means this command rather than a question."""
        if self.free_text or not rest:
            return True
        return self.takes_args and not looks_like_question(rest)


@dataclass
class Router:
    commands: dict[str, Command] = field(default_factory=dict)
    keywords: dict[str, Command] = field(default_factory=dict)
    actions: dict[str, ActionHandler] = field(default_factory=dict)
    steps: dict[str, StepHandler] = field(default_factory=dict)
    fallback: Handler | None = None
    file_handler: FileHandler | None = None

    def command(
        self,
        name: str,
        *,
        keywords: tuple[str, ...] = (),
        min_role: str = "agent",
        help_key: str | None = None,
        personal: bool = False,
        order: int = 100,
        takes_args: bool = False,
        free_text: bool = False,
    ) -> Callable[[Handler], Handler]:
        def register(fn: Handler) -> Handler:
            cmd = Command(name, fn, keywords, min_role, help_key, personal, order, takes_args, free_text)
            if name in self.commands:
                raise ValueError(f"command /{name} registered twice")
            self.commands[name] = cmd
            for word in keywords:
                if word.lower() in self.keywords:
                    raise ValueError(f"keyword {word!r} registered twice")
                self.keywords[word.lower()] = cmd
            return fn

        return register

    def action(self, name: str) -> Callable[[ActionHandler], ActionHandler]:
        def register(fn: ActionHandler) -> ActionHandler:
            if name in self.actions:
                raise ValueError(f"action {name!r} registered twice")
            self.actions[name] = fn
            return fn

        return register

    def conversation(self, kind: str) -> Callable[[StepHandler], StepHandler]:
        def register(fn: StepHandler) -> StepHandler:
            self.steps[kind] = fn
            return fn

        return register

    def set_fallback(self, fn: Handler) -> Handler:
        self.fallback = fn
        return fn

    def set_file_handler(self, fn: FileHandler) -> FileHandler:
        self.file_handler = fn
        return fn

    def resolve(self, text: str) -> tuple[Command, str] | tuple[None, str] | None:
        """The command a text names with its arguments; (None, name) for an unknown /command;
        None when the text is not a command at all."""
        stripped = text.strip()
        match = COMMAND_RE.match(stripped)
        if match:
            name = match.group(1).lower()
            args = (match.group(2) or "").strip()
            cmd = self.commands.get(name)
            return (cmd, args) if cmd else (None, name)
        head, _, rest = stripped.partition(" ")
        cmd = self.keywords.get(head.lower())
        if cmd is not None and cmd.accepts(rest.strip()):
            return cmd, rest.strip()
        # Chinese is typed without spaces: "请假明天" or "查询晚班几点下班". Longest keyword first; a
        # command without arguments needs the keyword alone ("打卡时间是几点" is a question, not a punch).
        for word in sorted(self.keywords, key=len, reverse=True):
            if len(word) >= 2 and not word.isascii() and stripped.startswith(word):
                candidate, remainder = self.keywords[word], stripped[len(word) :].strip()
                if remainder and not candidate.takes_args and not candidate.free_text:
                    continue
                if candidate.accepts(remainder):
                    return candidate, remainder
        return None

    def visible_commands(self, role_rank: int, rank_of: Callable[[str], int]) -> list[Command]:
        shown = [c for c in self.commands.values() if c.help_key and role_rank >= rank_of(c.min_role)]
        return sorted(shown, key=lambda c: (c.order, c.name))

    # ----- matchers: who may, and where the answer goes, decided here rather than in each handler -----

    async def dispatch(self, ctx: Context) -> None:
        """Hand one message from a registered person to the handler it is for (the order is the
        module's docstring)."""
        incoming = ctx.incoming
        app = ctx.app
        if incoming.button_token is not None:
            await self.press(ctx, incoming.button_token)
            return
        if incoming.file is not None and self.file_handler is not None:
            if answered_privately(incoming):
                await ctx.go_private()
            await self.file_handler(ctx)
            return
        text = (incoming.text or "").strip()
        if not text:
            return
        if len(text) > MAX_TEXT:
            await ctx.reply(ctx.t("error.too_long", limit=MAX_TEXT))
            return
        resolved = self.resolve(text)
        if resolved is not None:
            command, args = resolved
            if command is None:
                if incoming.addressed_to_bot:
                    await ctx.reply(ctx.t("error.unknown_command", command="/" + args))
                return
            if not incoming.addressed_to_bot:
                return
            if not allowed(command, ctx.person.role, org.rank):
                await ctx.reply(ctx.t("error.not_allowed", role=ctx.t(f"common.role.{ctx.person.role}")))
                return
            if answered_privately(incoming, command):
                await ctx.go_private()
            ctx.args = args
            await command.handler(ctx)
            return
        async with app.db.read() as conn:
            state = await app.conversations.get(conn, ctx.person.id)
        # A form continues only where it was started (or in a private chat): chatter in a group is no answer.
        if state is not None and not incoming.is_private and state.chat_id != incoming.chat_id:
            state = None
        if state is not None:
            if state.expired(ctx.now) or state.kind not in self.steps:
                await ctx.end_conversation()
                await ctx.reply(ctx.t("conversation.expired"))
            else:
                if answered_privately(incoming):
                    await ctx.go_private()
                ctx.conversation = state
                await self.steps[state.kind](ctx, state)
                return
        if self.fallback is not None and (incoming.is_private or incoming.addressed_to_bot):
            ctx.args = text
            await self.fallback(ctx)

    async def press(self, ctx: Context, token: str) -> None:
        app = ctx.app
        if answered_privately(ctx.incoming):
            # The card stays in the group; what the press answers goes to the presser alone.
            await ctx.go_private(say_so=False)
        async with app.db.read() as conn:
            pressed = await buttons.lookup(conn, token)
        handler = self.actions.get(pressed.action) if pressed else None
        if pressed is None or handler is None:
            async with app.db.transaction() as conn:
                await audit.record(
                    conn,
                    at=ctx.now,
                    actor=ctx.person.id,
                    action="button.refused",
                    object_type="button",
                    object_id=token[:128],
                    after={"reason": "unknown token"},
                )
            await ctx.note(ctx.t("error.unknown_button"))
            return
        await handler(ctx, {**pressed.payload, "_message_id": pressed.message_id})


def allowed(command: Command, role: str, rank_of: Callable[[str], int]) -> bool:
    """The role matcher: the person's role is at least the command's."""
    return rank_of(role) >= rank_of(command.min_role)


def answered_privately(incoming: Incoming, command: Command | None = None) -> bool:
    """The privacy matcher: what is said in a group about someone's data is answered in their private chat.

    In a group that means a personal command, the next step of someone's form (it asks for dates,
    shifts, reasons) and a file (a roster import answers with names), and anything a button press
    answers (the card stays in the group; "already decided" and the like go to the presser)."""
    if incoming.is_private:
        return False
    if command is not None:
        return command.personal
    return True
