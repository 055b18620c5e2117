from __future__ import annotations

import pytest

from knowledge.numerals import format_ref, parse_chinese, parse_ref, to_chinese


@pytest.mark.parametrize(
    ("number", "text"),
    [
        (1, "一"),
        (10, "十"),
        (12, "十二"),
        (20, "二十"),
        (100, "一百"),
        (101, "一百零一"),
        (110, "一百一十"),
        (129, "一百二十九"),
        (1001, "一千零一"),
        (1010, "一千零一十"),
        (10001, "一万零一"),
    ],
)
def test_known_numerals(number: int, text: str) -> None:
    assert to_chinese(number) == text
    assert parse_chinese(text) == number


def test_round_trip_range() -> None:
    for n in range(0, 12000):
        assert parse_chinese(to_chinese(n)) == n


def test_refs_round_trip() -> None:
    assert format_ref(101, "zh") == "第一百零一条"
    assert format_ref(12, "en") == "Article 12"
    assert parse_ref("第一百零一条") == (101, "zh")
    assert parse_ref("Article 7") == (7, "en")
    assert parse_chinese("两百") == 200


@pytest.mark.parametrize("bad", ["", "一二", "十x", "abc"])
def test_rejects_non_numerals(bad: str) -> None:
    with pytest.raises(ValueError):
        parse_chinese(bad)
