"""Plain data types shared by the loader, the index and the bot."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Article:
    """One numbered article of a handbook; ``ref`` is how the handbook cites it (第十二条, Article 12)."""

    doc: str
    chapter: str
    ref: str
    text: str
    lang: str
    number: int
    title: str = ""  # optional heading written next to the number, e.g. **第十二条（请假审批）**


class HandbookError(Exception):
    """A handbook file that cannot be used; the message names the file and the line."""

    def __init__(self, path: str | Path, line: int, message: str) -> None:
        self.path = str(path)
        self.line = line
        self.reason = message
        super().__init__(f"{self.path}:{line}: {message}")
