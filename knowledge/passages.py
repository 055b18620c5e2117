"""Clause-level evidence: where in an article the question's concepts meet.

BM25 and coverage look at an article as one bag of words, so an article that mentions every
word of the question in different sentences ties with the one that states the answer in a
single clause. Re-ranking the candidates by the best window of adjacent clauses rewards the
article whose own statement holds the question's topic and the kind of fact it asks for
(晚班14:00至23:00 for 晚班几点下班). Clauses that only give an example (例如…, for example…)
count for less: they mention a topic without being the rule about it.

Clauses are computed lazily for the candidates of a search and cached per article.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from knowledge import analysis
from knowledge.textnorm import has_cjk, normalize

# A sentence ends at 。；！？ (and . ; ! ? followed by a space in English).
_SENTENCE = re.compile(r"(?<=[。；！？])|(?<=[.;!?])\s+")
# Clauses split at commas, colons and brackets; 、 joins list items of one clause.
_CLAUSE = re.compile(r"[，,：:（）()]")
_EXAMPLE = re.compile(r"^\s*(?:例如|比如|譬如|诸如|for example|for instance|e\.g\.|such as)", re.IGNORECASE)
_OPEN = "（("
_LATIN = re.compile(r"[a-z]+|[0-9]+")

EXAMPLE_FACTOR = 0.5


@dataclass(frozen=True)
class Clause:
    text: str  # normalised, spaces removed for CJK
    stems: frozenset[str]  # English index terms of the clause (empty for CJK)
    kinds: frozenset[str]  # answer-type markers stated in the clause (#time, #who, ...)
    sentence: int  # index of the sentence the clause belongs to
    factor: float  # 1.0, or less for an example


def split_clauses(text: str) -> list[Clause]:
    """The clauses of an article, each with its terms and the kinds of fact it states."""
    clauses: list[Clause] = []
    for s_index, sentence in enumerate(p for p in _SENTENCE.split(text) if p and p.strip()):
        example_depth = False  # inside brackets opened by an example
        pieces = _split_keep(sentence)
        for piece, opener in pieces:
            if not piece.strip():
                if opener in _OPEN:
                    example_depth = False
                continue
            if opener in _OPEN:
                example_depth = bool(_EXAMPLE.match(piece))
            elif opener in "）)":
                example_depth = False
            is_example = example_depth or bool(_EXAMPLE.match(piece))
            norm = normalize(piece)
            cjk = has_cjk(norm)
            stems = frozenset() if cjk else frozenset(_english_terms(norm))
            kinds = frozenset(analysis.answer_types(piece))
            clauses.append(
                Clause(
                    norm.replace(" ", "") if cjk else norm,
                    stems,
                    kinds,
                    s_index,
                    EXAMPLE_FACTOR if is_example else 1.0,
                )
            )
    return clauses


def _split_keep(sentence: str) -> list[tuple[str, str]]:
    """(piece, the separator before it) for each clause of a sentence."""
    out: list[tuple[str, str]] = []
    last = 0
    opener = ""
    for match in _CLAUSE.finditer(sentence):
        out.append((sentence[last : match.start()], opener))
        opener = match.group(0)
        last = match.end()
    out.append((sentence[last:], opener))
    return out


def _english_terms(norm: str) -> list[str]:
    out = []
    for word in _LATIN.findall(norm):
        term = analysis.english_term(word)
        if term is not None:
            out.append(term)
    return out


def _present(tokens: Sequence[str], clause: Clause) -> bool:
    for token in tokens:
        if token.startswith("#"):
            if token not in clause.kinds:
                return False
        elif clause.stems or not has_cjk(token):
            if token not in clause.stems and token not in clause.text:
                return False
        elif token not in clause.text:
            return False
    return True


Alternatives = Sequence[tuple[tuple[str, ...], float]]


def best_window(
    clauses: Sequence[Clause],
    concepts: Sequence[tuple[Alternatives, float]],
    bag: Mapping[str, float],
    total: float,
    width: int = 2,
) -> float:
    """Largest weighted share of the question's concepts found within ``width`` adjacent clauses.

    ``concepts`` are (alternatives, weight) pairs; ``bag`` is the article's term bag, used
    to skip alternatives the article does not contain at all.
    """
    if not clauses or total <= 0:
        return 0.0
    present: list[tuple[list[tuple[tuple[str, ...], float]], float]] = []
    for alternatives, weight in concepts:
        found = [(tokens, w) for tokens, w in alternatives if all(t in bag for t in tokens)]
        if found:
            present.append((found, weight))
    if not present:
        return 0.0
    per_clause: list[list[float]] = []
    for clause in clauses:
        row = []
        for found, _weight in present:
            row.append(max((w for tokens, w in found if _present(tokens, clause)), default=0.0) * clause.factor)
        per_clause.append(row)
    best = 0.0
    for start in range(len(clauses)):
        end = min(len(clauses), start + width)
        if any(clauses[j].sentence != clauses[start].sentence for j in range(start, end)):
            end = start + 1
        score = 0.0
        for k, (_found, weight) in enumerate(present):
            score += weight * max(per_clause[j][k] for j in range(start, end))
        best = max(best, score)
    return best / total
