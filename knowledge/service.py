"""The live knowledge base the bot talks to: build, search, reload on file changes.

Rebuilding happens beside the live index and is swapped in only when it succeeded, so a
handbook saved half-edited never takes the bot's answers away.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from knowledge import analysis, loader
from knowledge import snapshot as index_snapshot
from knowledge.index import KnowledgeIndex, SearchConfig, SearchResult
from knowledge.model import HandbookError
from knowledge.semantic import Embedder, load_embedder
from knowledge.synonyms import SynonymTable, synonym_files

log = logging.getLogger(__name__)

Snapshot = dict[str, tuple[int, int]]  # file -> (mtime_ns, size)

# One worker for every search of the process: the lexical search is Python that holds the GIL,
# and 50 questions in 50 threads would each take it from the event loop in turn (144 ms of loop
# lag measured); queued behind one thread they cost the loop one switch interval at most. The
# embedding engine is serialised by its own lock anyway.
_SEARCHES = ThreadPoolExecutor(max_workers=1, thread_name_prefix="kb-search")

T = TypeVar("T")


async def in_daemon_thread(work: Callable[[], T], name: str = "kb-build") -> T:
    """Long CPU work (embedding a handbook can take minutes) in a daemon thread of its own: a bot told
    to stop does not wait for it, as `asyncio.run` waits for every thread of the default executor
    (SIGTERM then ended the process only after the build). Stopping half-way loses nothing: the
    embedding cache is written whole or not at all."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[T] = loop.create_future()

    def settle(outcome: Callable[[], None]) -> None:
        if not future.done():
            outcome()

    def run() -> None:
        try:
            result = work()
        except BaseException as exc:  # handed to the awaiting task, which decides
            failure = exc
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile: nobody waits
                loop.call_soon_threadsafe(settle, lambda: future.set_exception(failure))
        else:
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(settle, lambda: future.set_result(result))

    threading.Thread(target=run, name=name, daemon=True).start()
    return await future


async def off_loop(search: Callable[[str, int], SearchResult], question: str, top: int) -> SearchResult:
    """Run a search in the process's search thread, leaving the event loop free."""
    return await asyncio.get_running_loop().run_in_executor(_SEARCHES, search, question, top)


@dataclass(frozen=True)
class ReloadResult:
    """What :meth:`KnowledgeService.reload_if_changed` did."""

    changed: bool  # the files differ from the ones the live index was built from
    reloaded: bool  # a new index is live
    error: str | None = None  # why the new files were rejected (the old index stays live)


class KnowledgeService:
    """Holds the live :class:`KnowledgeIndex`; safe to search from several threads."""

    def __init__(
        self,
        paths: Sequence[str | Path] | None = None,
        *,
        semantic: bool = True,
        embedder: Embedder | None = None,
        synonyms: Sequence[str | Path] = (),
        cache_dir: Path | None = None,
        config: SearchConfig | None = None,
        progress: bool = False,
    ) -> None:
        """Build the first index now; raises :class:`HandbookError` if a file is bad."""
        self.paths = [Path(p) for p in (loader.default_paths() if paths is None else paths)]
        self.synonym_paths = synonym_files([Path(p) for p in synonyms])
        self.cache_dir = cache_dir
        self.config = config
        self.progress = progress
        self.embedder = embedder if embedder is not None else (load_embedder() if semantic else None)
        self._build_lock = threading.Lock()
        self.from_snapshot = False  # the live index was loaded from disk, not built
        self._index, self._snapshot = self._build()
        self.last_error: str | None = None

    @property
    def index(self) -> KnowledgeIndex:
        return self._index

    @property
    def semantic(self) -> bool:
        return self._index.semantic

    def search(self, question: str, top: int = 3) -> SearchResult:
        return self._index.search(question, top)

    async def asearch(self, question: str, top: int = 3) -> SearchResult:
        """:meth:`search` off the event loop, in the one search thread (see :func:`off_loop`)."""
        return await off_loop(self.search, question, top)

    def _files(self) -> list[Path]:
        return [*loader.expand_paths(self.paths), *self.synonym_paths]

    def _take_snapshot(self) -> Snapshot:
        snapshot: Snapshot = {}
        for path in self._files():
            try:
                stat = path.stat()
            except OSError:
                snapshot[str(path)] = (-1, -1)
            else:
                snapshot[str(path)] = (stat.st_mtime_ns, stat.st_size)
        return snapshot

    def _build(self) -> tuple[KnowledgeIndex, Snapshot]:
        """The index from its on-disk snapshot when nothing it depends on changed, else built
        (and saved for the next start-up): see :mod:`knowledge.snapshot`."""
        snapshot = self._take_snapshot()
        articles = loader.load_paths(self.paths)
        directory = self.cache_dir or analysis.default_cache_dir()
        name = index_snapshot.key(articles, self.synonym_paths, self.config or SearchConfig(), self.embedder)
        loaded = index_snapshot.load(directory, name, self.embedder)
        if loaded is not None:
            self.from_snapshot = True
            return loaded, snapshot
        index = KnowledgeIndex(
            articles,
            synonyms=SynonymTable.load(self.synonym_paths),
            embedder=self.embedder,
            cache_dir=self.cache_dir,
            config=self.config,
            progress=self.progress,
        )
        index_snapshot.save(directory, name, index)
        self.from_snapshot = False
        return index, snapshot

    def reload(self) -> ReloadResult:
        """Rebuild from the files now; on error keep the live index and report why."""
        with self._build_lock:
            try:
                index, snapshot = self._build()
            except (HandbookError, OSError) as exc:
                self.last_error = str(exc)
                log.error("knowledge base not reloaded, keeping the previous one: %s", exc)
                return ReloadResult(changed=True, reloaded=False, error=str(exc))
            self._index, self._snapshot = index, snapshot  # readers see the old or the new one
            self.last_error = None
            log.info("knowledge base reloaded: %d articles", len(index.articles))
            return ReloadResult(changed=True, reloaded=True)

    def reload_if_changed(self) -> ReloadResult:
        """Rebuild when a handbook or synonym file was added, removed or modified."""
        if self._take_snapshot() == self._snapshot:
            return ReloadResult(changed=False, reloaded=False, error=None)
        result = self.reload()
        if not result.reloaded:
            # Remember the bad state so the same broken file is not rebuilt on every poll.
            self._snapshot = self._take_snapshot()
        return result

    async def areload_if_changed(self) -> ReloadResult:
        """:meth:`reload_if_changed` in a worker thread (building is CPU work)."""
        return await in_daemon_thread(self.reload_if_changed, "kb-reload")

    @classmethod
    async def acreate(cls, paths: Sequence[str | Path] | None = None, **kwargs: object) -> KnowledgeService:
        """Build a service in a worker thread, for use from the bot's event loop."""
        return await in_daemon_thread(lambda: cls(paths, **kwargs))  # type: ignore[arg-type]
