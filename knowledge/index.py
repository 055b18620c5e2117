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

from knowledge import analysis, confidence, passages, pinyin
from knowledge.bm25 import BM25, FloatArray
from knowledge.model import Article
from knowledge.query import Concept, Query, analyze
from knowledge.semantic import Embedder, embed_passages_cached
from knowledge.synonyms import SynonymTable
from knowledge.textnorm import has_cjk, normalize, to_simplified

_LEAD_ZH = re.compile(r"[，。；：,;:]")
_LEAD = re.compile(r"\b(?:must|may|is|are|shall|should|will)\b")
_LATIN_WORD = re.compile(r"[a-z]+")
_SENTENCE_ZH = re.compile(r"(?<=[。；！？])")
_SENTENCE_EN = re.compile(r"(?<=[.;!?])\s+")
# Kinds of value whose absence from the best article says much (几点, 几号, 多少钱) or little
# (谁: the article may name the person without a "由…负责" clause; 哪些: without a list).
_EXACT_KINDS = frozenset({"#time", "#money", "#percent", "#date"})
_LOOSE_KINDS = frozenset({"#who", "#definition"})
_MIN_SENTENCE = 12  # characters; shorter pieces say too little to embed on their own
_CHAPTER_PREFIX = re.compile(r"^(第\s*\S+?\s*章|chapter\s+\d+)\s*[:：.]?\s*", re.IGNORECASE)


@dataclass(frozen=True)
class SearchConfig:
    """Weights of the combined score; defaults were tuned on our own question sets."""

    word_weight: float = 1.0  # BM25 over words and synonym concepts
    coverage_weight: float = 1.0  # share of the question's concepts found in the article
    gram_weight: float = 0.35  # BM25 over character bigrams / word trigrams
    fuzzy_weight: float = 0.35  # rapidfuzz partial match of the question in the article
    semantic_weight: float = 1.0  # cosine similarity of the best passage (when an embedder is present)
    chapter_weight: float = 2.0  # term frequency given to each chapter-title word
    title_weight: float = 2.0  # term frequency given to each article-title word
    lead_weight: float = 1.0  # extra term frequency for words of an article's opening clause
    example_weight: float = 0.5  # term frequency of a word inside an example (例如…, for example…)
    synonym_weight: float = 0.9
    typo_weight: float = 0.5
    homophone_weight: float = 0.8  # a word read like a handbook word (换斑 -> 换班)
    answer_type_weight: float = 1.0  # "几点" matching an article that states clock times
    number_weight: float = 0.3  # digits in a question are mostly the asker's own case
    unknown_factor: float = 1.0  # weight of a word the handbook never uses, relative to max idf
    # Topic words standing next to a value of the kind asked (晚班14:00至23:00 for 几点), per kind.
    binding_weights: tuple[tuple[str, float], ...] = (
        ("#time", 0.7),
        ("#definition", 0.15),
        ("#quantity", 0.2),
        ("#unit", 0.5),  # a number of the unit asked (几分钟: 5分钟), next to the topic
    )
    lead_cover_weight: float = 0.15  # share of the question's topic named in the opening clause
    rerank_depth: int = 15  # candidates re-ranked by the clause-level evidence above
    candidates: int = 40
    k1: float = 1.2
    b: float = 0.75


@dataclass(frozen=True)
class Hit:
    """One article offered for a question.

    ``score`` is the article's relevance: the combined ranking score that orders the list
    (word, n-gram, fuzzy and, with the semantic extra, embedding evidence), mapped to 0..1 by
    s / (1 + s). Lists are sorted by it, best first; it is comparable within one search mode
    only. How sure the bot is that the first article answers is :attr:`SearchResult.confidence`.
    """

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
    """Best-first hits and what the bot should do with them.

    ``mode``: "answer" (the first hit, cited), "choice" (offer the hits to pick from) or
    "none" (the handbook does not cover it). ``confidence`` is the calibrated probability that
    the first hit is the right article; ``in_scope`` that the handbook covers the question.
    """

    question: str
    lang: str
    answered: bool
    confidence: float
    hits: tuple[Hit, ...]
    features: tuple[dict[str, float], ...] = field(default=(), compare=False, repr=False)
    mode: str = "none"
    in_scope: float = 0.0

    def to_dict(self) -> dict[str, object]:
        return {
            "q": self.question,
            "answered": self.answered,
            "mode": self.mode,
            "confidence": round(self.confidence, 4),
            "results": [h.to_dict() for h in self.hits],
        }


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
    topic: tuple[tuple[passages.Alternatives, float], ...] = ()  # known topic concepts and weights


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
        self.leads: list[frozenset[str]] = []
        chapter_cache: dict[str, tuple[list[str], list[str]]] = {}
        for article in self.articles:
            body = normalize(article.text)
            # An example (例如晚班23:00下班后…) mentions words without being the rule about them.
            main, examples = passages.split_examples(article.text)
            if examples:
                words = _bag(analysis.words(normalize(main), full=True))
                for example in examples:
                    _add(words, analysis.words(normalize(example), full=True), config.example_weight)
            else:
                words = _bag(analysis.words(body, full=True))
            _add(words, analysis.answer_types(article.text), 1.0)
            # Articles usually open with their subject (病假1天的…, 订单组负责…).
            if has_cjk(body):
                lead = normalize(_LEAD_ZH.split(article.text, maxsplit=1)[0])
            else:
                lead = _LEAD.split(body, maxsplit=1)[0]
            lead_terms = analysis.words(lead, full=True)
            _add(words, lead_terms, config.lead_weight)
            self.leads.append(frozenset(lead_terms))
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
        self._sentences: dict[int, list[passages.Sentence]] = {}
        self.words = BM25(word_bags, k1=config.k1, b=config.b)
        self.grams = BM25(gram_bags, k1=config.k1, b=config.b)
        self.by_number: dict[int, list[int]] = {}
        for i, article in enumerate(self.articles):
            self.by_number.setdefault(article.number, []).append(i)
        self._masks: dict[str, list[str]] | None = None
        self._latin: list[str] | None = None
        self._sounds: dict[str, list[str]] | None = None
        self.vectors: np.ndarray | None = None  # one row per passage (see _passages)
        self.owners: np.ndarray | None = None  # the article of each row, ascending

    def sentences(self, i: int) -> list[passages.Sentence]:
        """An article's sentences prepared for :func:`passages.binding` (cached)."""
        found = self._sentences.get(i)
        if found is None:
            found = self._sentences[i] = passages.prepare(self.articles[i].text)
        return found

    def present(self, alternatives: passages.Alternatives) -> passages.Alternatives:
        """The alternatives whose terms all occur in this index (an English question's concept
        also lists its Chinese synonyms); the clause-level checks only need those."""
        vocab = self.words.vocab
        return tuple((tokens, w) for tokens, w in alternatives if all(t in vocab for t in tokens))

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

    def warm(self) -> None:
        """Build the typo and sound-alike tables now (pinyin of every handbook word), while the
        index is built in its own thread, rather than inside the first questions' searches."""
        self._typo_masks()
        self.homophones(["换", "班"])

    def homophones(self, parts: Sequence[str]) -> list[str]:
        """Handbook words read like ``parts`` (characters or Latin syllables), at most 3.

        ``parts`` itself, when it is a handbook word, is not returned.
        """
        if not 2 <= len(parts) <= 4:
            return []
        text = "".join(parts)
        if self._sounds is None:
            table: dict[str, list[str]] = {}
            for word in self.words.vocab:
                if 2 <= len(word) <= 4 and all(_is_han(ch) for ch in word):
                    sound = pinyin.key(word)
                    if sound is not None:
                        table.setdefault(sound, []).append(word)
            self._sounds = table
        sound = pinyin.key(parts)
        found = [w for w in self._sounds.get(sound, ()) if w != text] if sound else []
        return found if len(found) <= 3 else []

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
            if len(tokens) > 1:
                # A phrase (time off, 1 + 月) counts where all its words occur, as much as one
                # word would: "time" alone is not "time off", and two words are not two concepts.
                present = np.zeros(self.words.size, dtype=np.int64)
                for hit in hits:
                    assert hit is not None
                    present[hit[0]] += 1
                scores = np.where(present == len(tokens), scores / len(tokens), 0.0)
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
        self._synonym_sounds: dict[str, list[str]] | None = None
        for lang_index in self._langs.values():
            lang_index.warm()
        self._synonym_sound_table()
        if embedder is not None:
            directory = cache_dir or analysis.default_cache_dir()
            for lang_index in self._langs.values():
                texts: list[str] = []
                owners: list[int] = []
                for i, article in enumerate(lang_index.articles):
                    for text in self._passages(article):
                        texts.append(text)
                        owners.append(i)
                lang_index.vectors = embed_passages_cached(embedder, texts, directory, progress=progress)
                lang_index.owners = np.asarray(owners, dtype=np.int64)

    @property
    def languages(self) -> list[str]:
        return sorted(self._langs)

    @property
    def semantic(self) -> bool:
        return self.embedder is not None

    @staticmethod
    def _passages(article: Article) -> list[str]:
        """What is embedded of an article: the whole text, and each sentence of a long one.

        A long article (第十七条: service hours, night messages, both shifts' hours) averages
        its topics in one vector; a question about one of them matches that sentence better.
        The article's cosine is its best passage's. Chapter names made e5's ranking worse on
        our question sets; the title is kept. Clauses naming a situation the rule cannot be met
        in are left out (see :func:`passages.without_situations`).
        """
        text = passages.without_situations(article.text)
        whole = " ".join(p for p in (article.title, text) if p)
        splitter = _SENTENCE_ZH if has_cjk(text) else _SENTENCE_EN
        sentences = [s.strip() for s in splitter.split(text) if len(s.strip()) >= _MIN_SENTENCE]
        if len(sentences) < 2:
            return [whole]
        prefix = f"{article.title} " if article.title else ""
        return [whole, *(prefix + s for s in sentences)]

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

    def _expand_typos(self, index: _LangIndex, query: Query) -> tuple[list[Concept], dict[str, str]]:
        """Add close spellings for words the handbook never uses.

        Chinese typos mostly leave jieba with loose single characters (补咔 -> 补 + 咔), so
        adjacent loose characters are tried as a two-character word too. Also returns the
        question's words and runs of loose characters that read like a handbook word, with that
        word (kuanggong -> 旷工, 换斑 -> 换班), for the n-grams and the embedding model.
        """
        from rapidfuzz.distance import Levenshtein

        stop = analysis.stopwords()
        weight = self.config.typo_weight
        concepts: list[Concept] = []
        sounds, resolved = self._homophones(index, query)
        # Words the question typed otherwise (kuanggong, 矿工), for the embedding model; runs of
        # loose characters (天假 in 请一天假) are too often two real words to be rewritten.
        readings: dict[str, str] = {}
        for concept in query.concepts:
            single = len(concept.alternatives) == 1 and len(concept.alternatives[0][0]) == 1
            token = concept.alternatives[0][0][0] if single else ""
            if single and token in resolved:
                continue  # a character of a homophone typo (斑 of 换斑) is not a word of its own
            if not single or token in index.words.vocab or token.startswith("#"):
                concepts.append(concept)
                continue
            raw, typed = self._typed_pinyin(index, query, token)
            if typed:
                concepts.append(Concept(concept.label, (*concept.alternatives, *typed)))
                readings[raw] = _best_reading(typed)
                continue
            if token.isascii() and any(
                Levenshtein.distance(token, s, score_cutoff=_STOP_TYPO_LIMIT) <= _STOP_TYPO_LIMIT
                for s in _stopword_stems()
                if len(s) >= 3 and abs(len(s) - len(token)) <= 1
            ):
                continue  # a misspelt function word ("meny", "whta")
            core = self._without_function_chars(index, token)
            if core is not None:
                concepts.append(core)  # 被扣 is 扣: a function character fused to a handbook word
                continue
            # A Chinese word jieba knows is a real word, not a typo of a handbook word.
            real_word = has_cjk(token) and analysis.general_idf(token) < _UNSEEN_IDF
            same_sound = self._sound_alike(index, list(token)) if has_cjk(token) else []
            options: list[tuple[tuple[str, ...], float]]
            if same_sound:
                # Same pinyin (矿工 for 旷工): the usual typo of pinyin input, even as a real word.
                share = self.config.homophone_weight * (0.6 if real_word else 1.0)
                options = [(t, share * w) for t, w in same_sound]
                readings[token] = _best_reading(same_sound)
            else:
                options = [] if real_word else [((o,), weight) for o in index.typo_candidates(token)]
            if options:
                alternatives = (*concept.alternatives, *options)
                concepts.append(Concept(concept.label, alternatives))
            else:
                concepts.append(concept)
        concepts.extend(sounds)
        readings = {label: word for label, word in readings.items() if word}
        halves = {ch for word in query.joined for ch in word} | resolved
        loose = [t for t in analysis.words(query.norm, search=False) if len(t) == 1 and has_cjk(t)]
        for first, second in itertools.pairwise(loose):
            pair = first + second
            if pair in index.words.vocab or first in stop or second in stop or {first, second} & halves:
                continue
            spellings = index.typo_candidates(pair, limit=6)
            if spellings and pair in query.norm.replace(" ", ""):
                share = weight * min(1.0, 2.0 / len(spellings))
                concepts.append(Concept(pair, tuple(((o,), share) for o in spellings)))
        heard = {**readings, **{c.label: _best_reading(c.alternatives) for c in sounds}}
        return concepts, {written: word for written, word in heard.items() if word}

    def _sound_alike(self, index: _LangIndex, parts: Sequence[str]) -> list[tuple[tuple[str, ...], float]]:
        """Alternatives (index terms, relative weight) read like ``parts``: 年价 -> 年休假.

        Handbook words come first; failing those, a synonym read the same way brings its
        group (年假 is no handbook word, but its synonym 年休假 is).
        """
        words = index.homophones(parts)
        if words:
            share = min(1.0, 2.0 / len(words))
            return [((w,), share) for w in words]
        sound = pinyin.key(parts) if 2 <= len(parts) <= 4 else None
        if sound is None:
            return []
        text = "".join(parts)
        weights: dict[tuple[str, ...], float] = {}
        for surface in self._synonym_sound_table().get(sound, ()):
            if surface == text:
                continue
            for group in self.synonyms.groups_of(surface):
                for term in self.synonyms.groups[group].terms:
                    weight = 1.0 if term.surface == surface else self.config.synonym_weight
                    weights[term.tokens] = max(weight, weights.get(term.tokens, 0.0))
        return list(weights.items())

    def _synonym_sound_table(self) -> dict[str, list[str]]:
        """Synonym terms by their pinyin, built with the index (and kept in its snapshot)."""
        if self._synonym_sounds is None:
            table: dict[str, list[str]] = {}
            for surface in self.synonyms.cjk_surfaces():
                if 2 <= len(surface) <= 4 and all(_is_han(ch) for ch in surface):
                    key = pinyin.key(surface)
                    if key is not None:
                        table.setdefault(key, []).append(surface)
            self._synonym_sounds = table
        return self._synonym_sounds

    def __getstate__(self) -> dict[str, object]:
        """Everything but the embedder (a loaded model), for :mod:`knowledge.snapshot`."""
        return {**self.__dict__, "embedder": None}

    def _typed_pinyin(
        self, index: _LangIndex, query: Query, token: str
    ) -> tuple[str, list[tuple[tuple[str, ...], float]]]:
        """Handbook words read like a Latin word of a Chinese question (chidao -> 迟到).

        Someone without a pinyin keyboard at hand types the syllables; ``token`` is the
        stemmed form, so the question's own spelling is looked up first (and returned).
        """
        if not token.isascii() or not token.isalpha() or not has_cjk(query.norm):
            return token, []
        weight = self.config.homophone_weight
        for raw in dict.fromkeys(_LATIN_WORD.findall(query.norm)):
            if analysis.english_term(raw) != token:
                continue
            for parts in pinyin.segmentations(raw):
                options = self._sound_alike(index, parts)
                if options:
                    return raw, [(t, weight * w) for t, w in options]
        return token, []

    def _without_function_chars(self, index: _LangIndex, token: str) -> Concept | None:
        """The concept of an unknown word once leading/trailing function characters are cut.

        jieba keeps 被扣, 都扣 or 扣了 whole; without the function character (a stopword) the
        rest may be a handbook word or a synonym, which is what the question is about.
        """
        if not has_cjk(token) or len(token) < 2:
            return None
        stop = analysis.stopwords()
        start, end = 0, len(token)
        while start < end - 1 and token[start] in stop:
            start += 1
        while end - 1 > start and token[end - 1] in stop:
            end -= 1
        core = token[start:end]
        if core == token:
            return None
        groups = self.synonyms.groups_of(core)
        if groups:
            weights: dict[tuple[str, ...], float] = {}
            for group in groups:
                for term in self.synonyms.groups[group].terms:
                    weight = 1.0 if term.surface == core else self.config.synonym_weight
                    weights[term.tokens] = max(weight, weights.get(term.tokens, 0.0))
            return Concept(core, tuple(weights.items()))
        if core in index.words.vocab:
            return Concept(core, (((core,), 1.0),))
        return None

    def _homophones(self, index: _LangIndex, query: Query) -> tuple[list[Concept], set[str]]:
        """Handbook words that sound like runs of loose characters (年价 -> 年假, 审pi -> 审批).

        jieba leaves a mistyped word as single characters; two or three of them read like a
        handbook word they are most likely that word. Returns the concepts and the characters
        (and Latin syllables) they account for.
        """
        weight = self.config.homophone_weight
        if not weight or not has_cjk(query.norm):
            return [], set()
        stop = analysis.stopwords()
        concepts: list[Concept] = []
        resolved: set[str] = set()
        for run in analysis.loose_runs(query.norm):
            start = 0
            while start < len(run) - 1:
                for size in (3, 2):
                    parts = run[start : start + size]
                    window = "".join(parts)
                    if len(parts) < size or all(p in stop for p in parts) or not has_cjk(window):
                        continue
                    options = self._sound_alike(index, parts)
                    if options:
                        concepts.append(Concept(window, tuple((t, weight * w) for t, w in options)))
                        resolved.update(run[start : start + size])
                        start += size
                        break
                else:
                    start += 1
        return concepts, resolved

    def components(self, index: _LangIndex, query: Query) -> Components:
        """Every per-article signal for a question (fuzzy only for the candidates)."""
        config = self.config
        size = index.words.size
        word = np.zeros(size)
        coverage = np.zeros(size)
        total_weight = 0.0
        unknown_weight = 0.0
        unknown_max = 0.0  # the most specific word of the question the handbook never uses
        # Known words of two or more characters; a lone 打 does not explain an unknown 打折.
        known_tokens = [t for t in query.tokens if len(t) > 1 and t in index.words.vocab and has_cjk(t)]
        topic: list[tuple[passages.Alternatives, float]] = []
        expanded, heard = self._expand_typos(index, query)
        scored = [(c, *index.concept_scores(c, config.typo_weight)) for c in expanded]
        unknown_labels = [c.label for c, _s, reference, _k in scored if reference <= 0 and has_cjk(c.label)]
        for concept, scores, reference, own_known in scored:
            if reference <= 0 and any(t in concept.label and t != concept.label for t in known_tokens):
                continue  # 电话响 is 电话 plus a verb: the known part already speaks for it
            if reference <= 0 and any(concept.label in u and concept.label != u for u in unknown_labels):
                continue  # 下子 is a piece of 一下子, which already counts as unknown
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
                if not concept.label.startswith("#"):
                    topic.append((index.present(concept.alternatives), reference))
            else:
                # Only a spelling variant matched: weigh it like an unknown word, half covered.
                weight = index.words.max_idf * config.unknown_factor * _specificity(concept.label)
                coverage += weight * matched
                total_weight += weight
                topic.append((index.present(concept.alternatives), weight))
                unknown_weight += weight * (1.0 - config.typo_weight)
                unknown_max = max(unknown_max, _specificity(concept.label) * (1.0 - config.typo_weight))
        if total_weight > 0:
            coverage /= total_weight
        gram = np.zeros(size)
        gram_coverage = np.zeros(size)
        gram_total = 0.0
        # N-grams of the question as read (换斑 -> 换班), or a typo costs the right article
        # its n-gram evidence while a neighbour sharing the question's other words keeps it.
        query_grams = query.grams
        if heard:
            query_grams = (*analysis.grams(_as_read(query.norm, heard)), *query.joined)
        for g in dict.fromkeys(query_grams):
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
            qvec = self.embedder.embed_queries([_as_read(to_simplified(query.text), heard)])[0]
            rows = (index.vectors @ qvec).astype(np.float64)
            if index.owners is None or len(rows) == size:
                cosine = rows
            else:  # an article's best passage (owners ascend, every article has a row)
                starts = np.flatnonzero(np.r_[True, index.owners[1:] != index.owners[:-1]])
                cosine = np.maximum.reduceat(rows, starts)
        unknown_share = unknown_weight / total_weight if total_weight else 1.0
        return Components(
            word,
            coverage,
            gram,
            gram_coverage,
            cosine,
            unknown_share,
            unknown_max,
            tuple(topic),
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
        final = {
            i: float(lexical[i] + config.fuzzy_weight * fuzzy[i] + config.semantic_weight * semantic[i])
            + (3.0 if i in refs else 0.0)
            for i in candidates
        }
        # Clause-level evidence re-ranks the best candidates only: it moves answers within
        # the top of the list, and preparing sentences is the costly part at 10,000 articles.
        shortlist = sorted(candidates, key=lambda i: (-final[i], i))[: config.rerank_depth]
        kinds = [
            (asked, w)
            for k, w in config.binding_weights
            for asked in query.kinds
            if w and (asked == k or asked.startswith(k + ":"))
        ]
        for i in shortlist:
            for kind, weight in kinds:
                final[i] += weight * passages.binding(index.sentences(i), [kind], parts.topic, index.bags[i])
            if config.lead_cover_weight:
                final[i] += config.lead_cover_weight * passages.lead_coverage(index.leads[i], parts.topic)
        ranked = sorted(candidates, key=lambda i: (-final[i], i))
        order = ranked[:top]
        semantic_mode = parts.cosine is not None
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
            }
            if semantic_mode:
                feats["cosine"] = float(parts.cosine[i])  # type: ignore[index]
            features.append(feats)
            hits.append(Hit(index.articles[i], _squash(final[i])))
        if not hits:
            return SearchResult(query.text, lang, False, 0.0, ())
        best = ranked[0]
        runner_up = final[ranked[1]] if len(ranked) > 1 else 0.0
        margin = final[best] - runner_up
        # A question asking for a kind of value (几号, 多少钱, what time) whose best article
        # states no value of that kind is most likely about something the handbook leaves out.
        asked = [kind for kind in query.kinds if kind in analysis.INDEXED_KINDS]
        # Split in two for the models (exact and loose kinds); the combined flag stays for
        # calibration files fitted before the split.
        features[0]["kind_missing"] = float(bool(asked) and not any(k in index.bags[best] for k in asked))
        for group, kinds_of in (("exact", _EXACT_KINDS), ("loose", _LOOSE_KINDS)):
            of_group = [k for k in asked if k in kinds_of]
            features[0]["kind_missing_" + group] = float(
                bool(of_group) and not any(k in index.bags[best] for k in of_group)
            )
        features[0]["margin"] = margin
        features[0]["topic_prior"] = self.calibration.prior.score(query.text)
        # Of the whole question (words the handbook never uses count as missing), the share one
        # sentence of the best article states together.
        features[0]["sentence_coverage"] = (1.0 - parts.unknown_share) * passages.sentence_coverage(
            index.sentences(best), parts.topic
        )
        if parts.cosine is not None and len(parts.cosine) > 1:
            # How far the best article stands out from the handbook as a whole: e5's cosines sit in
            # a narrow band, and a question about something else is about as close to every article.
            features[0]["cosine_gap"] = float(parts.cosine[best] - parts.cosine.mean())
            features[0]["cosine_z"] = float(
                (parts.cosine[best] - parts.cosine.mean()) / max(float(parts.cosine.std()), 1e-6)
            )
        features[0]["margin_rel"] = margin / max(abs(final[best]), 1e-9)
        if lang != "zh":  # English words have no general frequencies: their own weights
            for name in ("coverage", "sentence_coverage", "unknown", "unknown_max"):
                features[0][name + "_en"] = features[0][name]
        p_scope = self.calibration.model(semantic_mode).predict(features[0])
        p_right = self.calibration.answer_model(semantic_mode).predict(features[0])
        if best in refs:  # the question cites the article by its number
            p_scope = p_right = max(p_right, 0.99)
        mode = self.calibration.mode(semantic_mode, p_right, p_scope)
        return SearchResult(
            query.text,
            lang,
            mode == "answer",
            p_right,
            tuple(hits),
            tuple(features),
            mode=mode,
            in_scope=p_scope,
        )

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


def _best_reading(alternatives: passages.Alternatives) -> str:
    """The Chinese word a misspelt or pinyin-typed word most likely stands for ('' if none)."""
    words = [(w, "".join(t)) for t, w in alternatives if all(has_cjk(x) for x in t)]
    return max(words, key=lambda item: item[0])[1] if words else ""


def _as_read(text: str, readings: dict[str, str]) -> str:
    """The question with its misspelt words replaced, for the embedding model.

    e5 reads 旷工 but not kuanggong or 矿工; the lexical side already knows what they stand for.
    """
    lowered = text.lower()
    for written, word in readings.items():
        lowered = lowered.replace(written, word)
    return lowered if readings else text


def _is_han(ch: str) -> bool:
    return "\u4e00" <= ch <= "\u9fff" or "\u3400" <= ch <= "\u4dbf"


def _squash(value: float) -> float:
    """A ranking score in 0..1, same order: s / (1 + s) (negative scores count as 0)."""
    value = max(0.0, value)
    return value / (1.0 + value)


def _unit(values: FloatArray) -> FloatArray:
    top = float(values.max()) if len(values) else 0.0
    return values / top if top > 0 else values
