"""langdetect 1.0.9's language detection over its own profiles, computed with numpy: same answers, faster.

langdetect is pure Python and spends its time in two per-character and per-iteration loops: turning
the text into known 1-, 2- and 3-grams, and seven random trials that multiply 55 language
probabilities by the profile of one randomly chosen n-gram at a time. This module keeps every step
of that algorithm and takes its constants, text cleaning and normaliser from langdetect itself; it
changes only how the steps are computed:

- the profiles load once per process into one matrix (n-gram x language) with the same values
  langdetect's `word_lang_prob_map` holds, and each n-gram of up to three code points becomes one
  int64 key, so a text's n-grams are found with one sorted search instead of a dict lookup each;
- a text's characters are normalised through a code-point table built from `NGram.normalize`, and
  its n-grams (with langdetect's rules: none across a space, none inside a word in capitals) are
  taken from shifted arrays rather than a character loop, in langdetect's order;
- each trial draws from the same seeded `random.Random` with the same calls in the same order
  (`gauss`, then `choice` over a list as long as langdetect's n-gram list), and does the same
  floating-point operations in the same order, element by element (numpy's elementwise multiply,
  add and divide round exactly as Python's floats do); the sum that normalises is Python's `sum`
  over the same list, as in langdetect.

So for the same text and seed the languages and probabilities are the same to the last bit;
tests/transforms/test_langdetect_fast.py checks that against langdetect itself.
"""

from __future__ import annotations

import functools
import json
import os
import random
import re
from typing import NamedTuple

import numpy as np
from langdetect.detector import Detector
from langdetect.detector_factory import PROFILES_DIRECTORY
from langdetect.utils.ngram import NGram

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
    keys: tuple[np.ndarray, ...]  # sorted int64 keys of the known 1-, 2- and 3-grams
    rows: tuple[np.ndarray, ...]  # the probabilities row of each key
    normalized: np.ndarray  # code point -> code point of NGram.normalize(chr(code point))
    upper: np.ndarray  # code point -> chr(code point).isupper()


def _key(word: str) -> int:
    key = 0
    for ch in word:
        key = (key << _BITS) | ord(ch)
    return key


@functools.lru_cache(maxsize=None)
def load_profiles(directory: str = PROFILES_DIRECTORY) -> Profiles:
    """The profiles in `directory`, read as `DetectorFactory.load_profile` reads them.

    Files are taken in `os.listdir` order, as langdetect does: that order fixes the languages' order,
    and so the order in which probabilities are summed.
    """
    file_names = os.listdir(directory)
    language_count = len(file_names)
    languages, row_of, cells = [], {}, ([], [], [])
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
        n_words = profile['n_words']
        for word, count in profile['freq'].items():
            if 1 <= len(word) <= 3:
                cells[0].append(row_of.setdefault(word, len(row_of)))
                cells[1].append(column)
                cells[2].append(1.0 * count / n_words[len(word) - 1])
    probabilities = np.zeros((len(row_of), language_count))
    probabilities[cells[0], cells[1]] = cells[2]
    keys, rows = [], []
    for n in (1, 2, 3):
        words = [word for word in row_of if len(word) == n]
        n_keys = np.array([_key(word) for word in words], dtype=np.int64)
        order = np.argsort(n_keys)
        keys.append(n_keys[order])
        rows.append(np.array([row_of[word] for word in words], dtype=np.int64)[order])
    normalized = np.arange(0x110000, dtype=np.int32)
    normalized[:_BMP] = np.fromiter((ord(NGram.normalize(chr(cp))) for cp in range(_BMP)), np.int32, _BMP)
    upper = np.fromiter((chr(cp).isupper() for cp in range(0x110000)), bool, 0x110000)
    return Profiles(tuple(languages), probabilities[:, :len(languages)], tuple(keys), tuple(rows),
                    normalized, upper)


class FastLangdetect:
    """langdetect's `detect_langs` with its default settings and a fixed seed."""

    def __init__(self, seed: int, profiles: Profiles | None = None):
        self._seed = seed
        self._profiles = profiles or load_profiles()

    @property
    def languages(self) -> tuple[str, ...]:
        """langdetect's language names (`zh-cn`, `zh-tw` for Chinese), in profile order."""
        return self._profiles.languages

    def probabilities(self, text: str) -> list[tuple[str, float]]:
        """(language, probability) above langdetect's PROB_THRESHOLD, most probable first.

        Empty when the text has no known n-gram, where langdetect raises CantDetectError.
        """
        ngrams = self._ngram_rows(self._cleaned_code_points(text))
        if not len(ngrams):
            return []
        ranked = [(language, p) for language, p in zip(self._profiles.languages,
                                                      self._trials(ngrams).tolist())
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

    def _ngram_rows(self, code_points: np.ndarray) -> np.ndarray:
        """Profile rows of the known n-grams, in `Detector._extract_ngrams`' order.

        NGram keeps the last three normalised characters, restarting after a space, so its n-grams
        never reach back over a space: with the text as s (a leading space, runs of spaces as one),
        position j gives s[j] unless it is a space, s[j-1:j+1], and s[j-2:j+1] unless s[j-1] is a
        space; positions whose character and the one before are both upper case give none.
        """
        profiles = self._profiles
        s = np.empty(len(code_points) + 1, dtype=np.int64)
        s[0], s[1:] = _SPACE, profiles.normalized[code_points]
        space = s == _SPACE
        kept = np.ones(len(s), dtype=bool)
        kept[1:] = ~(space[1:] & space[:-1])
        s, space = s[kept], space[kept]
        if len(s) < 2:
            return np.empty(0, dtype=np.int64)
        upper = profiles.upper[s]
        counted = ~(upper[1:] & upper[:-1])  # positions 1.. that yield n-grams
        candidates = np.full((len(s) - 1, 3), -1, dtype=np.int64)
        unigram, bigram = s[1:], (s[:-1] << _BITS) | s[1:]
        trigram = (s[:-2] << 2 * _BITS) | (s[1:-1] << _BITS) | s[2:]
        # (n, keys, the row of candidates the keys start at, which keys can be n-grams)
        for n, keys, first, valid in ((1, unigram, 0, ~space[1:]), (2, bigram, 0, None),
                                      (3, trigram, 1, ~space[1:-1])):
            known, found = profiles.keys[n - 1], profiles.rows[n - 1]
            at = np.searchsorted(known, keys)
            at[at == len(known)] = 0
            hit = known[at] == keys
            if valid is not None:
                hit &= valid
            column = candidates[first:, n - 1]
            column[hit] = found[at[hit]]
        candidates[~counted] = -1
        rows = candidates.ravel()
        return rows[rows >= 0]

    def _trials(self, ngrams: np.ndarray) -> np.ndarray:
        """`Detector._detect_block` after the n-grams: the language probabilities averaged over trials."""
        probabilities = self._profiles.probabilities
        picks = ngrams.tolist()  # choice() over it draws as langdetect's choice() over its n-gram list
        language_count = probabilities.shape[1]
        rng = random.Random(self._seed)
        choice = rng.choice
        # Row 0 holds a trial's probabilities, rows 1.. the factors of the updates before the next check.
        block = np.empty((6, language_count))
        langprob = np.zeros(language_count)
        for _ in range(N_TRIAL):
            block[0] = 1.0 / language_count
            alpha = ALPHA + rng.gauss(0.0, 1.0) * Detector.ALPHA_WIDTH
            weight = alpha / Detector.BASE_FREQ
            # langdetect updates at i = 0, 1, 2, ... and normalises (checking convergence) when i % 5 == 0:
            # after the update at i = 0, then after every five.
            updates, steps = 0, 1
            while True:
                factors = block[1:steps + 1]
                probabilities.take([choice(picks) for _ in range(steps)], axis=0, out=factors)
                factors += weight
                # ((prob * f1) * f2) * ...: numpy reduces a multiply over rows in row order (only add
                # regroups, pairwise); the tests against langdetect would see any other order.
                product = np.multiply.reduce(block[:steps + 1], axis=0)
                values = product.tolist()
                total = sum(values)
                top = max(values) / total  # max(p / total) == max(p) / total: rounding is monotonic
                np.divide(product, total, out=block[0])
                updates += steps
                if top > Detector.CONV_THRESHOLD or updates - 1 >= Detector.ITERATION_LIMIT:
                    break
                steps = 5
            langprob += block[0] / N_TRIAL
        return langprob
