"""Deskmate core: everything platform-neutral that features and adapters stand on."""

__version__ = "0.1.0"
