"""Shared fixtures: the bundled handbook indexed once per session (lexical, and with the semantic extra)."""

from __future__ import annotations

from pathlib import Path

import pytest

from knowledge.index import KnowledgeIndex
from knowledge.loader import load_paths
from knowledge.semantic import load_embedder


@pytest.fixture(scope="session")
def lexical_index() -> KnowledgeIndex:
    return KnowledgeIndex(load_paths(), progress=False)


@pytest.fixture(scope="session")
def e5_cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One embedding cache for the session: the handbook is embedded once, not per test."""
    return tmp_path_factory.mktemp("e5-cache")


@pytest.fixture(scope="session")
def semantic_index(e5_cache_dir: Path) -> KnowledgeIndex:
    embedder = load_embedder()
    assert embedder is not None
    return KnowledgeIndex(load_paths(), embedder=embedder, cache_dir=e5_cache_dir, progress=False)


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep test caches out of the working tree and ignore the developer's environment."""
    monkeypatch.setenv("KB_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("HANDBOOK_PATHS", raising=False)
    monkeypatch.delenv("KB_SYNONYMS", raising=False)
    monkeypatch.delenv("KB_SEMANTIC", raising=False)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests that load the e5 model (the semantic extra) are slow: `make check` leaves them to `make test`."""
    for item in items:
        if "e5_cache_dir" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.slow)
