"""Where in an article the question's topic meets the kind of fact it asks for.

BM25 and coverage look at an article as one bag of words, so an article that mentions the
question's topic in passing ties with the one that states its value. A question asking for a
clock time (晚班几点下班), a count or length (一个月最多换几次班) or a definition
(迟到多久算严重迟到) is best answered where the topic word stands right next to such a value:
晚班14:00至23:00, not 晚班的用餐时间安排在17:00至19:00. Values given only as an example
(例如…, for example…) count for less: they mention a topic without being the rule about it.
An article's opening clause names its subject, so a question whose topic is that subject is
about the article rather than touching it in passing (:func:`lead_coverage`).

Sentences are prepared lazily for the candidates of a search and cached per article.
"""

from __future__ import annotations

import bisect
import re
import unicodedata
from collections.abc import Mapping, Sequence

from knowledge import analysis
from knowledge.textnorm import has_cjk, to_simplified

_SENTENCE = re.compile(r"(?<=[。；！？])|(?<=[.;!?])\s+")
_EXAMPLE_MARK = r"例如|比如|譬如|for example|for instance|e\.g\."
_EXAMPLE = re.compile(_EXAMPLE_MARK, re.IGNORECASE)
_EXAMPLE_END = re.compile(r"[）)；;。]")
# "Where it is impossible to apply 24 hours in advance": a value inside such a clause names the
# situation an exception covers, not the rule itself, so it binds like an example does.
_UNABLE = re.compile(r"无法|不能|来不及|未能|没法|\bimpossible\b|\bunable\b|\bcannot\b|can't", re.IGNORECASE)
# An example runs from its marker to the closing bracket or the end of the clause; in the index
# the rarer "unable" markers get the same treatment up to the end of their clause (不能 and
# cannot also state plain prohibitions, so they are left out there).
_EXAMPLE_SPAN = re.compile(
    rf"(?:{_EXAMPLE_MARK})[^）)；;。]*|(?:无法|来不及|未能|没法|\bimpossible\b|\bunable\b)[^，,）)；;。]*",
    re.IGNORECASE,
)
# Literal openings of the spans above, tested before the regex runs.
_SPAN_MARKERS: tuple[str, ...] = ("例如", "比如", "譬如", "for example", "for instance", "e.g.")
_SPAN_MARKERS += ("无法", "来不及", "未能", "没法", "impossible", "unable")
_CLAUSE_END = re.compile(r"[，,；;。）)]")
_UNIT = re.compile(r"[a-z]+|[0-9]+|[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")

EXAMPLE_FACTOR = 0.5
DECAY = 3.0  # units (CJK characters or Latin words) at which a binding counts half


class Sentence:
    """One sentence of an article; unit positions, English terms and values are computed on
    first use, since most sentences of most candidates are never asked for them."""

    __slots__ = ("_stems", "_values", "examples", "starts", "text")

    def __init__(self, text: str) -> None:
        self.text = text  # NFKC, simplified, lower case, punctuation kept
        # Offsets where units (CJK characters, Latin words, numbers) start, for bisection.
        self.starts = [m.start() for m in _UNIT.finditer(text)]
        self.examples = tuple(
            (self.unit(m.start()), self.unit(_example_end(text, m.end()))) for m in _EXAMPLE.finditer(text)
        )  # unit spans that only give an example
        self.examples += tuple(
            (self.unit(m.start()), self.unit(_clause_end(text, m.end()))) for m in _UNABLE.finditer(text)
        )  # ... or only describe a situation someone cannot meet the rule in
        self._stems: list[tuple[str, int]] | None = None
        self._values: dict[str, list[tuple[int, int]]] = {}

    def unit(self, offset: int) -> int:
        """Index of the unit at (or last before) a character offset."""
        return max(0, bisect.bisect_right(self.starts, offset) - 1)

    def stems(self) -> list[tuple[str, int]]:
        """(English index term or number, unit index) for each Latin word of the sentence."""
        if self._stems is None:
            found: list[tuple[str, int]] = []
            for index, match in enumerate(_UNIT.finditer(self.text)):
                token = match.group(0)
                if token.isdigit():
                    found.append((token, index))
                elif token.isascii():
                    term = analysis.english_term(token)
                    if term is not None:
                        found.append((term, index))
            self._stems = found
        return self._stems

    def values(self, kind: str) -> list[tuple[int, int]]:
        """(first unit, last unit) of each value of a kind (#time: 9:00, 14:00至23:00 …)."""
        found = self._values.get(kind)
        if found is None:
            pattern = analysis.value_pattern(kind)
            found = self._values[kind] = (
                [
                    (self.unit(m.start()), self.unit(max(m.start(), m.end() - 1)))
                    for m in pattern.finditer(self.text)
                ]
                if pattern is not None
                else []
            )
        return found


def _example_end(text: str, start: int) -> int:
    end = _EXAMPLE_END.search(text, start)
    return end.start() if end else len(text)


def _clause_end(text: str, start: int) -> int:
    end = _CLAUSE_END.search(text, start)
    return end.start() if end else len(text)


def split_examples(text: str) -> tuple[str, list[str]]:
    """(the text without its examples, the examples): 例如… up to the closing bracket or clause.

    Clauses about being unable to follow a rule (无法提前24小时申请的) count as examples too.
    Most articles have neither, and plain substring tests rule that out far faster than the
    regex would (this runs for every article of an index build).
    """
    lower = text.lower()
    if not any(marker in lower for marker in _SPAN_MARKERS):
        return text, []
    examples = [m.group(0) for m in _EXAMPLE_SPAN.finditer(text)]
    if not examples:
        return text, []
    return _EXAMPLE_SPAN.sub(" ", text), examples


_SITUATION_SPAN = re.compile(
    r"(?:无法|来不及|未能|没法|\bimpossible\b|\bunable\b)[^，,）)；;。]*", re.IGNORECASE
)


def without_situations(text: str) -> str:
    """The text without the clauses naming a situation someone cannot meet a rule in
    (确实无法提前24小时申请的): for the embedding, as :func:`split_examples` is for the words.

    Such a clause repeats the rule's own terms to open an exception; embedded whole, the
    exception (第四十四条) reads as close to "how far ahead must I apply" as the rule (第四十条).
    """
    lower = text.lower()
    if not any(marker in lower for marker in _SPAN_MARKERS[6:]):
        return text
    return _SITUATION_SPAN.sub("", text)


def prepare(text: str) -> list[Sentence]:
    """An article's sentences, ready for :func:`binding`."""
    light = to_simplified(unicodedata.normalize("NFKC", text)).lower()
    return [Sentence(part) for part in _SENTENCE.split(light) if part and part.strip()]


def _occurrences(tokens: Sequence[str], sentence: Sentence) -> list[tuple[int, int]]:
    """Unit spans where an alternative (its index terms, in order and close) occurs."""
    spans: list[tuple[int, int]] = []
    if all(has_cjk(t) for t in tokens):
        # jieba words of one alternative are adjacent in the text (年休假 or 年 + 休假).
        needle = "".join(tokens)
        start = sentence.text.find(needle)
        while start >= 0:
            spans.append((sentence.unit(start), sentence.unit(start + len(needle) - 1)))
            start = sentence.text.find(needle, start + 1)
        return spans
    stems = sentence.stems()
    positions = [[u for term, u in stems if term == token] for token in tokens]
    if not all(positions):
        return spans
    for first in positions[0]:
        last = first
        ok = True
        for later in positions[1:]:
            nxt = [u for u in later if last < u <= last + 2]
            if not nxt:
                ok = False
                break
            last = nxt[0]
        if ok:
            spans.append((first, last))
    return spans


def _factor(span: tuple[int, int], sentence: Sentence) -> float:
    for start, end in sentence.examples:
        if start <= span[0] <= end:
            return EXAMPLE_FACTOR
    return 1.0


Alternatives = Sequence[tuple[tuple[str, ...], float]]


def binding(
    sentences: Sequence[Sentence],
    kinds: Sequence[str],
    concepts: Sequence[tuple[Alternatives, float]],
    bag: Mapping[str, float],
) -> float:
    """How closely the question's topic words stand to a value of the kind asked, in [0, 1].

    For each topic concept, the best closeness (1 when adjacent, halving at :data:`DECAY`
    units) between one of its occurrences and a value of one of ``kinds`` in the same
    sentence, times the concept's weight; the result is the best concept's, relative to the
    weightiest topic concept (an article binding only a minor word scores low).
    """
    total = max((weight for _alts, weight in concepts), default=0.0)
    if total <= 0 or not kinds:
        return 0.0
    score = 0.0
    for alternatives, weight in concepts:
        found = [(tokens, w) for tokens, w in alternatives if all(t in bag for t in tokens)]
        if not found:
            continue
        best = 0.0
        for sentence in sentences:
            values = [v for kind in kinds for v in sentence.values(kind)]
            if not values:
                continue
            for tokens, w in found:
                for span in _occurrences(tokens, sentence):
                    for value in values:
                        if value[0] > span[1]:
                            gap = value[0] - span[1] - 1
                        elif span[0] > value[1]:
                            gap = span[0] - value[1] - 1
                        else:
                            gap = 0
                        closeness = w * _factor(span, sentence) / (1.0 + gap / DECAY)
                        best = max(best, closeness)
        score = max(score, weight * best)
    return score / total


def lead_coverage(lead: frozenset[str], concepts: Sequence[tuple[Alternatives, float]]) -> float:
    """Weighted share of the topic concepts named in an article's opening clause.

    Articles open with their subject (换班申请应在…, 病假1天的…), so a question whose main
    words are that subject is about the article rather than touching it in passing.
    """
    total = sum(weight for _alts, weight in concepts)
    if total <= 0:
        return 0.0
    found = 0.0
    for alternatives, weight in concepts:
        best = max((w for tokens, w in alternatives if all(t in lead for t in tokens)), default=0.0)
        found += weight * best
    return found / total


def sentence_coverage(sentences: Sequence[Sentence], concepts: Sequence[tuple[Alternatives, float]]) -> float:
    """Weighted share of the topic concepts found together in one sentence (the best one).

    A question the article answers names things one of its sentences states together
    (晚班 + 下班 in 晚班14:00至23:00); a question about something else made of handbook words
    (工资 + 发 + 几号) finds them scattered over different sentences, if at all.
    """
    total = sum(weight for _alts, weight in concepts)
    if total <= 0:
        return 0.0
    best = 0.0
    for sentence in sentences:
        found = 0.0
        for alternatives, weight in concepts:
            share = max((w for tokens, w in alternatives if _occurrences(tokens, sentence)), default=0.0)
            found += weight * min(1.0, share)
        best = max(best, found / total)
    return best
