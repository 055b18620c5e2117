"""The aiohttp request backend on its own, over real HTTP on 127.0.0.1: what it sends, what it hands back
to PTB, and how timeouts and dead connections surface. (The rest of tests/telegram runs the whole bot on
it against the fake Bot API.)"""

from __future__ import annotations

import asyncio
import json
import re
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from telegram import Bot, InputFile
from telegram.error import BadRequest, NetworkError, RetryAfter, TimedOut
from telegram.request import RequestData
from telegram.request._requestparameter import RequestParameter

from bot.adapters.telegram.aiohttp_request import AiohttpRequest
from bot.adapters.telegram.transport import retry_seconds
from fakes.telegram_api import TOKEN, FakeBotAPI

ME = {"id": 1, "is_bot": True, "first_name": "Probe", "username": "probe_bot"}


@dataclass
class Seen:
    method: str
    path: str
    host: str
    content_type: str
    fields: dict[str, str]
    files: dict[str, tuple[str | None, str, bytes]] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)


class Probe:
    """A small HTTP server that records each request and answers as told (status, body, delay)."""

    def __init__(self) -> None:
        self.seen: list[Seen] = []
        self.status = 200
        self.body: dict[str, Any] = {"ok": True, "result": True}
        self.delay = 0.0
        self.runner: web.AppRunner | None = None
        self.port = 0

    async def start(self) -> Probe:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/{path:.*}", self.handle)
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        self.port = self.runner.addresses[0][1]
        return self

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/bot{TOKEN}"

    async def handle(self, request: web.Request) -> web.Response:
        fields: dict[str, str] = {}
        files: dict[str, tuple[str | None, str, bytes]] = {}
        if request.can_read_body:
            form = await request.post()
            for key, value in form.items():
                if isinstance(value, web.FileField):
                    files[key] = (value.filename, value.content_type, value.file.read())
                else:
                    fields[key] = str(value)
        self.seen.append(
            Seen(
                request.method,
                request.path,
                request.host,
                request.content_type,
                fields,
                files,
                dict(request.headers),
            )
        )
        if self.delay:
            await asyncio.sleep(self.delay)
        if request.path.endswith("/getMe") and self.status == 200:  # so a telegram.Bot can start
            return web.json_response({"ok": True, "result": ME})
        return web.json_response(self.body, status=self.status)


@pytest.fixture
async def probe() -> AsyncIterator[Probe]:
    server = await Probe().start()
    yield server
    assert server.runner is not None
    await server.runner.cleanup()


@pytest.fixture
async def request_() -> AsyncIterator[AiohttpRequest]:
    async with AiohttpRequest() as request:
        yield request


def data(**values: Any) -> RequestData:
    return RequestData([RequestParameter.from_input(k, v) for k, v in values.items()])


def free_port() -> int:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


# ----- what goes out, what comes back -------------------------------------------------------------------
async def test_a_call_round_trips_as_a_form(probe: Probe, request_: AiohttpRequest) -> None:
    markup = {"inline_keyboard": [[{"text": "好", "callback_data": "ok:1"}]]}
    probe.body = {"ok": True, "result": {"message_id": 7}}
    code, body = await request_.do_request(
        f"{probe.url}/sendMessage", "POST", data(chat_id=42, text="你好 & =?", reply_markup=markup)
    )
    assert (code, json.loads(body)) == (200, probe.body)
    seen = probe.seen[0]
    assert seen.method == "POST" and seen.path == f"/bot{TOKEN}/sendMessage"
    # Like HTTPXRequest: url-encoded fields, JSON-encoded where PTB encodes them, PTB's user agent.
    assert seen.content_type == "application/x-www-form-urlencoded"
    assert seen.fields == {"chat_id": "42", "text": "你好 & =?", "reply_markup": json.dumps(markup)}
    assert seen.headers["User-Agent"] == AiohttpRequest.USER_AGENT


async def test_a_call_without_parameters_has_no_body(probe: Probe, request_: AiohttpRequest) -> None:
    code, _ = await request_.do_request(f"{probe.url}/getMe", "POST")
    assert code == 200 and probe.seen[0].fields == {} and probe.seen[0].content_type != "multipart/form-data"


async def test_through_a_bot_the_answer_is_parsed(fake_api: FakeBotAPI) -> None:
    async with Bot(TOKEN, base_url=fake_api.base_url, request=AiohttpRequest()) as bot:
        message = await bot.send_message(42, "hello")
    assert message.text == "hello" and message.chat.id == 42
    assert [c.method for c in fake_api.calls] == ["getMe", "sendMessage"]


async def test_an_upload_arrives_with_name_bytes_and_mime(probe: Probe) -> None:
    content = bytes(range(256)) * 1000  # binary, and several write chunks long
    async with (
        AiohttpRequest() as request,
        Bot(TOKEN, base_url=f"http://127.0.0.1:{probe.port}/bot", request=request) as bot,
    ):
        probe.body = {
            "ok": True,
            "result": {"message_id": 1, "date": 0, "chat": {"id": 42, "type": "private"}},
        }
        await bot.send_document(42, InputFile(content, filename="排班表 2026.xlsx"), caption="说明")
        await bot.send_photo(42, InputFile(b"\x89PNG...", filename="chart.png"))
    document, photo = probe.seen[1], probe.seen[2]
    assert document.path.endswith("/sendDocument") and document.content_type == "multipart/form-data"
    assert document.fields == {"chat_id": "42", "caption": "说明"}
    assert document.files == {
        "document": (
            "排班表 2026.xlsx",
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            content,
        )
    }
    assert photo.files == {"photo": ("chart.png", "image/png", b"\x89PNG...")}


async def test_a_file_name_is_escaped_as_httpx_escapes_it(probe: Probe, request_: AiohttpRequest) -> None:
    upload = data(document=InputFile(b"x", filename='a "quoted" name.txt'))
    await request_.do_request(f"{probe.url}/sendDocument", "POST", upload)
    # HTML5 form escaping, as httpx sends it (a quote becomes %22, the server takes the name as it is).
    assert probe.seen[0].files["document"][0] == "a %22quoted%22 name.txt"


async def test_a_download_returns_the_bytes(probe: Probe, request_: AiohttpRequest) -> None:
    assert await request_.retrieve(f"http://127.0.0.1:{probe.port}/file/bot{TOKEN}/a.txt") == (
        b'{"ok": true, "result": true}'
    )
    assert probe.seen[0].method == "GET"


# ----- status codes are PTB's to interpret ----------------------------------------------------------------
async def test_an_error_status_comes_back_as_it_came(probe: Probe, request_: AiohttpRequest) -> None:
    probe.status = 429
    probe.body = {"ok": False, "error_code": 429, "description": "Too Many Requests: retry after 7"}
    probe.body["parameters"] = {"retry_after": 7}
    code, body = await request_.do_request(f"{probe.url}/sendMessage", "POST", data(chat_id=1, text="x"))
    assert code == 429 and json.loads(body) == probe.body


async def test_through_a_bot_429_is_retry_after_and_400_bad_request(fake_api: FakeBotAPI) -> None:
    async with Bot(TOKEN, base_url=fake_api.base_url, request=AiohttpRequest()) as bot:
        fake_api.fail("sendMessage", 429, retry_after=7)
        with pytest.raises(RetryAfter) as caught:
            await bot.send_message(42, "hello")
        assert retry_seconds(caught.value) == 7
        fake_api.fail("sendMessage", 500)
        with pytest.raises(NetworkError, match="Internal Server Error"):
            await bot.send_message(42, "hello")
        with pytest.raises(BadRequest, match="Message text is empty"):
            await bot.send_message(42, " ")


# ----- timeouts and dead connections ----------------------------------------------------------------------
async def test_a_slow_answer_is_timed_out(probe: Probe) -> None:
    probe.delay = 0.3
    async with AiohttpRequest(read_timeout=0.05) as request:
        with pytest.raises(TimedOut) as caught:
            await request.do_request(f"{probe.url}/getMe", "POST")
        assert isinstance(caught.value.__cause__, TimeoutError)
        # A timeout given for the call wins over the instance's (PTB's DEFAULT_NONE means "not given").
        code, _ = await request.do_request(f"{probe.url}/getMe", "POST", read_timeout=5)
        assert code == 200


async def test_a_refused_connection_is_a_network_error(request_: AiohttpRequest) -> None:
    url = f"http://127.0.0.1:{free_port()}/bot{TOKEN}/getMe"
    with pytest.raises(NetworkError) as caught:
        await request_.do_request(url, "POST")
    assert not isinstance(caught.value, TimedOut)
    assert isinstance(caught.value.__cause__, aiohttp.ClientConnectionError)
    assert caught.value.message.startswith("aiohttp.ClientConnectorError: ")
    assert TOKEN not in caught.value.message


async def test_a_full_pool_times_out_with_ptbs_message(probe: Probe) -> None:
    probe.delay = 0.3
    async with AiohttpRequest(connection_pool_size=1, pool_timeout=0.05) as request:
        busy = asyncio.create_task(request.do_request(f"{probe.url}/getMe", "POST"))
        await asyncio.sleep(0.1)
        with pytest.raises(TimedOut, match="Pool timeout"):
            await request.do_request(f"{probe.url}/getMe", "POST")
        assert (await busy)[0] == 200
        assert len(probe.seen) == 1  # the second request was never sent


async def test_a_stalled_upload_is_timed_out_by_the_media_write_timeout() -> None:
    """A server that accepts the connection and never reads: the upload's writes stop progressing."""
    accepted: list[socket.socket] = []
    with socket.socket() as listener:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        listener.setblocking(False)
        loop = asyncio.get_running_loop()
        accepting = asyncio.ensure_future(loop.sock_accept(listener))
        url = f"http://127.0.0.1:{listener.getsockname()[1]}/bot{TOKEN}/sendDocument"
        try:
            async with AiohttpRequest(media_write_timeout=0.3) as request:
                upload = data(chat_id=1, document=InputFile(b"\0" * (32 * 1024 * 1024), filename="big.bin"))
                started = loop.time()
                with pytest.raises(TimedOut):
                    await request.do_request(url, "POST", upload)
                assert loop.time() - started < 5
        finally:
            if accepting.done():
                accepted.append(accepting.result()[0])
            else:
                accepting.cancel()
            for connection in accepted:
                connection.close()


async def test_a_slow_upload_that_keeps_moving_is_not_timed_out() -> None:
    """The write timeout is per write, as in httpx: a long upload passes as long as each write moves on."""
    received = 0

    async def slow_reader(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal received
        head = await reader.readuntil(b"\r\n\r\n")
        declared = re.search(rb"(?i)content-length: *(\d+)", head)
        assert declared is not None
        length = int(declared.group(1))
        while received < length:
            received += len(await reader.read(128 * 1024))
            await asyncio.sleep(0.01)  # about 12 MB/s: slower than the client would write
        body = b'{"ok": true, "result": true}'
        writer.write(
            b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)
        )
        await writer.drain()
        writer.close()

    size = 16 * 1024 * 1024
    server = await asyncio.start_server(slow_reader, "127.0.0.1", 0)
    try:
        url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/bot{TOKEN}/sendDocument"
        loop = asyncio.get_running_loop()
        async with AiohttpRequest(media_write_timeout=0.3) as request:
            started = loop.time()
            upload = data(chat_id=1, document=InputFile(b"\0" * size, filename="big.bin"))
            assert (await request.do_request(url, "POST", upload))[0] == 200
            assert loop.time() - started > 0.6  # longer than the write timeout, in steps shorter than it
        assert received > size
    finally:
        server.close()
        await server.wait_closed()


# ----- life cycle and proxies -----------------------------------------------------------------------------
async def test_life_cycle_is_as_ptb_expects(probe: Probe) -> None:
    request = AiohttpRequest()
    assert request.read_timeout == 5.0
    with pytest.raises(RuntimeError, match="not initialized"):
        await request.do_request(f"{probe.url}/getMe", "POST")
    await request.shutdown()  # shutting down what never started is fine
    for _ in range(2):  # and it can be initialized again after a shutdown, as HTTPXRequest can
        await request.initialize()
        await request.initialize()
        assert (await request.do_request(f"{probe.url}/getMe", "POST"))[0] == 200
        await request.shutdown()
        await request.shutdown()
    with pytest.raises(RuntimeError, match="not initialized"):
        await request.do_request(f"{probe.url}/getMe", "POST")


async def test_an_http_proxy_from_the_environment_is_used(
    probe: Probe, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As httpx does by default: HTTP(S)_PROXY is honoured, NO_PROXY too, and trust_env=False ignores both."""
    for name in ("NO_PROXY", "no_proxy", "HTTPS_PROXY", "https_proxy", "http_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{probe.port}")
    async with AiohttpRequest() as request:
        code, _ = await request.do_request(f"http://bot-api.invalid/bot{TOKEN}/getMe", "POST")
    assert code == 200 and probe.seen[0].host == "bot-api.invalid"  # it went through the "proxy"

    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{free_port()}")  # a proxy that is not there
    async with AiohttpRequest() as request:
        with pytest.raises(NetworkError):
            await request.do_request(f"{probe.url}/getMe", "POST")
    async with AiohttpRequest(trust_env=False) as request:
        assert (await request.do_request(f"{probe.url}/getMe", "POST"))[0] == 200
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    async with AiohttpRequest() as request:
        assert (await request.do_request(f"{probe.url}/getMe", "POST"))[0] == 200
