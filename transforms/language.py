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


@dataclass(frozen=True)
class LanguageConfig:
    sample_chars: int = 3000
    min_letters: int = 20
    seed: int = 0


class LangdetectDetector:
    """langdetect behind one method. Its profiles load once per process (they are ~8 MB)."""

    def __init__(self, config: LanguageConfig):
        from langdetect import detector_factory

        detector_factory.init_factory()
        detector_factory.DetectorFactory.seed = config.seed
        self._factory = detector_factory._factory  # the loaded profiles; langdetect keeps one per process
        self._config = config

    def detect(self, text: str) -> Language:
        from langdetect.lang_detect_exception import LangDetectException

        sample = text[:self._config.sample_chars]
        if sum(ch.isalpha() for ch in sample) < self._config.min_letters:
            return UNDETERMINED
        detector = self._factory.create()
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
