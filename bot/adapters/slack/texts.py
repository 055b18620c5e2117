"""Operator-facing lines of the Slack adapter (terminal and journal), kept together so they stay short,
consistent and free of secrets. Users never see these; their sentences live in the catalogs."""

from __future__ import annotations

MISSING_BOT_TOKEN = (
    "setting SLACK_BOT_TOKEN: required for `deskmate slack` (the Bot User OAuth Token, xoxb-…)"
)
BAD_BOT_TOKEN = "setting SLACK_BOT_TOKEN: not a bot token (it should start with xoxb-)"
BAD_APP_TOKEN = "setting SLACK_APP_TOKEN: not an app-level token (it should start with xapp-)"
MISSING_SIGNING_SECRET = (
    "setting SLACK_SIGNING_SECRET: required in HTTP mode (or set SLACK_APP_TOKEN for Socket Mode)"
)
TOKEN_REFUSED = "Slack refused SLACK_BOT_TOKEN: {error}"
APP_TOKEN_REFUSED = "Slack refused SLACK_APP_TOKEN: {error}"
API_UNREACHABLE = "cannot reach the Slack Web API at {url} ({reason}); check SLACK_API_URL and the network"
IDENTITY = "@{user} in {team}"
LISTENING = "deskmate slack: {who}, listening on {url}"
SOCKET_MODE = "deskmate slack: {who}, connected in Socket Mode"
