"""A built index kept on disk, so a start-up loads it instead of rebuilding it.

Building tokenises every article, adds the synonym terms to jieba one by one and reads every
handbook word in pinyin (for the typo tables): about a second of CPU that gives the same result
every time the handbook, the synonyms and this package are unchanged. The snapshot holds the
index (with the article vectors when the semantic extra is on) and the tokenizer's word table
(jieba's dictionary with our domain words and synonyms added), keyed by a hash of all of those;
any change gives a new key and a rebuild. The file is written owner-only in the KB cache folder,
which is owner-only too: it is unpickled, so nobody else may be able to write it.
"""

from __future__ import annotations

import hashlib
import logging
import os
import pickle
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from knowledge import analysis
from knowledge.model import Article
from schedules.private_files import private_dir

if TYPE_CHECKING:
    from knowledge.index import KnowledgeIndex, SearchConfig
    from knowledge.semantic import Embedder

log = logging.getLogger(__name__)
FORMAT = 1
KEEP = 4  # snapshots kept per folder (several handbooks or modes may share one)
_PACKAGE = Path(__file__).parent


def _source_digest() -> bytes:
    """This package's code and data files: a changed search or calibration is a new index."""
    digest = hashlib.sha256()
    for path in sorted([*_PACKAGE.glob("*.py"), *(_PACKAGE / "data").glob("*.*")]):
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.digest()


def key(
    articles: Sequence[Article],
    synonym_files: Sequence[Path],
    config: SearchConfig,
    embedder: Embedder | None,
) -> str:
    digest = hashlib.sha256(f"{FORMAT}\x00{config!r}\x00{embedder.name if embedder else ''}".encode())
    digest.update(_source_digest())
    for a in articles:
        digest.update("\x00".join((a.doc, a.chapter, a.ref, a.title, a.lang, str(a.number), a.text)).encode())
        digest.update(b"\x01")
    for path in synonym_files:
        digest.update(str(path).encode())
        try:
            digest.update(path.read_bytes())
        except OSError:
            digest.update(b"\x02missing")
    return digest.hexdigest()[:32]


def _path(directory: Path, name: str, embedder: Embedder | None) -> Path:
    return directory / f"index-{'semantic' if embedder else 'lexical'}-{name}.pickle"


def load(directory: Path, name: str, embedder: Embedder | None) -> KnowledgeIndex | None:
    """The snapshot for this key, with jieba's word table installed; None when there is none
    or it cannot be read (then the caller builds and saves a new one)."""
    path = _path(directory, name, embedder)
    try:
        with path.open("rb") as handle:
            data = pickle.load(handle)  # our own owner-only file, see the module doc
    except FileNotFoundError:
        return None
    except Exception as exc:  # a truncated or foreign file: rebuild rather than fail
        log.warning("index snapshot %s unreadable, rebuilding: %s", path, exc)
        return None
    if not isinstance(data, dict) or data.get("format") != FORMAT or data.get("key") != name:
        return None
    freq, total, added = data["jieba"]
    analysis.install_tokenizer(freq, total, added)
    index: KnowledgeIndex = data["index"]
    index.embedder = embedder
    return index


def save(directory: Path, name: str, index: KnowledgeIndex) -> None:
    """Write atomically (a concurrent start-up reads the old file or the new one, whole)."""
    path = _path(directory, name, index.embedder)
    data = {"format": FORMAT, "key": name, "jieba": analysis.tokenizer_state(), "index": index}
    try:
        private_dir(directory)
        fd, tmp = tempfile.mkstemp(prefix=".index-", suffix=".pickle", dir=directory)
        with os.fdopen(fd, "wb") as handle:
            pickle.dump(data, handle, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(tmp, path)
    except OSError as exc:
        log.warning("index snapshot not written (%s): the next start-up rebuilds it", exc)
        return
    older = sorted(directory.glob("index-*.pickle"), key=lambda p: p.stat().st_mtime, reverse=True)
    for stale in older[KEEP:]:
        stale.unlink(missing_ok=True)
