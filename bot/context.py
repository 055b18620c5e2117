"""What a handler gets: the person, the message, and ways to answer, all platform-neutral."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy.ext.asyncio import AsyncConnection

from bot import outbox
from bot.conversations import ConversationState
from bot.messages import Button, FileOut, Incoming, Outgoing, Person

if TYPE_CHECKING:
    from bot.core import Core


@dataclass
class Context:
    app: Core
    incoming: Incoming
    person: Person
    args: str = ""
    conversation: ConversationState | None = None
    # Set by the router's privacy matcher: answers go to the person's private chat even from a group.
    private: bool = False

    @property
    def lang(self) -> str:
        return self.person.language

    @property
    def now(self) -> datetime:
        return self.incoming.at

    def t(self, key: str, **fields: Any) -> str:
        return self.app.catalog.t(self.lang, key, **fields)

    def reply_to(self) -> dict[str, str | None]:
        """Private chats answer the person (any platform); groups answer in the group, unless the
        router made this answer private."""
        if self.incoming.is_private or self.private:
            return {"to_person": self.person.id, "to_chat": None}
        return {"to_person": None, "to_chat": self.incoming.chat_id}

    async def note(self, text: str) -> None:
        """A short notice for the sender alone ("already decided"): in a group it is never posted
        there, but shown as the platform's own private notice (Telegram's answer to the press,
        Slack's ephemeral message) or, lacking one, sent to their private chat."""
        incoming = self.incoming
        if incoming.is_private:
            await self.send(Outgoing(text=text, to_person=self.person.id))
        elif incoming.press_notes is not None:
            incoming.press_notes.append(text)
        elif incoming.note_chat is not None:
            await self.send(Outgoing(text=text, to_chat=incoming.note_chat))
        else:
            await self.send(Outgoing(text=text, to_person=self.person.id))

    async def go_private(self, *, say_so: bool = True) -> None:
        """From now on answer in the private chat; in the group say (briefly, in the sender's language)
        where the answer went."""
        if self.incoming.is_private or self.private:
            return
        self.private = True
        if say_so:
            where = self.incoming.note_chat or self.incoming.chat_id
            await self.send(Outgoing(text=self.t("privacy.sent_privately"), to_chat=where))

    def answer(
        self, text: str, buttons: list[list[Button]] | None = None, file: FileOut | None = None
    ) -> Outgoing:
        """Build (not send) a reply; send it with `send` or inside your own transaction."""
        target = self.reply_to()
        return Outgoing(
            text=text,
            buttons=buttons or [],
            file=file,
            to_person=target["to_person"],
            to_chat=target["to_chat"],
        )

    async def reply(
        self, text: str, buttons: list[list[Button]] | None = None, file: FileOut | None = None
    ) -> Outgoing:
        out = self.answer(text, buttons, file)
        await self.send(out)
        return out

    async def send(self, *messages: Outgoing, conn: AsyncConnection | None = None) -> None:
        """Queue messages; pass `conn` to make them part of the caller's state change."""
        if conn is not None:
            for message in messages:
                await outbox.enqueue(conn, message, self.now)
            return
        async with self.app.db.transaction() as own:
            for message in messages:
                await outbox.enqueue(own, message, self.now)

    async def start_conversation(
        self, kind: str, step: str, data: dict[str, Any] | None = None, *, conn: AsyncConnection | None = None
    ) -> ConversationState:
        async def save(c: AsyncConnection) -> ConversationState:
            return await self.app.conversations.save(
                c,
                person_id=self.person.id,
                chat_id=self.incoming.chat_id,
                kind=kind,
                step=step,
                data=data or {},
                now=self.now,
            )

        if conn is not None:
            return await save(conn)
        async with self.app.db.transaction() as own:
            return await save(own)

    async def end_conversation(self, *, conn: AsyncConnection | None = None) -> None:
        if conn is not None:
            await self.app.conversations.end(conn, self.person.id)
            return
        async with self.app.db.transaction() as own:
            await self.app.conversations.end(own, self.person.id)
