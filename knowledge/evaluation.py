"""Answer-quality figures for question sets, for our search and two simple baselines.

The baselines show what the extra machinery buys: rapidfuzz alone over the article text,
and BM25 alone over plain jieba tokens. Every system answers from the same language's
handbook, so only the ranking differs.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from knowledge.model import Article
from knowledge.textnorm import detect_language

Ranker = Callable[[str], tuple[list[str], bool]]  # question -> (refs best first, answered)


@dataclass(frozen=True)
class Question:
    q: str
    expect: tuple[str, ...]  # empty: out of scope, must be declined


@dataclass(frozen=True)
class Scores:
    system: str
    top1: float
    top3: float
    mrr: float
    oos_declined: float  # share of out-of-scope questions declined
    wrongly_declined: float  # share of in-scope questions declined
    in_scope: int
    out_of_scope: int

    def as_dict(self) -> dict[str, object]:
        return dict(self.__dict__)


def read_questions(path: str | Path) -> list[Question]:
    rows: list[Question] = []
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        if line.strip():
            data = json.loads(line)
            rows.append(Question(str(data["q"]), tuple(str(r) for r in data.get("expect", []))))
    return rows


def evaluate(name: str, questions: Sequence[Question], ranker: Ranker) -> Scores:
    top1 = top3 = rr = 0.0
    declined_in = declined_out = 0
    in_scope = [q for q in questions if q.expect]
    out_scope = [q for q in questions if not q.expect]
    for question in questions:
        refs, answered = ranker(question.q)
        if not question.expect:
            declined_out += not answered
            continue
        declined_in += not answered
        rank = next((i for i, ref in enumerate(refs) if ref in question.expect), None)
        if rank is not None:
            top1 += rank == 0
            top3 += rank < 3
            rr += 1.0 / (rank + 1)
    n_in = max(len(in_scope), 1)
    return Scores(
        name,
        top1 / n_in,
        top3 / n_in,
        rr / n_in,
        declined_out / len(out_scope) if out_scope else 1.0,
        declined_in / n_in,
        len(in_scope),
        len(out_scope),
    )


def _by_language(articles: Sequence[Article]) -> dict[str, list[Article]]:
    groups: dict[str, list[Article]] = {}
    for article in articles:
        groups.setdefault(article.lang, []).append(article)
    return groups


def _pick(groups: dict[str, list[Article]], question: str) -> list[Article]:
    lang = detect_language(question)
    return groups.get(lang) or next(iter(groups.values()), [])


def rapidfuzz_baseline(articles: Sequence[Article], depth: int = 10, cutoff: float = 60.0) -> Ranker:
    """rapidfuzz partial_ratio of the raw question against each article's text."""
    from rapidfuzz import fuzz, process

    groups = _by_language(articles)

    def rank(question: str) -> tuple[list[str], bool]:
        pool = _pick(groups, question)
        found = process.extract(question, [a.text for a in pool], scorer=fuzz.partial_ratio, limit=depth)
        refs = [pool[i].ref for _, _, i in found]
        return refs, bool(found) and found[0][1] >= cutoff

    return rank


def bm25_baseline(articles: Sequence[Article], depth: int = 10, cutoff: float = 0.4) -> Ranker:
    """Plain BM25 over jieba tokens (lower-cased, no synonyms, stopwords or normalisation).

    It declines when the best article scores less than ``cutoff`` times the sum of the
    question tokens' idf (about what one plain occurrence of every token would give).
    """
    import numpy as np

    from knowledge.analysis import jieba_tokenizer
    from knowledge.bm25 import BM25

    tokenizer = jieba_tokenizer()

    def tokens(text: str) -> list[str]:
        return [t for t in tokenizer.cut(text.lower()) if t.strip()]  # type: ignore[attr-defined]

    indexes = {}
    for lang, pool in _by_language(articles).items():
        bags = []
        for article in pool:
            bag: dict[str, float] = {}
            for token in tokens(article.text):
                bag[token] = bag.get(token, 0.0) + 1.0
            bags.append(bag)
        indexes[lang] = (pool, BM25(bags))

    def rank(question: str) -> tuple[list[str], bool]:
        lang = detect_language(question)
        pool, bm25 = indexes.get(lang) or next(iter(indexes.values()))
        terms = tokens(question)
        scores = bm25.score_terms(terms)
        order = np.argsort(-scores, kind="stable")[:depth]
        ideal = sum(bm25.term_idf(t) or bm25.max_idf for t in terms) or 1.0
        answered = bool(len(scores)) and float(scores[order[0]]) / ideal >= cutoff
        return [pool[i].ref for i in order], answered

    return rank


def format_table(rows: Sequence[Scores]) -> str:
    header = (
        f"{'system':<28} {'top-1':>6} {'top-3':>6} {'MRR':>6} {'OOS declined':>13} {'in-scope declined':>18}"
    )
    lines = [header, "-" * len(header)]
    for s in rows:
        lines.append(
            f"{s.system:<28} {s.top1:>6.3f} {s.top3:>6.3f} {s.mrr:>6.3f} {s.oos_declined:>13.3f} "
            f"{s.wrongly_declined:>18.3f}"
        )
    if rows:
        lines.append(f"({rows[0].in_scope} in-scope and {rows[0].out_of_scope} out-of-scope questions)")
    return "\n".join(lines)
