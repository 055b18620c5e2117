"""Message catalogs: every sentence a user reads lives in `bot/locales/<lang>/*.yaml`.

Each feature keeps its own catalog file so features can be added without touching each other;
the loader merges them per language. Keys are flat dotted strings; values use `{name}` fields.
"""

from __future__ import annotations

import string
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

LOCALES_DIR = Path(__file__).parent / "locales"
LANGUAGES = ("zh-CN", "en")


class CatalogError(Exception):
    pass


def normalise_language(value: str | None, default: str = "zh-CN") -> str:
    """Map what platforms and people say (zh, zh_CN, zh-Hans, en-US, 中文…) onto a catalog language."""
    if not value:
        return default
    low = value.strip().lower().replace("_", "-")
    if low.startswith("zh") or low in {"中文", "汉语", "cn", "chinese"}:
        return "zh-CN"
    if low.startswith("en") or low in {"英文", "英语", "english"}:
        return "en"
    return default


def _load_language(directory: Path) -> dict[str, str]:
    merged: dict[str, str] = {}
    for path in sorted(directory.glob("*.yaml")):
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        if not isinstance(data, dict):
            raise CatalogError(f"{path}: a catalog must be a mapping of key to sentence")
        for key, value in data.items():
            if key in merged:
                raise CatalogError(f"{path}: key {key!r} is defined twice")
            if not isinstance(value, str):
                raise CatalogError(f"{path}: key {key!r} must be a string")
            merged[str(key)] = value
    return merged


def placeholders(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


class Catalog:
    """All sentences in all languages, with a lookup that never raises for a user."""

    def __init__(self, messages: dict[str, dict[str, str]], default: str = "zh-CN") -> None:
        self.messages = messages
        self.default = default

    @classmethod
    def load(cls, directory: Path = LOCALES_DIR, default: str = "zh-CN") -> Catalog:
        return cls({lang: _load_language(directory / lang) for lang in LANGUAGES}, default)

    def has(self, key: str) -> bool:
        return all(key in table for table in self.messages.values())

    def t(self, lang: str | None, key: str, **fields: Any) -> str:
        table = self.messages.get(normalise_language(lang, self.default)) or self.messages[self.default]
        template = table.get(key)
        if template is None:
            raise KeyError(f"no catalog entry {key!r}")
        return template.format(**fields)


@lru_cache(maxsize=1)
def default_catalog() -> Catalog:
    return Catalog.load()
