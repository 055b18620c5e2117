"""The searchable knowledge base: lexical scores, optional semantic re-ranking, confidence.

Each language's articles get their own index; a question is answered from the handbook in
its own language when there is one, otherwise from the other language's.
"""

from __future__ import annotations

import functools
import itertools
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from knowledge import analysis, confidence, passages
from knowledge.bm25 import BM25, FloatArray
from knowledge.model import Article
from knowledge.query import Concept, Query, analyze
from knowledge.semantic import Embedder, embed_passages_cached
from knowledge.synonyms import SynonymTable
from knowledge.textnorm import has_cjk, normalize, to_simplified

_LEAD_ZH = re.compile(r"[，。；：,;:]")
_LEAD = re.compile(r"\b(?:must|may|is|are|shall|should|will)\b")
_CHAPTER_PREFIX = re.compile(r"^(第\s*\S+?\s*章|chapter\s+\d+)\s*[:：.]?\s*", re.IGNORECASE)


@dataclass(frozen=True)
class SearchConfig:
    """Weights of the combined score; defaults were tuned on our own question sets."""

    word_weight: float = 1.0  # BM25 over words and synonym concepts
    coverage_weight: float = 1.0  # share of the question's concepts found in the article
    gram_weight: float = 0.4  # BM25 over character bigrams / word trigrams
    fuzzy_weight: float = 0.3  # rapidfuzz partial match of the question in the article
    semantic_weight: float = 1.5  # cosine similarity (when an embedder is present)
    chapter_weight: float = 2.0  # term frequency given to each chapter-title word
    title_weight: float = 2.0  # term frequency given to each article-title word
    lead_weight: float = 1.0  # extra term frequency for words of an article's opening clause
    synonym_weight: float = 0.9
    typo_weight: float = 0.5
    answer_type_weight: float = 1.0  # "几点" matching an article that states clock times
    number_weight: float = 0.3  # digits in a question are mostly the asker's own case
    unknown_factor: float = 1.0  # weight of a word the handbook never uses, relative to max idf
    clause_weight: float = 1.0  # best window of adjacent clauses holding the question's concepts
    clause_width: int = 2
    candidates: int = 40
    k1: float = 1.2
    b: float = 0.75


@dataclass(frozen=True)
class Hit:
    """One article offered as an answer; ``score`` is the probability it answers the question."""

    article: Article
    score: float

    @property
    def ref(self) -> str:
        return self.article.ref

    @property
    def doc(self) -> str:
        return self.article.doc

    @property
    def chapter(self) -> str:
        return self.article.chapter

    @property
    def text(self) -> str:
        return self.article.text

    def to_dict(self) -> dict[str, object]:
        return {
            "ref": self.ref,
            "doc": self.doc,
            "chapter": self.chapter,
            "text": self.text,
            "score": round(self.score, 4),
        }


@dataclass(frozen=True)
class SearchResult:
    """Best-first hits; when ``answered`` is False they are only suggestions."""

    question: str
    lang: str
    answered: bool
    confidence: float
    hits: tuple[Hit, ...]
    features: tuple[dict[str, float], ...] = field(default=(), compare=False, repr=False)

    def to_dict(self) -> dict[str, object]:
        return {"q": self.question, "answered": self.answered, "results": [h.to_dict() for h in self.hits]}


@dataclass(frozen=True)
class Components:
    """Per-article signals for one question, before they are combined."""

    word: FloatArray  # BM25 over concepts
    coverage: FloatArray  # idf-weighted share of the question's concepts present
    gram: FloatArray  # BM25 over character n-grams
    gram_coverage: FloatArray
    cosine: FloatArray | None  # semantic similarity, when an embedder is present
    unknown_share: float  # share of the question's weight in words the handbook never uses
    unknown_max: float  # specificity of the most specific such word (0 when there is none)
    weighted: tuple[tuple[passages.Alternatives, float], ...] = ()  # known concepts and their weights
    total_weight: float = 0.0


def _bag(terms: list[str]) -> dict[str, float]:
    return {term: float(count) for term, count in Counter(terms).items()}


def _add(bag: dict[str, float], terms: list[str], weight: float) -> None:
    for term in terms:
        bag[term] = bag.get(term, 0.0) + weight


def _chapter_name(chapter: str) -> str:
    return _CHAPTER_PREFIX.sub("", chapter).strip()


class _LangIndex:
    """All articles of one language."""

    def __init__(self, articles: Sequence[Article], config: SearchConfig) -> None:
        self.articles = list(articles)
        word_bags: list[dict[str, float]] = []
        gram_bags: list[dict[str, float]] = []
        self.fuzzy_texts: list[str] = []
        chapter_cache: dict[str, tuple[list[str], list[str]]] = {}
        for article in self.articles:
            body = normalize(article.text)
            words = _bag(analysis.words(body, full=True))
            _add(words, analysis.answer_types(article.text), 1.0)
            # Articles usually open with their subject (病假1天的…, 订单组负责…).
            if has_cjk(body):
                lead = normalize(_LEAD_ZH.split(article.text, maxsplit=1)[0])
            else:
                lead = _LEAD.split(body, maxsplit=1)[0]
            _add(words, analysis.words(lead, full=True), config.lead_weight)
            grams = _bag(analysis.grams(body))
            extra = chapter_cache.get(article.chapter)
            if extra is None:
                name = normalize(_chapter_name(article.chapter))
                extra = chapter_cache[article.chapter] = (
                    analysis.words(name, full=True),
                    analysis.grams(name),
                )
            _add(words, extra[0], config.chapter_weight)
            _add(grams, extra[1], config.chapter_weight)
            if article.title:
                title = normalize(article.title)
                _add(words, analysis.words(title, full=True), config.title_weight)
                _add(grams, analysis.grams(title), config.title_weight)
            word_bags.append(words)
            gram_bags.append(grams)
            self.fuzzy_texts.append(body.replace(" ", "") if has_cjk(body) else body)
        # Words of the handbook titles: every article shares them, questions often name them.
        self.title_terms = frozenset(
            term
            for doc in {a.doc for a in self.articles}
            for term in analysis.words(normalize(doc), full=True)
        )
        self.bags = word_bags
        self._clauses: dict[int, list[passages.Clause]] = {}
        self.words = BM25(word_bags, k1=config.k1, b=config.b)
        self.grams = BM25(gram_bags, k1=config.k1, b=config.b)
        self.by_number: dict[int, list[int]] = {}
        for i, article in enumerate(self.articles):
            self.by_number.setdefault(article.number, []).append(i)
        self._masks: dict[str, list[str]] | None = None
        self._latin: list[str] | None = None
        self.vectors: np.ndarray | None = None

    def clauses(self, i: int) -> list[passages.Clause]:
        found = self._clauses.get(i)
        if found is None:
            found = self._clauses[i] = passages.split_clauses(self.articles[i].text)
        return found

    # --- spelling mistakes ------------------------------------------------------------

    def _typo_masks(self) -> dict[str, list[str]]:
        """CJK words by 'one character blanked' keys, for one-character typos (换斑 -> 换班)."""
        if self._masks is None:
            masks: dict[str, list[str]] = {}
            for word in self.words.vocab:
                if 2 <= len(word) <= 4 and has_cjk(word):
                    for i in range(len(word)):
                        masks.setdefault(word[:i] + "?" + word[i + 1 :], []).append(word)
            self._masks = masks
        return self._masks

    def typo_candidates(self, token: str, limit: int = 3) -> list[str]:
        """Handbook words one edit away; a blank matching many words is too vague to use."""
        if has_cjk(token):
            if not 2 <= len(token) <= 4:
                return []
            masks = self._typo_masks()
            found: list[str] = []
            for i in range(len(token)):
                options = masks.get(token[:i] + "?" + token[i + 1 :], [])
                if len(options) <= limit:
                    found.extend(o for o in options if o != token and o not in found)
            return found
        if len(token) < 5 or not token.isalpha():
            return []  # short words are too often real words ("latt" is not "late")
        from rapidfuzz import process
        from rapidfuzz.distance import Levenshtein

        if self._latin is None:
            self._latin = [w for w in self.words.vocab if w.isalpha() and w.isascii() and len(w) >= 3]
        limit = 1 if len(token) < 8 else 2
        matches = process.extract(
            token, self._latin, scorer=Levenshtein.distance, score_cutoff=limit, limit=3
        )
        return [m[0] for m in matches if m[0][0] == token[0]]

    # --- scoring ---------------------------------------------------------------------

    def concept_scores(self, concept: Concept, typo_weight: float) -> tuple[FloatArray, float, bool]:
        """(weighted per-article score, idf of one plain occurrence, known other than by a typo guess?).

        The reference is unweighted, so an article matching only a synonym or a spelling
        variant covers the concept by that alternative's weight, not fully.
        """
        best = np.zeros(self.words.size, dtype=np.float64)
        reference = 0.0
        own_known = False
        for tokens, weight in concept.alternatives:
            hits = [self.words.postings(t) for t in tokens]
            if any(h is None for h in hits):
                continue
            if weight > typo_weight:
                own_known = True
            scores = np.zeros(self.words.size, dtype=np.float64)
            idf_sum = 0.0
            for term, hit in zip(tokens, hits, strict=True):
                assert hit is not None
                scores[hit[0]] += hit[1]
                idf_sum += self.words.term_idf(term) or 0.0
            np.maximum(best, weight * scores, out=best)
            reference = max(reference, idf_sum / max(len(tokens), 1))
        return best, reference, own_known


_STOP_TYPO_LIMIT = 1
_UNSEEN_IDF = 15.0  # jieba's general idf of words it has (almost) never seen


class KnowledgeIndex:
    """Immutable search index over a set of articles; build a new one to change it."""

    def __init__(
        self,
        articles: Sequence[Article],
        *,
        synonyms: SynonymTable | None = None,
        embedder: Embedder | None = None,
        cache_dir: Path | None = None,
        config: SearchConfig | None = None,
        calibration: confidence.Calibration | None = None,
        progress: bool = True,
    ) -> None:
        self.config = config or SearchConfig()
        self.synonyms = synonyms if synonyms is not None else SynonymTable.load()
        self.calibration = calibration or confidence.load()
        self.articles = list(articles)
        self.embedder = embedder
        by_lang: dict[str, list[Article]] = {}
        for article in self.articles:
            by_lang.setdefault(article.lang, []).append(article)
        self._langs = {lang: _LangIndex(items, self.config) for lang, items in by_lang.items()}
        if embedder is not None:
            directory = cache_dir or analysis.default_cache_dir()
            for lang_index in self._langs.values():
                texts = [self._passage_text(a) for a in lang_index.articles]
                lang_index.vectors = embed_passages_cached(embedder, texts, directory, progress=progress)

    @property
    def languages(self) -> list[str]:
        return sorted(self._langs)

    @property
    def semantic(self) -> bool:
        return self.embedder is not None

    @staticmethod
    def _passage_text(article: Article) -> str:
        # Chapter names made e5's ranking worse on our question sets; the title is kept.
        parts = [article.title, article.text]
        return " ".join(p for p in parts if p)

    def _choose(self, lang: str) -> str | None:
        if lang in self._langs:
            return lang
        return next(iter(sorted(self._langs)), None)

    def search(self, question: str, top: int = 3) -> SearchResult:
        """Best articles for a question, with a calibrated confidence for each."""
        query = analyze(
            question,
            self.synonyms,
            synonym_weight=self.config.synonym_weight,
            answer_type_weight=self.config.answer_type_weight,
            number_weight=self.config.number_weight,
        )
        lang = self._choose(query.lang)
        if lang is None or not (query.tokens or query.grams):
            return SearchResult(question, lang or query.lang, False, 0.0, ())
        index = self._langs[lang]
        return self._search(index, lang, query, max(1, top))

    def _expand_typos(self, index: _LangIndex, query: Query) -> list[Concept]:
        """Add close spellings for words the handbook never uses.

        Chinese typos mostly leave jieba with loose single characters (补咔 -> 补 + 咔), so
        adjacent loose characters are tried as a two-character word too.
        """
        from rapidfuzz.distance import Levenshtein

        stop = analysis.stopwords()
        weight = self.config.typo_weight
        concepts: list[Concept] = []
        for concept in query.concepts:
            single = len(concept.alternatives) == 1 and len(concept.alternatives[0][0]) == 1
            token = concept.alternatives[0][0][0] if single else ""
            if not single or token in index.words.vocab or token.startswith("#"):
                concepts.append(concept)
                continue
            if token.isascii() and any(
                Levenshtein.distance(token, s, score_cutoff=_STOP_TYPO_LIMIT) <= _STOP_TYPO_LIMIT
                for s in _stopword_stems()
                if len(s) >= 3 and abs(len(s) - len(token)) <= 1
            ):
                continue  # a misspelt function word ("meny", "whta")
            # A Chinese word jieba knows is a real word, not a typo of a handbook word.
            real_word = has_cjk(token) and analysis.general_idf(token) < _UNSEEN_IDF
            options = [] if real_word else index.typo_candidates(token)
            if options:
                alternatives = (*concept.alternatives, *(((o,), weight) for o in options))
                concepts.append(Concept(concept.label, alternatives))
            else:
                concepts.append(concept)
        halves = {ch for word in query.joined for ch in word}
        loose = [t for t in analysis.words(query.norm, search=False) if len(t) == 1 and has_cjk(t)]
        for first, second in itertools.pairwise(loose):
            pair = first + second
            if pair in index.words.vocab or first in stop or second in stop or {first, second} & halves:
                continue
            options = index.typo_candidates(pair, limit=6)
            if options and pair in query.norm.replace(" ", ""):
                share = weight * min(1.0, 2.0 / len(options))
                concepts.append(Concept(pair, tuple(((o,), share) for o in options)))
        return concepts

    def components(self, index: _LangIndex, query: Query) -> Components:
        """Every per-article signal for a question (fuzzy only for the candidates)."""
        config = self.config
        size = index.words.size
        word = np.zeros(size)
        coverage = np.zeros(size)
        total_weight = 0.0
        unknown_weight = 0.0
        unknown_max = 0.0  # the most specific word of the question the handbook never uses
        known_tokens = [t for t in query.tokens if t in index.words.vocab and has_cjk(t)]
        weighted: list[tuple[passages.Alternatives, float]] = []
        for concept in self._expand_typos(index, query):
            scores, reference, own_known = index.concept_scores(concept, config.typo_weight)
            if reference <= 0 and any(t in concept.label and t != concept.label for t in known_tokens):
                continue  # 电话响 is 电话 plus a verb: the known part already speaks for it
            if reference <= 0:
                specificity = _specificity(concept.label)
                weight = index.words.max_idf * config.unknown_factor * specificity
                total_weight += weight
                unknown_weight += weight
                unknown_max = max(unknown_max, specificity)
                continue
            word += scores
            matched = np.minimum(1.0, scores / reference)
            if own_known:
                if concept.label in index.title_terms:
                    continue  # the handbook's own name (星河商贸) says nothing about the topic
                if len(concept.label) == 1 and has_cjk(concept.label):
                    reference *= 0.5  # a lone character (年 from an unknown 年会) is weak evidence
                coverage += reference * matched
                total_weight += reference
                weighted.append((concept.alternatives, reference))
            else:
                # Only a spelling variant matched: weigh it like an unknown word, half covered.
                weight = index.words.max_idf * config.unknown_factor * _specificity(concept.label)
                coverage += weight * matched
                total_weight += weight
                weighted.append((concept.alternatives, weight))
                unknown_weight += weight * (1.0 - config.typo_weight)
                unknown_max = max(unknown_max, _specificity(concept.label) * (1.0 - config.typo_weight))
        if total_weight > 0:
            coverage /= total_weight
        gram = np.zeros(size)
        gram_coverage = np.zeros(size)
        gram_total = 0.0
        for g in dict.fromkeys(query.grams):
            hit = index.grams.postings(g)
            if hit is None:
                gram_total += index.grams.max_idf
                continue
            idf = index.grams.term_idf(g) or 0.0
            gram[hit[0]] += hit[1]
            gram_coverage[hit[0]] += idf
            gram_total += idf
        if gram_total > 0:
            gram_coverage /= gram_total
        cosine: FloatArray | None = None
        if self.embedder is not None and index.vectors is not None and len(index.vectors):
            qvec = self.embedder.embed_queries([to_simplified(query.text)])[0]
            cosine = (index.vectors @ qvec).astype(np.float64)
        unknown_share = unknown_weight / total_weight if total_weight else 1.0
        return Components(
            word,
            coverage,
            gram,
            gram_coverage,
            cosine,
            unknown_share,
            unknown_max,
            tuple(weighted),
            total_weight,
        )

    def _search(self, index: _LangIndex, lang: str, query: Query, top: int) -> SearchResult:
        config = self.config
        size = index.words.size
        parts = self.components(index, query)
        lexical = (
            config.word_weight * _unit(parts.word)
            + config.coverage_weight * parts.coverage
            + config.gram_weight * _unit(parts.gram)
        )
        semantic = np.zeros(size)
        if parts.cosine is not None:
            mean = float(parts.cosine.mean())
            spread = float(parts.cosine.max()) - mean
            if spread > 1e-9:
                semantic = (parts.cosine - mean) / spread
        k = min(config.candidates, size)
        candidates = set(np.argpartition(-lexical, k - 1)[:k].tolist()) if k < size else set(range(size))
        if parts.cosine is not None and k < size:
            candidates.update(np.argpartition(-parts.cosine, k - 1)[:k].tolist())
        refs = [i for n in query.refs for i in index.by_number.get(n, [])]
        candidates.update(refs)
        fuzzy = self._fuzzy(index, query, sorted(candidates))
        clause = {
            i: passages.best_window(
                index.clauses(i), parts.weighted, index.bags[i], parts.total_weight, config.clause_width
            )
            if config.clause_weight
            else 0.0
            for i in candidates
        }
        final = {
            i: float(lexical[i] + config.fuzzy_weight * fuzzy[i] + config.semantic_weight * semantic[i])
            + config.clause_weight * clause[i]
            + (3.0 if i in refs else 0.0)
            for i in candidates
        }
        order = sorted(candidates, key=lambda i: (-final[i], i))[:top]
        model = self.calibration.model(parts.cosine is not None)
        hits: list[Hit] = []
        features: list[dict[str, float]] = []
        for i in order:
            # Character n-grams and fuzzy ratios mean different things in English (common
            # trigrams) and Chinese (shared words), so they are separate features.
            suffix = "" if lang == "zh" else "_en"
            feats = {
                "coverage": float(parts.coverage[i]),
                "gram_coverage" + suffix: float(parts.gram_coverage[i]),
                "fuzzy" + suffix: fuzzy[i],
                "unknown": parts.unknown_share,
                "unknown_max": parts.unknown_max,
                "english": 0.0 if lang == "zh" else 1.0,
            }
            if parts.cosine is not None:
                feats["cosine"] = float(parts.cosine[i])
            prob = model.predict(feats)
            if i in refs:
                prob = max(prob, 0.99)
            features.append(feats)
            hits.append(Hit(index.articles[i], prob))
        best = hits[0].score if hits else 0.0
        answered = bool(hits) and best >= self.calibration.threshold
        return SearchResult(query.text, lang, answered, best, tuple(hits), tuple(features))

    @staticmethod
    def _fuzzy(index: _LangIndex, query: Query, candidates: list[int]) -> dict[int, float]:
        from rapidfuzz import fuzz

        stop = analysis.stopwords()
        if has_cjk(query.norm):
            needle = "".join(t for t in query.tokens if t not in stop) or query.norm.replace(" ", "")
        else:
            needle = " ".join(w for w in query.norm.split() if w not in stop)
        if not needle:
            return dict.fromkeys(candidates, 0.0)
        return {i: fuzz.partial_ratio(needle, index.fuzzy_texts[i]) / 100.0 for i in candidates}


@functools.lru_cache(maxsize=1)
def _stopword_stems() -> frozenset[str]:
    """English stopwords as the tokenizer would stem them (many -> mani, to catch "meny")."""
    return frozenset(analysis.stem(w) for w in analysis.stopwords() if w.isascii())


def _specificity(word: str) -> float:
    """How much an unknown word says the question is about something else, in [0.2, 1].

    Everyday words (今天, 附近) are weak evidence, specific ones (公积金, 停车位) strong; jieba's
    general word frequencies tell them apart. Latin words have no frequency and count fully.
    """
    if not has_cjk(word):
        return 1.0
    if len(word) == 1:
        return 0.0
    general_idf = analysis.general_idf(word)
    return min(1.0, max(0.2, (general_idf - 7.0) / 5.0))


def _unit(values: FloatArray) -> FloatArray:
    top = float(values.max()) if len(values) else 0.0
    return values / top if top > 0 else values
