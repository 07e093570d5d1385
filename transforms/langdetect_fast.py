"""langdetect 1.0.9's language detection over its own profiles, computed with numpy: same answers, faster.

langdetect is pure Python and spends its time in two per-character and per-iteration loops: turning
the text into known 1-, 2- and 3-grams, and seven random trials that multiply 55 language
probabilities by the profile of one randomly chosen n-gram at a time. This module keeps every step
of that algorithm and takes its constants, text cleaning and normaliser from langdetect itself; it
changes only how the steps are computed:

- the profiles load once per process into one matrix (n-gram x language) with the same values
  langdetect's `word_lang_prob_map` holds, and each n-gram of up to three code points becomes one
  int64 key, so a text's n-grams are found with a few numpy steps over a hash table (`KeyTable`)
  instead of a dict lookup each;
- a text's characters are normalised through a code-point table built from `NGram.normalize`, and
  its n-grams (with langdetect's rules: none across a space, none inside a word in capitals) are
  taken from shifted arrays rather than a character loop, in langdetect's order;
- each trial gets the same random numbers as langdetect's from a generator seeded alike: its
  `gauss` is the generator's own, and its `choice`s over the n-grams are read, all of a trial's at
  once, from the seed's stream of 32-bit words as `choice` reads them (`_Draws`), so that a trial
  takes its n-grams' rows of probabilities in one step; it does the same floating-point operations
  in the same order, element by element (numpy's elementwise multiply, add and divide round exactly
  as Python's floats do); the sum that normalises is Python's `sum` over the same list, as in
  langdetect.

So for the same text and seed the languages and probabilities are the same to the last bit;
tests/transforms/test_langdetect_fast.py checks that against langdetect itself.

Several texts (`probabilities_many`) have their n-grams found in one pass and their trials run in
lock-step, one group of every text a step: the numpy calls of a group then serve them all.
"""

from __future__ import annotations

import functools
import json
import os
import pathlib
import random
import re
import sys
import unicodedata
from typing import NamedTuple, Optional, Sequence

import numpy as np
from langdetect.detector import Detector
from langdetect.detector_factory import PROFILES_DIRECTORY
from langdetect.utils.ngram import NGram

from newswire.pipeline.job.cache import cache_dir
from newswire.transforms import machine_cache

ALPHA = Detector.ALPHA_DEFAULT
# Detector's instance defaults (set in its __init__, so not importable as class attributes).
N_TRIAL = 7
MAX_TEXT_LENGTH = 10000

_SPACES = re.compile(' {2,}')
_SPACE = 0x20
_BITS = 21  # every code point fits in 21 bits, so an n-gram of up to three is one int64
_BMP = 0x10000  # NGram.normalize changes characters of the Basic Multilingual Plane only


class Profiles(NamedTuple):
    """langdetect's profiles as arrays; `load_profiles` builds them once per process."""

    languages: tuple[str, ...]
    probabilities: np.ndarray  # (n-gram, language) -> langdetect's word_lang_prob_map[n-gram][language]
    tables: tuple['KeyTable', ...]  # the known 1-, 2- and 3-grams' keys -> probabilities rows
    normalized: np.ndarray  # code point -> code point of NGram.normalize(chr(code point))
    upper: np.ndarray  # code point -> chr(code point).isupper()


class KeyTable(NamedTuple):
    """A hash table of int64 keys (open addressing, linear probing) that looks up a whole array of
    keys in a few numpy steps: most keys are settled by their home slot, where a sorted search would
    take some 16 scattered reads per key."""

    slots: np.ndarray  # int64 key of each slot, _EMPTY where none
    rows: np.ndarray  # the probabilities row of each slot's key
    shift: int  # 64 - log2(len(slots)): a key's home slot is the top bits of its hash
    probes: int  # the farthest any key sits from its home slot, plus one

    @classmethod
    def of(cls, keys: np.ndarray, rows: np.ndarray) -> 'KeyTable':
        """The table of distinct non-negative `keys` and their `rows`, at most a quarter full."""
        bits = max(4, (4 * len(keys)).bit_length())
        slots = np.full(1 << bits, _EMPTY, dtype=np.int64)
        slot_rows = np.zeros(1 << bits, dtype=np.int64)
        mask = (1 << bits) - 1
        pending = np.arange(len(keys))
        slot = _home(keys, 64 - bits)
        probes = 0
        while pending.size:
            probes += 1
            free = slots[slot] == _EMPTY
            # Of the keys trying one free slot, the first takes it; the others (and the keys whose
            # slot was taken) try the next slot. Every slot between a key's home and its own stays
            # taken, so a lookup that reaches an empty slot, or goes `probes` slots, has missed.
            tried, first = np.unique(slot[free], return_index=True)
            winners = np.flatnonzero(free)[first]
            slots[tried], slot_rows[tried] = keys[pending[winners]], rows[pending[winners]]
            left = np.ones(len(pending), dtype=bool)
            left[winners] = False
            pending, slot = pending[left], (slot[left] + 1) & mask
        return cls(slots, slot_rows, 64 - bits, probes)

    def lookup(self, keys: np.ndarray) -> np.ndarray:
        """The row of each key, -1 for a key not in the table."""
        found = np.full(len(keys), -1, dtype=np.int64)
        slot = _home(keys, self.shift)
        mask = len(self.slots) - 1
        where = np.arange(len(keys))
        for _ in range(self.probes):
            held = self.slots[slot]
            hit = held == keys
            found[where[hit]] = self.rows[slot[hit]]
            going = ~hit & (held != _EMPTY)
            if not going.any():
                break
            where, keys, slot = where[going], keys[going], (slot[going] + 1) & mask
        return found


_EMPTY = -1  # keys are non-negative
_FIBONACCI = np.uint64(0x9E3779B97F4A7C15)  # 2**64 / golden ratio: multiplicative hashing


def _home(keys: np.ndarray, shift: int) -> np.ndarray:
    """Each key's home slot: the top bits of key x _FIBONACCI (mod 2**64)."""
    return ((keys.view(np.uint64) * _FIBONACCI) >> np.uint64(shift)).view(np.int64)


def _keys(words: list[str], n: int) -> np.ndarray:
    """The int64 key of each word of `n` code points: the code points, first highest, _BITS each."""
    code_points = np.frombuffer(''.join(words).encode('utf-32-le', 'surrogatepass'),
                                dtype='<u4').reshape(len(words), n).astype(np.int64)
    keys = np.zeros(len(words), dtype=np.int64)
    for column in range(n):
        keys = (keys << _BITS) | code_points[:, column]
    return keys


@functools.lru_cache(maxsize=None)
def load_profiles(directory: str = PROFILES_DIRECTORY) -> Profiles:
    """The profiles in `directory` as `DetectorFactory.load_profile` reads them, built once per
    machine (`machine_cache`) and mapped from there by every process after."""
    return profiles_through(directory, cache_dir())


def profiles_through(directory: str, cache: Optional[pathlib.Path]) -> Profiles:
    """The profiles in `directory`, through the machine cache `cache` (None: built in memory).

    The cached arrays are named after everything they are built from: the profile files in
    `os.listdir` order (langdetect's order, which fixes the languages' order and so the order in
    which probabilities are summed), langdetect's normaliser and the Unicode tables of this Python
    and numpy (`normalized`, `upper`)."""
    names = os.listdir(directory)
    utils = pathlib.Path(sys.modules[NGram.__module__].__file__).parent  # its normaliser, tables
    parts = [f'profiles {_PROFILES_FORMAT}', sys.version, np.__version__,
             unicodedata.unidata_version]
    for path in sorted(utils.iterdir()):
        if path.is_file():
            parts += [path.name, path.read_bytes()]
    for name in names:
        path = os.path.join(directory, name)
        if not name.startswith('.') and os.path.isfile(path):
            parts += [name, pathlib.Path(path).read_bytes()]
    target = None
    if cache is not None:
        target = cache / 'langdetect' / f'profiles-{machine_cache.digest_of(parts)}'
    arrays = machine_cache.built_once(target, lambda: _profile_arrays(directory, names),
                                      _check_profiles)
    return Profiles(tuple(arrays['languages'].tobytes().decode('utf-8').split('\n')),
                    arrays['probabilities'],
                    tuple(KeyTable(arrays[f'slots{n}'], arrays[f'rows{n}'],
                                   int(arrays['table_shapes'][2 * n - 2]),
                                   int(arrays['table_shapes'][2 * n - 1])) for n in (1, 2, 3)),
                    arrays['normalized'], arrays['upper'])


# The cached arrays' layout: a new value builds them anew. `table_shapes` holds each key table's
# shift and probes, `slots1`..`rows3` its arrays, `languages` the names newline-joined as UTF-8.
_PROFILES_FORMAT = 1
_PROFILE_ARRAYS = {'languages': ('u1', 1), 'probabilities': ('<f8', 2), 'table_shapes': ('<i8', 1),
                   'normalized': ('<i4', 1), 'upper': ('?', 1),
                   **{f'{kind}{n}': ('<i8', 1) for kind in ('slots', 'rows') for n in (1, 2, 3)}}


def _check_profiles(arrays: machine_cache.Arrays) -> None:
    machine_cache.require(arrays, _PROFILE_ARRAYS)
    languages = arrays['languages'].tobytes().decode('utf-8').split('\n')
    rows = len(arrays['probabilities'])
    shapes = arrays['table_shapes']
    if (arrays['probabilities'].shape[1] != len(languages) or len(shapes) != 6
            or len(arrays['normalized']) != 0x110000 or len(arrays['upper']) != 0x110000
            or any(len(arrays[f'slots{n}']) != len(arrays[f'rows{n}']) for n in (1, 2, 3))
            or any(int(arrays[f'rows{n}'].max(initial=0)) >= rows for n in (1, 2, 3))):
        raise ValueError(f'profile arrays of {len(languages)} languages do not fit one another')


def _profile_arrays(directory: str, file_names: list[str]) -> machine_cache.Arrays:
    """The profiles' arrays from the files `file_names` of `directory`, in that order."""
    language_count = len(file_names)
    languages, row_of, cells = [], {}, ([], [], [])
    # Per profile in numpy: its n-grams' rows, and counts / n_words (1.0 * count / n_words[n - 1] in
    # langdetect: the same division of the same two floats, counts being far below 2**53).
    for file_name in file_names:
        path = os.path.join(directory, file_name)
        if file_name.startswith('.') or not os.path.isfile(path):
            continue
        with open(path, encoding='utf-8') as handle:
            profile = json.load(handle)
        if profile['name'] in languages:
            raise ValueError(f'{path}: a second profile for {profile["name"]!r}')
        column = len(languages)
        languages.append(profile['name'])
        freq = profile['freq']
        words = [word for word in freq if 1 <= len(word) <= 3]
        lengths = np.fromiter(map(len, words), np.int64, len(words))
        counts = np.fromiter(map(freq.__getitem__, words), np.float64, len(words))
        n_words = np.array(profile['n_words'][:3], dtype=np.float64)
        cells[0].append(np.array([row_of.setdefault(word, len(row_of)) for word in words],
                                 dtype=np.int64))
        cells[1].append(np.full(len(words), column, dtype=np.int64))
        cells[2].append(counts / n_words[lengths - 1])
    probabilities = np.zeros((len(row_of), language_count))
    probabilities[np.concatenate(cells[0]), np.concatenate(cells[1])] = np.concatenate(cells[2])
    arrays = {'languages': np.frombuffer('\n'.join(languages).encode('utf-8'), np.uint8),
              'probabilities': np.ascontiguousarray(probabilities[:, :len(languages)])}
    shapes = []
    for n in (1, 2, 3):
        words = [word for word in row_of if len(word) == n]
        table = KeyTable.of(_keys(words, n),
                            np.array([row_of[word] for word in words], dtype=np.int64))
        arrays[f'slots{n}'], arrays[f'rows{n}'] = table.slots, table.rows
        shapes += [table.shift, table.probes]
    arrays['table_shapes'] = np.array(shapes, dtype=np.int64)
    normalized = np.arange(0x110000, dtype=np.int32)
    normalized[:_BMP] = np.fromiter((ord(NGram.normalize(chr(cp))) for cp in range(_BMP)), np.int32, _BMP)
    arrays['normalized'] = normalized
    # numpy's isupper of each code point as a one-character string: str.isupper's answer, in C.
    arrays['upper'] = np.char.isupper(np.arange(0x110000, dtype=np.uint32).view('<U1'))
    return arrays


class FastLangdetect:
    """langdetect's `detect_langs` with its default settings and a fixed seed."""

    def __init__(self, seed: int, profiles: Profiles | None = None):
        self._seed = seed
        self._profiles = profiles or load_profiles()
        self._stream = _RandomStream()

    @property
    def languages(self) -> tuple[str, ...]:
        """langdetect's language names (`zh-cn`, `zh-tw` for Chinese), in profile order."""
        return self._profiles.languages

    def probabilities(self, text: str) -> list[tuple[str, float]]:
        """(language, probability) above langdetect's PROB_THRESHOLD, most probable first.

        Empty when the text has no known n-gram, where langdetect raises CantDetectError.
        """
        return self.probabilities_many([text])[0]

    def probabilities_many(self, texts: Sequence[str]) -> list[list[tuple[str, float]]]:
        """`probabilities` of each text: their n-grams found together, and their trials run side by
        side (`_trials_many`), which costs a text less than its own (`_trials`) from two texts on."""
        ngrams = self._ngram_rows([self._cleaned_code_points(text) for text in texts])
        known = [index for index, rows in enumerate(ngrams) if len(rows)]
        ranked: list[list[tuple[str, float]]] = [[] for _ in texts]
        if len(known) == 1:
            ranked[known[0]] = self._ranked(self._trials(ngrams[known[0]]))
        elif known:
            for index, langprob in zip(known, self._trials_many([ngrams[i] for i in known])):
                ranked[index] = self._ranked(langprob)
        return ranked

    def _ranked(self, langprob: np.ndarray) -> list[tuple[str, float]]:
        ranked = [(language, p) for language, p in zip(self._profiles.languages, langprob.tolist())
                  if p > Detector.PROB_THRESHOLD]
        # langdetect sorts Language objects, which compare by probability, with reverse=True (stable).
        ranked.sort(key=lambda pair: pair[1], reverse=True)
        return ranked

    @staticmethod
    def _cleaned_code_points(text: str) -> np.ndarray:
        """`Detector.append` then `Detector.cleaning_text`, as code points."""
        text = Detector.URL_RE.sub(' ', text)
        text = Detector.MAIL_RE.sub(' ', text)
        text = NGram.normalize_vi(text)
        text = _SPACES.sub(' ', text[:MAX_TEXT_LENGTH])
        # surrogatepass: a lone surrogate (JSON can carry one) is a code point like any other here.
        code_points = np.frombuffer(text.encode('utf-32-le', 'surrogatepass'), dtype='<u4')
        latin = (code_points >= ord('A')) & (code_points <= ord('z'))
        # langdetect also asks `unicode_block(ch) != 'Latin Extended Additional'`, but unicode_block
        # returns a number, so that test is always true: every character from U+0300 counts.
        if 2 * np.count_nonzero(latin) < np.count_nonzero(code_points >= 0x300):
            code_points = code_points[~latin]
        return code_points

    def _ngram_rows(self, texts: Sequence[np.ndarray]) -> list[np.ndarray]:
        """Profile rows of the known n-grams of each text (its code points), in
        `Detector._extract_ngrams`' order.

        NGram keeps the last three normalised characters, restarting after a space, so its n-grams
        never reach back over a space: with the text as s (a leading space, runs of spaces as one),
        position j gives s[j] unless it is a space, s[j-1:j+1], and s[j-2:j+1] unless s[j-1] is a
        space; positions whose character and the one before are both upper case give none.

        The texts' s are laid end to end and their positions looked up together. A text's leading
        space gives nothing, as position 0 of an s does; where the text before ends in a space, that
        space stands in for it. So no n-gram spans two texts.
        """
        profiles = self._profiles
        lengths = np.fromiter((len(code_points) + 1 for code_points in texts), np.int64, len(texts))
        leading = np.zeros(int(lengths.sum()), dtype=bool)
        leading[np.cumsum(lengths) - lengths] = True
        s = np.full(len(leading), _SPACE, dtype=np.int64)
        s[~leading] = profiles.normalized[np.concatenate(texts)] if len(texts) else ()
        space = s == _SPACE
        kept = np.ones(len(s), dtype=bool)
        kept[1:] = ~(space[1:] & space[:-1])
        s, space, leading = s[kept], space[kept], leading[kept]
        if len(s) < 2:
            return [np.empty(0, dtype=np.int64) for _ in texts]
        upper = profiles.upper[s]
        counted = ~(upper[1:] & upper[:-1]) & ~leading[1:]  # positions 1.. that yield n-grams
        candidates = np.full((len(s) - 1, 3), -1, dtype=np.int64)
        unigram, bigram = s[1:], (s[:-1] << _BITS) | s[1:]
        trigram = (s[:-2] << 2 * _BITS) | (s[1:-1] << _BITS) | s[2:]
        # (n, keys, the row of candidates the keys start at, which keys can be n-grams)
        for n, keys, first, valid in ((1, unigram, 0, ~space[1:]), (2, bigram, 0, None),
                                      (3, trigram, 1, ~space[1:-1])):
            column = candidates[first:, n - 1]
            column[:] = profiles.tables[n - 1].lookup(keys)
            if valid is not None:
                column[~valid] = -1
        candidates[~counted] = -1
        rows = candidates.ravel()
        found = rows >= 0
        if len(texts) == 1:
            return [rows[found]]
        owner = np.repeat(np.arange(len(texts)), lengths)[kept]
        owners = np.repeat(owner[1:], 3)[found]
        return np.split(rows[found], np.cumsum(np.bincount(owners, minlength=len(texts)))[:-1])

    def _trials(self, ngrams: np.ndarray) -> np.ndarray:
        """`Detector._detect_block` after the n-grams: the language probabilities averaged over trials.

        langdetect updates at i = 0, 1, 2, ... and normalises (checking convergence) when i % 5 == 0:
        after the update at i = 0, then after every five. So a trial is a chain of groups: one
        update, then five per group, each group followed by a normalisation. The n-grams a trial
        draws are known before its arithmetic starts (`_Draws`), so a batch of groups takes its rows
        of probabilities in one step and only the products and normalisations run group by group;
        a trial that needs more groups than the batch holds takes another batch.
        """
        probabilities = self._profiles.probabilities
        language_count = probabilities.shape[1]
        draws = _Draws(self._stream, self._seed, len(ngrams))
        langprob = np.zeros(language_count)
        # The trials of one text converge after similar numbers of groups: each takes as many
        # groups as the one before it needed, and a few more.
        first_groups = _FIRST_GROUPS
        for _ in range(N_TRIAL):
            alpha = ALPHA + draws.gauss() * Detector.ALPHA_WIDTH
            weight = alpha / Detector.BASE_FREQ
            prob = np.full(language_count, 1.0 / language_count)
            updates, first, drawn = 0, True, 0
            while True:
                groups = first_groups if first else _MORE_GROUPS
                count = 1 + _GROUP * (groups - 1) if first else _GROUP * groups
                picked = ngrams[draws.peek(drawn, count)]
                # Row 0 of each group holds the probabilities it starts from, rows 1..5 the factors
                # of its updates; the first group of a trial has one update (row 1).
                block = np.empty((groups, _GROUP + 1, language_count))
                rows = np.empty((groups, _GROUP), dtype=np.int64)
                if first:
                    rows[0] = picked[0]  # rows 2..5 of the first group are not read
                    rows[1:] = picked[1:].reshape(groups - 1, _GROUP)
                else:
                    rows[:] = picked.reshape(groups, _GROUP)
                probabilities.take(rows, axis=0, out=block[:, 1:])
                block[:, 1:] += weight
                block[0, 0] = prob
                done = False
                for group in range(groups):
                    steps = 1 if first and group == 0 else _GROUP
                    # ((prob * f1) * f2) * ...: numpy reduces a multiply over rows in row order (only
                    # add regroups, pairwise); the tests against langdetect would see any other order.
                    product = np.multiply.reduce(block[group, :steps + 1], axis=0)
                    values = product.tolist()
                    total = sum(values)
                    top = max(values) / total  # max(p / total) == max(p) / total: rounding is monotonic
                    prob = block[group + 1, 0] if group + 1 < groups else np.empty(language_count)
                    np.divide(product, total, out=prob)
                    updates += steps
                    drawn += steps
                    if top > Detector.CONV_THRESHOLD or updates - 1 >= Detector.ITERATION_LIMIT:
                        done = True
                        break
                first = False
                if done:
                    break
            draws.consume(drawn)
            first_groups = 1 + (drawn - 1) // _GROUP + _SPARE_GROUPS
            langprob += prob / N_TRIAL
        return langprob

    def _trials_many(self, ngrams: Sequence[np.ndarray]) -> np.ndarray:
        """`_trials` of several texts (their n-gram rows, none empty), in lock-step.

        Trial t of every text runs at once: each step is one group of every text still going (its
        first group one update, the others five), so the products, sums and normalisations of all
        the texts are a few numpy calls a group rather than a few a text. A text drops out of the
        step when its trial converges; the next trial starts when every text's has, since each
        text's draws for trial t + 1 follow those its trial t used. The arithmetic is `_trials`'
        element by element, and the sum over languages is a reduction over the first axis of a
        (language, text) array, which numpy does row after row, in langdetect's order; numpy sums
        a single row pairwise, so one text left is summed by Python's `sum`.
        """
        probabilities = self._profiles.probabilities
        language_count = probabilities.shape[1]
        draws = [_Draws(self._stream, self._seed, len(rows)) for rows in ngrams]
        langprob = np.zeros((len(ngrams), language_count))
        for _ in range(N_TRIAL):
            alphas = [ALPHA + each.gauss() * Detector.ALPHA_WIDTH for each in draws]
            weight = np.array(alphas) / Detector.BASE_FREQ
            going = np.arange(len(ngrams))
            prob = np.full((len(ngrams), language_count), 1.0 / language_count)
            picked = np.empty((len(ngrams), 0), dtype=np.int64)
            updates = 0
            while going.size:
                steps = 1 if updates == 0 else _GROUP
                if picked.shape[1] < steps:
                    count = 1 + _GROUP * (_FIRST_GROUPS - 1) if updates == 0 else _GROUP * _MORE_GROUPS
                    picked = np.stack([ngrams[text][draws[text].peek(updates, count)]
                                       for text in going.tolist()])
                # Row 0 holds the probabilities the group starts from, rows 1.. its factors.
                block = np.empty((len(going), steps + 1, language_count))
                block[:, 0] = prob
                probabilities.take(picked[:, :steps], axis=0, out=block[:, 1:])
                block[:, 1:] += weight[:, None, None]
                picked = picked[:, steps:]
                product = np.multiply.reduce(block, axis=1)  # in row order, as in `_trials`
                if len(going) > 1:
                    totals = np.add.reduce(np.ascontiguousarray(product.T), axis=0)
                else:
                    totals = np.array([sum(product[0].tolist())])
                if not totals.all():
                    raise ZeroDivisionError('float division by zero')  # as langdetect's would
                top = product.max(axis=1) / totals
                prob = product / totals[:, None]
                updates += steps
                done = (top > Detector.CONV_THRESHOLD) | (updates - 1 >= Detector.ITERATION_LIMIT)
                if done.any():
                    finished = going[done]
                    langprob[finished] += prob[done] / N_TRIAL
                    for text in finished.tolist():
                        draws[text].consume(updates)
                    left = ~done
                    going, prob, weight, picked = going[left], prob[left], weight[left], picked[left]
        return langprob


# A text's first trial takes the first update and 9 groups of five (46 draws; a news article's
# trials converge after 44 draws on average), later ones what the trial before needed and
# _SPARE_GROUPS more; a trial that goes on takes 16 groups at a time. Rows taken and not used cost
# their memory reads (the profiles are 38 MB).
_GROUP = 5
_FIRST_GROUPS = 10
_SPARE_GROUPS = 2
_MORE_GROUPS = 16


class _RandomStream:
    """The 32-bit words of `random.Random(seed)`, in the order it produces them, grown on demand.

    Every document's detection starts a new `Random(seed)`, so it reads the same words; they are
    made once (`getrandbits(32 * n)` returns n words, the first in the lowest bits)."""

    def __init__(self):
        self._words: dict[int, np.ndarray] = {}
        self._generators: dict[int, random.Random] = {}

    def words(self, seed: int, count: int) -> np.ndarray:
        """At least the first `count` words of the stream of `seed`."""
        words = self._words.get(seed)
        if words is None or len(words) < count:
            generator = self._generators.setdefault(seed, random.Random(seed))
            have = 0 if words is None else len(words)
            more = max(count, 2 * have, _STREAM_WORDS) - have
            fresh = np.frombuffer(generator.getrandbits(32 * more).to_bytes(4 * more, 'little'),
                                  dtype='<u4')
            words = fresh if words is None else np.concatenate([words, fresh])
            self._words[seed] = words
        return words


_STREAM_WORDS = 1 << 16


class _Draws:
    """What langdetect's `random.choice(ngrams)` and `random.gauss(0, 1)` calls return for one text,
    read from the seed's word stream.

    `choice` over n items is `_randbelow(n)`: words shifted to n.bit_length() bits, the first below
    n taken, one word per try. `gauss` is the real `Random.gauss` of a generator moved to the same
    place in the stream; it uses two `random()` calls of two words each, or none when it returns
    the value it kept from its last call. The words of a trial's choices are known before the trial
    runs; how many it uses (until convergence) is known after, and `consume` moves on by them.
    """

    def __init__(self, stream: _RandomStream, seed: int, n: int):
        if not 1 <= n < 1 << 32:
            raise ValueError(f'draws among 1 to 2**32 - 1 n-grams, got {n}')
        self._stream, self._seed, self._n = stream, seed, n
        self._shift = 32 - n.bit_length()
        self._generator = random.Random(seed)
        self._generator_at = 0  # words the generator has used
        self._at = 0  # words used so far
        self._scanned = 0  # words looked at for choices
        self._positions = np.empty(0, dtype=np.int64)  # word index of each accepted choice
        self._values = np.empty(0, dtype=np.int64)  # its value (an index into the n items)
        self._first: Optional[int] = 0  # index into _positions of the first choice at or after _at

    def gauss(self) -> float:
        generator = self._generator
        if self._at > self._generator_at:
            generator.getrandbits(32 * (self._at - self._generator_at))
            self._generator_at = self._at
        if generator.gauss_next is None:
            self._at += 4
            self._generator_at += 4
        value = generator.gauss(0.0, 1.0)
        self._first = None  # found by the next `peek`
        return value

    def peek(self, offset: int, count: int) -> np.ndarray:
        """Choices `offset` to `offset + count` from the current place (not used up)."""
        while self._first is None:
            if self._scanned > self._at:
                self._first = int(np.searchsorted(self._positions, self._at))
            else:
                self._scan(max(_SCAN_WORDS, self._scanned))
        needed = self._first + offset + count
        while len(self._values) < needed:
            self._scan(max(_SCAN_WORDS, 2 * self._scanned))
        return self._values[self._first + offset:needed]

    def consume(self, count: int):
        """Use up the next `count` choices."""
        if count:
            self._at = int(self._positions[self._first + count - 1]) + 1
            self._first += count

    def _scan(self, more: int):
        words = self._stream.words(self._seed, self._scanned + more)[self._scanned:self._scanned + more]
        shifted = (words >> self._shift).astype(np.int64)
        accepted = np.flatnonzero(shifted < self._n)
        self._positions = np.concatenate([self._positions, accepted + self._scanned])
        self._values = np.concatenate([self._values, shifted[accepted]])
        self._scanned += more


_SCAN_WORDS = 512
