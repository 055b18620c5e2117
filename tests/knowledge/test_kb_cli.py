from __future__ import annotations

import argparse
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from knowledge.cli import add_kb_commands, main

REPO = Path(__file__).resolve().parents[2]


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="deskmate")
    add_kb_commands(parser.add_subparsers(dest="command"))
    return parser.parse_args(argv)


def test_search_json_lines(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO("婚假有几天？\n\nWho won the NBA finals?\n"))
    args = parse(["kb", "search", "--lexical", "--json", "--top", "2"])
    assert args.func(args) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [line["q"] for line in lines] == ["婚假有几天？", "Who won the NBA finals?"]
    assert lines[0]["answered"] is True
    assert lines[0]["results"][0]["ref"] == "第五十三条"
    assert set(lines[0]["results"][0]) == {"ref", "doc", "chapter", "text", "score"}
    assert len(lines[0]["results"]) == 2
    assert lines[1]["answered"] is False


def test_search_uses_given_kb(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "h.txt"
    path.write_text("Article 1 Parking spaces are assigned by the office manager.\n", encoding="utf-8")
    monkeypatch.setattr(sys, "stdin", io.StringIO("who assigns parking spaces\n"))
    args = parse(["kb", "search", "--kb", str(path), "--lexical", "--json"])
    assert args.func(args) == 0
    line = json.loads(capsys.readouterr().out)
    assert line["results"][0]["doc"] == "h"
    assert line["results"][0]["ref"] == "Article 1"


def test_check(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    handbook = REPO / "knowledge" / "data" / "handbook" / "zh-CN.md"
    assert main(["kb", "check", str(handbook)]) == 0
    out = capsys.readouterr().out
    assert "第一章 总则: 6 articles" in out
    assert "129 articles" in out

    bad = tmp_path / "bad.md"
    bad.write_text("**第一条** 甲。\n**第一条** 乙。\n", encoding="utf-8")
    assert main(["kb", "check", str(bad)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"{bad}:2: duplicate article 第一条"]


def test_eval_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    questions = tmp_path / "q.jsonl"
    questions.write_text(
        '{"q": "婚假有几天？", "expect": ["第五十三条"]}\n{"q": "今天股市怎么样", "expect": []}\n',
        encoding="utf-8",
    )
    assert main(["kb", "eval", str(questions), "--lexical", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    systems = [r["system"] for r in rows]
    assert systems == ["deskmate (lexical)", "baseline: rapidfuzz alone", "baseline: BM25 alone"]
    assert rows[0]["top1"] == 1.0
    assert rows[0]["in_scope"] == 1 and rows[0]["out_of_scope"] == 1


@pytest.mark.slow  # `python -m knowledge` as a real child process (its start-up and imports)
def test_module_entry_point() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "knowledge", "kb", "search", "--lexical", "--json"],
        input="How long is the probation period?\n",
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=60,
        check=True,
    )
    result = json.loads(done.stdout)
    assert result["results"][0]["ref"] == "Article 114"


def test_calibrate_one_model_keeps_the_other(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from knowledge import confidence

    questions = tmp_path / "q.jsonl"
    questions.write_text(
        '{"q": "婚假有几天？", "expect": ["第五十三条"]}\n{"q": "今天股市怎么样", "expect": []}\n'
        '{"q": "How long is marriage leave?", "expect": ["Article 53"]}\n'
        '{"q": "Who won the NBA finals?", "expect": []}\n',
        encoding="utf-8",
    )
    out = tmp_path / "calibration.json"
    assert main(["kb", "calibrate", str(questions), "--mode", "lexical", "--out", str(out)]) == 0
    capsys.readouterr()
    written = confidence.load(out)
    assert written.semantic == confidence.load().semantic
    assert written.lexical != confidence.load().lexical


def test_calibrate_lexical_precision_replaces_precision_for_the_lexical_mode(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from knowledge import confidence

    questions = tmp_path / "q.jsonl"
    questions.write_text(
        "".join(
            json.dumps({"q": q, "expect": e}, ensure_ascii=False) + "\n"
            for q, e in [
                ("婚假有几天？", ["第五十三条"]),
                ("病假要什么证明", ["第五十一条"]),
                ("换班要提前多久", ["第四十条"]),
                ("迟到扣多少钱", ["第三十一条"]),
                ("今天股市怎么样", []),
                ("How long is marriage leave?", ["Article 53"]),
                ("Who won the NBA finals?", []),
                ("公司附近有什么好吃的", []),
            ]
        ),
        encoding="utf-8",
    )

    def lexical_limits(*options: str) -> confidence.Thresholds:
        out = tmp_path / "calibration.json"
        command = ["kb", "calibrate", str(questions), "--mode", "lexical", "--out", str(out), *options]
        assert main(command) == 0
        capsys.readouterr()
        return confidence.load(out).thresholds_lexical

    strict = lexical_limits("--precision", "1.0")
    assert lexical_limits("--precision", "0.1", "--lexical-precision", "1.0") == strict
    assert lexical_limits("--precision", "1.0", "--lexical-precision", "0.1") != strict
