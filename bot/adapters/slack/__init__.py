"""The Slack adapter: slack-bolt's AsyncApp in, the Web API out, the core in between.

`adapter.SlackAdapter` is the entry point; this package file stays empty so that `deskmate` loads
slack-bolt only when the `slack` command runs.
"""
