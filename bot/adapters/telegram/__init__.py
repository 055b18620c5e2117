"""The Telegram adapter: python-telegram-bot 22 in front of the core, by long polling or a webhook.

`runner.TelegramBot` receives updates and hands them to the core; `transport.TelegramTransport` puts the
outbox's messages on Telegram; `render` holds the pure translations; `cli` adds `deskmate telegram`.
Nothing is imported here, so `deskmate --help` does not load the Telegram library.
"""
