"""Whom to ask about what the handbook leaves to another department (data file, no code per topic).

Only departments the handbook itself names are listed, each with the article that names it, so
the bot's "please ask …" is as citable as an answer. Consulted only when no article answers.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from pathlib import Path

DEFAULT_FILE = Path(__file__).parent / "data" / "referrals.txt"


@dataclass(frozen=True)
class Referral:
    department: str
    ref: str
    words: tuple[str, ...]

    def matches(self, question: str) -> bool:
        lowered = question.lower()
        for word in self.words:
            if word.isascii():
                if re.search(rf"\b{re.escape(word)}\b", lowered):
                    return True
            elif word in lowered:
                return True
        return False


def parse(text: str) -> tuple[Referral, ...]:
    """Lines of ``department | ref | words``; comments (#) and blank lines skipped."""
    rows: list[Referral] = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        parts = [p.strip() for p in line.split("|")]
        if len(parts) != 3 or not all(parts):
            continue
        rows.append(Referral(parts[0], parts[1], tuple(w.lower() for w in parts[2].split())))
    return tuple(rows)


@functools.lru_cache(maxsize=4)
def load(path: Path = DEFAULT_FILE) -> tuple[Referral, ...]:
    try:
        return parse(path.read_text(encoding="utf-8"))
    except OSError:
        return ()


def find(question: str, refs: frozenset[str], path: Path = DEFAULT_FILE) -> Referral | None:
    """The department to point to, if the question is about one of its topics and the handbook
    in use (``refs``: its article refs) has the article that names it."""
    return next((r for r in load(path) if r.ref in refs and r.matches(question)), None)
