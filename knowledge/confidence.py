"""Turning match features into a probability that an article answers the question.

The coefficients are a logistic regression fitted on our own labelled questions
(``kb calibrate``), kept in a data file so organisations can refit them on theirs.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_FILE = Path(__file__).parent / "data" / "calibration.json"
FEATURES_LEXICAL = ("coverage", "gram_coverage", "gram_coverage_en", "fuzzy", "unknown", "unknown_max")
FEATURES_SEMANTIC = (*FEATURES_LEXICAL, "cosine")


@dataclass(frozen=True)
class Model:
    bias: float
    weights: Mapping[str, float] = field(default_factory=dict)

    def predict(self, features: Mapping[str, float]) -> float:
        z = self.bias + sum(w * features.get(name, 0.0) for name, w in self.weights.items())
        return 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, z))))


@dataclass(frozen=True)
class Calibration:
    lexical: Model
    semantic: Model
    threshold: float = 0.5

    def model(self, semantic: bool) -> Model:
        return self.semantic if semantic else self.lexical

    def to_json(self) -> str:
        def dump(m: Model) -> dict[str, object]:
            return {"bias": round(m.bias, 4), "weights": {k: round(v, 4) for k, v in m.weights.items()}}

        data = {"threshold": self.threshold, "lexical": dump(self.lexical), "semantic": dump(self.semantic)}
        return json.dumps(data, indent=2) + "\n"


_FALLBACK = Calibration(
    lexical=Model(-5.0, {"coverage": 6.0, "gram_coverage": 3.0, "fuzzy": 1.0}),
    semantic=Model(-12.0, {"coverage": 4.0, "gram_coverage": 2.0, "fuzzy": 1.0, "cosine": 10.0}),
)


def load(path: Path | None = None) -> Calibration:
    """The calibration file (bundled by default); built-in guesses if it is missing."""
    path = path or DEFAULT_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return _FALLBACK

    def model(raw: Mapping[str, object], fallback: Model) -> Model:
        if not isinstance(raw, Mapping):
            return fallback
        weights = raw.get("weights", {})
        return Model(float(raw.get("bias", 0.0)), {str(k): float(v) for k, v in dict(weights).items()})  # type: ignore[arg-type,call-overload]

    return Calibration(
        lexical=model(data.get("lexical", {}), _FALLBACK.lexical),
        semantic=model(data.get("semantic", {}), _FALLBACK.semantic),
        threshold=float(data.get("threshold", 0.5)),
    )


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
