"""A small DingTalk Stream-mode client on aiohttp: no public URL, one outgoing WebSocket.

The protocol, as dingtalk-stream 0.24 speaks it: POST `/v1.0/gateway/connections/open` with the app's
client id and secret and the topics wanted; the answer names a WebSocket `endpoint` and a one-time `ticket`.
Every frame is JSON: `specVersion`, `type` (SYSTEM, EVENT or CALLBACK), `headers` (`topic`, `messageId`,
`contentType`, …) and `data` (a JSON string). Each frame is answered by an ack carrying its `messageId`:
`{"code": 200, "headers": {...}, "message": "OK", "data": "<json>"}`. A SYSTEM `ping` is answered by echoing
its data; a SYSTEM `disconnect` means the gateway is about to close this connection, so we open a new one.

Unlike the SDK, this client never blocks the event loop (no `requests`), never looks up the machine's IP
by connecting towards a public address, reads its endpoint from settings rather than the environment at
import, backs off between reconnects, and stops cleanly when asked. A CALLBACK is acked only after its
handler returned (the adapter stores it in the inbox first), so a crash before the ack means DingTalk
sends it again and nothing acknowledged is lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import aiohttp

from bot.adapters.bodies import nesting_depth

log = logging.getLogger(__name__)

OPEN_PATH = "/v1.0/gateway/connections/open"
ROBOT_TOPIC = "/v1.0/im/bot/messages/get"
CARD_TOPIC = "/v1.0/card/instances/callback"
SYSTEM, EVENT, CALLBACK = "SYSTEM", "EVENT", "CALLBACK"
PING, DISCONNECT = "ping", "disconnect"
JSON = "application/json"
USER_AGENT = "deskmate-dingtalk-stream/1"
HEARTBEAT_SECONDS = 30.0  # WebSocket pings of our own: a silently dead connection is noticed
BACKOFF_FIRST, BACKOFF_MAX = 1.0, 60.0
MAX_NESTING = 32  # DingTalk's frames nest a few levels; anything deeper is not one of them

# The handler of one CALLBACK: (topic, headers, data) -> the `response` to put in the ack.
Handler = Callable[[str, dict[str, Any], dict[str, Any]], Awaitable[dict[str, Any] | None]]


class StreamRefused(Exception):
    """The gateway refused the client id or secret: waiting will not help; the operator must act."""


@dataclass(frozen=True)
class Frame:
    type: str
    topic: str
    message_id: str
    headers: dict[str, Any]
    data: dict[str, Any]
    raw_data: str


def parse_frame(text: str) -> Frame | None:
    """A frame, or None for anything that is not one (logged by the caller, never acked)."""
    try:
        body = json.loads(text)
    except (ValueError, RecursionError):
        return None
    if not isinstance(body, dict) or not isinstance(body.get("headers"), dict):
        return None
    headers: dict[str, Any] = body["headers"]
    raw = body.get("data") or ""
    if not isinstance(raw, str):
        return None
    try:
        data = json.loads(raw) if raw else {}
    except (ValueError, RecursionError):
        return None
    if not isinstance(data, dict):
        data = {}
    if nesting_depth(data, MAX_NESTING) > MAX_NESTING:
        return None
    return Frame(
        str(body.get("type") or ""),
        str(headers.get("topic") or ""),
        str(headers.get("messageId") or ""),
        headers,
        data,
        raw,
    )


def ack(frame: Frame, *, data: str, code: int = 200, message: str = "OK") -> dict[str, Any]:
    return {
        "code": code,
        "headers": {"messageId": frame.message_id, "contentType": JSON},
        "message": message,
        "data": data,
    }


class StreamClient:
    """Keeps one Stream connection open until `stop` is set; hands each CALLBACK to `handler`."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        api_url: str,
        client_id: str,
        client_secret: str,
        handler: Handler,
        *,
        topics: tuple[str, ...] = (ROBOT_TOPIC, CARD_TOPIC),
        backoff_first: float = BACKOFF_FIRST,
        backoff_max: float = BACKOFF_MAX,
        heartbeat: float = HEARTBEAT_SECONDS,
    ) -> None:
        self.session = session
        self.api_url = api_url.rstrip("/")
        self.client_id = client_id
        self.client_secret = client_secret
        self.handler = handler
        self.topics = topics
        self.backoff_first = backoff_first
        self.backoff_max = backoff_max
        self.heartbeat = heartbeat
        self.connected = asyncio.Event()
        self.connections = 0  # how many times a WebSocket was opened (tests watch reconnects)
        self._socket: aiohttp.ClientWebSocketResponse | None = None

    async def open(self) -> tuple[str, str]:
        """(endpoint, ticket) from the gateway. Raises StreamRefused for bad credentials."""
        body = {
            "clientId": self.client_id,
            "clientSecret": self.client_secret,
            "subscriptions": [{"type": CALLBACK, "topic": topic} for topic in self.topics],
            "ua": USER_AGENT,
            "localIp": "",  # the gateway does not need it; the SDK's UDP probe of 8.8.8.8 is not done
        }
        headers = {"Accept": JSON, "User-Agent": USER_AGENT}
        async with self.session.post(self.api_url + OPEN_PATH, json=body, headers=headers) as response:
            text = await response.text()
            if response.status in (400, 401, 403):
                raise StreamRefused(f"HTTP {response.status} {_code_of(text)}".strip())
            response.raise_for_status()
        answer = json.loads(text)
        endpoint, ticket = answer.get("endpoint"), answer.get("ticket")
        if not isinstance(endpoint, str) or not isinstance(ticket, str) or not endpoint or not ticket:
            raise ValueError("connections/open answered without endpoint and ticket")
        return endpoint, ticket

    async def run(self, stop: asyncio.Event) -> None:
        """Connect, serve, and reconnect with backoff until `stop` is set. StreamRefused propagates."""
        delay = self.backoff_first
        while not stop.is_set():
            try:
                endpoint, ticket = await self.open()
                served = await self._serve(endpoint, ticket, stop)
                if served:
                    delay = self.backoff_first  # it worked for a while: the next attempt starts over
            except StreamRefused:
                raise
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("dingtalk stream: %s; reconnecting in %.0f s", type(exc).__name__, delay)
            finally:
                self.connected.clear()
                self._socket = None
            if stop.is_set():
                break
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), delay)
            delay = min(delay * 2, self.backoff_max)

    async def _serve(self, endpoint: str, ticket: str, stop: asyncio.Event) -> bool:
        """One connection, until it closes or `stop`; True when at least one frame was served."""
        served = False
        async with self.session.ws_connect(
            endpoint, params={"ticket": ticket}, heartbeat=self.heartbeat, autoping=True
        ) as socket:
            self._socket = socket
            self.connections += 1
            self.connected.set()
            stopper = asyncio.create_task(stop.wait())
            try:
                while True:
                    receive = asyncio.create_task(socket.receive())
                    done, _ = await asyncio.wait({receive, stopper}, return_when=asyncio.FIRST_COMPLETED)
                    if stopper in done:
                        receive.cancel()
                        with contextlib.suppress(asyncio.CancelledError, Exception):
                            await receive
                        break
                    message = receive.result()
                    if message.type != aiohttp.WSMsgType.TEXT:
                        break  # closed, closing or an error: reconnect
                    served = True
                    if not await self._frame(socket, str(message.data)):
                        break
            finally:
                stopper.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await stopper
        return served

    async def _frame(self, socket: aiohttp.ClientWebSocketResponse, text: str) -> bool:
        """Answer one frame; False when the gateway asked us to reconnect."""
        frame = parse_frame(text)
        if frame is None:
            log.warning("dingtalk stream: a frame that is not one (%d characters); ignored", len(text))
            return True
        if frame.type == SYSTEM:
            await socket.send_json(ack(frame, data=frame.raw_data))
            if frame.topic == DISCONNECT:
                log.info("dingtalk stream: the gateway asked for a new connection")
                return False
            return True
        if frame.type == CALLBACK:
            # No ack when the handler fails: DingTalk sends the frame again later.
            try:
                response = await self.handler(frame.topic, frame.headers, frame.data)
            except Exception:
                log.exception(
                    "dingtalk stream: %s frame %s not stored; left unacked", frame.topic, frame.message_id
                )
                return True
            await socket.send_json(ack(frame, data=json.dumps({"response": response or {}})))
            return True
        if frame.type == EVENT:  # not subscribed to; acked so the gateway does not resend it
            await socket.send_json(ack(frame, data=json.dumps({})))
            return True
        log.warning("dingtalk stream: a frame of unknown type %r; ignored", frame.type[:40])
        return True


def _code_of(text: str) -> str:
    try:
        body = json.loads(text)
    except ValueError:
        return ""
    return str(body.get("code") or "")[:80] if isinstance(body, dict) else ""
