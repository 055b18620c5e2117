from __future__ import annotations

from pathlib import Path

from knowledge.index import KnowledgeIndex
from knowledge.loader import load_file
from knowledge.synonyms import SynonymTable, read_groups

SMALL_ZH = """# 小手册

## 第一章 考勤

**第一条** 员工换班须提前24小时在系统中提交申请。

**第二条** 迟到超过30分钟的按严重迟到处理。

**第三条** 年休假应提前7天申请。
"""


def small_index(tmp_path: Path, extra_synonyms: list[list[str]] | None = None) -> KnowledgeIndex:
    path = tmp_path / "zh.md"
    path.write_text(SMALL_ZH, encoding="utf-8")
    groups = read_groups(Path(__file__).parents[2] / "knowledge" / "data" / "synonyms.txt")
    return KnowledgeIndex(
        load_file(path), synonyms=SynonymTable(groups + (extra_synonyms or [])), progress=False
    )


def test_answers_in_question_language(lexical_index: KnowledgeIndex) -> None:
    zh = lexical_index.search("换班需要提前多久申请？")
    assert zh.lang == "zh" and zh.mode != "none"
    assert zh.hits[0].ref.startswith("第")
    en = lexical_index.search("How many shift swaps can I do per month?")
    assert en.lang == "en" and en.mode != "none"
    assert en.hits[0].ref == "Article 42"


def test_falls_back_to_other_language(tmp_path: Path) -> None:
    index = small_index(tmp_path)
    result = index.search("How early must I request a shift swap?")
    assert result.lang == "zh"
    assert len(result.hits) == 3  # still suggestions from the Chinese handbook


def test_synonyms_bridge_colloquial_words(tmp_path: Path) -> None:
    index = small_index(tmp_path)
    assert index.search("调班要提前多久").hits[0].ref == "第一条"
    assert index.search("晚到半小时以上算什么").hits[0].ref == "第二条"
    assert index.search("休年假提前几天").hits[0].ref == "第三条"


def test_organisation_synonyms_extend_the_list(tmp_path: Path) -> None:
    question = "搬砖要提前多久报名"
    plain = small_index(tmp_path).search(question)
    extended = small_index(tmp_path, [["换班", "搬砖"], ["申请", "报名"]]).search(question)
    assert extended.hits[0].ref == "第一条"
    assert extended.confidence > plain.confidence


def test_traditional_and_full_width_questions(lexical_index: KnowledgeIndex) -> None:
    assert lexical_index.search("請假三天要誰批准？").hits[0].ref == "第四十八条"
    assert lexical_index.search("ＯＴ每個月最多幾個小時").hits[0].ref == "第二十五条"


def test_out_of_scope_is_declined_with_suggestions(lexical_index: KnowledgeIndex) -> None:
    result = lexical_index.search("帮我订一张去北京的机票")
    assert not result.answered
    assert result.confidence < 0.5
    assert len(result.hits) == 3
    assert all(0.0 <= h.score <= 1.0 for h in result.hits)
    assert not lexical_index.search("Who won the football world cup in 2010?").answered


def test_empty_question(lexical_index: KnowledgeIndex) -> None:
    result = lexical_index.search("？？？")
    assert not result.answered and result.hits == ()


def test_explicit_article_reference(lexical_index: KnowledgeIndex) -> None:
    result = lexical_index.search("第一百零一条讲的是什么")
    assert result.answered and result.hits[0].ref == "第一百零一条"
    assert lexical_index.search("what does article 93 say").hits[0].ref == "Article 93"


def test_typos_still_find_the_article(lexical_index: KnowledgeIndex) -> None:
    assert lexical_index.search("can i wear slipers at work").hits[0].ref == "Article 59"


def test_result_dict_shape(lexical_index: KnowledgeIndex) -> None:
    data = lexical_index.search("婚假有几天", top=5).to_dict()
    assert set(data) == {"q", "answered", "mode", "confidence", "results"}
    assert data["mode"] in ("answer", "choice", "none")
    assert data["answered"] is (data["mode"] == "answer")
    results = data["results"]
    assert isinstance(results, list) and len(results) == 5
    assert set(results[0]) == {"ref", "doc", "chapter", "text", "score"}
    scores = [r["score"] for r in results]
    assert all(0.0 <= score <= 1.0 for score in scores)
    assert scores == sorted(scores, reverse=True), "best first means the score goes down"


def test_scores_go_down_in_both_modes_on_many_questions(lexical_index: KnowledgeIndex) -> None:
    from tests.knowledge.quality import DATA

    for line in (DATA / "hard-questions.jsonl").read_text(encoding="utf-8").splitlines()[:40]:
        question = line.split('"q": "', 1)[1].split('"', 1)[0]
        scores = [h.score for h in lexical_index.search(question, 5).hits]
        assert scores == sorted(scores, reverse=True), question


def test_pay_day_is_declined_and_referred_to_human_resources(lexical_index: KnowledgeIndex) -> None:
    """The handbook never states a pay day; 第三十七条 says attendance goes to 人力资源部 for pay,
    so the bot declines and names that department (a question in none of the question sets)."""
    from knowledge import referrals

    question = "这个月工资哪天发"
    assert lexical_index.search(question, 3).mode == "none"
    refer = referrals.find(question, frozenset(a.ref for a in lexical_index.articles))
    assert refer is not None and (refer.department, refer.ref) == ("人力资源部", "第三十七条")
    assert referrals.find("个人所得税在哪里申报", frozenset(a.ref for a in lexical_index.articles)) is None
