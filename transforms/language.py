"""Language detection, deterministic and bounded in cost, behind one small detector interface.

Three detectors, chosen by `detector:` in the language section of settings.yaml:

- `regional` (default): langdetect for what it does well, corrected where it is blind. langdetect
  (55 languages) has no Armenian, Georgian, Azerbaijani, Belarusian, Kazakh, Serbian or Mongolian:
  it calls Azerbaijani `tr`, Armenian and Georgian `et`, Belarusian and Kazakh `ru`/`uk`. So the
  text's script speaks first (Armenian letters are Armenian, Georgian letters Georgian), a letter
  only Azerbaijani uses (ə) names Azerbaijani, and where langdetect's answer hides a close pair a
  second opinion from lingua, restricted to that pair's languages, decides: Cyrillic text among
  ru/uk/be/kk/bg/mk/sr/mn, Latin text langdetect calls Turkish between az and tr. Everything else
  is langdetect's answer, unchanged. See `RegionalDetector`.
- `langdetect`: 55 languages, seeded so the same text always gets the same answer; ~60 MiB
  resident. Its algorithm runs over its own profiles in `langdetect_fast`, which gives langdetect's
  answers (language and probability) several times faster.
- `lingua`: lingua-language-detector in high-accuracy mode, 75 languages, models shipped in the wheel
  (nothing is downloaded at run time), deterministic by construction; ~1.2 GiB resident once its
  models are loaded.

docs/quality.md has the measured comparison (accuracy per language, ms per text, memory).

Each reads a bounded sample of the text (cost grows with length and a few thousand characters decide
the language of a news article). Text with too few letters, or that the detector cannot place, is `und`.
The stage hands a detector a batch of texts (`detect_many`): the same answers as one by one, and
langdetect's arithmetic for all of them at once.
"""

from __future__ import annotations

import functools
import itertools
import re
from dataclasses import dataclass
from typing import Any, Callable, Iterator, NamedTuple, Optional, Protocol, Sequence, Union

import apache_beam as beam
import numpy as np
from apache_beam.metrics import Metrics

from newswire.transforms import memo
from newswire.transforms.batches import BatchWithinBundle, Stamped, restamped
from newswire.transforms.dead_letters import DEAD_LETTER, ApplyStage, unexpected_error
from newswire.transforms.records import UNDETERMINED, Document, Language
from newswire.transforms.time_limit import StageTimeout

STAGE = 'language'


@dataclass(frozen=True)
class LanguageConfig:
    detector: str = 'regional'
    sample_chars: int = 3000
    min_letters: int = 20
    seed: int = 0
    # `regional` only; settings.yaml says why each has its value.
    second_opinion_chars: int = 400
    override_ratio: float = 5.0
    full_confidence_words: int = 10

    def __post_init__(self):
        if self.detector not in DETECTORS:
            raise ValueError(f'language detector must be one of {sorted(DETECTORS)}, '
                             f'got {self.detector!r}')
        if self.second_opinion_chars < 1 or self.full_confidence_words < 1 or self.override_ratio < 1:
            raise ValueError('language second_opinion_chars and full_confidence_words must be >= 1 '
                             'and override_ratio >= 1, got '
                             f'{self.second_opinion_chars}, {self.full_confidence_words}, '
                             f'{self.override_ratio}')


class LanguageDetector(Protocol):
    """What the language stage needs of a detector."""

    def detect(self, text: str, min_letters: Optional[int] = None) -> Language:
        """The language of `text` (ISO 639-1 and a confidence), or `und` with confidence 0."""

    def detect_many(self, texts: Sequence[str]) -> list[Language]:
        """`detect` of each text: the same answers, for a detector that does texts faster together."""

    def supported_languages(self) -> frozenset[str]:
        """The ISO 639-1 codes the detector can answer."""


def _sample(text: str, config: LanguageConfig, min_letters: Optional[int]) -> Optional[str]:
    """The bounded sample a detector reads, or None when it has too few letters to decide."""
    sample = text[:config.sample_chars]
    needed = max(1, config.min_letters if min_letters is None else min_letters)
    # Counting stops at the `needed`-th letter: an article has them in its first line.
    if sum(1 for _ in itertools.islice(filter(str.isalpha, sample), needed)) < needed:
        return None
    return sample


@functools.lru_cache(maxsize=None)
def _lingua_detector(codes: tuple[str, ...], low_accuracy: bool):
    """A lingua detector over the languages `codes` (ISO 639-1), models preloaded; one per process,
    shared by the stage's threads (lingua's detector is thread-safe, its maintainer says in
    pemistahl/lingua-rs discussion #277)."""
    from lingua import IsoCode639_1, LanguageDetectorBuilder

    builder = LanguageDetectorBuilder.from_iso_codes_639_1(
        *(IsoCode639_1.from_str(code) for code in codes))
    if low_accuracy:
        builder = builder.with_low_accuracy_mode()
    return builder.with_preloaded_language_models().build()


class LinguaDetector:
    """lingua-language-detector over all its languages, models preloaded once per process.

    High-accuracy mode: the low-accuracy mode saves memory but loses most on short texts.
    """

    def __init__(self, config: LanguageConfig):
        from lingua import LanguageDetectorBuilder

        self._detector = (LanguageDetectorBuilder.from_all_languages()
                          .with_preloaded_language_models().build())
        self._config = config

    def supported_languages(self) -> frozenset[str]:
        from lingua import Language as LinguaLanguage

        return frozenset(language.iso_code_639_1.name.lower() for language in LinguaLanguage.all())

    def detect(self, text: str, min_letters: Optional[int] = None) -> Language:
        sample = _sample(text, self._config, min_letters)
        if sample is None:
            return UNDETERMINED
        values = self._detector.compute_language_confidence_values(sample)
        if not values or values[0].value <= 0.0:
            return UNDETERMINED
        return Language(values[0].language.iso_code_639_1.name.lower(), round(values[0].value, 4))

    def detect_many(self, texts: Sequence[str]) -> list[Language]:
        return [self.detect(text) for text in texts]


class LangdetectDetector:
    """langdetect's algorithm over its own profiles, computed by `langdetect_fast`: the same language and
    probability as langdetect 1.0.9 for the same seed, several times faster. The profiles load once per
    process."""

    def __init__(self, config: LanguageConfig):
        from newswire.transforms.langdetect_fast import FastLangdetect

        self._detector = FastLangdetect(config.seed)
        self._config = config

    def supported_languages(self) -> frozenset[str]:
        return frozenset(code.split('-')[0] for code in self._detector.languages)

    def ranked_many(self, samples: Sequence[str]) -> list[list[tuple[str, float]]]:
        """langdetect's (ISO 639-1 code, probability) for each sample, most probable first."""
        # langdetect names Chinese zh-cn / zh-tw; the record carries ISO 639-1 codes.
        return [[(code.split('-')[0], p) for code, p in ranked]
                for ranked in self._detector.probabilities_many(samples)]

    def detect(self, text: str, min_letters: Optional[int] = None) -> Language:
        sample = _sample(text, self._config, min_letters)
        return self._answer(self.ranked_many([sample])[0] if sample is not None else [])

    def detect_many(self, texts: Sequence[str]) -> list[Language]:
        samples = [_sample(text, self._config, None) for text in texts]
        rankings = iter(self.ranked_many([sample for sample in samples if sample is not None]))
        return [self._answer(next(rankings) if sample is not None else []) for sample in samples]

    @staticmethod
    def _answer(ranked: list[tuple[str, float]]) -> Language:
        if not ranked:
            return UNDETERMINED
        code, probability = ranked[0]
        return Language(code, round(probability, 4))


# --- the regional detector ----------------------------------------------------------------------

# Script classes of the census. NONE: not a letter. UNSPACED: scripts written without spaces
# between words (Han, kana, Thai, Lao, Khmer, Myanmar, Tibetan), whose words cannot be counted.
NONE, LATIN, CYRILLIC, ARMENIAN, GEORGIAN, ARABIC, UNSPACED, OTHER = range(8)
_SCRIPT_RANGES = {
    LATIN: ((0x41, 0x24F), (0x250, 0x2AF), (0x1D00, 0x1DBF), (0x1E00, 0x1EFF), (0x2C60, 0x2C7F),
            (0xA720, 0xA7FF), (0xAB30, 0xAB6F), (0xFF21, 0xFF5A)),
    CYRILLIC: ((0x400, 0x52F), (0x1C80, 0x1C8F), (0x2DE0, 0x2DFF), (0xA640, 0xA69F)),
    ARMENIAN: ((0x530, 0x58F), (0xFB13, 0xFB17)),
    # Mkhedruli (modern Georgian), its capitals (Mtavruli), and the older Asomtavruli and Nuskhuri.
    GEORGIAN: ((0x10A0, 0x10FF), (0x1C90, 0x1CBF), (0x2D00, 0x2D2F)),
    ARABIC: ((0x600, 0x6FF), (0x750, 0x77F), (0x8A0, 0x8FF), (0xFB50, 0xFDFF), (0xFE70, 0xFEFF)),
    UNSPACED: ((0xE00, 0xFFF), (0x1000, 0x109F), (0x1780, 0x17FF), (0x3040, 0x30FF), (0x31F0, 0x31FF),
               (0x3400, 0x4DBF), (0x4E00, 0x9FFF), (0xF900, 0xFAFF), (0xFF66, 0xFF9F),
               (0x20000, 0x3134F)),
}
# A script that names its language on its own: no other language either detector knows writes it.
_SCRIPT_LANGUAGE = {ARMENIAN: 'hy', GEORGIAN: 'ka'}

# Second opinions: lingua restricted to the languages that share a script and that langdetect
# confuses or lacks. Cyrillic: langdetect knows ru, uk, bg, mk and calls be, kk, mn `ru`/`uk` and
# Serbian `mk`.
_CYRILLIC_LANGUAGES = ('be', 'bg', 'kk', 'mk', 'mn', 'ru', 'sr', 'uk')
# Latin text langdetect calls Turkish: it has no Azerbaijani (nor Uzbek or Turkmen, which lingua
# lacks too).
_TURKIC_LATIN_LANGUAGES = ('az', 'tr')
# Letters only Kazakh writes among the Cyrillic languages above (Mongolian shares ө and ү, and
# Ukrainian and Belarusian і): lingua answers `kk` with certainty for some Ukrainian sentences
# that have only і, so its `kk` stands only with one of these.
_KAZAKH_LETTERS = frozenset('әғқңұһӘҒҚҢҰҺ')
# Long texts skip the second opinion where their letters settle the question. A text of at least
# _ALPHABET_GATE_LETTERS letters of the script whose letters (but for a quoted name or two: fewer
# than _FOREIGN_SHARE) all fit the alphabet of one of langdetect's languages is not in a language
# that writes other letters every few words: not Belarusian (і, ў), Kazakh (ә ғ қ ң ө ұ ү һ і),
# Mongolian (ө ү), Serbian or Macedonian (ј љ њ џ ђ ћ ѓ ќ ѕ) for Russian, Ukrainian and Bulgarian;
# not Azerbaijani (ə is caught before, q and x) for Turkish. A sentence can miss all of those
# letters ("Натуральна, гэтая маса цягне за сабой адпаведныя густы" is Belarusian), so shorter
# texts always get the second opinion. Macedonian has no gate: it shares its letters with Serbian.
_ALPHABET_GATE_LETTERS = 300
_FOREIGN_SHARE = 0.005


def _alphabet(letters: str) -> np.ndarray:
    return np.array(sorted({ord(ch) for ch in letters + letters.upper()}), dtype='<u4')


_LANGDETECT_CYRILLIC_ALPHABETS = tuple(_alphabet(letters) for letters in (
    'абвгдеёжзийклмнопрстуфхцчшщъыьэюя',  # ru
    'абвгґдеєжзиіїйклмнопрстуфхцчшщьюя',  # uk
    'абвгдежзийклмнопрстуфхцчшщъьюяѝ',  # bg
))
_TURKISH_ALPHABET = _alphabet('abcçdefgğhıijklmnoöprsştuüvyzâîûİ')
# Schwa is Azerbaijani's most frequent vowel (several in every hundred letters) and no other
# language either detector knows writes it; a stray one (an IPA transcription in English) is far
# rarer than one letter in a hundred.
_AZERBAIJANI_SCHWA = ('ə', 'Ə')
_SCHWA_SHARE = 0.01

_WORD = re.compile(r'[^\W\d_]+')


@functools.lru_cache(maxsize=None)
def script_table() -> np.ndarray:
    """Code point -> script class (int8), letters only: one lookup per character of a sample."""
    table = np.full(0x110000, OTHER, dtype=np.int8)
    for script, ranges in _SCRIPT_RANGES.items():
        for first, last in ranges:
            table[first:last + 1] = script
    # Letters are told apart in the Basic Multilingual Plane, where every script above has its letters;
    # beyond it only the Han extensions count (as letters), not emoji or historic scripts.
    bmp = 0x10000
    is_letter = np.fromiter((chr(cp).isalpha() for cp in range(bmp)), bool, bmp)
    table[:bmp][~is_letter] = NONE
    beyond = table[bmp:]
    beyond[beyond == OTHER] = NONE
    return table


class Census(NamedTuple):
    """How many of a sample's letters each script class holds."""
    counts: np.ndarray  # script class -> letters
    code_points: np.ndarray  # the sample's characters
    scripts: np.ndarray  # the script class of each

    @property
    def letters(self) -> int:
        return int(self.counts[1:].sum())

    @property
    def dominant(self) -> int:
        return int(np.argmax(self.counts[1:])) + 1

    def share(self, script: int) -> float:
        return float(self.counts[script]) / max(1, self.letters)

    def fits(self, script: int, alphabet: np.ndarray) -> bool:
        """Whether the letters of `script` are long enough a run to judge (_ALPHABET_GATE_LETTERS)
        and, but for fewer than _FOREIGN_SHARE of them (a quoted name), all in `alphabet`."""
        letters = self.code_points[self.scripts == script]
        if len(letters) < _ALPHABET_GATE_LETTERS:
            return False
        foreign = len(letters) - int(np.count_nonzero(np.isin(letters, alphabet)))
        return foreign < _FOREIGN_SHARE * len(letters)


def script_census(sample: str) -> Census:
    # surrogatepass: a lone surrogate (JSON can carry one) is a code point like any other here.
    code_points = np.frombuffer(sample.encode('utf-32-le', 'surrogatepass'), dtype='<u4')
    scripts = script_table()[code_points]
    return Census(np.bincount(scripts, minlength=OTHER + 1), code_points, scripts)


class WordEvidence(NamedTuple):
    distinct: int  # distinct words (case-folded), counted up to the point where evidence is enough
    content: int  # those of them not capitalised like a name (in a script with capitals)
    repeated: bool  # one distinct word, written more than once


def word_evidence(sample: str, unspaced: bool, enough: int) -> WordEvidence:
    """How much a sample says about its language: its distinct words, and how many look like names.

    A text of one word, however often repeated ("Baku Baku Baku ..."), says nothing a detector can
    weigh, whatever probability it reports; a byline or a list of names says little (names travel
    between languages). Counting stops once `enough` content words are seen. Words of an unspaced
    script (Chinese, Japanese, Thai) are its distinct letters.
    """
    if unspaced:
        letters = {ch for ch in sample if ch.isalpha()}
        return WordEvidence(len(letters), len(letters), len(letters) == 1)
    seen, content, repeated = set(), 0, False
    for match in _WORD.finditer(sample):
        word = match.group()
        folded = word.casefold()
        if folded in seen:
            repeated = True
            continue
        seen.add(folded)
        # A capital then small letters reads as a name (or a sentence's first word); an all-capitals
        # word or a caseless script's word is ordinary text.
        if not (word[0].isupper() and not word.isupper()):
            content += 1
            if content >= enough and len(seen) >= 2:
                break
    return WordEvidence(len(seen), content, repeated and len(seen) == 1)


class RegionalDetector:
    """langdetect, with script evidence and lingua second opinions for the languages it lacks.

    For a sample with enough letters:

    1. One word written over and over: `und`.
    2. The script most of its letters are in: Armenian -> `hy`, Georgian -> `ka`, with the share of
       the letters in that script as confidence.
    3. Latin with schwa making at least one letter in a hundred -> `az` (confidence: the Latin share).
    4. langdetect's answer, with a second opinion where it hides a close pair: lingua over the first
       `second_opinion_chars` characters, in low-accuracy mode (trigram models, ~1.5 MiB per
       language; the high-accuracy ones, ~30 MiB per language, would break the memory bound, and
       lingua uses trigrams alone for texts over 120 characters anyway):
       - Cyrillic: lingua among ru, uk, be, kk, bg, mk, sr, mn. langdetect is the better judge among
         the four it knows (ru, uk, bg, mk: on the lingua test sentences it errs less on ru and uk),
         so lingua's answer stands only for a language langdetect lacks, and only when lingua finds
         it at least `override_ratio` times as likely as the likeliest language langdetect knows (a
         Macedonian sentence lingua leans Serbian on by a little stays langdetect's `mk`), or when
         langdetect's answer is not Cyrillic at all. lingua's `kk` needs a Kazakh-only letter.
       - Latin that langdetect calls `tr`: lingua between az and tr.
       A text of 300 letters or more whose letters fit the Russian, Ukrainian or Bulgarian
       alphabet (Cyrillic), or the Turkish one (Latin that langdetect calls `tr`), skips the second
       opinion (see _ALPHABET_GATE_LETTERS): such articles cost what langdetect costs.
    5. The confidence of the answer is scaled down when the sample has fewer than
       `full_confidence_words` distinct uncapitalised words (a headline; a byline, which counts as
       one word): a few words cannot back a probability near 1, whatever a detector computes.
    """

    def __init__(self, config: LanguageConfig):
        self._config = config
        self._langdetect = LangdetectDetector(config)
        script_table()  # built once per process, here rather than on the first text
        self._langdetect_knows = self._langdetect.supported_languages()

    # lingua's second opinions are built on the first text that asks for one, once per process
    # (`_lingua_detector`): loading their models is some 0.5 s of a run's start-up, which a run of
    # texts in neither script never needs.
    @property
    def _cyrillic(self):
        return _lingua_detector(_CYRILLIC_LANGUAGES, low_accuracy=True)

    @property
    def _turkic(self):
        return _lingua_detector(_TURKIC_LATIN_LANGUAGES, low_accuracy=True)

    def supported_languages(self) -> frozenset[str]:
        return (self._langdetect_knows | frozenset(_SCRIPT_LANGUAGE.values())
                | frozenset(_CYRILLIC_LANGUAGES) | frozenset(_TURKIC_LATIN_LANGUAGES))

    def detect(self, text: str, min_letters: Optional[int] = None) -> Language:
        return self._detect_many([text], min_letters)[0]

    def detect_many(self, texts: Sequence[str]) -> list[Language]:
        return self._detect_many(texts, None)

    def _detect_many(self, texts: Sequence[str], min_letters: Optional[int]) -> list[Language]:
        # Every decision runs up to where it needs langdetect; the samples that got there are ranked
        # together (`ranked_many`), then their decisions finish.
        started = [self._start(text, min_letters) for text in texts]
        rankings = iter(self._langdetect.ranked_many(
            [start[0].sample for start in started
             if start is not None and isinstance(start[0], _AfterLangdetect)]))
        languages = []
        for start in started:
            if start is None:
                languages.append(UNDETERMINED)
                continue
            decision, content = start
            found = decision.finish(next(rankings)) if isinstance(decision, _AfterLangdetect) else decision
            if found is None:
                languages.append(UNDETERMINED)
                continue
            code, confidence = found
            # Text of names alone (a byline) keeps its answer, at the weight of a single word.
            enough = self._config.full_confidence_words
            languages.append(Language(code, round(confidence * min(1.0, max(1, content) / enough), 4)))
        return languages

    def _start(self, text: str, min_letters: Optional[int]) -> Optional[tuple[_Decision, int]]:
        """The text's decision, as far as it goes without langdetect, and its content words; None
        for a text that is `und` whatever a detector says."""
        sample = _sample(text, self._config, min_letters)
        if sample is None:
            return None
        census = script_census(sample)
        script = census.dominant
        evidence = word_evidence(sample, script == UNSPACED, self._config.full_confidence_words)
        if evidence.repeated:
            return None
        return self._decide(sample, census, script), evidence.content

    def _decide(self, sample: str, census: Census, script: int) -> _Decision:
        if script in _SCRIPT_LANGUAGE:
            return _SCRIPT_LANGUAGE[script], census.share(script)
        if script == LATIN:
            schwas = sum(sample.count(letter) for letter in _AZERBAIJANI_SCHWA)
            if schwas >= _SCHWA_SHARE * census.counts[LATIN]:
                return 'az', census.share(LATIN)
            return _AfterLangdetect(sample, functools.partial(self._latin_answer, sample, census))
        if script == CYRILLIC:
            return self._cyrillic_opinion(sample, census)
        return _AfterLangdetect(sample, _likeliest)

    def _latin_answer(self, sample: str, census: Census, ranked: _Ranked) -> _Answer:
        answer = _likeliest(ranked)
        if (answer is not None and answer[0] == 'tr'
                and not census.fits(LATIN, _TURKISH_ALPHABET)):
            opinion = self._opinion(self._turkic, sample)
            return opinion[0] if opinion else answer
        return answer

    def _opinion(self, detector, sample: str) -> _Ranked:
        """lingua's (code, confidence) over the head of the sample, most likely first; empty when it
        cannot tell (every value 0)."""
        values = detector.compute_language_confidence_values(
            sample[:self._config.second_opinion_chars])
        ranked = [(value.language.iso_code_639_1.name.lower(), value.value) for value in values]
        return ranked if ranked and ranked[0][1] > 0.0 else []

    def _cyrillic_opinion(self, sample: str, census: Census) -> _Decision:
        """Cyrillic: langdetect alone when a long text's letters fit one of its languages' alphabets;
        else lingua first, and langdetect (most of the cost, so asked only then) where lingua picks
        one of langdetect's languages or is not sure enough of another."""
        if any(census.fits(CYRILLIC, alphabet) for alphabet in _LANGDETECT_CYRILLIC_ALPHABETS):
            return _AfterLangdetect(sample, _likeliest)
        opinion = self._opinion(self._cyrillic, sample)
        if opinion and opinion[0][0] == 'kk' and _KAZAKH_LETTERS.isdisjoint(sample):
            opinion = [pair for pair in opinion if pair[0] != 'kk']
            opinion = opinion if opinion and opinion[0][1] > 0.0 else []
        if opinion and opinion[0][0] not in self._langdetect_knows:
            code, confidence = opinion[0]
            rival = max((value for other, value in opinion if other in self._langdetect_knows),
                        default=0.0)
            if confidence >= self._config.override_ratio * rival:
                return code, confidence
        return _AfterLangdetect(sample, functools.partial(_cyrillic_or_opinion, opinion))


_Ranked = list[tuple[str, float]]  # (code, probability), most probable first
_Answer = Optional[tuple[str, float]]  # a code and its confidence, or None: `und`


class _AfterLangdetect(NamedTuple):
    """A decision that langdetect's ranking of `sample` finishes."""
    sample: str
    finish: Callable[[_Ranked], _Answer]


_Decision = Union[_Answer, _AfterLangdetect]


def _likeliest(ranked: _Ranked) -> _Answer:
    return ranked[0] if ranked else None


def _cyrillic_or_opinion(opinion: _Ranked, ranked: _Ranked) -> _Answer:
    """langdetect's answer when it is a Cyrillic language, else lingua's `opinion`."""
    answer = _likeliest(ranked)
    if answer is not None and answer[0] in _CYRILLIC_LANGUAGES:
        return answer
    return opinion[0] if opinion else answer


# detector name (the `detector:` setting) -> class
DETECTORS = {'regional': RegionalDetector, 'langdetect': LangdetectDetector, 'lingua': LinguaDetector}


def make_detector(config: LanguageConfig) -> LanguageDetector:
    return DETECTORS[config.detector](config)


class RememberingDetector:
    """`detector`'s answers, remembered for the last `size` distinct samples (`memo`): a syndicated
    copy's language is detected once. Every detector answers from a text's sample (`_sample`)
    alone, so the sample is what the memo is keyed by, and what the detector is given."""

    def __init__(self, detector: LanguageDetector, config: LanguageConfig,
                 size: int = memo.DEFAULT_SIZE):
        self._detector = detector
        self._sample_chars = config.sample_chars
        self._answers: memo.Recent[Language] = memo.Recent(size)

    def supported_languages(self) -> frozenset[str]:
        return self._detector.supported_languages()

    def detect(self, text: str, min_letters: Optional[int] = None) -> Language:
        sample = text[:self._sample_chars]
        return self._answers.of_text(sample, lambda: self._detector.detect(sample, min_letters),
                                     None if min_letters is None else str(min_letters))

    def detect_many(self, texts: Sequence[str]) -> list[Language]:
        samples = [text[:self._sample_chars] for text in texts]
        keys = {sample: self._answers.key(sample, None) for sample in samples}
        answers = [self._answers.get(keys[sample]) if keys[sample] else None for sample in samples]
        # The samples not remembered, each detected once even if the batch holds it twice.
        missing = list(dict.fromkeys(s for s, answer in zip(samples, answers) if answer is None))
        if not missing:
            return answers
        found = dict(zip(missing, self._detector.detect_many(missing)))
        for sample, language in found.items():
            if keys[sample]:
                self._answers.put(keys[sample], language)
        return [answer if answer is not None else found[sample]
                for sample, answer in zip(samples, answers)]


# Documents detected together: from a few dozen side by side, langdetect's work costs a document
# less than half of what it costs alone, and a batch stays far inside the stage's time limit.
BATCH_SIZE = 64


class DetectLanguageFn(beam.DoFn):
    """A batch of documents (`Stamped`, as `BatchWithinBundle` makes them) -> each with its language,
    at its own timestamp and window. A document whose text breaks its batch's detection is detected
    alone, and one that fails alone is a dead letter of its own."""

    def __init__(self, config: LanguageConfig):
        self._config = config
        self._detector: Optional[LanguageDetector] = None
        self._undetermined = Metrics.counter('newswire', 'language_undetermined')

    def setup(self):
        self._detector = RememberingDetector(make_detector(self._config), self._config)

    def process(self, batch: Sequence[Stamped]):
        return restamped(batch, self.detect([stamped.value for stamped in batch]))

    def detect(self, docs: Sequence[Document]) -> Iterator[Any]:
        """One output per document, in order: the document with its language, or its dead letter."""
        try:
            languages = self._detector.detect_many([doc.text for doc in docs])
        except StageTimeout:
            raise  # the time limit's: the stage dead-letters the batch's documents
        except Exception:  # noqa: BLE001 - some document broke the batch: each is detected alone
            languages = None
        for index, doc in enumerate(docs):
            if languages is None:
                try:
                    language = self._detector.detect(doc.text)
                except StageTimeout:
                    raise
                except Exception as error:  # noqa: BLE001
                    yield beam.pvalue.TaggedOutput(DEAD_LETTER, unexpected_error(STAGE, doc, error))
                    continue
            else:
                language = languages[index]
            if language.code == UNDETERMINED.code:
                self._undetermined.inc()
            yield doc.replaced(language=language)


class DetectLanguage(beam.PTransform):
    """Documents -> `StageOutputs(documents with language {code, confidence}, dead letters)`.

    Documents go to the detector in batches of up to BATCH_SIZE, made within a bundle (so nothing
    waits for a batch to fill), and each batch has the stage's time limit: a batch that overruns
    it is a dead letter per document."""

    def __init__(self, config: LanguageConfig, timeout_seconds: Optional[float] = None):
        super().__init__()
        self._config = config
        self._timeout_seconds = timeout_seconds

    def expand(self, docs):
        return (docs
                | 'Batch' >> beam.ParDo(BatchWithinBundle(BATCH_SIZE))
                | 'Detect' >> ApplyStage(DetectLanguageFn(self._config), STAGE,
                                         timeout_seconds=self._timeout_seconds))
