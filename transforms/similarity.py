"""Similarity measures behind the duplicate tiers, as pure functions (no Beam).

- Near copies: MinHash over word shingles (datasketch's, computed here with numpy), compared by
  the share of equal hash values, an unbiased estimate of the shingle sets' Jaccard similarity.
  Rewrites of one event by different outlets share few 5-word shingles (0.05-0.10 on the seeds);
  syndicated copies with light edits share most. A signature travels as the bytes of its 32-bit
  hash values (`MINHASH_DTYPE`): 1 KiB for 256 permutations, where a tuple of Python ints pickled
  to twice that and took ten times that in memory; two signatures compare in one numpy step.
- Same story: cosine of weighted term vectors. A term's weight is its (sublinear) count times an IDF
  taken from wordfreq's general word frequencies, not from the corpus, so a document's vector depends
  on the document alone and the same code serves batch and streaming. Names (capitalised mid-sentence)
  weigh more; very common words weigh nothing. The heaviest terms double as blocking keys.
"""

from __future__ import annotations

import hashlib
import itertools
import math
import operator
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import NamedTuple, Optional, Sequence

import numpy as np

from newswire.transforms import word_frequencies
from newswire.transforms.records import normalize_for_hash

# A token is a maximal run of word characters; split at the tokens (kept), a text is its gaps and
# tokens in turn: gap, token, gap, token, ..., gap (the first and last gaps may be empty), each gap
# all of the non-word characters between two tokens.
_TOKEN = re.compile(r'(\w+)')
_YEAR = re.compile(r'^(?:19|20)\d\d$')
_CLAUSE_BREAK = frozenset('.!?;:\n')
_SENTENCE_END = frozenset('.!?:;"\'\u201c\u201d\n')
# datasketch's default permutation scheme (affine32) gives 32-bit hash values; little-endian bytes.
MINHASH_DTYPE = np.dtype('<u4')
_sha1 = hashlib.sha1
_SHA1_WORDS = hashlib.sha1().digest_size // 4  # 32-bit words in a SHA-1 digest


class MinHasher:
    """MinHash signatures of word shingles; the permutations are drawn once per instance.

    The signature is datasketch's `MinHash(num_perm, seed)` (its default `affine32` scheme and
    `sha1_hash32` input hash) computed here with numpy, so that a run need not import datasketch
    (which imports scipy); tests/transforms/test_similarity.py checks every step against datasketch
    itself. The steps, as datasketch 2.0 takes them: each shingle's hash is the first 4 bytes of its
    UTF-8 SHA-1 digest, little-endian; it is mixed by MurmurHash3's 32-bit finalizer; permutation k
    maps it to a_k * h + b_k mod 2**32; the signature holds each permutation's minimum.
    """

    def __init__(self, num_perm: int, seed: int, shingle_words: int):
        self._num_perm = num_perm
        self._shingle_words = shingle_words
        self._a, self._b = minhash_permutations(num_perm, seed)

    def shingles(self, text: str) -> set[str]:
        return self.shingles_of_normalized(normalize_for_hash(text))

    def shingles_of_normalized(self, normalized: str) -> set[str]:
        """`shingles` of a text already passed through `normalize_for_hash`."""
        words = normalized.split()
        n = self._shingle_words
        if len(words) <= n:
            return {' '.join(words)} if words else set()
        # The runs of n words, joined by C iterators: zip of the word list shifted 0..n-1 places.
        return set(map(' '.join, zip(*(words[i:] for i in range(n)))))

    def signature(self, text: str) -> bytes:
        return self.signature_of_shingles(self.shingles(text))

    def signature_of_shingles(self, shingles: set[str]) -> bytes:
        """The MinHash of the shingles as `MINHASH_DTYPE` bytes (b'' for no shingles)."""
        if not shingles:
            return b''
        # Each hash value is a minimum over all shingles: the order they come in does not matter.
        digests = b''.join(map(_digest, map(_sha1, map(_utf8, shingles))))
        hashes = _fmix32(np.frombuffer(digests, dtype='<u4')[::_SHA1_WORDS].copy())
        minimum = np.full(self._num_perm, _MAX_HASH32, dtype=np.uint32)
        # Blocks of shingles, so that a long text's (shingles x permutations) products stay small.
        for start in range(0, len(hashes), _HASH_BLOCK):
            block = hashes[start:start + _HASH_BLOCK, np.newaxis] * self._a
            block += self._b
            np.minimum(minimum, block.min(axis=0), out=minimum)
        return minimum.astype(MINHASH_DTYPE, copy=False).tobytes()


_utf8 = str.encode  # UTF-8 by default
_digest = type(hashlib.sha1()).digest
_MAX_HASH32 = np.uint32(0xFFFFFFFF)  # datasketch's empty value for the affine32 scheme
_HASH_BLOCK = 512  # shingles per (shingles x permutations) block: 512 KiB of uint32 for 256


def minhash_permutations(num_perm: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """datasketch's affine32 permutations for `seed` (`MinHash._init_permutations`): odd
    multipliers a and offsets b, uint32, drawn from numpy's legacy `RandomState(seed)` in that
    order."""
    generator = np.random.RandomState(seed)
    a = generator.randint(0, 1 << 31, num_perm, dtype=np.uint32) * np.uint32(2) + np.uint32(1)
    b = generator.randint(0, 1 << 32, num_perm, dtype=np.uint32)
    return a, b


def _fmix32(hashes: np.ndarray) -> np.ndarray:
    """MurmurHash3's 32-bit finalizer on uint32 values (datasketch's `_fmix(hv, 32)`); wraps mod
    2**32 as intended."""
    hashes ^= hashes >> np.uint32(16)
    hashes *= np.uint32(0x85EBCA6B)
    hashes ^= hashes >> np.uint32(13)
    hashes *= np.uint32(0xC2B2AE35)
    hashes ^= hashes >> np.uint32(16)
    return hashes


def minhash_jaccard(a: bytes, b: bytes) -> float:
    """The share of equal hash values of two `MinHasher` signatures (0.0 if either is empty)."""
    if not a or not b or len(a) != len(b):
        return 0.0
    equal = np.frombuffer(a, dtype=MINHASH_DTYPE) == np.frombuffer(b, dtype=MINHASH_DTYPE)
    return np.count_nonzero(equal) / equal.size


def containment(jaccard: float, count_a: int, count_b: int) -> float:
    """|A∩B| / min(|A|, |B|) from the Jaccard of A and B and their sizes.

    |A∩B| = J |A∪B| and |A∪B| = |A| + |B| - |A∩B|, so |A∩B| = J (|A| + |B|) / (1 + J): the conversion
    datasketch's LSH Ensemble makes between containment and Jaccard. Capped at 1 (J is an estimate).
    """
    smaller = min(count_a, count_b)
    if smaller <= 0 or jaccard <= 0.0:
        return 0.0
    return min(1.0, jaccard * (count_a + count_b) / ((1.0 + jaccard) * smaller))


@dataclass(frozen=True)
class StoryParams:
    """Weights of the same-story term vector, calibrated on ECB+ (see docs/quality.md)."""

    stop_zipf: float = 5.5      # words at least this frequent (zipf scale) carry no weight
    zipf_max: float = 8.0       # idf(w) = max(idf_floor, zipf_max - zipf(w)); unknown words zipf 0
    idf_floor: float = 0.5
    number_idf: float = 3.0     # wordfreq has no entries for numbers
    year_idf: float = 6.0
    name_boost: float = 1.5     # tokens seen capitalised mid-sentence (names, places)
    title_weight: float = 1.0   # each headline occurrence counts this much
    bigram_weight: float = 0.5  # adjacent content words ("mine maps"), at this share of their idf


DEFAULT_STORY_PARAMS = StoryParams()


@dataclass(frozen=True)
class StoryFeatures:
    vector: tuple[tuple[str, float], ...]  # L2-normalised, sorted by term
    keys: tuple[str, ...]                  # the heaviest terms, for blocking


# A process's word weights per (language, params) are kept across documents (an article repeats few
# of its 150 words, a wire repeats most of its vocabulary), emptied past this many words.
_IDF_TABLE_MAX_WORDS = 500_000


@lru_cache(maxsize=32)
def _idf_table(language: str, params: 'StoryParams') -> dict[str, float]:
    """The word -> idf table `story_features` fills for one language and `params`."""
    return {}


def _tokens(text: str, names: Optional[set]) -> tuple[list[str], list[bool]]:
    """Lowercased tokens, and for each whether it is in the clause of the token before (False for
    the first and after a clause break); collects mid-sentence capitalised tokens into `names`.

    The per-token steps (lowercasing, the clause test of each gap, the capital test) run as `map`s
    over the tokens; a Python step only for the capitalised ones."""
    parts = _TOKEN.split(text)
    words = parts[1::2]
    if not words:
        return [], []
    gaps = parts[0:-1:2]  # the gap before each token
    lowered = list(map(str.lower, words))
    joined = list(map(_CLAUSE_BREAK.isdisjoint, gaps))
    joined[0] = False
    if names is not None:
        for index in itertools.compress(range(len(words)),
                                        map(str.isupper, map(_FIRST_CHARACTER, words))):
            if joined[index]:
                stripped = gaps[index].strip()
                if not stripped or stripped[-1] not in _SENTENCE_END:
                    names.add(lowered[index])
    return lowered, joined


_FIRST_CHARACTER = operator.itemgetter(0)


def story_features(title: Optional[str], text: str, language: Optional[str] = 'en',
                   top_keys: int = 8, params: StoryParams = DEFAULT_STORY_PARAMS) -> StoryFeatures:
    """The weighted term vector of a report and its `top_keys` heaviest terms.

    Terms are content words and pairs of adjacent content words (within a clause); a word's weight is
    (1 + ln count) x idf, x name_boost when it appears capitalised mid-sentence; a pair's is its count
    x bigram_weight x the mean idf of its words. A language without a wordfreq list of its own gets
    the list wordfreq picks for it (`word_frequencies.load_language`: Russian's for Azerbaijani and
    Armenian, English's for Georgian), which lacks most of its words, so they weigh nearly alike; a
    language wordfreq has nothing close to gets a flat idf.
    """
    code = (language or 'en').split('-')[0].lower()
    code = code if code != 'und' else 'en'
    frequencies = word_frequencies.of_language(code)
    names: set = set()
    idf_cache = _idf_table(code, params)
    if len(idf_cache) > _IDF_TABLE_MAX_WORDS:
        idf_cache.clear()

    def idf(word: str, frequency: Optional[float]) -> float:
        if len(word) < 2:
            return 0.0
        if word.isdigit():
            return params.year_idf if _YEAR.match(word) else params.number_idf
        zipf = math.log10(frequency) + 9.0 if frequency else 0.0
        return 0.0 if zipf >= params.stop_zipf else max(params.idf_floor, params.zipf_max - zipf)

    idf_of = idf_cache.get  # every token's idf is in the table once its words are added below
    counts: dict[str, float] = {}
    count_of = counts.get
    bigrams = bool(params.bigram_weight)
    body, heading = _tokens(text, names), _tokens(title or '', None)
    # A word's idf depends on the word alone: the words new to the table, looked up in one batch.
    new = list(set(body[0]).union(heading[0]).difference(idf_cache))
    if new:
        found = frequencies.lookup(new) if frequencies else itertools.repeat(None)
        for word, frequency in zip(new, found):
            idf_cache[word] = idf(word, frequency)
    for (tokens, joined), weight in ((body, 1.0), (heading, params.title_weight)):
        previous = None
        for token, in_clause in zip(tokens, joined):
            # A clause break or a stopword (idf 0.0) ends a pair.
            if not in_clause:
                previous = None
            if not idf_of(token):
                previous = None
                continue
            counts[token] = count_of(token, 0.0) + weight
            if bigrams and previous is not None:
                pair = f'{previous} {token}'
                counts[pair] = count_of(pair, 0.0) + weight
            previous = token
    weights = {}
    for term, count in counts.items():
        tf = 1.0 + math.log(count) if count >= 1.0 else count
        first, space, second = term.partition(' ')
        if space:
            weight = tf * params.bigram_weight * 0.5 * (idf_of(first) + idf_of(second))
            boost = first in names and second in names
        else:
            weight = tf * idf_of(term)
            boost = term in names
        weights[term] = weight * (params.name_boost if boost else 1.0)
    values = list(weights.values())
    # The squares summed left to right in the terms' first-seen order, by `sum` as before.
    norm = math.sqrt(sum(map(operator.mul, values, values))) or 1.0
    terms = sorted(weights)  # distinct: sorting (term, weight) pairs sorts by term alone
    vector = tuple(zip(terms, map(operator.truediv, map(weights.__getitem__, terms),
                                  itertools.repeat(norm))))
    # Heaviest first, ties in term order: a stable sort of the term-ordered vector by weight alone.
    keys = tuple(t for t, _ in sorted(vector, key=_WEIGHT, reverse=True)[:top_keys])
    return StoryFeatures(vector, keys)


_WEIGHT = operator.itemgetter(1)


class PackedVector(NamedTuple):
    """A term vector as two flat values, its terms newline-joined and its weights as float64 bytes:
    two objects to pickle instead of two per term (a report has some 130 terms, and the batch
    pipeline shuffles its vector once per heavy term). Terms are words or word pairs: no newlines."""

    terms: str = ''
    weights: bytes = b''

    @classmethod
    def of(cls, vector: tuple[tuple[str, float], ...]) -> 'PackedVector':
        if not vector:
            return cls()
        terms, weights = zip(*vector)
        return cls('\n'.join(terms), np.array(weights, dtype=np.float64).tobytes())

    def unpacked(self) -> tuple[tuple[str, float], ...]:
        """The vector as `story_features` gave it (float64 bytes give back the very floats)."""
        return tuple(self.weights_by_term().items())

    def central_term(self) -> str:
        """The heaviest term ('' for no terms); a tie goes to the first in term order, as in
        `story_features`' keys."""
        return _central_term(self.terms, self.weights)

    def has_term(self, term: str) -> bool:
        return bool(term) and f'\n{term}\n' in f'\n{self.terms}\n'

    def weights_by_term(self) -> dict[str, float]:
        if not self.terms:
            return {}
        return dict(zip(self.terms.split('\n'), np.frombuffer(self.weights, np.float64).tolist()))


# A report is compared in each of its story buckets, with up to 200 others in each; its central
# term is found once, not per pair (splitting the terms was 1% of a batch run).
@lru_cache(maxsize=4096)  # holds the terms and weights of 4,096 reports: some 12 MB
def _central_term(terms: str, weights: bytes) -> str:
    if not terms:
        return ''
    heaviest = int(np.argmax(np.frombuffer(weights, np.float64)))
    return terms.split('\n')[heaviest]


# A screen matches terms by the low bits of their hashes, one of this many slots: a table of a
# report's weights by slot (128 KB) stays in the CPU's cache, and a term of another report that
# only shares a slot adds a product that makes some 10% more pairs go on to the exact test.
SCREEN_SLOTS = 1 << 14


def story_cosine_screen(vector: PackedVector, others: Sequence[PackedVector]) -> np.ndarray:
    """For each of `others`, a value no lower than its `cosine` with `vector` but for the last bits
    of a sum (all L2-normalised, with positive weights), computed for all at once. What screens out
    a story bucket's reports that cannot reach a threshold; a caller tests the others exactly.

    Terms are matched by slot (`SCREEN_SLOTS`), not by the terms themselves: `vector`'s weights are
    summed per slot, and each term of another report is multiplied by its slot's sum. A shared term
    gives its own product and more, never less, and the screen stays a bound of the cosine."""
    slots, weights = _slotted_terms(vector)
    screen = np.zeros(len(others))
    if not len(slots) or not others:
        return screen
    rows = [_slotted_terms(other) for other in others]
    lengths = np.fromiter(map(len, map(operator.itemgetter(0), rows)), dtype=np.intp,
                          count=len(rows))
    nonempty = np.flatnonzero(lengths)
    if not len(nonempty):
        return screen
    by_slot = np.bincount(slots, weights, minlength=SCREEN_SLOTS)
    products = (by_slot[np.concatenate([row[0] for row in rows])]
                * np.concatenate([row[1] for row in rows]))
    screen[nonempty] = np.add.reduceat(products, (np.cumsum(lengths) - lengths)[nonempty])
    return screen


# Holds 16,384 reports' slots (8 bytes a term, some 1.1 KB a report; the weights are a view) and
# keeps their vectors alive: some 60 MB when full.
@lru_cache(maxsize=16384)
def _slotted_terms(vector: PackedVector) -> tuple[np.ndarray, np.ndarray]:
    """The slots of a vector's terms (`story_cosine_screen`) and their weights, in term order."""
    terms = vector.terms.split('\n') if vector.terms else []
    hashes = np.fromiter(map(hash, terms), dtype=np.int64, count=len(terms))
    return (hashes & (SCREEN_SLOTS - 1)).astype(np.intp), np.frombuffer(vector.weights, np.float64)


def term_matrix(vectors: Sequence[PackedVector]):
    """Term vectors as the rows of one scipy CSR matrix (a column per term), so that
    `matrix @ matrix.T` holds the cosine of every two of them (the vectors are L2-normalised)."""
    from scipy import sparse

    joined = '\n'.join(v.terms for v in vectors if v.terms)
    terms = joined.split('\n') if joined else []
    row_starts = np.zeros(len(vectors) + 1, dtype=np.int64)
    np.cumsum([len(v.weights) // 8 for v in vectors], out=row_starts[1:])
    # Columns numbered in the order terms first occur, built by C iterators (no Python loop over the
    # terms). Which column a term gets changes no cosine beyond the last bits, which
    # `buckets._story_matches_by_product` allows for.
    columns = dict(zip(dict.fromkeys(terms), itertools.count()))
    indices = np.fromiter(map(columns.__getitem__, terms), dtype=np.int64, count=len(terms))
    weights = np.frombuffer(b''.join(v.weights for v in vectors), dtype=np.float64)
    return sparse.csr_matrix((weights, indices, row_starts), shape=(len(vectors), len(columns)))


class TermColumns:
    """`term_matrix` for many groups of the same vectors: each vector's terms are split and
    numbered once, then the matrix of each group is put together from those rows. The batch index
    builds a matrix per large story bucket, and a report is in some eight buckets.

    All the matrices share one numbering of the terms, so a matrix has a column for every term
    numbered so far (which costs a sparse product nothing). Memory stays bounded: when a group
    comes and `max_terms` terms or `max_rows` vectors are numbered, the numbering starts again; a
    group larger than half of `max_rows` gets a `term_matrix` of its own. A cosine of two rows is
    `term_matrix`'s but for the last bits (which column a term gets), as there."""

    def __init__(self, max_terms: int = 500_000, max_rows: int = 20_000):
        self._max_terms, self._max_rows = max_terms, max_rows
        self._columns: dict[str, int] = {}
        self._rows: dict[PackedVector, tuple[np.ndarray, np.ndarray]] = {}

    def matrix(self, vectors: Sequence[PackedVector]):
        """The vectors as the rows of one scipy CSR matrix, as `term_matrix`."""
        from scipy import sparse

        if len(vectors) > self._max_rows // 2:
            return term_matrix(vectors)
        # Only between groups: the rows of one matrix must share a numbering.
        if len(self._columns) >= self._max_terms or len(self._rows) + len(vectors) > self._max_rows:
            self._columns, self._rows = {}, {}
        rows = [self._rows.get(vector) or self._numbered(vector) for vector in vectors]
        row_starts = np.zeros(len(rows) + 1, dtype=np.int64)
        np.cumsum([len(columns) for columns, _ in rows], out=row_starts[1:])
        indices = np.concatenate([np.zeros(0, np.int64)] + [columns for columns, _ in rows])
        weights = np.concatenate([np.zeros(0)] + [weights for _, weights in rows])
        return sparse.csr_matrix((weights, indices, row_starts),
                                 shape=(len(rows), len(self._columns)))

    def _numbered(self, vector: PackedVector) -> tuple[np.ndarray, np.ndarray]:
        terms = vector.terms.split('\n') if vector.terms else []
        columns = self._columns
        # New terms numbered in the order they first occur, on from the terms numbered before.
        new = [term for term in dict.fromkeys(terms) if term not in columns]
        columns.update(zip(new, itertools.count(len(columns))))
        row = self._rows[vector] = (
            np.fromiter(map(columns.__getitem__, terms), dtype=np.int64, count=len(terms)),
            np.frombuffer(vector.weights, np.float64))
        return row


def cosine(a: tuple[tuple[str, float], ...], b: tuple[tuple[str, float], ...]) -> float:
    """Cosine of two L2-normalised sparse vectors."""
    if len(a) > len(b):
        a, b = b, a
    lookup = dict(b)
    return sum(w * lookup.get(t, 0.0) for t, w in a)


def shares_central_term(a: PackedVector, b: PackedVector) -> bool:
    """Whether the heaviest term of either report occurs in the other: what a report is about (its
    most weighted name or word) is also in the other one. Two reports of different events in one
    place share many names at a middling cosine, but usually not each other's central one."""
    return b.has_term(a.central_term()) or a.has_term(b.central_term())
