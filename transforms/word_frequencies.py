"""wordfreq's word frequencies for a language, looked up without building a dict of them.

wordfreq ships a language's list as gzipped msgpack: a header, then the words of each centibel of
frequency from the most frequent down (a word's frequency is 10 ** (-centibels / 100)). As a dict
the list costs each process 35 MB (English) to 120 MB (Russian) and 0.1-0.5 s to build, and a
multilingual run builds several. Here it becomes four flat arrays instead:

- `hashes`: each word's 64-bit BLAKE2b hash of its UTF-8 bytes, sorted;
- `frequencies`: each word's frequency, in the same order;
- `offsets` and `words`: each word's UTF-8 bytes, so that a hash found is checked against the word
  itself and a lookup never answers for a word the list does not have.

The arrays are written once per machine under newswire's cache directory, named after the list
file's digest, and later processes map them read-only: no parse, and the pages are shared between
the processes of one machine. Where the cache cannot be written, the arrays live in memory.

Worked example: `of_language('en').lookup(['the', 'pier', 'qzxv'])` gives `[0.0537..., 3.7e-06,
None]`: the first two are wordfreq's own `get_frequency_dict('en')` values, float for float.
"""

from __future__ import annotations

import gzip
import hashlib
import importlib.util
import os
import pathlib
import re
import shutil
import tempfile
from functools import lru_cache
from typing import Mapping, Optional, Sequence

import numpy as np

# The arrays' layout: a new value is a new directory, built anew.
_FORMAT = 1
_ARRAYS = {'hashes': np.dtype('<u8'), 'frequencies': np.dtype('<f8'),
           'offsets': np.dtype('<i8'), 'words': np.dtype('u1'), 'salt': np.dtype('u1')}
_blake2b = hashlib.blake2b


class WordFrequencies:
    """One language's word -> frequency table over the four arrays (see the module's docstring).

    `salt` is the BLAKE2b salt the hashes were made with: the first of 0, 1, 2, ... under which no
    two of the list's words share a hash, so each hash found names one word."""

    def __init__(self, hashes: np.ndarray, frequencies: np.ndarray, offsets: np.ndarray,
                 words: np.ndarray, salt: int):
        self._hashes = hashes
        self._frequencies = frequencies
        self._offsets = offsets
        self._words = words
        self._salt = bytes([salt])

    def __len__(self) -> int:
        return len(self._hashes)

    @classmethod
    def of_mapping(cls, frequencies: Mapping[str, float]) -> 'WordFrequencies':
        """The table of a word -> frequency mapping."""
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
        words = np.frombuffer(b''.join(ordered), np.uint8)
        return cls(hashes, values[order], offsets, words, salt)

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

    def save(self, directory: pathlib.Path) -> None:
        """Write the arrays as .npy files into `directory` (which must exist)."""
        arrays = self._arrays()
        for name, array in arrays.items():
            np.save(directory / f'{name}.npy', array, allow_pickle=False)

    @classmethod
    def load(cls, directory: pathlib.Path) -> 'WordFrequencies':
        """The table `save` wrote into `directory`, mapped read-only; ValueError or OSError when
        an array is missing or does not fit the others."""
        arrays = {name: np.load(directory / f'{name}.npy', mmap_mode='r', allow_pickle=False)
                  for name in _ARRAYS}
        for name, dtype in _ARRAYS.items():
            if arrays[name].dtype != dtype or arrays[name].ndim != 1:
                raise ValueError(f'{directory}: {name}.npy holds {arrays[name].dtype} '
                                 f'{arrays[name].shape}, expected a 1-d {dtype} array')
        count = len(arrays['hashes'])
        offsets = arrays['offsets']
        if (len(arrays['frequencies']) != count or len(offsets) != count + 1
                or len(arrays['salt']) != 1 or offsets[0] != 0
                or offsets[-1] != len(arrays['words']) or np.any(offsets[1:] < offsets[:-1])):
            raise ValueError(f'{directory}: arrays of {count} words do not fit one another')
        return cls(arrays['hashes'], arrays['frequencies'], offsets, arrays['words'],
                   int(arrays['salt'][0]))

    def _arrays(self) -> dict[str, np.ndarray]:
        return {'hashes': self._hashes, 'frequencies': self._frequencies,
                'offsets': self._offsets, 'words': self._words,
                'salt': np.frombuffer(self._salt, np.uint8)}


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
    from newswire.pipeline.job.cache import cache_dir

    return load_language(language, cache_dir() / 'wordfreq')


def load_language(language: str, cache: Optional[pathlib.Path]) -> Optional[WordFrequencies]:
    """`language`'s table from wordfreq: through `cache` (a directory; None: in memory only) for a
    code with a list file of its own; any other code goes to wordfreq, which picks the closest
    language it has (as `wordfreq.get_frequency_dict` does), in memory. None when it has none."""
    path = wordlist_path(language)
    if path is None:
        return _closest_language(language)
    if cache is None:
        table = read_wordlist(path)
        return WordFrequencies.of_mapping(table) if table is not None else _closest_language(language)
    digest = _blake2b(path.read_bytes(), digest_size=8).hexdigest()
    directory = cache / f'v{_FORMAT}' / f'{path.name.split(".")[0]}-{digest}'
    try:
        return WordFrequencies.load(directory)
    except (OSError, ValueError):
        pass  # not built yet, or not whole: built again below
    table = read_wordlist(path)
    if table is None:
        return _closest_language(language)
    frequencies = WordFrequencies.of_mapping(table)
    try:
        _store(frequencies, directory)
        return WordFrequencies.load(directory)
    except OSError:  # a cache that cannot be written (read-only home): the table in memory
        return frequencies


def _store(frequencies: WordFrequencies, directory: pathlib.Path) -> None:
    """Write the table into `directory` whole or not at all: into a new directory beside it,
    renamed into place. Another process that got there first wins; a directory there that does
    not load (left by a crash before this scheme, or damaged) is replaced."""
    directory.parent.mkdir(parents=True, exist_ok=True)
    staging = pathlib.Path(tempfile.mkdtemp(prefix=f'.{directory.name}-', dir=directory.parent))
    try:
        frequencies.save(staging)
        if directory.exists():
            try:
                WordFrequencies.load(directory)
                return
            except (OSError, ValueError):
                shutil.rmtree(directory, ignore_errors=True)
        try:
            os.rename(staging, directory)
        except OSError:
            if not directory.is_dir():  # not another process's rename: a real failure
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)


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


def _closest_language(language: str) -> Optional[WordFrequencies]:
    import wordfreq

    try:
        table = wordfreq.get_frequency_dict(language)
    except (LookupError, ValueError):
        return None
    return WordFrequencies.of_mapping(table) if table else None
