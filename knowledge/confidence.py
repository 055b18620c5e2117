"""Turning match features into a probability that an article answers the question.

The coefficients are a logistic regression fitted on our own labelled questions
(``kb calibrate``), kept in a data file so organisations can refit them on theirs.
"""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_FILE = Path(__file__).parent / "data" / "calibration.json"
# A missing value of an exact kind (几点, 几号, 多少钱) says more than a missing "由…负责" clause or
# list (谁, 哪些), and English words have no general frequencies, so an unknown English word and
# English coverage get weights of their own (the *_en copies are absent, so 0, for Chinese).
FEATURES_LEXICAL = (
    "coverage",
    "gram_coverage",
    "gram_coverage_en",
    "fuzzy",
    "unknown",
    "unknown_max",
    "kind_missing_exact",
    "kind_missing_loose",
    "sentence_coverage",
    "topic_prior",
    "coverage_en",
    "sentence_coverage_en",
    "unknown_en",
    "unknown_max_en",
)
FEATURES_SEMANTIC = (*FEATURES_LEXICAL, "cosine", "cosine_z")
# How far the first article is ahead of the second: what tells "this one" from "one of these".
FEATURES_ANSWER_LEXICAL = (*FEATURES_LEXICAL, "margin", "margin_rel")
FEATURES_ANSWER_SEMANTIC = (*FEATURES_SEMANTIC, "margin", "margin_rel")
_CJK_RUN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff]+")
_LATIN = re.compile(r"[a-z]+")

MODES = ("answer", "choice", "none")


@dataclass(frozen=True)
class Model:
    bias: float
    weights: Mapping[str, float] = field(default_factory=dict)

    def predict(self, features: Mapping[str, float]) -> float:
        z = self.bias + sum(w * features.get(name, 0.0) for name, w in self.weights.items())
        return 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, z))))


def question_grams(question: str) -> set[str]:
    """What :class:`TopicPrior` looks at: characters and character pairs of the Chinese text,
    English stems. Single characters carry a lean to words not seen whole (薪 of 月薪 and 底薪)."""
    from knowledge import analysis
    from knowledge.textnorm import normalize

    norm = normalize(question)
    runs = _CJK_RUN.findall(norm)
    found = {run[i : i + 2] for run in runs for i in range(len(run) - 1)}
    found.update(ch for run in runs for ch in run)
    for word in _LATIN.findall(norm):
        term = analysis.english_term(word)
        if term is not None:
            found.add(term)
    return found


@dataclass(frozen=True)
class TopicPrior:
    """How the wording of a question leans towards topics the handbook covers or not.

    Naive Bayes log-odds per character pair or English stem, learnt from labelled questions
    (``kb calibrate``): 发工资, 几号, 优惠券 or payslip lean out of scope even though the handbook
    uses 工资 and 优惠券, which no single article match shows. It is one feature of the scope and
    answer models, not a rule of its own; pairs seen fewer than twice are not kept.
    """

    weights: Mapping[str, float] = field(default_factory=dict)

    def score(self, question: str) -> float:
        """Sum of the known pairs' log-odds over the square root of their count (0 if none)."""
        if not self.weights:
            return 0.0
        found = [self.weights[g] for g in question_grams(question) if g in self.weights]
        return sum(found) / math.sqrt(len(found)) if found else 0.0

    @classmethod
    def learn(
        cls, questions: Sequence[str], in_scope: Sequence[bool], *, alpha: float = 1.0, min_count: int = 2
    ) -> TopicPrior:
        inside: Counter[str] = Counter()
        outside: Counter[str] = Counter()
        n_in = sum(1 for flag in in_scope if flag)
        n_out = len(in_scope) - n_in
        for question, flag in zip(questions, in_scope, strict=True):
            (inside if flag else outside).update(question_grams(question))
        weights = {
            g: math.log((inside[g] + alpha) / (n_in + 2 * alpha))
            - math.log((outside[g] + alpha) / (n_out + 2 * alpha))
            for g in sorted(set(inside) | set(outside))
            if inside[g] + outside[g] >= min_count
        }
        return cls(weights)


@dataclass(frozen=True)
class Thresholds:
    """``answer``: lowest P(first article right) to answer; ``none``: P(in scope) below it declines."""

    answer: float = 0.5
    none: float = 0.5


@dataclass(frozen=True)
class Calibration:
    """Two models per search mode (lexical, semantic) and the thresholds that pick the reply's mode.

    ``scope`` estimates whether the handbook covers the question at all (from the best article's
    match features); ``answer`` whether the first article is the right one (the same features plus
    how far it is ahead of the second). Between "sure" and "no idea" the bot offers a choice.
    """

    lexical: Model
    semantic: Model
    answer_lexical: Model = field(default_factory=lambda: Model(0.0))
    answer_semantic: Model = field(default_factory=lambda: Model(0.0))
    thresholds_lexical: Thresholds = field(default_factory=Thresholds)
    thresholds_semantic: Thresholds = field(default_factory=Thresholds)
    prior: TopicPrior = field(default_factory=TopicPrior)

    def model(self, semantic: bool) -> Model:
        return self.semantic if semantic else self.lexical

    def answer_model(self, semantic: bool) -> Model:
        return self.answer_semantic if semantic else self.answer_lexical

    def thresholds(self, semantic: bool) -> Thresholds:
        return self.thresholds_semantic if semantic else self.thresholds_lexical

    def mode(self, semantic: bool, p_right: float, p_scope: float) -> str:
        """ "none" when the handbook very likely does not cover the question, "answer" when the
        first article is very likely right, otherwise "choice" (offer the top three)."""
        limits = self.thresholds(semantic)
        if p_scope < limits.none:
            return "none"
        if p_right >= limits.answer:
            return "answer"
        return "choice"

    def to_json(self) -> str:
        def dump(m: Model) -> dict[str, object]:
            return {"bias": round(m.bias, 4), "weights": {k: round(v, 4) for k, v in m.weights.items()}}

        def limits(t: Thresholds) -> dict[str, float]:
            return {"answer": round(t.answer, 4), "none": round(t.none, 4)}

        data = {
            "lexical": {
                "scope": dump(self.lexical),
                "answer": dump(self.answer_lexical),
                "thresholds": limits(self.thresholds_lexical),
            },
            "semantic": {
                "scope": dump(self.semantic),
                "answer": dump(self.answer_semantic),
                "thresholds": limits(self.thresholds_semantic),
            },
            "topic_prior": {k: round(v, 3) for k, v in self.prior.weights.items()},
        }
        return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


_FALLBACK = Calibration(
    lexical=Model(-5.0, {"coverage": 6.0, "gram_coverage": 3.0, "fuzzy": 1.0}),
    semantic=Model(-12.0, {"coverage": 4.0, "gram_coverage": 2.0, "fuzzy": 1.0, "cosine": 10.0}),
    answer_lexical=Model(-5.0, {"coverage": 6.0, "gram_coverage": 3.0, "fuzzy": 1.0, "margin": 2.0}),
    answer_semantic=Model(-12.0, {"coverage": 4.0, "gram_coverage": 2.0, "cosine": 10.0, "margin": 2.0}),
)


def _model(raw: object, fallback: Model) -> Model:
    if not isinstance(raw, Mapping):
        return fallback
    weights = raw.get("weights", {})
    if not isinstance(weights, Mapping):
        return fallback
    return Model(float(raw.get("bias", 0.0)), {str(k): float(v) for k, v in weights.items()})


def _thresholds(raw: object) -> Thresholds:
    if not isinstance(raw, Mapping):
        return Thresholds()
    return Thresholds(float(raw.get("answer", 0.5)), float(raw.get("none", 0.5)))


def load(path: Path | None = None) -> Calibration:
    """The calibration file (bundled by default); built-in guesses if it is missing."""
    path = path or DEFAULT_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return _FALLBACK
    if not isinstance(data, Mapping):
        return _FALLBACK
    lexical = data.get("lexical", {})
    semantic = data.get("semantic", {})
    lexical = lexical if isinstance(lexical, Mapping) else {}
    semantic = semantic if isinstance(semantic, Mapping) else {}
    return Calibration(
        lexical=_model(lexical.get("scope"), _FALLBACK.lexical),
        semantic=_model(semantic.get("scope"), _FALLBACK.semantic),
        answer_lexical=_model(lexical.get("answer"), _FALLBACK.answer_lexical),
        answer_semantic=_model(semantic.get("answer"), _FALLBACK.answer_semantic),
        thresholds_lexical=_thresholds(lexical.get("thresholds")),
        thresholds_semantic=_thresholds(semantic.get("thresholds")),
        prior=_prior(data.get("topic_prior")),
    )


def _prior(raw: object) -> TopicPrior:
    if not isinstance(raw, Mapping):
        return TopicPrior()
    return TopicPrior({str(k): float(v) for k, v in raw.items() if isinstance(v, int | float)})


def choose_thresholds(
    p_right: Sequence[float],
    p_scope: Sequence[float],
    right: Sequence[bool],
    in_scope: Sequence[bool],
    *,
    precision: float = 0.97,
    max_declined: float = 0.06,
) -> Thresholds:
    """Thresholds meeting the targets on (preferably out-of-fold) probabilities.

    ``none``: the highest threshold that declines at most ``max_declined`` of the in-scope
    questions; ``answer``: the lowest threshold whose answers (among the questions not
    declined, as :meth:`Calibration.mode` decides) are at least ``precision`` right.
    """
    scope_in = sorted(p for p, inside in zip(p_scope, in_scope, strict=True) if inside)
    allowed = int(max_declined * len(scope_in))
    none = scope_in[allowed] if allowed < len(scope_in) else 0.5
    kept = [(pr, ok) for pr, ps, ok in zip(p_right, p_scope, right, strict=True) if ps >= none]
    pairs = sorted(kept, key=lambda pair: -pair[0])
    answer = 1.0
    good = 0
    for count, (prob, ok) in enumerate(pairs, start=1):
        good += ok
        if good / count >= precision:
            answer = prob
    return Thresholds(answer=answer, none=none)


def fit(
    rows: Sequence[Mapping[str, float]],
    labels: Sequence[int],
    names: Sequence[str],
    l2: float = 1.0,
    *,
    standardize: bool = False,
) -> Model:
    """Class-balanced logistic regression by Newton's method (few features, a few hundred rows).

    Balancing makes 0.5 mean "as likely answerable as not" whatever mix of in- and
    out-of-scope questions the labelled file happens to have. With ``standardize`` the
    penalty applies to features scaled to unit spread (and the weights are scaled back): a
    feature with a narrow range, like e5's cosine (about 0.8 to 0.95), is otherwise penalised
    out of the model however well it separates the classes.
    """
    import numpy as np

    raw = np.array([[r.get(n, 0.0) for n in names] for r in rows], dtype=np.float64).reshape(len(rows), -1)
    mean = raw.mean(axis=0) if standardize and len(rows) else np.zeros(len(names))
    spread = raw.std(axis=0) if standardize and len(rows) else np.ones(len(names))
    spread = np.where(spread > 1e-9, spread, 1.0)
    x = np.hstack([np.ones((len(rows), 1)), (raw - mean) / spread])
    y = np.asarray(labels, dtype=np.float64)
    positives = max(float(y.sum()), 1.0)
    negatives = max(float(len(y) - y.sum()), 1.0)
    sample = np.where(y > 0, len(y) / (2 * positives), len(y) / (2 * negatives))
    w = np.zeros(x.shape[1])
    reg = np.eye(x.shape[1]) * l2
    reg[0, 0] = 0.0
    for _ in range(100):
        p = 1.0 / (1.0 + np.exp(-np.clip(x @ w, -30, 30)))
        grad = x.T @ (sample * (p - y)) + reg @ w
        hess = (x.T * (sample * p * (1 - p))) @ x + reg + np.eye(x.shape[1]) * 1e-9
        step = np.linalg.solve(hess, grad)
        w -= step
        if float(np.abs(step).max()) < 1e-8:
            break
    weights = w[1:] / spread
    bias = float(w[0] - float(np.dot(weights, mean)))
    return Model(bias, {n: float(v) for n, v in zip(names, weights, strict=True)})
