"""A second article run on inside a record's text: found and flagged, the text kept whole.

Some pages carry a second article after the first (a "read also" story the page inlined, two wire
items pasted as one), with its own headline line and a new lead. The record keeps all its text and
lists each such article in `embedded_articles`: its headline and where the headline and its body
start, so a reader can cut the text there. Emitting each as a record of its own would change how
records are counted (one input, two records) in the summary, the progress lines, the report and the
Pub/Sub acknowledgement of a message once its record is published; a flag changes none of them.

A paragraph is taken as an embedded headline when it looks like a headline and stands between two
articles, not like a subheading inside one:

- it is one line of `min_headline_words`..`max_headline_words` words and at most
  `max_headline_chars` characters, starts with a capital (or a quote) and does not end like a
  sentence (. ! ? , ; :), so questions, list lead-ins and sentences are out;
- the first article before it is whole: at least `min_paragraphs_before` paragraphs and
  `min_chars_before` characters (a subheading a paragraph into a text does not count);
- a new lead follows it: a paragraph of at least `min_lead_words` words ending like a sentence, and
  at least `min_chars_after` characters of text in all;
- that lead restates the first article: it shares a run of `min_shared_words` words with the first
  article's opening `opening_paragraphs` paragraphs (the event, the speaker's full name and title),
  which the section after a subheading does not do.

Subheadings inside one article are mostly short ("Background", "What comes next", "The vote"), and
the text after one goes on rather than starting over; the word floor and the restated lead keep
them apart, measured on the bench's corpus and the Zyte benchmark's article bodies
(docs/quality.md).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Optional

import apache_beam as beam

from newswire.transforms.dead_letters import ApplyStage
from newswire.transforms.records import Document, EmbeddedArticle

STAGE = 'parts'

_PARAGRAPH_BREAK = re.compile(r'\n[ \t]*\n\s*')
_WORD = re.compile(r'[^\W_]+')
_SENTENCE_END = '.!?,;:…'
_CLOSERS = '\'"’”»)]'
_OPENERS = '\'"‘“«('


@dataclass(frozen=True)
class PartsConfig:
    """`parts` in pipeline/settings.yaml: what counts as an embedded article's headline."""

    min_headline_words: int = 7
    max_headline_words: int = 30
    max_headline_chars: int = 200
    min_paragraphs_before: int = 2
    min_chars_before: int = 400
    min_lead_words: int = 25
    min_chars_after: int = 300
    min_shared_words: int = 5
    opening_paragraphs: int = 2


def paragraphs(text: str) -> list[tuple[int, str]]:
    """(offset in `text`, paragraph) for each blank-line separated paragraph, stripped."""
    out, start = [], 0
    for match in _PARAGRAPH_BREAK.finditer(text):
        out.append((start, text[start:match.start()]))
        start = match.end()
    out.append((start, text[start:]))
    return [(offset + len(p) - len(p.lstrip()), p.strip()) for offset, p in out if p.strip()]


def _ends_like_sentence(paragraph: str) -> bool:
    return paragraph.rstrip(_CLOSERS)[-1:] in _SENTENCE_END


def _looks_like_headline(paragraph: str, config: PartsConfig) -> bool:
    if '\n' in paragraph or len(paragraph) > config.max_headline_chars:
        return False
    words = paragraph.split()
    if not config.min_headline_words <= len(words) <= config.max_headline_words:
        return False
    first = paragraph.lstrip(_OPENERS)[:1]
    return first.isupper() and not _ends_like_sentence(paragraph)


def _is_lead(paragraph: str, config: PartsConfig) -> bool:
    return len(paragraph.split()) >= config.min_lead_words and _ends_like_sentence(paragraph)


def _word_runs(text: str, n: int) -> set[tuple[str, ...]]:
    """The runs of `n` words of `text`, case-folded. A new lead that shares one with the first
    article's opening restates the context (event, speaker with their title) that a new article
    states again and a section of the same one does not."""
    words = _WORD.findall(text.casefold())
    return {tuple(words[i:i + n]) for i in range(len(words) - n + 1)}


def find_embedded_articles(text: str, config: PartsConfig) -> tuple[EmbeddedArticle, ...]:
    """Each embedded article's headline and offsets in `text`, first to last (see the module doc).

    Linear in the text: the characters before a headline are a difference of running sums, and an
    article's opening is read once, however many headline-like paragraphs follow it.
    """
    paras = paragraphs(text)
    sums = [0]
    for _, paragraph in paras:
        sums.append(sums[-1] + len(paragraph))
    found = []
    first = 0  # the first paragraph of the article the next headline would end
    opening_runs: Optional[set] = None  # that article's opening, as word runs, once needed
    for index in range(config.min_paragraphs_before, len(paras) - 1):
        offset, paragraph = paras[index]
        if not _looks_like_headline(paragraph, config):
            continue
        if (index - first < config.min_paragraphs_before
                or sums[index] - sums[first] < config.min_chars_before):
            continue
        body_offset, lead = paras[index + 1]
        if not _is_lead(lead, config) or len(text) - body_offset < config.min_chars_after:
            continue
        if opening_runs is None:
            opening = ' '.join(p for _, p in paras[first:first + config.opening_paragraphs])
            opening_runs = _word_runs(opening, config.min_shared_words)
        if opening_runs.isdisjoint(_word_runs(lead, config.min_shared_words)):
            continue
        found.append(EmbeddedArticle(paragraph, offset, body_offset))
        first, opening_runs = index, None
    return tuple(found)


class FlagEmbeddedArticlesFn(beam.DoFn):

    def __init__(self, config: PartsConfig):
        self._config = config

    def process(self, doc: Document):
        found = find_embedded_articles(doc.text, self._config)
        yield doc.replaced(embedded_articles=found) if found else doc


class FlagEmbeddedArticles(beam.PTransform):
    """Documents with metadata -> `StageOutputs(documents, each embedded article listed in
    `embedded_articles`, dead letters)`."""

    def __init__(self, config: PartsConfig, timeout_seconds: Optional[float] = None):
        super().__init__()
        self._config = config
        self._timeout_seconds = timeout_seconds

    def expand(self, docs):
        return docs | 'Flag' >> ApplyStage(FlagEmbeddedArticlesFn(self._config), STAGE,
                                           timeout_seconds=self._timeout_seconds)
