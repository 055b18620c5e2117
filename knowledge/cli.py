"""`deskmate kb ...`: search, check and evaluate handbooks from the command line.

The lead wires :func:`add_kb_commands` into the deskmate CLI; ``python -m knowledge kb ...``
runs the same commands stand-alone.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from knowledge.model import HandbookError
from schedules.texthygiene import json_line, terminal_safe


def add_kb_commands(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Register ``kb`` and its sub-commands; each sets ``func`` returning an exit code."""
    kb = subparsers.add_parser("kb", help="search, check and evaluate handbooks")
    kb.set_defaults(func=lambda _args: _usage(kb))
    commands = kb.add_subparsers(dest="kb_command", metavar="COMMAND")

    search = commands.add_parser("search", help="answer questions read from stdin, one per line")
    _add_kb_options(search)
    search.add_argument("--top", type=int, default=3, help="results per question (default 3)")
    search.add_argument("--json", action="store_true", help="one JSON object per line")
    search.set_defaults(func=cmd_search)

    check = commands.add_parser("check", help="validate a handbook file and list its chapters")
    check.add_argument("path", type=Path)
    check.set_defaults(func=cmd_check)

    evaluate = commands.add_parser("eval", help="answer-quality figures on a question file (.jsonl)")
    evaluate.add_argument("questions", type=Path, help='lines of {"q": ..., "expect": [refs]}')
    _add_kb_options(evaluate)
    evaluate.add_argument("--json", action="store_true", help="print the figures as JSON")
    evaluate.set_defaults(func=cmd_eval)

    calibrate = commands.add_parser("calibrate", help="fit the confidence model on a question file")
    calibrate.add_argument("questions", type=Path, nargs="+")
    _add_kb_options(calibrate)
    calibrate.add_argument("--threshold", type=float, default=0.5)
    calibrate.add_argument(
        "--mode",
        choices=("both", "lexical", "semantic"),
        default="both",
        help="refit only this model; the other is kept from the current file",
    )
    calibrate.add_argument("--out", type=Path, help="write the calibration file here")
    calibrate.set_defaults(func=cmd_calibrate)


def _add_kb_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--kb",
        action="append",
        type=Path,
        metavar="PATH",
        help="handbook file or folder (repeatable; default $HANDBOOK_PATHS or the bundled sample)",
    )
    parser.add_argument("--lexical", action="store_true", help="turn the semantic re-ranking off")
    parser.add_argument("--synonyms", action="append", type=Path, default=[], help="extra synonym file")
    parser.add_argument(
        "--cache-dir", type=Path, help="embedding cache (default $KB_CACHE_DIR or var/cache/kb)"
    )


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help(sys.stderr)
    return 2


def _service(args: argparse.Namespace, *, semantic: bool | None = None) -> object:
    from knowledge.service import KnowledgeService

    use_semantic = (not args.lexical) if semantic is None else semantic
    return KnowledgeService(
        args.kb,
        semantic=use_semantic,
        synonyms=args.synonyms,
        cache_dir=args.cache_dir,
        progress=sys.stderr.isatty(),
    )


def cmd_search(args: argparse.Namespace) -> int:
    from knowledge.service import KnowledgeService

    try:
        service = _service(args)
    except HandbookError as exc:
        print(exc, file=sys.stderr)
        return 2
    assert isinstance(service, KnowledgeService)
    top = max(1, args.top)
    for line in sys.stdin:
        question = line.strip()
        if not question:
            continue
        result = service.search(question, top)
        if args.json:
            print(json_line(result.to_dict()), flush=True)
            continue
        status = "answer" if result.answered else "no answer; suggestions"
        print(f"{terminal_safe(question)}\n  [{status}, confidence {result.confidence:.2f}]")
        for hit in result.hits:
            print(terminal_safe(f"  {hit.score:.2f}  {hit.ref} ({hit.chapter}) {hit.text[:80]}"))
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    from knowledge.loader import load_file

    try:
        articles = load_file(args.path)
    except HandbookError as exc:
        print(exc, file=sys.stderr)
        return 2
    chapters: dict[str, int] = {}
    for article in articles:
        chapters[article.chapter or "(no chapter)"] = chapters.get(article.chapter or "(no chapter)", 0) + 1
    print(f"{args.path}: {articles[0].doc} ({articles[0].lang})")
    for chapter, count in chapters.items():
        print(f"  {chapter}: {count} articles")
    print(f"{len(articles)} articles, {articles[0].ref} to {articles[-1].ref}")
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    from knowledge import evaluation
    from knowledge.loader import load_paths
    from knowledge.semantic import load_embedder
    from knowledge.service import KnowledgeService

    try:
        questions = evaluation.read_questions(args.questions)
        articles = load_paths(args.kb)
        lexical = KnowledgeService(args.kb, semantic=False, synonyms=args.synonyms, cache_dir=args.cache_dir)
    except (HandbookError, OSError, ValueError, KeyError) as exc:
        print(exc, file=sys.stderr)
        return 2

    def ours(service: KnowledgeService) -> evaluation.Ranker:
        def rank(question: str) -> tuple[list[str], bool]:
            result = service.search(question, 10)
            return [h.ref for h in result.hits], result.answered

        return rank

    rows = [evaluation.evaluate("deskmate (lexical)", questions, ours(lexical))]
    embedder = None if args.lexical else load_embedder()
    if embedder is not None:
        semantic = KnowledgeService(
            args.kb,
            embedder=embedder,
            synonyms=args.synonyms,
            cache_dir=args.cache_dir,
            progress=sys.stderr.isatty(),
        )
        rows.append(evaluation.evaluate("deskmate (semantic extra)", questions, ours(semantic)))
    rows.append(
        evaluation.evaluate("baseline: rapidfuzz alone", questions, evaluation.rapidfuzz_baseline(articles))
    )
    rows.append(evaluation.evaluate("baseline: BM25 alone", questions, evaluation.bm25_baseline(articles)))
    if args.json:
        print(json.dumps([r.as_dict() for r in rows], ensure_ascii=False, indent=2))
    else:
        print(evaluation.format_table(rows))
    return 0


def cmd_calibrate(args: argparse.Namespace) -> int:
    """Fit the logistic confidence model on labelled questions.

    The label is "the handbook covers this question" (non-empty expect), so the confidence
    separates questions to answer from questions to decline, as the bot needs.
    """
    from knowledge import confidence, evaluation
    from knowledge.semantic import load_embedder
    from knowledge.service import KnowledgeService

    questions = [q for path in args.questions for q in evaluation.read_questions(path)]
    models = {}
    for mode in ("lexical", "semantic"):
        if args.mode not in ("both", mode):
            continue
        embedder = load_embedder() if mode == "semantic" and not args.lexical else None
        if mode == "semantic" and embedder is None:
            continue
        service = KnowledgeService(
            args.kb,
            semantic=embedder is not None,
            embedder=embedder,
            synonyms=args.synonyms,
            cache_dir=args.cache_dir,
        )
        rows: list[dict[str, float]] = []
        labels: list[int] = []
        for question in questions:
            result = service.search(question.q, 1)
            if result.features:
                rows.append(result.features[0])
                labels.append(int(bool(question.expect)))
        names = confidence.FEATURES_SEMANTIC if mode == "semantic" else confidence.FEATURES_LEXICAL
        # The lexical features all spread over [0, 1]; the cosine needs standardising to count.
        models[mode] = confidence.fit(rows, labels, names, standardize=mode == "semantic")
    current = confidence.load()
    calibration = confidence.Calibration(
        lexical=models.get("lexical", current.lexical),
        semantic=models.get("semantic", current.semantic),
        threshold=args.threshold,
    )
    text = calibration.to_json()
    if args.out:
        args.out.write_text(text, encoding="utf-8")
    print(text, end="")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Stand-alone entry point: ``python -m knowledge kb search ...``."""
    parser = argparse.ArgumentParser(prog="python -m knowledge")
    add_kb_commands(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return int(args.func(args))
