"""Handbook knowledge base: load handbooks, answer questions from them, reload on change.

Typical use from the bot::

    service = KnowledgeService()              # bundled handbook or $HANDBOOK_PATHS
    result = service.search("换班要提前多久？")  # SearchResult(answered, confidence, hits)
    service.reload_if_changed()               # poll; a bad file keeps the old index live
"""

from knowledge.index import Hit, KnowledgeIndex, SearchConfig, SearchResult
from knowledge.loader import default_paths, load_file, load_paths
from knowledge.model import Article, HandbookError
from knowledge.service import KnowledgeService, ReloadResult

__all__ = [
    "Article",
    "HandbookError",
    "Hit",
    "KnowledgeIndex",
    "KnowledgeService",
    "ReloadResult",
    "SearchConfig",
    "SearchResult",
    "default_paths",
    "load_file",
    "load_paths",
]
