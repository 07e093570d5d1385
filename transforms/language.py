"""Language detection, deterministic and bounded in cost.

langdetect is seeded, so the same text always gets the same answer; it reads a bounded sample of the
text (its cost grows with length and a few thousand characters decide the language of a news article).
Text with too few letters, or that langdetect finds no features in, is `und`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Optional

import apache_beam as beam
from apache_beam.metrics import Metrics

from newswire.transforms.dead_letters import ApplyStage
from newswire.transforms.records import UNDETERMINED, Document, Language

STAGE = 'language'
# Samples whose answer is kept (insertion order; the oldest goes first): ~3 KB each at most.
RECENT_SAMPLES = 4096


@dataclass(frozen=True)
class LanguageConfig:
    sample_chars: int = 3000
    min_letters: int = 20
    seed: int = 0


def _detector_class():
    """langdetect's Detector with its n-gram extraction, half of its time on a news article, done
    in one loop with each character's normalisation looked up once: the same n-grams, in the same
    order, so the seeded sampling after it gives the same answer (tests/transforms/test_language.py
    compares the two)."""
    global _FAST_DETECTOR
    if _FAST_DETECTOR is None:
        from langdetect.detector import Detector
        from langdetect.utils.ngram import NGram

        normalized: dict[str, str] = {}

        class FastNgramDetector(Detector):

            def _extract_ngrams(self):
                known = self.word_lang_prob_map
                result = []
                grams, capital = ' ', False
                for ch in self.text:
                    norm = normalized.get(ch)
                    if norm is None:
                        norm = normalized[ch] = NGram.normalize(ch)
                    last = grams[-1]
                    if last == ' ':
                        grams, capital = ' ', False
                        if norm == ' ':
                            continue
                    elif len(grams) >= NGram.N_GRAM:
                        grams = grams[1:]
                    grams += norm
                    if norm.isupper():
                        if last.isupper():
                            capital = True
                    else:
                        capital = False
                    if capital:
                        continue
                    if norm != ' ' and norm in known:
                        result.append(norm)
                    size = len(grams)
                    if size >= 2:
                        pair = grams[-2:]
                        if pair in known:
                            result.append(pair)
                        if size >= 3:
                            triple = grams[-3:]
                            if triple in known:
                                result.append(triple)
                return result

        _FAST_DETECTOR = FastNgramDetector
    return _FAST_DETECTOR


_FAST_DETECTOR = None


class LangdetectDetector:
    """langdetect behind one method. Its profiles load once per process (they are ~8 MB)."""

    def __init__(self, config: LanguageConfig):
        from langdetect import detector_factory

        detector_factory.init_factory()
        detector_factory.DetectorFactory.seed = config.seed
        self._factory = detector_factory._factory  # the loaded profiles; langdetect keeps one per process
        self._config = config
        # Wires repeat themselves (re-published items, copies that differ only in cleaned-off
        # chrome): the answer for a sample seen lately is reused. langdetect is seeded per call, so
        # a reused answer is the answer it would give again.
        self._recent: dict[str, Language] = {}

    def detect(self, text: str) -> Language:
        sample = text[:self._config.sample_chars]
        known = self._recent.get(sample)
        if known is not None:
            return known
        language = self._detect_sample(sample)
        if len(self._recent) >= RECENT_SAMPLES:
            self._recent.pop(next(iter(self._recent)))  # the oldest entry
        self._recent[sample] = language
        return language

    def _detect_sample(self, sample: str) -> Language:
        from langdetect.lang_detect_exception import LangDetectException

        if sum(ch.isalpha() for ch in sample) < self._config.min_letters:
            return UNDETERMINED
        detector = _detector_class()(self._factory)
        detector.append(sample)
        try:
            best = detector.get_probabilities()[0]
        except (LangDetectException, IndexError):
            return UNDETERMINED
        # langdetect names Chinese zh-cn / zh-tw; the record carries ISO 639-1 codes.
        return Language(best.lang.split('-')[0], round(best.prob, 4))


class DetectLanguageFn(beam.DoFn):

    def __init__(self, config: LanguageConfig):
        self._config = config
        self._detector: Optional[LangdetectDetector] = None
        self._undetermined = Metrics.counter('newswire', 'language_undetermined')

    def setup(self):
        self._detector = LangdetectDetector(self._config)

    def process(self, doc: Document):
        language = self._detector.detect(doc.text)
        if language.code == UNDETERMINED.code:
            self._undetermined.inc()
        yield dataclasses.replace(doc, language=language)


class DetectLanguage(beam.PTransform):
    """Documents -> `StageOutputs(documents with language {code, confidence}, dead letters)`."""

    def __init__(self, config: LanguageConfig):
        super().__init__()
        self._config = config

    def expand(self, docs):
        return docs | 'Detect' >> ApplyStage(DetectLanguageFn(self._config), STAGE)
