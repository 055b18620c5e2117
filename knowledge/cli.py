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
from typing import TYPE_CHECKING

from knowledge.model import HandbookError
from schedules.texthygiene import json_line, terminal_safe

if TYPE_CHECKING:
    from knowledge.service import KnowledgeService


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
    calibrate.add_argument(
        "--precision", type=float, default=0.97, help="share of answers that must be right (0.97)"
    )
    calibrate.add_argument(
        "--lexical-precision",
        type=float,
        help="the lexical mode's own --precision (default: --precision)",
    )
    calibrate.add_argument(
        "--max-declined", type=float, default=0.06, help="share of in-scope questions declined (0.06)"
    )
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
        status = {"answer": "answer", "choice": "did you mean", "none": "no answer"}[result.mode]
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
        def rank(question: str) -> tuple[list[str], str]:
            result = service.search(question, 10)
            return [h.ref for h in result.hits], result.mode

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
    """Fit the confidence models and the mode thresholds on labelled questions.

    Two labels per question: "the handbook covers it" (non-empty expect) for the scope model,
    and "the first article is an expected one" for the answer model. The thresholds are chosen
    on out-of-fold probabilities (each fifth of the questions scored by models fitted on the
    rest), so they reflect questions the models did not see.
    """
    from knowledge import confidence, evaluation

    questions = [q for path in args.questions for q in evaluation.read_questions(path)]
    current = confidence.load()
    texts = [q.q for q in questions]
    covered = [bool(q.expect) for q in questions]
    prior = confidence.TopicPrior.learn(texts, covered)
    # Each question's prior from the questions of the other folds, as the thresholds need.
    held_out = [0.0] * len(questions)
    for fold in range(_FOLDS):
        train = [i for i in range(len(questions)) if i % _FOLDS != fold]
        model = confidence.TopicPrior.learn([texts[i] for i in train], [covered[i] for i in train])
        for i in range(fold, len(questions), _FOLDS):
            held_out[i] = model.score(texts[i])
    fitted: dict[str, tuple[confidence.Model, confidence.Model, confidence.Thresholds]] = {}
    for mode in ("lexical", "semantic"):
        if args.mode not in ("both", mode):
            continue
        service = _mode_service(args, semantic=mode == "semantic")
        if service is None:
            continue
        rows: list[dict[str, float]] = []
        scope: list[int] = []
        right: list[int] = []
        for number, question in enumerate(questions):
            result = service.search(question.q, 3)
            if result.features:
                rows.append({**result.features[0], "topic_prior": held_out[number]})
                scope.append(int(bool(question.expect)))
                right.append(int(bool(question.expect) and result.hits[0].ref in question.expect))
        semantic = mode == "semantic"
        scope_names = confidence.FEATURES_SEMANTIC if semantic else confidence.FEATURES_LEXICAL
        answer_names = confidence.FEATURES_ANSWER_SEMANTIC if semantic else confidence.FEATURES_ANSWER_LEXICAL
        # The lexical features all spread over [0, 1]; the cosine and margins need standardising.
        p_scope = _out_of_fold(rows, scope, scope_names, standardize=True)
        p_right = _out_of_fold(rows, right, answer_names, standardize=True)
        limits = confidence.choose_thresholds(
            p_right,
            p_scope,
            [bool(r) for r in right],
            [bool(s) for s in scope],
            precision=args.precision
            if semantic or args.lexical_precision is None
            else args.lexical_precision,
            max_declined=args.max_declined,
        )
        fitted[mode] = (
            confidence.fit(rows, scope, scope_names, standardize=True),
            confidence.fit(rows, right, answer_names, standardize=True),
            limits,
        )
    lexical = fitted.get("lexical", (current.lexical, current.answer_lexical, current.thresholds_lexical))
    semantic_fit = fitted.get(
        "semantic", (current.semantic, current.answer_semantic, current.thresholds_semantic)
    )
    calibration = confidence.Calibration(
        lexical=lexical[0],
        semantic=semantic_fit[0],
        answer_lexical=lexical[1],
        answer_semantic=semantic_fit[1],
        thresholds_lexical=lexical[2],
        thresholds_semantic=semantic_fit[2],
        prior=prior,
    )
    text = calibration.to_json()
    if args.out:
        args.out.write_text(text, encoding="utf-8")
    print(text, end="")
    return 0


def _mode_service(args: argparse.Namespace, *, semantic: bool) -> KnowledgeService | None:
    """A service for one search mode; None for the semantic one when the extra is missing."""
    from knowledge.semantic import load_embedder
    from knowledge.service import KnowledgeService

    embedder = load_embedder() if semantic and not args.lexical else None
    if semantic and embedder is None:
        return None
    return KnowledgeService(
        args.kb,
        semantic=embedder is not None,
        embedder=embedder,
        synonyms=args.synonyms,
        cache_dir=args.cache_dir,
    )


_FOLDS = 5


def _out_of_fold(
    rows: Sequence[dict[str, float]], labels: Sequence[int], names: Sequence[str], *, standardize: bool
) -> list[float]:
    """Each row's probability from a model fitted without its fold (5 interleaved folds)."""
    from knowledge import confidence

    folds = _FOLDS
    out = [0.0] * len(rows)
    for fold in range(folds):
        train = [i for i in range(len(rows)) if i % folds != fold]
        model = confidence.fit(
            [rows[i] for i in train], [labels[i] for i in train], names, standardize=standardize
        )
        for i in range(fold, len(rows), folds):
            out[i] = model.predict(rows[i])
    return out


def main(argv: Sequence[str] | None = None) -> int:
    """Stand-alone entry point: ``python -m knowledge kb search ...``."""
    parser = argparse.ArgumentParser(prog="python -m knowledge")
    add_kb_commands(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return int(args.func(args))
