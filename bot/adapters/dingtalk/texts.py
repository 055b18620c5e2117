"""Operator-facing lines of the DingTalk adapter (terminal and journal), free of secrets. Users never
see these; their sentences live in the catalogs."""

from __future__ import annotations

MISSING = "setting {name}: required for `deskmate dingtalk` ({what})"
CREDENTIALS_REFUSED = "DingTalk refused DINGTALK_CLIENT_ID / DINGTALK_CLIENT_SECRET: {error}"
API_UNREACHABLE = (
    "cannot reach DingTalk's OpenAPI at {url} ({reason}); check DINGTALK_API_URL and the network"
)
CONNECTED = "deskmate dingtalk: robot {robot}, connected in Stream mode"
