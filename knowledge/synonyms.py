"""Synonym groups that organisations can extend with their own files.

A question rarely uses the handbook's exact word (调班 for 换班, 晚到 for 迟到, "clock in" for
"punch"); each group found in a question becomes one concept that any of its terms satisfies.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from knowledge import analysis
from knowledge.textnorm import has_cjk, normalize

DEFAULT_FILE = analysis.DATA_DIR / "synonyms.txt"
ENV_EXTRA = "KB_SYNONYMS"
_SPLIT = re.compile(r"[,，、;；]")
# What spoken Chinese puts inside a verb-object word: aspect, counts, 不/得 (喝了点酒, 打不了卡).
_FILLER = frozenset("了过着个点些几一两三四五六七八九十半次回天周下不得的这那0123456789")
_MAX_FILLER = 4


@dataclass(frozen=True)
class Term:
    """One synonym as it is matched in a question and as it is looked up in the index."""

    surface: str  # normalised text (CJK terms are matched as substrings of the question)
    tokens: tuple[str, ...]  # index terms (precise jieba cut / English stems)


@dataclass(frozen=True)
class Group:
    terms: tuple[Term, ...]


def read_groups(path: Path) -> list[list[str]]:
    """Raw groups of a synonyms file; a line is one group, terms separated by commas."""
    groups: list[list[str]] = []
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        terms = [t.strip() for t in _SPLIT.split(line) if t.strip()]
        if len(terms) >= 2:
            groups.append(terms)
    return groups


def synonym_files(extra: Sequence[str | Path] = ()) -> list[Path]:
    """The bundled list, then $KB_SYNONYMS files, then ``extra``."""
    files = [DEFAULT_FILE]
    env = os.environ.get(ENV_EXTRA, "").strip()
    if env:
        files.extend(Path(p) for p in re.split(rf"[,{re.escape(os.pathsep)}]", env) if p.strip())
    files.extend(Path(p) for p in extra)
    return files


class SynonymTable:
    """Finds synonym groups in normalised questions."""

    def __init__(self, groups: Iterable[Iterable[str]]) -> None:
        raw = [list(g) for g in groups]
        analysis.add_words(term for raw_group in raw for term in raw_group)
        compiled: list[Group] = []
        for raw_group in raw:
            terms: list[Term] = []
            seen: set[str] = set()
            for text in raw_group:
                surface = normalize(text)
                if not surface or surface in seen:
                    continue
                seen.add(surface)
                tokens = tuple(analysis.words(surface, search=False))
                if not tokens and has_cjk(surface) and " " not in surface:
                    # A function word (一直, 几次) is no index term, but it still names the group.
                    tokens = (surface,)
                if tokens:
                    terms.append(Term(surface, tokens))
            if len(terms) >= 2:
                compiled.append(Group(tuple(terms)))
        self.groups: tuple[Group, ...] = tuple(compiled)
        self._cjk: dict[str, list[int]] = {}  # surface -> groups, matched as substrings
        self._latin: dict[tuple[str, ...], list[int]] = {}  # token sequence -> groups
        for index, group in enumerate(self.groups):
            for term in group.terms:
                if has_cjk(term.surface):
                    self._cjk.setdefault(term.surface, []).append(index)
                else:
                    self._latin.setdefault(term.tokens, []).append(index)
        self._max_latin = max((len(k) for k in self._latin), default=0)
        self._cjk_by_first: dict[str, list[str]] = {}
        for surface in self._cjk:
            self._cjk_by_first.setdefault(surface[0], []).append(surface)
        # Two-character words that speech may split (喝酒 in 喝了点酒), by their first character.
        self._pairs: dict[str, set[str]] = {}
        for word in [*self._cjk, *analysis.domain_words()]:
            if len(word) == 2 and all(_is_han(ch) for ch in word) and not _FILLER.intersection(word):
                self._pairs.setdefault(word[0], set()).add(word[1])

    @classmethod
    def load(cls, files: Sequence[str | Path] | None = None) -> SynonymTable:
        paths = synonym_files() if files is None else [Path(f) for f in files]
        groups: list[list[str]] = []
        for path in paths:
            groups.extend(read_groups(path))
        return cls(groups)

    def cjk_surfaces(self) -> list[str]:
        """Every Chinese term of every group."""
        return list(self._cjk)

    def groups_of(self, word: str) -> list[int]:
        """Groups listing a (normalised, CJK) word as one of their terms."""
        return list(self._cjk.get(word, ()))

    def rejoin(self, norm: str) -> list[str]:
        """Known two-character words that the question splits with filler (打不了卡 -> 打卡)."""
        compact = norm.replace(" ", "")
        found: list[str] = []
        for i, first in enumerate(compact):
            seconds = self._pairs.get(first)
            if not seconds:
                continue
            j = i + 1
            while j < len(compact) and j - i - 1 < _MAX_FILLER and compact[j] in _FILLER:
                j += 1
                if j < len(compact) and compact[j] in seconds and first + compact[j] not in found:
                    found.append(first + compact[j])
        return found

    def find(self, norm: str, tokens: Sequence[str]) -> list[tuple[int, str]]:
        """(group index, matched text) for every group mentioned in the question.

        CJK terms of two or more characters match anywhere in the text; single characters and
        Latin terms must be whole tokens, so 假 does not fire inside 假如. A match lying inside
        a longer match (迟到 inside 严重迟到, shift inside day shift) is dropped.
        """
        spans: list[tuple[int, int, int, str]] = []  # (start, end, group, surface)
        compact = norm.replace(" ", "")
        token_set = set(tokens)
        for i, ch in enumerate(compact):
            for surface in self._cjk_by_first.get(ch, ()):
                hit = surface in token_set if len(surface) == 1 else compact.startswith(surface, i)
                if hit:
                    spans.extend((i, i + len(surface), group, surface) for group in self._cjk[surface])
        offset = len(compact) + 1  # Latin spans live in token positions, after the CJK ones
        for start in range(len(tokens)):
            for length in range(1, self._max_latin + 1):
                key = tuple(tokens[start : start + length])
                if len(key) < length:
                    break
                for group in self._latin.get(key, ()):
                    spans.append((offset + start, offset + start + length, group, " ".join(key)))
        found: list[tuple[int, str]] = []
        for a_start, a_end, group, surface in spans:
            inside = any(
                b_start <= a_start and a_end <= b_end and (b_end - b_start) > (a_end - a_start)
                for b_start, b_end, _, _ in spans
            )
            if not inside and (group, surface) not in found:
                found.append((group, surface))
        return found


def _is_han(ch: str) -> bool:
    return "\u4e00" <= ch <= "\u9fff" or "\u3400" <= ch <= "\u4dbf"
