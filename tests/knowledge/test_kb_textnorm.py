from __future__ import annotations

from knowledge.analysis import stem, words
from knowledge.textnorm import cjk_ratio, detect_language, normalize, to_simplified


def test_full_width_case_and_punctuation() -> None:
    assert normalize("ＯＴ，Ａｂｃ１２３！？") == "ot abc123"
    assert normalize("How many Days?") == "how many days"


def test_traditional_to_simplified() -> None:
    assert normalize("請假需要誰批准？") == "请假需要谁批准"
    assert to_simplified("回覆") == "回复"
    # Simplified text passes unchanged (fast path).
    assert to_simplified("换班申请") == "换班申请"


def test_chinese_numbers_before_units_become_digits() -> None:
    assert normalize("三次") == normalize("3次") == "3次"
    assert normalize("请假两天") == "请假2天"
    assert normalize("第一百零一条") == "第101条"
    assert normalize("一般投诉") == "一般投诉"  # 一 is not a count here


def test_language_detection() -> None:
    assert detect_language("换班要提前多久？") == "zh"
    assert detect_language("How long before a shift swap?") == "en"
    assert detect_language("请问annual leave有几天") == "zh"
    assert detect_language("What is 调休?") == "en"
    assert detect_language("12345") == "zh"
    assert 0.0 <= cjk_ratio("abc 中文") <= 1.0


def test_english_stemming_and_stopwords() -> None:
    assert stem("approved") == stem("approve") == stem("approval")
    assert stem("swapping") == stem("swaps") == "swap"
    assert words(normalize("Who approves five days of leave?")) == ["approv", "5", "day", "leav"]


def test_chinese_words_drop_function_words() -> None:
    tokens = words(normalize("换班需要提前多久申请？"))
    assert "换班" in tokens
    assert "需要" not in tokens
    assert "换班" in words(normalize("一个月最多能换几次班"))  # separable verb rejoined
