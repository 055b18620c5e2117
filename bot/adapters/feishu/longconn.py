"""The long connection: lark-oapi's WebSocket client in a thread and an event loop of its own.

lark-oapi 1.7 takes a module-level event loop when `lark_oapi.ws.client` is imported and drives `start()`
with `run_until_complete`, so `start()` fails inside a running loop and never returns (the SDK's issues
#96, #119, #133). Here the SDK is imported in its own thread, its module-level loop is pointed at that
thread's new loop, and the connection is driven with the client's own coroutines (`_connect`, the ping
loop, its reconnect) instead of `start()`, so that `stop()` can end it cleanly. The SDK's frame protocol,
endpoint discovery, ping and reconnect are all the SDK's.

Each event frame is handed to the main loop with `run_coroutine_threadsafe` and the SDK's thread waits for
the inbox commit: the SDK answers the frame only after the event is stored (a failure answers 500 and
Feishu sends it again). One process runs one long connection (the module-level loop is shared).

Credentials refused while reconnecting (the app secret was reset, the app disabled, too many connections):
the SDK's `_reconnect` raises its ClientException out of a task nobody awaits, so the connection would stay
down in silence. Here each refusal is logged as an error naming Feishu's code and message (never the secret)
and tried again with a doubling pause, `REFUSED_TRIES` times in all (about 10 minutes: an app re-enabled
meanwhile comes back by itself); then the connection ends with ConnectionRefused, which `deskmate feishu`
turns into one line and exit code 2: a new secret is only read at start, so a restart is what fixes it.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import json
import logging
import threading
from collections.abc import Callable, Coroutine
from typing import Any

log = logging.getLogger("deskmate.feishu")

EventHandler = Callable[[dict[str, Any]], Coroutine[Any, Any, dict[str, Any]]]
STORE_TIMEOUT = 30.0
REFUSED_TRIES = 8  # reconnects refused in a row before giving up
REFUSED_PAUSE_FIRST, REFUSED_PAUSE_MAX = 5.0, 160.0  # 5, 10, 20 … 160 s: about 10 minutes in all


class ConnectionRefused(Exception):
    """Feishu refused the app's credentials (or the connection limit): retrying will not help."""


class _Events:
    """What the SDK's client calls for each event frame (its EventDispatcherHandler's one method used)."""

    def __init__(self, handler: EventHandler, main_loop: asyncio.AbstractEventLoop) -> None:
        self.handler = handler
        self.main_loop = main_loop

    def _do_without_validation(self, payload: bytes) -> Any:
        data = json.loads(payload)
        if not isinstance(data, dict):
            return None
        stored: concurrent.futures.Future[dict[str, Any]] = asyncio.run_coroutine_threadsafe(
            self.handler(data), self.main_loop
        )
        answer = stored.result(timeout=STORE_TIMEOUT)  # raises: the SDK answers 500, Feishu resends
        return answer or None


class LongConnection:
    """Runs the SDK's WebSocket client until `stop()`; `connects` counts successful connections."""

    def __init__(
        self,
        app_id: str,
        app_secret: str,
        base_url: str,
        handler: EventHandler,
        *,
        refused_tries: int | None = None,
        refused_pause: tuple[float, float] | None = None,
    ) -> None:
        self.app_id = app_id
        self.app_secret = app_secret
        self.base_url = base_url.rstrip("/")
        self.handler = handler
        self.refused_tries = refused_tries or REFUSED_TRIES
        self.refused_pause = refused_pause or (REFUSED_PAUSE_FIRST, REFUSED_PAUSE_MAX)
        self.connects = 0
        self.connected = threading.Event()
        self.refusals = 0  # reconnects refused in a row (0 once connected again)
        self.error: BaseException | None = None
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None
        self._done = threading.Event()

    def start(self) -> None:
        main_loop = asyncio.get_running_loop()
        self._thread = threading.Thread(target=self._run, args=(main_loop,), name="feishu-ws", daemon=True)
        self._thread.start()

    async def wait_started(self) -> None:
        """Until the first connection is up, or raise what stopped it."""
        while not self.connected.is_set():
            if self._done.is_set():
                raise self.error or ConnectionRefused("the long connection ended before it connected")
            await asyncio.sleep(0.05)

    async def run_until(self, stop: asyncio.Event) -> None:
        """Serve until `stop` is set, then stop cleanly; raise what ended the connection by itself."""
        waiter = asyncio.create_task(stop.wait())
        ended = asyncio.create_task(asyncio.to_thread(self._done.wait))
        await asyncio.wait({waiter, ended}, return_when=asyncio.FIRST_COMPLETED)
        waiter.cancel()
        await self.stop()
        ended.cancel()
        if self.error is not None and not stop.is_set():
            raise self.error

    async def stop(self, timeout: float = 5.0) -> None:  # noqa: ASYNC109 (bounds the thread's join)
        loop, stopping = self._loop, self._stopping
        if loop is not None and stopping is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                loop.call_soon_threadsafe(stopping.set)
        if self._thread is not None:
            await asyncio.to_thread(self._thread.join, timeout)

    # ----- the SDK's thread -----------------------------------------------------------------------
    def _run(self, main_loop: asyncio.AbstractEventLoop) -> None:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        try:
            import lark_oapi.ws.client as sdk

            sdk.loop = loop  # the SDK schedules its receive loop and handlers on this module global
            client = self._client(sdk, main_loop)
            loop.run_until_complete(self._main(client))
        except BaseException as exc:  # reported to the main thread, which decides
            self.error = exc
        finally:
            pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
            for task in pending:
                task.cancel()
            if pending:
                loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            loop.close()
            self._done.set()

    def _client(self, sdk: Any, main_loop: asyncio.AbstractEventLoop) -> Any:
        owner = self

        class Client(sdk.Client):  # type: ignore[misc]  # the SDK ships no types
            async def _connect(self) -> None:
                await super()._connect()
                if self._conn is not None:
                    owner.connects += 1
                    owner.refusals = 0
                    owner.connected.set()

            async def _reconnect(self) -> None:
                await owner._reconnect_refused_or_not(super()._reconnect)

        from lark_oapi.core.enum import LogLevel

        return Client(
            self.app_id,
            self.app_secret,
            log_level=LogLevel.WARNING,
            event_handler=_Events(self.handler, main_loop),
            domain=self.base_url,
            auto_reconnect=True,
        )

    async def _reconnect_refused_or_not(self, sdk_reconnect: Callable[[], Coroutine[Any, Any, None]]) -> None:
        """The SDK's reconnect (its own pauses and retries for network errors), tried again with a doubling
        pause when Feishu refuses the credentials; after `refused_tries` refusals the connection ends."""
        from lark_oapi.ws.exception import ClientException

        self.connected.clear()
        pause, longest = self.refused_pause
        while True:
            try:
                await sdk_reconnect()
                log.info("feishu long connection: connected again")
                return
            except ClientException as exc:
                self.refusals += 1
                cause = f"code {exc}"  # Feishu's code and message: never the secret
                if self.refusals >= self.refused_tries:
                    log.error(
                        "feishu long connection: Feishu refused the app's credentials %d times while"
                        " reconnecting (%s); giving up",
                        self.refusals,
                        cause,
                    )
                    self.error = ConnectionRefused(f"{cause}, {self.refusals} reconnects refused")
                    if self._stopping is not None:
                        self._stopping.set()
                    return
                log.error(
                    "feishu long connection is down: Feishu refused the app's credentials while"
                    " reconnecting (%s: app secret reset, or app disabled?); trying again in %.0f s"
                    " (%d of %d)",
                    cause,
                    pause,
                    self.refusals,
                    self.refused_tries,
                )
                await asyncio.sleep(pause)
                pause = min(pause * 2, longest)

    async def _main(self, client: Any) -> None:
        from lark_oapi.ws.exception import ClientException

        self._loop = asyncio.get_running_loop()
        self._stopping = asyncio.Event()
        try:
            await client._connect()
        except ClientException as exc:
            raise ConnectionRefused(f"code {exc}") from None
        except Exception as exc:
            log.warning("feishu long connection: first connect failed (%s); retrying", type(exc).__name__)
            await client._disconnect()
            asyncio.get_running_loop().create_task(client._reconnect())
        pinger = asyncio.get_running_loop().create_task(client._ping_loop())
        await self._stopping.wait()
        client._auto_reconnect = False
        pinger.cancel()
        current = asyncio.current_task()
        for task in asyncio.all_tasks():
            if task is not current:
                task.cancel()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(client._disconnect(), 5.0)
