"""How spoken and mistyped questions are read: split words, units, nicknames, pinyin."""

from __future__ import annotations

from knowledge import passages, pinyin
from knowledge.analysis import answer_types_asked, without_nicknames, words
from knowledge.index import KnowledgeIndex
from knowledge.query import analyze
from knowledge.synonyms import SynonymTable
from knowledge.textnorm import normalize


def test_spoken_units_become_the_handbook_units() -> None:
    assert normalize("客户要我赔200块") == "客户要我赔200元"
    assert normalize("五千块钱") == "5000元"
    assert normalize("一块钱") == "1元"
    assert normalize("我们一块去") == "我们1块去"  # together, not one yuan
    assert normalize("换了三回班") == "换了3次班"
    assert normalize("一回来就打卡") == "1回来就打卡"  # 回来 is a verb


def test_split_words_are_put_back_together() -> None:
    table = SynonymTable([["喝酒", "酒后"], ["打卡", "punch"]])
    assert table.rejoin(normalize("喝了点酒还能上班吗")) == ["喝酒"]
    assert table.rejoin(normalize("网断了打不了卡")) == ["打卡"]
    assert table.rejoin(normalize("上个月的工资")) == []


def test_yes_no_doubling_adds_no_topic() -> None:
    table = SynonymTable.load()
    query = analyze("我能不能一直上晚班", table)
    assert "不能" not in query.tokens
    # The doubled form still asks for a definition.
    assert "#definition" in analyze("提前半小时走算不算早退", table).kinds


def test_search_mode_keeps_function_words_whole() -> None:
    assert "没有" not in words(normalize("加班有没有调休"))


def test_nicknames_are_not_topics() -> None:
    assert without_nicknames("我跟小王换了班") == "我跟 换了班"
    assert without_nicknames("我老公生病了") == "我老公生病了"
    assert without_nicknames("一个小时") == "一个小时"


def test_how_many_times_asks_for_a_count() -> None:
    assert [kind for kind, _ in answer_types_asked("how many times a month can i swap")] == ["#quantity"]
    query = analyze("How many times a month can I swap shifts?", SynonymTable.load())
    assert "tim" not in [c.label for c in query.concepts]


def test_pinyin_segmentations() -> None:
    assert pinyin.segmentations("chidao")[0] == ["chi", "dao"]
    assert pinyin.segmentations("kuanggong")[0] == ["kuang", "gong"]
    assert pinyin.segmentations("hello") == []


def test_pinyin_typed_words_find_the_article(lexical_index: KnowledgeIndex) -> None:
    result = lexical_index.search("kuanggong一天什么处分", 3)
    assert result.mode != "none"  # answered, or offered among "您是想问"
    assert result.hits[0].ref == "第三十三条"


def test_clauses_about_being_unable_count_like_examples() -> None:
    main, spans = passages.split_examples("因急事确实无法提前24小时申请的，可以先电话报告组长。")
    assert spans == ["无法提前24小时申请的"]
    assert "无法" not in main
    assert passages.split_examples("换班申请应至少提前24小时提交。") == ("换班申请应至少提前24小时提交。", [])


def test_off_topic_workplace_words_are_declined(lexical_index: KnowledgeIndex) -> None:
    # 餐补 would otherwise fall apart into 餐 + 补, both handbook characters.
    assert not lexical_index.search("加班有没有餐补？").answered
