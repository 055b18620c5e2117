"""Question analysis: the concepts a question asks about.

A concept is one thing the question mentions, satisfied by any of its alternatives: the word
itself, its synonyms, or (for a word the handbook never uses) close spellings. Scoring per
concept rather than per word keeps 调班 and 换班 from counting twice and lets unknown words
lower the confidence instead of vanishing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from knowledge import analysis
from knowledge.analysis import answer_types_asked
from knowledge.synonyms import SynonymTable
from knowledge.textnorm import detect_language, has_cjk, normalize

# A yes/no question doubles its verb around 不 or 没 (能不能, 可不可以, 有没有, 算不算); the
# doubled form only asks, and left whole it would add 不能 or 不算 as a topic.
_A_NOT_A = re.compile(r"([\u4e00-\u9fff])[不没]\1([\u4e00-\u9fff]?)")

# 第三条 cites an article when nothing follows or a word about it does (第三条讲的是什么), not
# when 条 counts something else (第一条消息, 第二条短信).
_ZH_REF = re.compile(r"第\s*(\d+)\s*条(?=$|[^\u4e00-\u9fff]|[讲说规写是的里中内提怎什和与跟呢吗啊有要])")
_EN_REF = re.compile(r"\b(?:article|art)\s*(\d+)\b")


@dataclass(frozen=True)
class Concept:
    label: str  # the words of the question it came from
    alternatives: tuple[tuple[tuple[str, ...], float], ...]  # (index terms, weight)


@dataclass(frozen=True)
class Query:
    text: str
    norm: str
    lang: str
    tokens: tuple[str, ...]
    grams: tuple[str, ...]
    concepts: tuple[Concept, ...]
    refs: tuple[int, ...]  # article numbers cited explicitly (第十二条, Article 12)
    joined: tuple[str, ...] = ()  # split verbs put back together (换几次班 -> 换班)
    kinds: tuple[str, ...] = ()  # kinds of fact asked for (#time for 几点, #quantity for 多久)


def _merge(found: list[tuple[int, str]]) -> list[tuple[set[str], set[int]]]:
    """Matched surfaces sharing a group are one concept (双十一 and 大促 in one question)."""
    merged: list[tuple[set[str], set[int]]] = []
    for group, surface in found:
        groups = {group}
        surfaces = {surface}
        keep: list[tuple[set[str], set[int]]] = []
        for other_surfaces, other_groups in merged:
            if other_groups & groups or other_surfaces & surfaces:
                groups |= other_groups
                surfaces |= other_surfaces
            else:
                keep.append((other_surfaces, other_groups))
        merged = [*keep, (surfaces, groups)]
    return merged


def analyze(
    text: str,
    synonyms: SynonymTable | None,
    *,
    synonym_weight: float = 0.9,
    answer_type_weight: float = 0.5,
    number_weight: float = 0.3,
) -> Query:
    """Normalise, detect the language, tokenise and group the question into concepts."""
    asked = analysis.without_nicknames(normalize(text))
    norm = _A_NOT_A.sub(r"\1\2", asked)
    lang = detect_language(norm)
    tokens = analysis.words(norm)
    grams = analysis.grams(norm)
    # A split verb (换几次班) is one word, 换班: its halves are not concepts of their own, and
    # it counts as a bigram of the question like an unsplit 换班 would.
    spoken = synonyms.rejoin(norm) if synonyms is not None and has_cjk(norm) else []
    joined = [w for w in dict.fromkeys(analysis.rejoined(norm) + spoken) if w not in norm.replace(" ", "")]
    tokens += [w for w in joined if w not in tokens]
    halves = {ch for w in joined for ch in w}
    grams = grams + joined
    concepts: list[Concept] = []
    covered: set[str] = set(halves)
    if synonyms is not None:
        found = [(g, s) for g, s in synonyms.find(norm, tokens) if s not in halves]
        found += [(g, w) for w in joined for g in synonyms.groups_of(w)]
        for surfaces, groups in _merge(found):
            weights: dict[tuple[str, ...], float] = {}
            for group in sorted(groups):
                for term in synonyms.groups[group].terms:
                    weight = 1.0 if term.surface in surfaces else synonym_weight
                    weights[term.tokens] = max(weight, weights.get(term.tokens, 0.0))
                    if term.surface in surfaces or len(term.tokens) == 1:
                        covered.update(term.tokens)
            concepts.append(Concept(" / ".join(sorted(surfaces)), tuple(weights.items())))
            covered.update(surfaces)
            for surface in surfaces:
                covered.update(surface.split())
        # jieba sub-words inside a matched synonym (休假 in 年休假) belong to that concept.
        cjk_surfaces = [s for s in covered if has_cjk(s)]
        covered.update(t for t in tokens if has_cjk(t) and any(t in s for s in cjk_surfaces))
    kinds = []
    for kind, cue in answer_types_asked(asked):  # 算不算 still asks for a definition
        kinds.append(kind)
        if kind in analysis.INDEXED_KINDS:
            weight = answer_type_weight * analysis.ANSWER_TYPE_WEIGHTS.get(kind, 1.0)
            concepts.append(Concept(kind, (((kind,), weight),)))
            # The cue's own words ask for the kind of answer ("what time", 几点); they are not the topic.
            covered.update(analysis.words(cue))
        elif not has_cjk(cue):
            # Nor is "times" in "how many times"; a Chinese unit (多少分) does name what is counted.
            covered.update(analysis.words(cue))
    unit = analysis.unit_asked(asked)
    if unit is not None and "#quantity" in kinds:
        kinds.append(unit)
    seen: set[str] = set()
    for token in tokens:
        if token in covered or token in seen:
            continue
        seen.add(token)
        # Numbers in questions are usually the asker's case (请假5天), not the rule's wording.
        weight = number_weight if token.isdigit() else 1.0
        concepts.append(Concept(token, (((token,), weight),)))
    refs = tuple(int(m) for m in (_ZH_REF.findall(norm) + _EN_REF.findall(norm)))
    return Query(
        text, norm, lang, tuple(tokens), tuple(grams), tuple(concepts), refs, tuple(joined), tuple(kinds)
    )
