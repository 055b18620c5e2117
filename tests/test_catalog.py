"""Both languages must have every sentence, with the same fields."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.i18n import LANGUAGES, Catalog, CatalogError, normalise_language, placeholders


def test_every_key_exists_in_both_languages() -> None:
    catalog = Catalog.load()
    zh, en = (set(catalog.messages[lang]) for lang in LANGUAGES)
    assert zh - en == set(), f"missing in en: {sorted(zh - en)}"
    assert en - zh == set(), f"missing in zh-CN: {sorted(en - zh)}"


def test_placeholders_match_between_languages() -> None:
    catalog = Catalog.load()
    for key, zh_text in catalog.messages["zh-CN"].items():
        assert placeholders(zh_text) == placeholders(catalog.messages["en"][key]), key


def test_a_missing_key_is_detected(tmp_path: Path) -> None:
    for lang in LANGUAGES:
        (tmp_path / lang).mkdir()
    (tmp_path / "zh-CN" / "a.yaml").write_text('x.one: "一"\nx.two: "二"\n', encoding="utf-8")
    (tmp_path / "en" / "a.yaml").write_text('x.one: "one"\n', encoding="utf-8")
    catalog = Catalog.load(tmp_path)
    assert not catalog.has("x.two") and catalog.has("x.one")


def test_duplicate_keys_across_files_are_refused(tmp_path: Path) -> None:
    for lang in LANGUAGES:
        (tmp_path / lang).mkdir()
        (tmp_path / lang / "a.yaml").write_text('k: "a"\n', encoding="utf-8")
        (tmp_path / lang / "b.yaml").write_text('k: "b"\n', encoding="utf-8")
    with pytest.raises(CatalogError):
        Catalog.load(tmp_path)


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("zh", "zh-CN"),
        ("zh_CN", "zh-CN"),
        ("zh-Hans", "zh-CN"),
        ("en-US", "en"),
        ("EN", "en"),
        (None, "zh-CN"),
        ("fr", "zh-CN"),
    ],
)
def test_language_normalisation(given: str | None, expected: str) -> None:
    assert normalise_language(given) == expected


@pytest.mark.parametrize(("days", "expected"), [("1", "(1 day)"), ("0.5", "(0.5 days)"), ("2", "(2 days)")])
def test_leave_days_take_the_english_plural_a_half_day_included(days: str, expected: str) -> None:
    fields = {"name": "Chen", "type": "sick leave", "start": "12-09", "end": "12-09", "flag": ""}
    assert expected in Catalog.load().t("en", "leave.summary_no_reason", days=days, **fields)
    assert f"（{days} 天）" in Catalog.load().t("zh-CN", "leave.summary_no_reason", days=days, **fields)


def test_no_sentence_hedges_its_plural_with_parentheses() -> None:
    """ "day(s)" reads as a machine's; plural forms come from the catalog (Babel's CLDR rules)."""
    catalog = Catalog.load()
    for lang in LANGUAGES:
        for key, entry in catalog.messages[lang].items():
            texts = entry.texts() if not isinstance(entry, str) else [entry]
            assert not any("(s)" in text for text in texts), (lang, key)
