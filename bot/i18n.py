"""Message catalogs: every sentence a user reads lives in `bot/locales/<lang>/*.yaml`.

Each feature keeps its own catalog file so features can be added without touching each other;
the loader merges them per language. Keys are flat dotted strings; values use `{name}` fields.

A sentence with a number in it is a mapping of plural forms instead, chosen by Babel from the CLDR rules of
the language (English has ``one`` and ``other``, Chinese only ``other``); ``count`` names the field whose
value picks the form::

    clock.verdict.late:
      count: minutes
      one: "Late by {minutes} minute ({articles})."
      other: "Late by {minutes} minutes ({articles})."
"""

from __future__ import annotations

import string
from dataclasses import dataclass
from decimal import Decimal
from functools import cache, lru_cache
from pathlib import Path
from typing import Any

import yaml
from babel import Locale

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


PLURAL_FORMS = ("zero", "one", "two", "few", "many", "other")


@dataclass(frozen=True)
class Plural:
    """A sentence in its plural forms (CLDR categories); ``count`` names the field that chooses."""

    count: str
    forms: dict[str, str]

    def texts(self) -> list[str]:
        return list(self.forms.values())


Entry = str | Plural


@cache
def _locale(lang: str) -> Locale:
    return Locale.parse(lang.replace("-", "_"))


def _plural(path: Path, key: str, value: dict[Any, Any]) -> Plural:
    count = value.get("count")
    forms = {str(k): v for k, v in value.items() if k != "count"}
    if not isinstance(count, str) or "other" not in forms:
        raise CatalogError(f"{path}: key {key!r}: plural forms need 'count: <field>' and an 'other' form")
    for form, text in forms.items():
        if form not in PLURAL_FORMS or not isinstance(text, str):
            raise CatalogError(f"{path}: key {key!r}: {form!r} is not a plural form with a sentence")
    return Plural(count, forms)


def _load_language(directory: Path) -> dict[str, Entry]:
    merged: dict[str, Entry] = {}
    for path in sorted(directory.glob("*.yaml")):
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        if not isinstance(data, dict):
            raise CatalogError(f"{path}: a catalog must be a mapping of key to sentence")
        for key, value in data.items():
            if key in merged:
                raise CatalogError(f"{path}: key {key!r} is defined twice")
            if isinstance(value, dict):
                merged[str(key)] = _plural(path, str(key), value)
                continue
            if not isinstance(value, str):
                raise CatalogError(f"{path}: key {key!r} must be a string or plural forms")
            merged[str(key)] = value
    return merged


def placeholders(entry: Entry) -> set[str]:
    """The fields a sentence uses (all forms together, and the count, for plural forms)."""
    if isinstance(entry, Plural):
        return {entry.count}.union(*(placeholders(text) for text in entry.texts()))
    return {name for _, name, _, _ in string.Formatter().parse(entry) if name}


class Catalog:
    """All sentences in all languages, with a lookup that never raises for a user."""

    def __init__(self, messages: dict[str, dict[str, Entry]], default: str = "zh-CN") -> None:
        self.messages = messages
        self.default = default

    @classmethod
    def load(cls, directory: Path = LOCALES_DIR, default: str = "zh-CN") -> Catalog:
        return cls({lang: _load_language(directory / lang) for lang in LANGUAGES}, default)

    def has(self, key: str) -> bool:
        return all(key in table for table in self.messages.values())

    def t(self, lang: str | None, key: str, **fields: Any) -> str:
        table = self.messages.get(normalise_language(lang, self.default)) or self.messages[self.default]
        entry = table.get(key)
        if entry is None:
            raise KeyError(f"no catalog entry {key!r}")
        if isinstance(entry, Plural):
            language = normalise_language(lang, self.default)
            # Decimal: a count may be a half day ("0.5"), and 1.5 days is plural while 1 is not.
            form = _locale(language).plural_form(abs(Decimal(str(fields[entry.count]))))
            entry = entry.forms.get(form, entry.forms["other"])
        return entry.format(**fields)


@lru_cache(maxsize=1)
def default_catalog() -> Catalog:
    return Catalog.load()
