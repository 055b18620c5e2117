"""Files at rest are the owner's only: the database (with its -wal/-shm), var/ and written reports hold
people's names, punches and leave reasons, so they are created 0600/0700 whatever the umask says."""

from __future__ import annotations

import contextlib
import os
import stat
from pathlib import Path
from typing import IO, Any

FILE_MODE = 0o600
DIR_MODE = 0o700


def private_dir(path: str | Path) -> Path:
    """Create ``path`` and any missing parents as 0700 (existing folders above it are left alone)."""
    path = Path(path)
    missing: list[Path] = []
    probe = path
    while not probe.exists() and probe != probe.parent:
        missing.append(probe)
        probe = probe.parent
    path.mkdir(parents=True, exist_ok=True, mode=DIR_MODE)
    for created in missing:
        os.chmod(created, DIR_MODE)  # mkdir's mode goes through the umask; chmod does not
    return path


def private_file(path: str | Path) -> Path:
    """Make sure ``path`` exists owner-only: created empty as 0600, or an existing file narrowed (group
    and others lose access). SQLite gives a database's -wal and -shm files the database file's mode."""
    path = Path(path)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
    except FileExistsError:
        # Narrow only: the owner keeps what it had (a read-only database stays read-only). A file that
        # is not ours to change is left to SQLite to report.
        with contextlib.suppress(PermissionError):
            os.chmod(path, stat.S_IMODE(path.stat().st_mode) & FILE_MODE)
        return path
    try:
        os.fchmod(fd, FILE_MODE)
    finally:
        os.close(fd)
    return path


def open_private(path: str | Path, mode: str = "w", **kwargs: Any) -> IO[Any]:
    """``open(path, mode)`` for writing a new file (a report), created or truncated as 0600."""
    if mode not in ("w", "wb"):
        raise ValueError(f"open_private writes files; mode {mode!r} is not 'w' or 'wb'")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
    try:
        os.fchmod(fd, FILE_MODE)
        return os.fdopen(fd, mode, **kwargs)
    except BaseException:
        os.close(fd)
        raise
