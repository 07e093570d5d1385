"""wordfreq's word frequencies for a language, looked up without building a dict of them.

wordfreq ships a language's list as gzipped msgpack: a header, then the words of each centibel of
frequency from the most frequent down (a word's frequency is 10 ** (-centibels / 100)). As a dict
the list costs each process 35 MB (English) to 120 MB (Russian) and 0.1-0.5 s to build, and a
multilingual run builds several. Here it becomes four flat arrays instead:

- `hashes`: each word's 64-bit BLAKE2b hash of its UTF-8 bytes, sorted;
- `frequencies`: each word's frequency, in the same order;
- `offsets` and `words`: each word's UTF-8 bytes, so that a hash found is checked against the word
  itself and a lookup never answers for a word the list does not have.

The arrays are built once per machine, named after the list file's digest, and later processes
map them read-only (`machine_cache`); where the cache cannot be written, they live in memory.

Worked example: `of_language('en').lookup(['the', 'pier', 'qzxv'])` gives `[0.0537..., 6.6e-06,
None]`: the first two are wordfreq's own `get_frequency_dict('en')` values, float for float.
"""

from __future__ import annotations

import gzip
import hashlib
import importlib.util
import pathlib
import re
from functools import lru_cache
from typing import Mapping, Optional, Sequence

import numpy as np

from newswire.pipeline.job.cache import cache_dir
from newswire.transforms import machine_cache

# The arrays' layout: a new value is a new directory, built anew.
_FORMAT = 1
_ARRAYS = {'hashes': ('<u8', 1), 'frequencies': ('<f8', 1), 'offsets': ('<i8', 1),
           'words': ('u1', 1), 'salt': ('u1', 1)}
_blake2b = hashlib.blake2b


class WordFrequencies:
    """One language's word -> frequency table over the four arrays (see the module's docstring).

    `salt` is the BLAKE2b salt the hashes were made with: the first of 0, 1, 2, ... under which no
    two of the list's words share a hash, so each hash found names one word."""

    def __init__(self, arrays: machine_cache.Arrays):
        self._hashes = arrays['hashes']
        self._frequencies = arrays['frequencies']
        self._offsets = arrays['offsets']
        self._words = arrays['words']
        self._salt = arrays['salt'].tobytes()

    def __len__(self) -> int:
        return len(self._hashes)

    @classmethod
    def of_mapping(cls, frequencies: Mapping[str, float]) -> 'WordFrequencies':
        """The table of a word -> frequency mapping."""
        return cls(_arrays_of(frequencies))

    def lookup(self, words: Sequence[str]) -> list[Optional[float]]:
        """Each word's frequency, None for a word the list does not have."""
        found: list[Optional[float]] = [None] * len(words)
        if not words or not len(self._hashes):
            return found
        encoded = [_utf8(word) for word in words]
        queries = _hashes(encoded, self._salt)
        at = np.minimum(np.searchsorted(self._hashes, queries), len(self._hashes) - 1)
        hits = np.flatnonzero(self._hashes[at] == queries)
        if not len(hits):
            return found
        where = at[hits]
        starts = self._offsets[where].tolist()
        ends = self._offsets[where + 1].tolist()
        values = self._frequencies[where].tolist()
        words_bytes = self._words
        for index, start, end, value in zip(hits.tolist(), starts, ends, values):
            if words_bytes[start:end].tobytes() == encoded[index]:
                found[index] = value
        return found

    def get(self, word: str) -> Optional[float]:
        return self.lookup([word])[0]


def _arrays_of(frequencies: Mapping[str, float]) -> machine_cache.Arrays:
    encoded = [_utf8(word) for word in frequencies]
    values = np.fromiter(frequencies.values(), np.float64, len(encoded))
    for salt in range(256):
        hashes = _hashes(encoded, bytes([salt]))
        order = np.argsort(hashes, kind='stable')
        hashes = hashes[order]
        if not np.any(hashes[1:] == hashes[:-1]):
            break
    else:  # 256 salts each with a shared 64-bit hash: not a list of distinct words
        raise ValueError('word list has repeated words')
    ordered = [encoded[index] for index in order.tolist()]
    offsets = np.zeros(len(ordered) + 1, np.int64)
    np.cumsum([len(word) for word in ordered], out=offsets[1:])
    return {'hashes': hashes, 'frequencies': values[order], 'offsets': offsets,
            'words': np.frombuffer(b''.join(ordered), np.uint8),
            'salt': np.array([salt], np.uint8)}


def _check(arrays: machine_cache.Arrays) -> None:
    machine_cache.require(arrays, _ARRAYS)
    count = len(arrays['hashes'])
    offsets = arrays['offsets']
    if (len(arrays['frequencies']) != count or len(offsets) != count + 1
            or len(arrays['salt']) != 1 or offsets[0] != 0
            or offsets[-1] != len(arrays['words']) or np.any(offsets[1:] < offsets[:-1])):
        raise ValueError(f'arrays of {count} words do not fit one another')


def _utf8(word: str) -> bytes:
    # A lone surrogate can reach a token; its bytes (never valid UTF-8) match no listed word.
    return word.encode('utf-8', 'surrogatepass')


def _hashes(encoded: Sequence[bytes], salt: bytes) -> np.ndarray:
    return np.frombuffer(b''.join([_blake2b(word, digest_size=8, salt=salt).digest()
                                   for word in encoded]), np.dtype('<u8'))


@lru_cache(maxsize=32)
def of_language(language: str) -> Optional[WordFrequencies]:
    """The table of a language code, loaded once per process from the machine's cache (built
    there the first time); None when wordfreq has no list for it."""
    return load_language(language, cache_dir())


class _NotCentibels(Exception):
    """A list file in a format `read_wordlist` does not know."""


def load_language(language: str, cache: Optional[pathlib.Path]) -> Optional[WordFrequencies]:
    """`language`'s table from wordfreq, through the machine cache `cache` (None: in memory only).

    A code without a list of its own gets the list wordfreq's `get_frequency_dict` would give it:
    the closest language that has one (`closest_listed_language`). None when there is none."""
    path = wordlist_path(language)
    if path is None:
        closest = closest_listed_language(language)
        path = None if closest is None else wordlist_path(closest)
        if path is None:
            return None

    def build() -> machine_cache.Arrays:
        table = read_wordlist(path)
        if table is None:
            raise _NotCentibels(path)
        return _arrays_of(table)

    directory = None
    if cache is not None:
        digest = machine_cache.digest_of([path.read_bytes()])
        directory = cache / 'wordfreq' / f'v{_FORMAT}' / f'{path.name.split(".")[0]}-{digest}'
    try:
        return WordFrequencies(machine_cache.built_once(directory, build, _check))
    except _NotCentibels:
        return _from_wordfreq(language)


def closest_listed_language(language: str) -> Optional[str]:
    """The code of the list wordfreq reads for `language` (Azerbaijani and Armenian: Russian's,
    Georgian: English's), as its `get_frequency_list` matches codes; None when it has none."""
    try:
        import langcodes
        import wordfreq
    except ImportError:
        return None
    try:
        best, _distance = langcodes.closest_match(
            language, list(wordfreq.available_languages('best')), max_distance=_MATCH_DISTANCE)
    except (LookupError, ValueError):
        return None
    return None if best == 'und' else best


_MATCH_DISTANCE = 60  # wordfreq's own, in get_frequency_list


def wordlist_path(language: str) -> Optional[pathlib.Path]:
    """wordfreq's 'best' list file for a code that has one of its own: its large list, else its
    small one. None for a code without one, or without wordfreq installed."""
    spec = importlib.util.find_spec('wordfreq')
    if spec is None or spec.origin is None or not re.fullmatch(r'[a-z]{2,3}', language):
        return None
    data = pathlib.Path(spec.origin).parent / 'data'
    return next((path for path in (data / f'large_{language}.msgpack.gz',
                                   data / f'small_{language}.msgpack.gz') if path.is_file()), None)


def read_wordlist(path: pathlib.Path) -> Optional[dict[str, float]]:
    """A list file in wordfreq's cBpack format as `wordfreq.get_frequency_dict` gives it (a word
    in two centibels keeps the later), without importing wordfreq, whose import compiles its
    tokenizers' patterns and loads langcodes' tables (some 0.4 s). None for a format this reading
    does not know: wordfreq's own reading decides then."""
    import msgpack

    with gzip.open(path, 'rb') as handle:
        pack = msgpack.load(handle, raw=False)
    header = pack[0] if pack else None
    if not isinstance(header, dict) or header.get('format') != 'cB' or header.get('version') != 1:
        return None
    table: dict[str, float] = {}
    for index, words in enumerate(pack[1:]):  # each centibel's words added by C loops
        table.update(dict.fromkeys(words, 10 ** (-index / 100)))
    return table


def _from_wordfreq(language: str) -> Optional[WordFrequencies]:
    """The table of wordfreq's own dict, in memory: for a list file `read_wordlist` cannot read."""
    import wordfreq

    try:
        table = wordfreq.get_frequency_dict(language)
    except (LookupError, ValueError):
        return None
    return WordFrequencies.of_mapping(table) if table else None
