"""The Feishu (Lark) adapter: events by lark-oapi's long connection or HTTP callbacks, through the inbox;
messages out through the outbox on Feishu's open platform (`api` on aiohttp, `transport`)."""
