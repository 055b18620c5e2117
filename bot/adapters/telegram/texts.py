"""Operator-facing lines of the Telegram adapter (terminal and journal), kept together so they stay short,
consistent and free of secrets. Users never see these; their sentences live in the catalogs."""

from __future__ import annotations

MISSING_TOKEN = "setting TELEGRAM_TOKEN: required for `deskmate telegram` (the token @BotFather gave you)"
BAD_TOKEN_FORMAT = "setting TELEGRAM_TOKEN: not a bot token (it looks like 123456789:AA…)"
MISSING_SECRET = "setting TELEGRAM_SECRET_TOKEN: required in webhook mode (1-256 characters: A-Z a-z 0-9 _ -)"
BAD_SECRET = "setting TELEGRAM_SECRET_TOKEN: only A-Z a-z 0-9 _ - are allowed, 1-256 characters"
BAD_WEBHOOK_URL = "setting TELEGRAM_WEBHOOK_URL: Telegram only calls https:// addresses"
TOKEN_REFUSED = "telegram: the Bot API refused TELEGRAM_TOKEN (revoked or mistyped); ask @BotFather for it"
API_UNREACHABLE = (
    "telegram: cannot reach the Bot API at {url} ({reason}); check TELEGRAM_BASE_URL and the network"
)
API_REFUSED = "telegram: the Bot API answered with an error at start ({reason})"
CANNOT_LISTEN = "telegram: cannot listen on {host}:{port} ({reason}); check TELEGRAM_LISTEN_HOST/PORT"
RUNNING_POLLING = "deskmate telegram: @{username}, long polling"
RUNNING_WEBHOOK = "deskmate telegram: @{username}, webhook {url}, listening on {host}:{port}"
