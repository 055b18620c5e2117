"""Read one file the way the bot does, inside a memory ceiling, and print what it cost as JSON.

Run as ``python -m tests.hostile.bounded_child KIND PATH...`` (KIND: roster or handbook). The
readers are imported and warmed up on a good file first; then the address space is capped at what the
process uses plus 200 MB, so going over raises MemoryError instead of growing. One JSON line per file;
the memory figure is the peak since the warm-up, so it bounds every file read so far.
"""

from __future__ import annotations

import json
import resource
import sys
import tempfile
import time
from pathlib import Path


def _vm_bytes() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmSize:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmSize")  # pragma: no cover - Linux only


def _rss_peak_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def main() -> int:
    kind, paths = sys.argv[1], [Path(p) for p in sys.argv[2:]]
    extra = 200
    from knowledge.loader import load_file
    from knowledge.model import HandbookError
    from schedules.policy import default_policy
    from schedules.roster.importing import parse_roster
    from schedules.roster.model import RosterError

    policy = default_policy()
    people = ["wangfang", "liuyang"]
    with tempfile.TemporaryDirectory() as tmp:  # warm up: imports and first-use caches are not the file's
        import openpyxl

        book = openpyxl.Workbook()
        sheet = book.active
        assert sheet is not None
        sheet.append(["person", "2026-12-01"])
        sheet.append(["wangfang", "白"])
        book.save(Path(tmp) / "ok.xlsx")
        parse_roster(Path(tmp) / "ok.xlsx", None, people, policy)
        (Path(tmp) / "ok.md").write_text("# 手册\n## 第一章 总则\n第1条 上班。\n", encoding="utf-8")
        load_file(Path(tmp) / "ok.md")
    baseline_rss = _rss_peak_bytes()
    ceiling = _vm_bytes() + extra * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (ceiling, ceiling))
    for path in paths:
        cpu0, wall0 = time.process_time(), time.perf_counter()
        outcome, message = "accepted", ""
        try:
            if kind == "roster":
                parse_roster(path, None, people, policy)
            else:
                load_file(path)
        except RosterError as exc:
            outcome, message = "refused", "; ".join(p.message for p in exc.problems)
        except HandbookError as exc:
            outcome, message = "refused", str(exc)
        except MemoryError:
            outcome = "memory"
        cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
        growth = max(0, _rss_peak_bytes() - baseline_rss) / 2**20
        shown = message[:300]
        print(
            json.dumps(
                {
                    "file": path.name,
                    "outcome": outcome,
                    "message": shown,
                    "cpu": cpu,
                    "wall": wall,
                    "rss_mb": growth,
                }
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
