"""Operator-facing lines of the Feishu adapter (terminal and journal), free of secrets. Users never see
these; their sentences live in the catalogs."""

from __future__ import annotations

MISSING = "setting {name}: required for `deskmate feishu` ({what})"
CREDENTIALS_REFUSED = "Feishu refused FEISHU_APP_ID / FEISHU_APP_SECRET: {error}"
CREDENTIALS_REFUSED_LATER = (
    "Feishu refused FEISHU_APP_ID / FEISHU_APP_SECRET while reconnecting the long connection ({error});"
    " stopped: check the App Secret and that the app is enabled, then start deskmate feishu again"
)
API_UNREACHABLE = (
    "cannot reach Feishu's open platform at {url} ({reason}); check FEISHU_BASE_URL and the network"
)
CANNOT_LISTEN = "feishu: cannot listen on {host}:{port} ({reason}); check FEISHU_LISTEN_HOST/PORT"
CONNECTED_WS = "deskmate feishu: app {app}, long connection to {url}"
LISTENING = "deskmate feishu: app {app}, listening on http://{host}:{port}/feishu/events"
