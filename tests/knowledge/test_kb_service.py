from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from knowledge.model import HandbookError
from knowledge.service import KnowledgeService

GOOD = "# 手册\n\n## 第一章 考勤\n\n**第一条** 换班须提前24小时申请。\n\n**第二条** 婚假为3天。\n"
BETTER = GOOD + "\n**第三条** 产假按国家规定执行。\n"
BAD = "# 手册\n\n**第一条** 换班须提前24小时申请。\n\n**第三条** 缺了第二条。\n"


def touch_later(path: Path, text: str) -> None:
    stat = path.stat()
    path.write_text(text, encoding="utf-8")
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 2_000_000_000))


def test_reload_swaps_in_changes_and_keeps_old_index_on_error(tmp_path: Path) -> None:
    path = tmp_path / "h.md"
    path.write_text(GOOD, encoding="utf-8")
    service = KnowledgeService([path], semantic=False)
    assert len(service.index.articles) == 2
    assert service.reload_if_changed().changed is False

    touch_later(path, BETTER)
    result = service.reload_if_changed()
    assert result.reloaded and result.error is None
    assert len(service.index.articles) == 3

    live = service.index
    touch_later(path, BAD)
    result = service.reload_if_changed()
    assert result.changed and not result.reloaded
    assert result.error is not None and f"{path}:5:" in result.error
    assert service.index is live  # the previous index is still answering
    assert service.search("婚假几天").hits[0].ref == "第二条"
    assert service.last_error == result.error
    assert service.reload_if_changed().changed is False  # the same bad file is not retried

    touch_later(path, GOOD)
    assert service.reload_if_changed().reloaded
    assert service.last_error is None


def test_new_file_in_folder_triggers_reload(tmp_path: Path) -> None:
    (tmp_path / "a.md").write_text(GOOD, encoding="utf-8")
    service = KnowledgeService([tmp_path], semantic=False)
    (tmp_path / "b.txt").write_text("Article 1 Shift swaps need 24 hours notice.\n", encoding="utf-8")
    assert service.reload_if_changed().reloaded
    assert service.index.languages == ["en", "zh"]


def test_bad_file_at_start_raises(tmp_path: Path) -> None:
    path = tmp_path / "bad.md"
    path.write_text(BAD, encoding="utf-8")
    with pytest.raises(HandbookError):
        KnowledgeService([path], semantic=False)


async def test_async_helpers(tmp_path: Path) -> None:
    path = tmp_path / "h.md"
    path.write_text(GOOD, encoding="utf-8")
    service = await KnowledgeService.acreate([path], semantic=False)
    touch_later(path, BETTER)
    results = await asyncio.gather(service.areload_if_changed(), service.asearch("婚假几天"))
    assert results[0].reloaded
    assert results[1].hits[0].ref == "第二条"
