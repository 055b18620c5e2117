"""Start-up from the index snapshot (issue 17): the second start loads what the first built, a
changed synonym file or a damaged snapshot gives a rebuild, and a fresh process answers from the
snapshot exactly as the built index does."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from knowledge.service import KnowledgeService

QUESTIONS = [
    "晚班几点下班",
    "换斑要提前多久",
    "年价能休几天",
    "When does the evening shift end?",
    "公司股票怎么买",
]


def _answers(service: KnowledgeService) -> list[tuple[str, list[str], float]]:
    out = []
    for question in QUESTIONS:
        result = service.search(question, 3)
        out.append((result.mode, [h.ref for h in result.hits], round(result.confidence, 6)))
    return out


def test_second_start_loads_the_snapshot(tmp_path: Path) -> None:
    first = KnowledgeService(semantic=False, cache_dir=tmp_path)
    assert not first.from_snapshot
    assert list(tmp_path.glob("index-lexical-*.pickle"))
    second = KnowledgeService(semantic=False, cache_dir=tmp_path)
    assert second.from_snapshot
    assert _answers(second) == _answers(first)


def test_a_changed_synonym_file_or_a_damaged_snapshot_rebuilds(tmp_path: Path) -> None:
    extra = tmp_path / "synonyms.txt"
    extra.write_text("调班 串班\n", encoding="utf-8")
    KnowledgeService(semantic=False, synonyms=[extra], cache_dir=tmp_path)
    extra.write_text("调班 串班 挪班\n", encoding="utf-8")
    changed = KnowledgeService(semantic=False, synonyms=[extra], cache_dir=tmp_path)
    assert not changed.from_snapshot
    newest = max(tmp_path.glob("index-lexical-*.pickle"), key=lambda p: p.stat().st_mtime)
    newest.write_bytes(b"not a pickle")
    damaged = KnowledgeService(semantic=False, synonyms=[extra], cache_dir=tmp_path)
    assert not damaged.from_snapshot
    assert damaged.search("晚班几点下班", 1).hits[0].ref == "第十七条"
    assert newest.stat().st_mode & 0o077 == 0  # rewritten owner-only


def test_a_fresh_process_answers_from_the_snapshot_as_built(tmp_path: Path) -> None:
    built = KnowledgeService(semantic=False, cache_dir=tmp_path)
    script = (
        "import json, sys\n"
        "from pathlib import Path\n"
        "from knowledge.service import KnowledgeService\n"
        "s = KnowledgeService(semantic=False, cache_dir=Path(sys.argv[1]))\n"
        "out = []\n"
        "for q in json.loads(sys.argv[2]):\n"
        "    r = s.search(q, 3)\n"
        "    out.append([r.mode, [h.ref for h in r.hits], round(r.confidence, 6)])\n"
        "print(json.dumps({'snapshot': s.from_snapshot, 'answers': out}))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path), json.dumps(QUESTIONS)],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen["snapshot"] is True
    assert [tuple(a) for a in seen["answers"]] == [(m, refs, c) for m, refs, c in _answers(built)]
