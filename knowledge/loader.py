"""Read handbooks (Markdown, plain text, .docx) into :class:`Article` lists.

Every format is reduced to numbered lines first, so numbering rules and error messages are
the same whatever the editor the organisation uses.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from knowledge.model import Article, HandbookError
from knowledge.numerals import NUMERAL_CHARS, format_ref, parse_chinese
from knowledge.textnorm import detect_language
from schedules.filelimits import HANDBOOK_LIMITS, FileLimitError, read_docx_paragraphs, read_text_lines

SUFFIXES = (".md", ".markdown", ".txt", ".docx")
DEFAULT_DIR = Path(__file__).parent / "data" / "handbook"
ENV_PATHS = "HANDBOOK_PATHS"

_NUM = rf"[0-9{NUMERAL_CHARS}]+"
# Markers may be wrapped in Markdown bold/heading syntax; the title part is optional.
_ZH_ARTICLE = re.compile(rf"^第\s*({_NUM})\s*条(?:\s*[（(]([^）)]*)[）)])?[:：]?\s*")
_EN_ARTICLE = re.compile(r"^article\s+(\d+)\b\.?(?:\s*[(（]([^)）]*)[)）])?[:：.]?\s*", re.IGNORECASE)
_ZH_CHAPTER = re.compile(rf"^第\s*({_NUM})\s*章(?:\s|$)")
_EN_CHAPTER = re.compile(r"^chapter\s+(\d+)\b", re.IGNORECASE)
_BOLD_HEAD = re.compile(r"^\*\*([^*]+)\*\*\s*")
_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")


@dataclass
class _Draft:
    number: int
    lang: str
    line: int
    chapter: str
    title: str
    parts: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class _Line:
    number: int  # 1-based line (or paragraph) number in the source file
    text: str
    heading_level: int = 0  # 1 = document title, 2+ = section heading


def default_paths() -> list[Path]:
    """Handbooks to serve when none are given: $HANDBOOK_PATHS, else the bundled sample."""
    raw = os.environ.get(ENV_PATHS, "").strip()
    if raw:
        parts = re.split(rf"[,{re.escape(os.pathsep)}]", raw)
        return [Path(p.strip()) for p in parts if p.strip()]
    return [DEFAULT_DIR]


def expand_paths(paths: Iterable[str | Path]) -> list[Path]:
    """Files behind the given files and folders, folders searched recursively in name order."""
    files: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            for child in sorted(path.rglob("*")):
                hidden = any(part.startswith((".", "~$")) for part in child.relative_to(path).parts)
                if child.is_file() and child.suffix.lower() in SUFFIXES and not hidden:
                    files.append(child)
        else:
            files.append(path)
    return files


def load_paths(paths: Iterable[str | Path] | None = None) -> list[Article]:
    """Load every handbook behind ``paths`` (default: :func:`default_paths`)."""
    files = expand_paths(default_paths() if paths is None else paths)
    if not files:
        raise HandbookError(
            ", ".join(str(p) for p in (paths or [])) or "(none)", 0, "no handbook files found"
        )
    articles: list[Article] = []
    for path in files:
        articles.extend(load_file(path))
    return articles


def load_file(path: str | Path) -> list[Article]:
    """Parse one handbook file; raise :class:`HandbookError` naming the file and line."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".docx":
        lines = _docx_lines(path)
    elif suffix in (".md", ".markdown", ".txt"):
        lines = _text_lines(path, markdown=suffix != ".txt")
    else:
        raise HandbookError(path, 0, f"unsupported file type {suffix or '(none)'}; use {', '.join(SUFFIXES)}")
    return parse_lines(lines, path)


def _text_lines(path: Path, *, markdown: bool) -> list[_Line]:
    try:
        lines = read_text_lines(path, HANDBOOK_LIMITS)
    except OSError as exc:
        raise HandbookError(path, 0, f"cannot read file: {exc.strerror or exc}") from exc
    except FileLimitError as exc:
        raise HandbookError(path, 0, str(exc)) from None
    except UnicodeDecodeError as exc:
        line = exc.object[: exc.start].count(b"\n") + 1
        raise HandbookError(path, line, "not valid UTF-8 text") from exc
    out: list[_Line] = []
    for number, raw in enumerate(lines, start=1):
        stripped = raw.strip()
        heading = _HEADING.match(stripped)
        if heading and (markdown or heading.group(1) == "#"):
            out.append(_Line(number, heading.group(2), len(heading.group(1))))
        else:
            out.append(_Line(number, stripped))
    return out


def _docx_lines(path: Path) -> list[_Line]:
    try:
        paragraphs = read_docx_paragraphs(path, HANDBOOK_LIMITS)
    except FileLimitError as exc:
        raise HandbookError(path, 0, str(exc)) from None
    except Exception as exc:  # a bad package fails in zipfile or the XML parser, with several types
        raise HandbookError(path, 0, f"cannot read .docx file: {exc}") from exc
    out: list[_Line] = []
    for number, paragraph in enumerate(paragraphs, start=1):
        style = paragraph.style.lower()
        level = 0
        if style in ("title", "heading 1"):
            level = 1
        elif style.startswith("heading"):
            level = 2
        out.append(_Line(number, paragraph.text.strip(), level))
    return out


def _strip_markup(text: str) -> tuple[str, str | None]:
    """Split '**第三条** text' into ('第三条', 'text'); bold text is a marker candidate."""
    bold = _BOLD_HEAD.match(text)
    if bold:
        return bold.group(1).strip(), text[bold.end() :].strip()
    return text, None


def _match_article(text: str) -> tuple[int, str, str, str] | None:
    """(number, lang, title, rest) when the line opens an article."""
    head, after_bold = _strip_markup(text)
    for pattern, lang in ((_ZH_ARTICLE, "zh"), (_EN_ARTICLE, "en")):
        match = pattern.match(head)
        if not match:
            continue
        number = parse_chinese(match.group(1)) if lang == "zh" else int(match.group(1))
        title = (match.group(2) or "").strip()
        rest_in_head = head[match.end() :].strip()
        if after_bold is None:
            return number, lang, title, rest_in_head
        # Words inside the bold marker after the number are the article's title.
        if rest_in_head and not title:
            title = rest_in_head.strip("：: ")
        return number, lang, title, after_bold
    return None


def _match_chapter(text: str) -> str | None:
    head, after_bold = _strip_markup(text)
    full = head if after_bold is None else f"{head} {after_bold}".strip()
    for pattern in (_ZH_CHAPTER, _EN_CHAPTER):
        if pattern.match(full):
            return full
    return None


def parse_lines(lines: Sequence[_Line], path: Path) -> list[Article]:
    """Turn numbered lines into articles, enforcing 1..N numbering in one language."""
    title = ""
    chapter = ""
    drafts: list[_Draft] = []
    file_lang: str | None = None
    for line in lines:
        text = line.text
        if not text:
            continue
        if line.heading_level == 1 and not title and not drafts:
            title = _strip_markup(text)[0] if text.startswith("**") else text
            continue
        article = _match_article(text)
        if article:
            number, lang, art_title, rest = article
            if file_lang is None:
                file_lang = lang
            elif lang != file_lang:
                raise HandbookError(path, line.number, _mixed(file_lang, lang))
            expected = drafts[-1].number + 1 if drafts else 1
            if any(d.number == number for d in drafts):
                raise HandbookError(path, line.number, f"duplicate article {format_ref(number, lang)}")
            if number != expected:
                missing = format_ref(expected, lang)
                raise HandbookError(
                    path,
                    line.number,
                    f"article {format_ref(number, lang)} found where {missing} was expected",
                )
            drafts.append(_Draft(number, lang, line.number, chapter, art_title, [rest] if rest else []))
            continue
        chapter_text = _match_chapter(text)
        if chapter_text is not None or line.heading_level >= 2:
            chapter = chapter_text or text
            chapter_lang = "en" if chapter.lower().startswith("chapter") else "zh"
            if chapter_text is not None and file_lang is not None and chapter_lang != file_lang:
                raise HandbookError(path, line.number, _mixed(file_lang, chapter_lang))
            continue
        if drafts:
            drafts[-1].parts.append(text)
        # Text before the first article (preamble) is not searchable content.
    if not drafts or file_lang is None:
        last = lines[-1].number if lines else 0
        raise HandbookError(path, last, "no article found (expected lines starting with 第N条 or Article N)")
    doc = title or path.stem
    articles: list[Article] = []
    for draft in drafts:
        body = " ".join(draft.parts).strip()
        if not body:
            raise HandbookError(
                path, draft.line, f"article {format_ref(draft.number, draft.lang)} has no text"
            )
        content_lang = detect_language(body, default=draft.lang)
        if content_lang != draft.lang:
            raise HandbookError(path, draft.line, _mixed(draft.lang, content_lang))
        ref = format_ref(draft.number, draft.lang)
        articles.append(Article(doc, draft.chapter, ref, body, draft.lang, draft.number, draft.title))
    return articles


def _mixed(expected: str, found: str) -> str:
    names = {"zh": "Chinese", "en": "English"}
    return f"mixed languages: {names[found]} content in a {names[expected]} handbook"
