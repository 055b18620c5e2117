"""A python-telegram-bot request backend on aiohttp, in place of PTB's own HTTPXRequest.

Why: every Bot API call goes through this, and httpx costs about five times the CPU of aiohttp per
request (ten times with hundreds in flight, in its connection pool). Behaviour follows HTTPXRequest so
PTB cannot tell the difference: the same default timeouts and pool size, the same request bodies
(form-encoded fields, or multipart when there are files), the status code and body handed back as they
came for PTB to interpret, timeouts raised as TimedOut and other transport failures as NetworkError.
"""

from __future__ import annotations

import asyncio
import io
import logging
import urllib.request
from collections.abc import AsyncIterator
from typing import IO, Final, cast
from urllib.parse import urlsplit

import aiohttp
from aiohttp.abc import AbstractStreamWriter
from telegram._utils.defaultvalue import DefaultValue
from telegram._utils.types import ODVInput
from telegram.error import NetworkError, TimedOut
from telegram.request import BaseRequest, RequestData

log = logging.getLogger(__name__)

POOL_TIMEOUT_MESSAGE: Final = (
    "Pool timeout: every connection to the Bot API stayed busy, so this request was never sent; "
    "a larger pool or a longer pool timeout would let it wait its turn."
)
UPLOAD_CHUNK: Final = 64 * 1024  # bytes per write of an upload; the write timeout applies to each
FORM: Final = "application/x-www-form-urlencoded"
# httpx escapes file names as HTML5 forms do ('"' and control characters percent-encoded); aiohttp would
# backslash-escape the quote instead. Escaped beforehand, the name reaches Telegram exactly as before.
FILENAME_ESCAPES: Final = str.maketrans(
    {'"': "%22"} | {chr(c): f"%{c:02X}" for c in range(0x20) if c != 0x1B}
)


class _Collect:
    """Receives what aiohttp's multipart writer writes, so the encoded form can be sent in timed chunks."""

    def __init__(self) -> None:
        self.chunks: list[bytes] = []

    async def write(self, chunk: bytes) -> None:
        self.chunks.append(bytes(chunk))


def _file_content(content: bytes | IO[bytes]) -> io.BytesIO:
    """A file's bytes, a handle read from its start as httpx does. In a BytesIO, which aiohttp reads in
    chunks (it warns about raw bytes over 1 MB)."""
    if not isinstance(content, bytes):
        if content.seekable():
            content.seek(0)
        content = content.read()
    return io.BytesIO(content)


class AiohttpRequest(BaseRequest):
    """`telegram.request.BaseRequest` on an aiohttp ClientSession; parameters as in HTTPXRequest.

    The session is made in `initialize` (aiohttp binds it to the running loop) and closed in `shutdown`;
    `initialize` after `shutdown` makes a new one, as HTTPXRequest does. Proxies: `proxy`, or else
    HTTPS_PROXY/HTTP_PROXY/NO_PROXY from the environment (as httpx honours them; http(s) proxies only).
    """

    __slots__ = (
        "_connect_timeout",
        "_default_timeout",
        "_headers",
        "_headers_form",
        "_media_write_timeout",
        "_pool_size",
        "_pool_timeout",
        "_proxies",
        "_proxy",
        "_read_timeout",
        "_session",
        "_slots",
        "_trust_env",
        "_write_timeout",
    )

    def __init__(
        self,
        connection_pool_size: int = 256,
        read_timeout: float | None = 5.0,
        write_timeout: float | None = 5.0,
        connect_timeout: float | None = 5.0,
        pool_timeout: float | None = 1.0,
        media_write_timeout: float | None = 20.0,
        proxy: str | None = None,
        trust_env: bool = True,
    ) -> None:
        if connection_pool_size < 1:
            raise ValueError("connection_pool_size must be at least 1")
        self._pool_size = connection_pool_size
        self._read_timeout = read_timeout
        self._write_timeout = write_timeout
        self._connect_timeout = connect_timeout
        self._pool_timeout = pool_timeout
        self._media_write_timeout = media_write_timeout
        self._proxy = proxy
        self._trust_env = trust_env
        self._proxies: dict[str, str | None] = {}  # scheme://host → proxy, so the environment is read once
        self._default_timeout = self._client_timeout(read_timeout, connect_timeout)
        self._headers = {"User-Agent": self.USER_AGENT}
        self._headers_form = {"User-Agent": self.USER_AGENT, "Content-Type": FORM}
        self._session: aiohttp.ClientSession | None = None
        self._slots: asyncio.Semaphore | None = None

    @property
    def read_timeout(self) -> float | None:
        """The default read timeout; PTB adds the long-poll time to it for getUpdates."""
        return self._read_timeout

    async def initialize(self) -> None:
        """Open the session (again, after a shutdown); a no-op when it is open."""
        if self._session is not None and not self._session.closed:
            return
        # Idle connections closed after 5 s, as httpx's pool does (keepalive_expiry).
        connector = aiohttp.TCPConnector(limit=self._pool_size, keepalive_timeout=5.0)
        self._session = aiohttp.ClientSession(connector=connector, timeout=self._default_timeout)
        # Waiting for a free connection is ours to time (pool_timeout), so it gets its own error message.
        self._slots = asyncio.Semaphore(self._pool_size)

    async def shutdown(self) -> None:
        """Close the session and its connections; a no-op when there is none."""
        session, self._session = self._session, None
        if session is None or session.closed:
            log.debug("aiohttp request backend: nothing to close")
            return
        await session.close()

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        write_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        connect_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        pool_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        """One HTTP request; (status, body) whatever the status, for PTB to interpret."""
        session, slots = self._session, self._slots
        if session is None or session.closed or slots is None:
            raise RuntimeError("AiohttpRequest not initialized (call initialize first, again after shutdown)")
        has_files = request_data is not None and request_data.contains_files
        # Timeouts not given for this call (PTB's DEFAULT_NONE) are the ones this instance was made with.
        if isinstance(read_timeout, DefaultValue):
            read_timeout = self._read_timeout
        if isinstance(connect_timeout, DefaultValue):
            connect_timeout = self._connect_timeout
        if isinstance(pool_timeout, DefaultValue):
            pool_timeout = self._pool_timeout
        if isinstance(write_timeout, DefaultValue):
            write_timeout = self._media_write_timeout if has_files else self._write_timeout
        timeout = (
            self._default_timeout
            if read_timeout == self._read_timeout and connect_timeout == self._connect_timeout
            else self._client_timeout(read_timeout, connect_timeout)
        )

        if slots.locked():
            try:
                async with asyncio.timeout(pool_timeout):
                    await slots.acquire()
            except TimeoutError as exc:
                raise TimedOut(POOL_TIMEOUT_MESSAGE) from exc
        else:
            await slots.acquire()  # a free slot: taken at once, no suspension
        try:
            if has_files:
                assert request_data is not None
                return await self._upload(session, url, method, request_data, timeout, write_timeout)
            # Parameters as an url-encoded form, byte for byte what HTTPXRequest sends (data=...).
            body = request_data.url_encoded_parameters().encode() if request_data is not None else b""
            async with session.request(
                method,
                url,
                data=body or None,
                headers=self._headers_form if body else self._headers,
                timeout=timeout,
                proxy=self._proxy_for(url),
                allow_redirects=False,  # httpx does not follow redirects either
            ) as response:
                return response.status, await response.read()
        except TimeoutError as exc:  # aiohttp's connect and read timeouts are TimeoutErrors too
            raise TimedOut from exc
        except aiohttp.ClientError as exc:
            raise NetworkError(_describe(exc, url)) from exc
        finally:
            slots.release()

    # ASYNC109: PTB hands each request its own aiohttp timeouts.
    async def _upload(
        self,
        session: aiohttp.ClientSession,
        url: str,
        method: str,
        request_data: RequestData,
        timeout: aiohttp.ClientTimeout,  # noqa: ASYNC109
        write_timeout: float | None,
    ) -> tuple[int, bytes]:
        """A multipart request (fields, then files), written in chunks so the write timeout applies to
        each write as in httpx: aiohttp has no write timeout of its own."""
        form = aiohttp.FormData(quote_fields=False)  # UTF-8 file names as they are, as httpx sends them
        for name, value in request_data.json_parameters.items():
            form.add_field(name, value)
        for name, (filename, content, mime) in request_data.multipart_data.items():
            form.add_field(
                name, _file_content(content), filename=filename.translate(FILENAME_ESCAPES), content_type=mime
            )
        multipart = form()
        collected = _Collect()
        await multipart.write(cast(AbstractStreamWriter, collected))
        body = b"".join(collected.chunks)
        collected.chunks.clear()
        headers = {
            "User-Agent": self.USER_AGENT,
            "Content-Type": multipart.content_type,
            "Content-Length": str(len(body)),
        }
        loop = asyncio.get_running_loop()
        read_timeout = timeout.sock_read

        async with asyncio.timeout(None) as guard:

            async def chunks() -> AsyncIterator[bytes]:
                # Each reschedule gives the next write its own deadline. After the last one the
                # response has as long as aiohttp's read timeout would give it (which starts then).
                for start in range(0, len(body), UPLOAD_CHUNK):
                    last = start + UPLOAD_CHUNK >= len(body)
                    if write_timeout is None or (last and read_timeout is None):
                        guard.reschedule(None)
                    else:
                        extra = (read_timeout or 0.0) if last else 0.0
                        guard.reschedule(loop.time() + write_timeout + extra)
                    yield body[start : start + UPLOAD_CHUNK]

            async with session.request(
                method,
                url,
                data=chunks(),
                headers=headers,
                timeout=timeout,
                proxy=self._proxy_for(url),
                allow_redirects=False,
            ) as response:
                guard.reschedule(None)  # the answer has begun: aiohttp's read timeout covers the rest
                return response.status, await response.read()

    @staticmethod
    def _client_timeout(read_timeout: float | None, connect_timeout: float | None) -> aiohttp.ClientTimeout:
        # connect covers DNS, TCP and TLS (sock_connect each address tried); sock_read is the longest
        # silence while reading, and aiohttp starts it once the request is written, as httpx's read.
        return aiohttp.ClientTimeout(
            total=None, connect=connect_timeout, sock_connect=connect_timeout, sock_read=read_timeout
        )

    def _proxy_for(self, url: str) -> str | None:
        if self._proxy is not None or not self._trust_env:
            return self._proxy
        scheme, _, host = url.split("/", 3)[:3]  # "https:", "", "api.telegram.org"
        key = scheme + host
        if key not in self._proxies:
            proxy = None
            hostname = urlsplit(url).hostname
            if hostname and not urllib.request.proxy_bypass(hostname):
                proxy = urllib.request.getproxies().get(scheme.rstrip(":").lower())
            self._proxies[key] = proxy
        return self._proxies[key]


def _describe(exc: aiohttp.ClientError, url: str) -> str:
    """The error as HTTPXRequest words it ("<library>.<class>: <message>"), without the request address:
    it carries the bot token, and this text reaches logs and the outbox's error column."""
    text = f"aiohttp.{type(exc).__name__}: {exc}"
    scheme, _, host = url.split("/", 3)[:3]
    origin = f"{scheme}//{host}"
    text = text.replace(url, origin + "/…")
    path = url[len(origin) :].split("?", 1)[0]
    if len(path) > 1:
        text = text.replace(path, "/…")
    return text
