"""The mechanisms behind the ranking: typed values next to the topic, examples, homophone typos,
split verbs, article citations, phrases and the confidence fit.

Questions here are phrased afresh (not taken from the dev set) and each checks one mechanism.
"""

from __future__ import annotations

import math

import pytest

from knowledge import analysis, confidence, passages, pinyin
from knowledge.index import KnowledgeIndex
from knowledge.query import analyze
from knowledge.textnorm import normalize


def top(index: KnowledgeIndex, question: str) -> str:
    return index.search(question).hits[0].ref


# --- what time: the article stating the topic's clock times ----------------------------


@pytest.mark.parametrize(
    ("question", "ref"),
    [
        ("晚班几点下班？", "第十七条"),  # the question the issue quotes
        ("白班几点到几点", "第十七条"),
        ("夜班几点结束", "第十七条"),
        ("What time does the evening shift end?", "Article 17"),
        ("When does the day shift finish?", "Article 17"),
    ],
)
def test_time_questions_find_the_stated_times(lexical_index: KnowledgeIndex, question: str, ref: str) -> None:
    assert top(lexical_index, question) == ref


def test_time_cue_words_are_not_topic() -> None:
    asked = dict(analysis.answer_types_asked(normalize("What time does the day shift start and end?")))
    assert asked["#time"] == "what time start and end"  # "day shift" in between stays the topic
    assert "#date" not in dict(analysis.answer_types_asked("when does the hotline open"))
    assert "#time" not in dict(analysis.answer_types_asked("when is payday"))


def test_binding_prefers_the_value_next_to_the_topic() -> None:
    concepts: list[tuple[passages.Alternatives, float]] = [(((("晚班",), 1.0),), 1.0)]
    rule = passages.prepare("部门实行两班制：白班9:00至18:00，晚班14:00至23:00。")
    meal = passages.prepare("晚班的用餐时间安排在17:00至19:00之间。")
    example = passages.prepare(
        "相邻两个班次之间的休息时间少于11小时（例如晚班23:00下班后，次日不能接白班）。"
    )
    bag = {"晚班": 1.0}
    near = passages.binding(rule, ["#time"], concepts, bag)
    assert near == pytest.approx(1.0)
    assert passages.binding(meal, ["#time"], concepts, bag) < 0.5 * near
    assert passages.binding(example, ["#time"], concepts, bag) == pytest.approx(passages.EXAMPLE_FACTOR)
    assert passages.binding(rule, ["#money"], concepts, bag) == 0.0


def test_english_counts_bind_to_the_counted_thing() -> None:
    sentences = passages.prepare("Each person may take part in no more than three swaps a month.")
    concepts = [(((("swap",), 1.0),), 1.0)]
    assert passages.binding(sentences, ["#quantity"], concepts, {"swap": 1.0}) == pytest.approx(1.0)


def test_examples_are_split_off() -> None:
    main, examples = passages.split_examples(
        "休息时间少于11小时（例如晚班23:00下班后），同一人不得连上两班。"
    )
    assert examples == ["例如晚班23:00下班后"]
    assert "晚班" not in main and "同一人" in main
    assert passages.split_examples("No example here.") == ("No example here.", [])


def test_lead_coverage_counts_the_opening_clause() -> None:
    concepts = [(((("换班",), 1.0),), 2.0), (((("提前",), 1.0),), 1.0)]
    assert passages.lead_coverage(frozenset({"换班", "申请"}), concepts) == pytest.approx(2 / 3)
    assert passages.lead_coverage(frozenset(), concepts) == 0.0


# --- typos typed by sound, split verbs, function characters -----------------------------


def test_pinyin_keys_read_words_in_context() -> None:
    assert pinyin.key("换斑") == pinyin.key("换班") == "huanban"
    assert pinyin.key("提前") == "tiqian" != pinyin.key("体检")  # 前 is not read jian here
    assert pinyin.key(["审", "pi"]) == pinyin.key("审批")
    assert pinyin.key(["审", "xyz"]) is None


@pytest.mark.parametrize(
    ("question", "ref"),
    [
        ("年价有几天", "第五十二条"),  # 年假 is only a synonym; the handbook says 年休假
        ("请家要谁审批", "第四十八条"),  # 请 is a stopword, 请家 still reads qingjia
        ("请假审pi找谁", "第四十八条"),  # pinyin typed in Latin letters
        ("代打咔会怎么样", "第三十六条"),
        ("病价要什么证明", "第五十一条"),
    ],
)
def test_homophone_typos(lexical_index: KnowledgeIndex, question: str, ref: str) -> None:
    result = lexical_index.search(question)
    assert result.hits[0].ref == ref
    assert result.mode != "none"  # answered, or offered among "您是想问"


def test_split_verbs_are_one_concept(lexical_index: KnowledgeIndex) -> None:
    query = analyze("每个月能换几次班", lexical_index.synonyms)
    labels = [c.label for c in query.concepts]
    assert "换班" in labels and "换" not in labels and "班" not in labels
    assert "换班" in query.grams
    assert top(lexical_index, "每个月能换几次班") == "第四十二条"


def test_function_characters_fused_to_a_word(lexical_index: KnowledgeIndex) -> None:
    assert top(lexical_index, "全勤奖被扣了怎么回事") == "第三十一条"


def test_superlatives_stem_like_their_adjective() -> None:
    assert analysis.stem("earliest") == analysis.stem("early")
    assert analysis.stem("latest") != analysis.stem("late")  # a deadline, not lateness
    assert analysis.stem("request") == "request"


# --- citations, phrases ------------------------------------------------------------------


def test_numbered_things_are_not_article_citations(lexical_index: KnowledgeIndex) -> None:
    assert analyze("在线客户第一条消息多久内要回", None).refs == ()
    assert analyze("第五十条和第五十一条有什么区别", None).refs == (50, 51)
    assert top(lexical_index, "在线客户第一条消息多久内要回") != "第一条"


def test_a_phrase_counts_only_where_all_its_words_occur(lexical_index: KnowledgeIndex) -> None:
    from knowledge.query import Concept

    index = lexical_index._langs["en"]
    phrase = tuple(analysis.words(normalize("time off")))
    assert len(phrase) == 2
    scores, _reference, _known = index.concept_scores(Concept("leave", ((phrase, 1.0),)), 0.5)
    with_time = {i for i, a in enumerate(index.articles) if "time" in a.text.lower()}
    with_both = {i for i, a in enumerate(index.articles) if "time off" in a.text.lower()}
    scored = {i for i, v in enumerate(scores) if v > 0}
    assert with_both <= scored < with_time


# --- confidence ----------------------------------------------------------------------------


def test_standardised_fit_uses_a_narrow_feature() -> None:
    # Like e5's cosine: in-scope around 0.90, out-of-scope around 0.85.
    rows = [{"cosine": 0.90 + 0.002 * (i % 5)} for i in range(40)]
    rows += [{"cosine": 0.85 + 0.002 * (i % 5)} for i in range(40)]
    labels = [1] * 40 + [0] * 40
    plain = confidence.fit(rows, labels, ["cosine"])
    scaled = confidence.fit(rows, labels, ["cosine"], standardize=True)
    assert abs(plain.predict({"cosine": 0.90}) - plain.predict({"cosine": 0.85})) < 0.05
    assert scaled.predict({"cosine": 0.905}) > 0.9 > 0.1 > scaled.predict({"cosine": 0.855})
    assert math.isfinite(scaled.bias)


def test_topic_prior_learns_which_words_lean_out_of_scope() -> None:
    """Hand-made labels: 发工资 and 几号 only in out-of-scope questions, 请假 only in covered ones."""
    prior = confidence.TopicPrior.learn(
        ["发工资是几号", "几号发工资呀", "病假怎么请假", "请假要提前几天", "事假请假找谁"],
        [False, False, True, True, True],
    )
    assert prior.weights["工资"] < 0 < prior.weights["请假"]
    assert prior.score("工资几号发") < 0 < prior.score("请假几天")
    assert prior.score("股票") == 0.0  # nothing known about it: no lean either way
    assert "病假" not in prior.weights and "病" not in prior.weights  # seen once: too little to learn from
    assert prior.weights["资"] < 0 < prior.weights["请"]  # single characters count too


def test_bundled_calibration_has_a_topic_prior() -> None:
    loaded = confidence.load()
    assert len(loaded.prior.weights) > 100
    assert "topic_prior" in loaded.lexical.weights and "topic_prior" in loaded.semantic.weights


def test_scope_set_is_all_out_of_scope() -> None:
    """The calibration's extra out-of-scope questions (scope-questions.jsonl) expect nothing."""
    from tests.knowledge.quality import DATA, assert_well_formed

    path = DATA / "scope-questions.jsonl"
    assert_well_formed(path, at_least=80, out_of_scope=80)


# --- confidence features: which missing values count, English weights of their own -----------


def test_a_who_question_missing_its_clause_is_a_loose_miss(lexical_index: KnowledgeIndex) -> None:
    """第八条 names the manager without a "由…负责" clause: the "谁" cue finds no #who value, which
    says little (a loose miss), unlike a 几点 or 几号 question whose article states no time or date."""
    result = lexical_index.search("部门的年度目标谁来定")
    assert result.hits[0].ref == "第八条"
    first = result.features[0]
    assert first["kind_missing_loose"] == 1.0
    assert first["kind_missing_exact"] == 0.0


def test_a_date_question_whose_article_states_none_is_an_exact_miss(lexical_index: KnowledgeIndex) -> None:
    result = lexical_index.search("工资卡每个月几号能收到钱")
    first = result.features[0]
    assert first["kind_missing_exact"] == 1.0, result.hits[0].ref
    assert first["kind_missing_loose"] == 0.0


def test_english_questions_carry_their_own_coverage_features(lexical_index: KnowledgeIndex) -> None:
    english = lexical_index.search("How many days of marriage leave are there?").features[0]
    chinese = lexical_index.search("婚假有几天").features[0]
    for name in ("coverage", "sentence_coverage", "unknown", "unknown_max"):
        assert english[name + "_en"] == english[name]
        assert name + "_en" not in chinese
    assert set(confidence.FEATURES_LEXICAL) >= {"unknown_en", "kind_missing_exact", "kind_missing_loose"}
    assert "kind_missing" not in confidence.FEATURES_LEXICAL


def test_written_set_is_well_formed() -> None:
    """written-questions.jsonl (calibration data written for issue 17) asks about every article."""
    from knowledge.loader import load_paths
    from tests.knowledge.quality import DATA, assert_well_formed

    path = DATA / "written-questions.jsonl"
    assert_well_formed(path, at_least=450, out_of_scope=110)
    from knowledge import evaluation

    number = {a.ref: a.number for a in load_paths()}
    covered = {number[ref] for q in evaluation.read_questions(path) for ref in q.expect}
    assert covered == set(number.values())  # every article, in Chinese or English
