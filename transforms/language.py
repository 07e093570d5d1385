"""Language detection, deterministic and bounded in cost, behind one small detector interface.

Two detectors, chosen by `detector:` in the language section of settings.yaml:

- `langdetect` (default, the user's choice): 55 languages, seeded so the same text always gets the same
  answer; ~60 MiB resident. Its algorithm runs over its own profiles in `langdetect_fast`, which gives
  langdetect's answers (language and probability) several times faster.
- `lingua`: lingua-language-detector in high-accuracy mode, 75 languages, models shipped in the wheel
  (nothing is downloaded at run time), deterministic by construction. Much better on languages
  langdetect lacks and on short texts, but ~1.2 GiB resident once its models are loaded. README
  "Quality" has the measured comparison (accuracy, ms per text, memory); neither reaches 0.97 sentence
  accuracy over all 75 languages of the test set, so the default stays langdetect.

Each reads a bounded sample of the text (cost grows with length and a few thousand characters decide
the language of a news article). Text with too few letters, or that the detector cannot place, is `und`.
"""

from __future__ import annotations

import dataclasses
import itertools
from dataclasses import dataclass
from typing import Optional, Protocol

import apache_beam as beam
from apache_beam.metrics import Metrics

from newswire.transforms.dead_letters import ApplyStage
from newswire.transforms.records import UNDETERMINED, Document, Language

STAGE = 'language'


@dataclass(frozen=True)
class LanguageConfig:
    detector: str = 'langdetect'
    sample_chars: int = 3000
    min_letters: int = 20
    seed: int = 0

    def __post_init__(self):
        if self.detector not in DETECTORS:
            raise ValueError(f'language detector must be one of {sorted(DETECTORS)}, '
                             f'got {self.detector!r}')


class LanguageDetector(Protocol):
    """What the language stage needs of a detector."""

    def detect(self, text: str, min_letters: Optional[int] = None) -> Language:
        """The language of `text` (ISO 639-1 and a confidence), or `und` with confidence 0."""

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

    def detect(self, text: str, min_letters: Optional[int] = None) -> Language:
        sample = _sample(text, self._config, min_letters)
        if sample is None:
            return UNDETERMINED
        ranked = self._detector.probabilities(sample)
        if not ranked:
            return UNDETERMINED
        code, probability = ranked[0]
        # langdetect names Chinese zh-cn / zh-tw; the record carries ISO 639-1 codes.
        return Language(code.split('-')[0], round(probability, 4))


# detector name (the `detector:` setting) -> class
DETECTORS = {'langdetect': LangdetectDetector, 'lingua': LinguaDetector}


def make_detector(config: LanguageConfig) -> LanguageDetector:
    return DETECTORS[config.detector](config)


class DetectLanguageFn(beam.DoFn):

    def __init__(self, config: LanguageConfig):
        self._config = config
        self._detector: Optional[LanguageDetector] = None
        self._undetermined = Metrics.counter('newswire', 'language_undetermined')

    def setup(self):
        self._detector = make_detector(self._config)

    def process(self, doc: Document):
        language = self._detector.detect(doc.text)
        if language.code == UNDETERMINED.code:
            self._undetermined.inc()
        yield dataclasses.replace(doc, language=language)


class DetectLanguage(beam.PTransform):
    """Documents -> `StageOutputs(documents with language {code, confidence}, dead letters)`."""

    def __init__(self, config: LanguageConfig, timeout_seconds: Optional[float] = None):
        super().__init__()
        self._config = config
        self._timeout_seconds = timeout_seconds

    def expand(self, docs):
        return docs | 'Detect' >> ApplyStage(DetectLanguageFn(self._config), STAGE,
                                             timeout_seconds=self._timeout_seconds)
