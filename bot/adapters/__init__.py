"""Platform adapters: translate platform events to core messages and core messages to platform calls."""
