"""The layers of the code, checked from the import statements: the assembly (`bot.app`) sits on top
and only entry points import it; the handbook's rules (`schedules`) import nothing of the bot."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.conftest import REPO

ENTRY_POINTS = {
    "bot/cli.py",
    "handlers/cli.py",
    "bot/adapters/launch.py",  # every platform command's start-up
}
PACKAGES = ("bot", "handlers", "knowledge", "schedules")


def imported(path: Path) -> set[str]:
    """Every module name an import statement in the file names (also those inside functions)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def sources() -> list[tuple[str, set[str]]]:
    found = []
    for package in PACKAGES:
        for path in sorted((REPO / package).rglob("*.py")):
            found.append((path.relative_to(REPO).as_posix(), imported(path)))
    return found


def test_only_entry_points_import_the_assembly() -> None:
    importers = {name for name, modules in sources() if "bot.app" in modules} - {"bot/app.py"}
    assert importers <= ENTRY_POINTS, sorted(importers - ENTRY_POINTS)
    assert "bot/cli.py" in importers  # the check reads real imports: the command line builds an App


def test_the_handbook_rules_import_nothing_of_the_bot() -> None:
    bound = {
        name: sorted(m for m in modules if m.split(".")[0] in ("bot", "handlers", "knowledge"))
        for name, modules in sources()
        if name.startswith("schedules/")
    }
    assert bound and not any(bound.values()), {k: v for k, v in bound.items() if v}
