"""Crash safety on SQLite: kill -9 in the middle of a burst of clock-ins. Every clock-in whose reply went
out is stored after the restart, and the database passes PRAGMA integrity_check."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO


@pytest.mark.slow  # a child process under a burst of clock-ins, killed and restarted
def test_kill_9_during_a_burst_of_clock_ins_loses_nothing_acknowledged(tmp_path: Path) -> None:
    db_file = tmp_path / "crash.db"
    worker = subprocess.Popen(
        [sys.executable, "-m", "tests.faults.clockin_worker", str(db_file), "400"],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert worker.stdout is not None
    told: list[str] = []
    try:
        for line in worker.stdout:
            if line.startswith("REPLY "):
                told.append(line.split()[1])
                if len(told) == 120:
                    worker.send_signal(signal.SIGKILL)
                    break
    finally:
        worker.wait(timeout=60)
        worker.stdout.close()
    assert worker.returncode == -signal.SIGKILL
    assert len(told) == 120
    conn = sqlite3.connect(db_file)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        stored = {row[0] for row in conn.execute("SELECT person_id FROM punches WHERE kind = 'clock_in'")}
        duplicates = conn.execute(
            "SELECT count(*) FROM (SELECT person_id FROM punches"
            " GROUP BY person_id, shift_day, kind HAVING count(*) > 1)"
        ).fetchone()[0]
    finally:
        conn.close()
    assert set(told) <= stored
    assert duplicates == 0
