from __future__ import annotations

from pathlib import Path

import docx
import pytest

from knowledge.loader import DEFAULT_DIR, default_paths, load_file, load_paths
from knowledge.model import HandbookError

MD = """# 测试手册

## 第一章 总则

**第一条** 为了测试，制定本制度。

**第二条** 本制度适用于全体员工。
第二段落也属于第二条。

## 第二章 请假

**第三条（请假审批）** 请假一天以内由组长审批。
"""

TXT_EN = """Chapter 1 General
Article 1 This handbook is for tests.
Article 2 It applies to everyone.
Chapter 2 Leave
Article 3 Leave of one day is approved by the team leader.
"""


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_markdown(tmp_path: Path) -> None:
    articles = load_file(write(tmp_path, "a.md", MD))
    assert [a.ref for a in articles] == ["第一条", "第二条", "第三条"]
    assert articles[0].doc == "测试手册"
    assert articles[1].chapter == "第一章 总则"
    assert "第二段落" in articles[1].text
    assert articles[2].chapter == "第二章 请假"
    assert articles[2].title == "请假审批"
    assert articles[2].text == "请假一天以内由组长审批。"
    assert {a.lang for a in articles} == {"zh"}
    assert articles[2].number == 3


def test_plain_text_uses_file_stem(tmp_path: Path) -> None:
    articles = load_file(write(tmp_path, "staff-rules.txt", TXT_EN))
    assert [a.ref for a in articles] == ["Article 1", "Article 2", "Article 3"]
    assert articles[0].doc == "staff-rules"
    assert articles[2].chapter == "Chapter 2 Leave"
    assert articles[0].lang == "en"


def test_docx(tmp_path: Path) -> None:
    document = docx.Document()
    document.add_heading("Docx 手册", level=1)
    document.add_paragraph("第一章 总则")
    document.add_paragraph("第一条 员工应准时上班。")
    document.add_paragraph("第二条 迟到三次给予警告。")
    path = tmp_path / "h.docx"
    document.save(str(path))
    articles = load_file(path)
    assert [a.ref for a in articles] == ["第一条", "第二条"]
    assert articles[0].doc == "Docx 手册"
    assert articles[1].chapter == "第一章 总则"


def test_large_chinese_numbers(tmp_path: Path) -> None:
    body = "\n".join(f"第{n}条 内容{n}。" for n in ["一", "二"])
    lines = [body] + [f"第{_cn(n)}条 条文内容第{n}号。" for n in range(3, 103)]
    articles = load_file(write(tmp_path, "big.txt", "\n".join(lines)))
    assert articles[100].ref == "第一百零一条"
    assert articles[100].number == 101


def _cn(n: int) -> str:
    from knowledge.numerals import to_chinese

    return to_chinese(n)


@pytest.mark.parametrize(
    ("name", "text", "line", "reason"),
    [
        ("dup.md", "**第一条** 甲。\n\n**第一条** 乙。\n", 3, "duplicate"),
        ("gap.md", "**第一条** 甲。\n\n**第三条** 丙。\n", 3, "第二条 was expected"),
        ("start.txt", "第二条 乙。\n", 1, "第一条 was expected"),
        ("none.md", "# 标题\n\n只有文字。\n", 3, "no article"),
        ("mixed.md", "**第一条** 甲。\n\n**Article 2** English.\n", 3, "mixed languages"),
        ("content.md", "**Article 1** 这是中文内容，不是英文。\n", 1, "mixed languages"),
        ("empty.md", "**第一条**\n\n**第二条** 乙。\n", 1, "no text"),
    ],
)
def test_bad_files_name_file_and_line(tmp_path: Path, name: str, text: str, line: int, reason: str) -> None:
    path = write(tmp_path, name, text)
    with pytest.raises(HandbookError) as info:
        load_file(path)
    assert info.value.line == line
    assert str(path) in str(info.value)
    assert f":{line}:" in str(info.value)
    assert reason in str(info.value)


def test_unreadable_files(tmp_path: Path) -> None:
    with pytest.raises(HandbookError, match="cannot read"):
        load_file(tmp_path / "missing.md")
    bad = tmp_path / "latin1.md"
    bad.write_bytes("**第一条** ok\n".encode() + b"\n\xff\xfe broken\n")
    with pytest.raises(HandbookError) as info:
        load_file(bad)
    assert info.value.line == 3
    corrupt = tmp_path / "x.docx"
    corrupt.write_bytes(b"not a zip")
    with pytest.raises(HandbookError, match="cannot read"):
        load_file(corrupt)
    with pytest.raises(HandbookError, match="unsupported"):
        load_file(write(tmp_path, "a.pdf", "x"))


def test_folder_and_defaults(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(tmp_path, "a.md", MD)
    write(tmp_path, "b.txt", TXT_EN)
    write(tmp_path, ".hidden.md", "garbage")
    articles = load_paths([tmp_path])
    assert len(articles) == 6
    assert default_paths() == [DEFAULT_DIR]
    monkeypatch.setenv("HANDBOOK_PATHS", f"{tmp_path / 'a.md'},{tmp_path / 'b.txt'}")
    assert default_paths() == [tmp_path / "a.md", tmp_path / "b.txt"]
    assert len(load_paths()) == 6


def test_bundled_handbook() -> None:
    articles = load_paths([DEFAULT_DIR])
    zh = [a for a in articles if a.lang == "zh"]
    en = [a for a in articles if a.lang == "en"]
    assert len(zh) == len(en) == 129
    assert zh[100].ref == "第一百零一条"
    assert en[128].ref == "Article 129"
    assert zh[0].doc == "星河商贸客服部管理制度"
