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

Ranker = Callable[[str], tuple[list[str], str]]  # question -> (refs best first, "answer"|"choice"|"none")


@dataclass(frozen=True)
class Question:
    q: str
    expect: tuple[str, ...]  # empty: out of scope, must be declined


@dataclass(frozen=True)
class Scores:
    """Ranking and reply-mode figures; "declined" means the reply's mode was "none"."""

    system: str
    top1: float
    top3: float
    mrr: float
    oos_declined: float  # share of out-of-scope questions declined ("none")
    wrongly_declined: float  # share of in-scope questions declined ("none")
    in_scope: int
    out_of_scope: int
    answer_right: float = (
        0.0  # of all "answer" replies (in- and out-of-scope), share citing an expected article
    )
    answer_share: float = 0.0  # in-scope questions answered outright
    choice_share: float = 0.0  # in-scope questions offered a choice
    choice_right: float = 0.0  # of the in-scope choices, share with an expected article among the three
    oos_answered: float = 0.0  # out-of-scope questions answered with some article (the worst outcome)

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
    in_modes = {"answer": 0, "choice": 0, "none": 0}
    out_modes = {"answer": 0, "choice": 0, "none": 0}
    answers_right = choices_right = 0
    in_scope = [q for q in questions if q.expect]
    out_scope = [q for q in questions if not q.expect]
    for question in questions:
        refs, mode = ranker(question.q)
        if not question.expect:
            out_modes[mode] += 1
            continue
        in_modes[mode] += 1
        rank = next((i for i, ref in enumerate(refs) if ref in question.expect), None)
        if rank is not None:
            top1 += rank == 0
            top3 += rank < 3
            rr += 1.0 / (rank + 1)
        answers_right += mode == "answer" and rank == 0
        choices_right += mode == "choice" and rank is not None and rank < 3
    n_in = max(len(in_scope), 1)
    n_out = len(out_scope)
    answered = in_modes["answer"] + out_modes["answer"]
    return Scores(
        name,
        top1 / n_in,
        top3 / n_in,
        rr / n_in,
        out_modes["none"] / n_out if n_out else 1.0,
        in_modes["none"] / n_in,
        len(in_scope),
        n_out,
        answer_right=answers_right / answered if answered else 1.0,
        answer_share=in_modes["answer"] / n_in,
        choice_share=in_modes["choice"] / n_in,
        choice_right=choices_right / in_modes["choice"] if in_modes["choice"] else 1.0,
        oos_answered=out_modes["answer"] / n_out if n_out else 0.0,
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

    def rank(question: str) -> tuple[list[str], str]:
        pool = _pick(groups, question)
        found = process.extract(question, [a.text for a in pool], scorer=fuzz.partial_ratio, limit=depth)
        refs = [pool[i].ref for _, _, i in found]
        return refs, "answer" if found and found[0][1] >= cutoff else "none"

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

    def rank(question: str) -> tuple[list[str], str]:
        lang = detect_language(question)
        pool, bm25 = indexes.get(lang) or next(iter(indexes.values()))
        terms = tokens(question)
        scores = bm25.score_terms(terms)
        order = np.argsort(-scores, kind="stable")[:depth]
        ideal = sum(bm25.term_idf(t) or bm25.max_idf for t in terms) or 1.0
        answered = bool(len(scores)) and float(scores[order[0]]) / ideal >= cutoff
        return [pool[i].ref for i in order], "answer" if answered else "none"

    return rank


def format_table(rows: Sequence[Scores]) -> str:
    """The quality table: ranking, then what the replies were (in-scope shares sum to 1)."""
    header = (
        f"{'system':<28} {'top-1':>6} {'top-3':>6} {'MRR':>6} {'right when answering':>21} "
        f"{'answer':>7} {'choice':>7} {'none':>6} {'choice held it':>15} {'OOS none':>9} {'OOS answered':>13}"
    )
    lines = [header, "-" * len(header)]
    for s in rows:
        lines.append(
            f"{s.system:<28} {s.top1:>6.3f} {s.top3:>6.3f} {s.mrr:>6.3f} {s.answer_right:>21.3f} "
            f"{s.answer_share:>7.3f} {s.choice_share:>7.3f} {s.wrongly_declined:>6.3f} "
            f"{s.choice_right:>15.3f} {s.oos_declined:>9.3f} {s.oos_answered:>13.3f}"
        )
    counts = {(s.in_scope, s.out_of_scope) for s in rows}
    if len(counts) == 1:
        in_scope, out_of_scope = counts.pop()
        lines.append(f"({in_scope} in-scope and {out_of_scope} out-of-scope questions)")
    elif rows:
        lines.append(
            "(in-scope/out-of-scope: "
            + ", ".join(f"{s.system} {s.in_scope}/{s.out_of_scope}" for s in rows)
            + ")"
        )
    if rows:
        lines.append("(answer, choice and none are shares of the in-scope questions)")
    return "\n".join(lines)
