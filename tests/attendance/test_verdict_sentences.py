"""Every punch verdict rendered in both languages: the sentence names the real cause, the numbers are
right, and English plural forms come from the catalog (Babel), never "minute(s)"."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from bot.i18n import LANGUAGES, Catalog, CatalogError, default_catalog
from handlers.clock import verdict_key, verdict_text
from schedules.attendance import Verdict, VerdictKind, clock_in_verdict, clock_out_verdict
from schedules.policy import default_policy

START = dt.datetime(2026, 12, 1, 1, 0, tzinfo=dt.UTC)  # 09:00 in Shanghai
END = START + dt.timedelta(hours=9)
POLICY = default_policy()


def arrive(minutes: int, grace_before: int = 0) -> Verdict:
    return clock_in_verdict(START, START + dt.timedelta(minutes=minutes), grace_before, POLICY)


def leave(minutes: int) -> Verdict:
    return clock_out_verdict(END, END + dt.timedelta(minutes=minutes), POLICY)


CASES: list[tuple[str, Verdict, str, str]] = [
    ("on_time", arrive(-5), "准时。", "On time."),
    (
        "grace, one minute",
        arrive(1),
        "晚到 1 分钟，在宽限期内，不计迟到；本月还可用 2 次（第二十九条）。",
        "1 minute after the start, within the grace period, so not late; grace uses left this month: 2"
        " (Article 29).",
    ),
    (
        "grace, five minutes, last use",
        arrive(5, 2),
        "晚到 5 分钟，在宽限期内，不计迟到；本月还可用 0 次（第二十九条）。",
        "5 minutes after the start, within the grace period, so not late; grace uses left this month: 0"
        " (Article 29).",
    ),
    (
        "late after the grace uses",
        arrive(1, 3),
        "迟到 1 分钟（第二十九条、第三十条）。",
        "Late by 1 minute (Article 29, Article 30).",
    ),
    ("late", arrive(12), "迟到 12 分钟（第三十条）。", "Late by 12 minutes (Article 30)."),
    (
        "seriously late",
        arrive(31),
        "晚到 31 分钟，属于严重迟到（第三十条）。",
        "31 minutes after the start: seriously late (Article 30).",
    ),
    (
        "absent: arrived over 2 hours late",
        arrive(121),
        "晚到 121 分钟，超过2小时且没有已批准的假期，按旷工半天处理（第三十条、第三十二条）。",
        "121 minutes after the start, over 2 hours without approved leave: counted as half a day of absence"
        " (Article 30, Article 32).",
    ),
    (
        "too early",
        arrive(-61),
        "还没到打卡时间（第二十八条）。",
        "Too early to clock in (Article 28).",
    ),
    (
        "early leave, one minute",
        leave(-1),
        "比下班时间早 1 分钟，属于早退（第三十条）。",
        "Left 1 minute before the end of the shift: early leave (Article 30).",
    ),
    (
        "early leave",
        leave(-30),
        "比下班时间早 30 分钟，属于早退（第三十条）。",
        "Left 30 minutes before the end of the shift: early leave (Article 30).",
    ),
    (
        "absent: left over 30 minutes early",
        leave(-31),
        "比下班时间早 31 分钟离岗，提前超过30分钟，按旷工半天处理（第三十条、第三十二条）。",
        "Left 31 minutes before the end of the shift, more than 30 minutes early: counted as half a day of"
        " absence (Article 30, Article 32).",
    ),
    (
        "overtime, one unit",
        leave(45),
        "延时 45 分钟，记 1 个加班单位（每满30分钟一个，第二十三条、第二十四条）。",
        "Stayed 45 min past the end: 1 overtime unit (one per full 30 minutes, Article 23, Article 24).",
    ),
    (
        "overtime, two units",
        leave(60),
        "延时 60 分钟，记 2 个加班单位（每满30分钟一个，第二十三条、第二十四条）。",
        "Stayed 60 min past the end: 2 overtime units (one per full 30 minutes, Article 23, Article 24).",
    ),
    (
        "stayed under a unit",
        leave(29),
        "准时。",
        "On time.",
    ),
]


@pytest.mark.parametrize(("name", "verdict", "zh", "en"), CASES, ids=[c[0] for c in CASES])
def test_every_verdict_in_both_languages(name: str, verdict: Verdict, zh: str, en: str) -> None:
    catalog = default_catalog()
    assert verdict_text(catalog, "zh-CN", verdict) == zh
    assert verdict_text(catalog, "en", verdict) == en


def test_every_punch_verdict_kind_is_covered() -> None:
    kinds = {c[1].kind for c in CASES}
    assert kinds == set(VerdictKind)
    keys = {verdict_key(c[1]) for c in CASES}
    assert {"clock.verdict.absent_late", "clock.verdict.absent_early"} <= keys


def test_no_english_sentence_hedges_its_plural() -> None:
    catalog = default_catalog()
    for key, entry in catalog.messages["en"].items():
        texts = [entry] if isinstance(entry, str) else entry.texts()
        if key.startswith(("clock.", "remind.", "onduty.")):
            assert all("(s)" not in t for t in texts), key


def test_plural_forms_need_count_and_other(tmp_path: Path) -> None:
    for lang in LANGUAGES:
        (tmp_path / lang).mkdir()
        (tmp_path / lang / "a.yaml").write_text('k:\n  count: n\n  one: "{n} thing"\n', encoding="utf-8")
    with pytest.raises(CatalogError, match="other"):
        Catalog.load(tmp_path)
