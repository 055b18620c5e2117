"""Test support: fake Telegram Bot API and Slack Web API servers on 127.0.0.1, shared by the tests and the
benchmarks. Not part of the installed package."""
