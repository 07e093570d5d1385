"""Tags from a user-editable taxonomy, each tag with the spans of text that earned it.

The taxonomy (`rules/taxonomy.yaml`, or the user's own with `--taxonomy FILE`) lists the tags, under
its `topics:` key (the name the file, the record's `topics` field and the summary keep), with
patterns and exclusions per language (`en`, `ru`, ... and `any` for all). A record gets its detected
language's patterns and the `any` ones; a record in `und` gets every language's (or `any` only, as
the taxonomy's `unknown_language` says). A tag is given when at least `min_evidence` distinct
spans match and no exclusion covers them; its score is 1 - 0.5 ** spans (one span 0.5, two 0.75,
three 0.875), so more independent evidence means more confidence without any span counting twice.

Most patterns match in few texts, so before running one the tagger checks the literal strings every
match of it must contain (read from the pattern itself, case-insensitively as the pattern matches,
and looked for all at once in one scan of the text): a pattern whose literals are absent cannot
match and is not run. The tags are the same either way.
"""

from __future__ import annotations

import bisect
import dataclasses
import itertools
import re
from dataclasses import dataclass
from importlib import resources
from typing import NamedTuple, Optional

import apache_beam as beam
from apache_beam.metrics import Metrics

from newswire.transforms import memo, yamlfile
from newswire.transforms.dead_letters import ApplyStage
from newswire.transforms.literals import (LiteralScan, NeededLiterals, case_folding,
                                          needed_literals)
from newswire.transforms.records import Document, Evidence, Tag

try:  # the parser `re` compiles from (re._parser from Python 3.11, sre_parse before)
    from re import _constants as _sre
    from re import _parser as _sre_parse
except ImportError:  # Python 3.10
    import sre_constants as _sre
    import sre_parse as _sre_parse

STAGE = 'topics'
_TAG_ID = re.compile(r'^[a-z][a-z0-9_]{0,62}$')


ANY = 'any'  # the patterns key that applies to every language
_LANGUAGE_KEY = re.compile(r'^(?:[a-z]{2,3}|any)$')
# What a record whose language is `und` (or unset) gets: `any` only, or every language's patterns.
UNKNOWN_LANGUAGE_POLICIES = ('any', 'all')


class TaxonomyError(ValueError):
    """A taxonomy file that cannot be used: names the file, and the entry of its `topics:` list
    (the tag), language and pattern."""


@dataclass(frozen=True)
class Examples:
    positive: tuple[str, ...] = ()
    negative: tuple[str, ...] = ()


@dataclass(frozen=True)
class TagDefinition:
    """One tag of the taxonomy (an entry of its `topics:` list); `patterns`, `exclude` and
    `examples` are keyed by language code or `any`."""

    id: str
    label: str
    description: str
    patterns: dict[str, tuple[str, ...]]
    exclude: dict[str, tuple[str, ...]] = dataclasses.field(default_factory=dict)
    examples: dict[str, Examples] = dataclasses.field(default_factory=dict)

    def patterns_for(self, language: str) -> tuple[str, ...]:
        return self.patterns.get(language, ()) + (self.patterns.get(ANY, ()) if language != ANY else ())

    def exclude_for(self, language: str) -> tuple[str, ...]:
        return self.exclude.get(language, ()) + (self.exclude.get(ANY, ()) if language != ANY else ())


@dataclass(frozen=True)
class Taxonomy:
    tags: tuple[TagDefinition, ...]
    min_evidence: int = 1
    max_evidence: int = 10
    unknown_language: str = 'all'

    @property
    def languages(self) -> tuple[str, ...]:
        """Every language some tag has patterns or exclusions for, `any` excluded."""
        return tuple(sorted({lang for t in self.tags for lang in (*t.patterns, *t.exclude)} - {ANY}))


def default_taxonomy_path():
    return resources.files('newswire.transforms') / 'rules' / 'taxonomy.yaml'


def load_taxonomy(path=None) -> Taxonomy:
    """Parse and validate a taxonomy file.

    Each tag holds its patterns per language (`patterns: {en: [...], ru: [...], any: [...]}`,
    `exclude` and `examples` likewise). A tag in the older shape, `language: CODE` with a list of
    patterns (and `examples: {positive, negative}`), is read as that one language's patterns.
    Raises TaxonomyError (a ValueError) naming the file, and the topic, language and pattern at fault.
    """
    import yaml

    path = path or default_taxonomy_path()
    try:
        with open(path, encoding='utf-8') as handle:
            data = yamlfile.safe_load(handle)
    except yaml.YAMLError as error:
        raise TaxonomyError(f'{path}: not valid YAML: {error}') from error
    if not isinstance(data, dict) or not isinstance(data.get('topics'), list):
        raise TaxonomyError(f'{path}: expected a mapping with a "topics" list, got {type(data).__name__}')
    definitions, seen = [], set()
    for index, item in enumerate(data['topics']):
        tag_id = item.get('id') if isinstance(item, dict) else None
        where = f'{path}: topic {index} ({tag_id or "no id"})'
        if not isinstance(tag_id, str) or not _TAG_ID.match(tag_id) or tag_id in seen:
            raise TaxonomyError(f'{where}: "id" must be unique, lowercase letters, digits and _')
        seen.add(tag_id)
        language = item.get('language') or ANY  # the older shape's one language
        patterns = _by_language(item.get('patterns'), language, where, 'patterns')
        if not any(patterns.values()):
            raise TaxonomyError(f'{where}: needs at least one pattern')
        exclude = _by_language(item.get('exclude'), language, where, 'exclude')
        for kind, rules in (('pattern', patterns), ('exclude pattern', exclude)):
            for lang, regexes in rules.items():
                for pattern in regexes:
                    try:
                        re.compile(pattern, re.IGNORECASE)
                    except re.error as error:
                        raise TaxonomyError(f'{where}, language {lang}: {kind} {pattern!r} does not '
                                            f'compile: {error}') from error
        definitions.append(TagDefinition(
            id=tag_id, label=item.get('label') or tag_id,
            description=(item.get('description') or '').strip(),
            patterns=patterns, exclude=exclude,
            examples=_examples(item.get('examples'), language, where)))
    settings = data.get('settings') or {}
    # `all` by default: what an older, one-language file did for a record in `und`
    unknown = settings.get('unknown_language', 'all')
    if unknown not in UNKNOWN_LANGUAGE_POLICIES:
        raise TaxonomyError(f'{path}: settings.unknown_language must be one of '
                            f'{", ".join(UNKNOWN_LANGUAGE_POLICIES)}, got {unknown!r}')
    return Taxonomy(tuple(definitions), int(settings.get('min_evidence', 1)),
                    int(settings.get('max_evidence', 10)), unknown)


def _by_language(value, language: str, where: str, key: str) -> dict[str, tuple[str, ...]]:
    """{language: patterns} from either shape: a mapping by language, or a list for `language`."""
    if value is None:
        return {}
    if isinstance(value, list):
        value = {language: value}
    if not isinstance(value, dict):
        raise TaxonomyError(f'{where}: "{key}" must map language codes to lists of patterns '
                            f'(or be a list), got {type(value).__name__}')
    out = {}
    for lang, regexes in value.items():
        if not isinstance(lang, str) or not _LANGUAGE_KEY.match(lang):
            raise TaxonomyError(f'{where}: "{key}" key {lang!r} is not a language code (2-3 lowercase '
                                f'letters) or "any"')
        if not isinstance(regexes, list) or not all(isinstance(r, str) for r in regexes):
            raise TaxonomyError(f'{where}, language {lang}: "{key}" must be a list of strings')
        out[lang] = tuple(regexes)
    return out


def _examples(value, language: str, where: str) -> dict[str, Examples]:
    if not value:
        return {}
    if not isinstance(value, dict):
        raise TaxonomyError(f'{where}: "examples" must be a mapping, got {type(value).__name__}')
    if set(value) <= {'positive', 'negative'}:  # the older shape: one language's examples
        value = {language: value}
    return {lang: Examples(tuple((v or {}).get('positive') or ()), tuple((v or {}).get('negative') or ()))
            for lang, v in value.items()}


class _Rule(NamedTuple):
    """A compiled pattern and the literals any match of it contains: one string of each set, folded.

    `prefix` finds where a pattern that begins with \\b and a literal can start (r'\\bhostages?\\b':
    'hostage'): `re` scans for a leading literal quickly, but tests a leading \\b at every position
    instead (about three times slower on news text). `finditer` runs the pattern only where its
    prefix is and a word begins, and finds the same matches as the pattern's own finditer.
    """

    regex: re.Pattern
    needed: NeededLiterals
    prefix: Optional[re.Pattern] = None

    def finditer(self, text: str):
        """(start, end, matched text) of each match, as `self.regex.finditer` finds them.

        With a prefix: a match starts where the prefix does, at a word boundary; the first such
        position where the pattern matches is the leftmost match. The prefix begins with a word
        character, so a boundary before it is the start of a word: where the pattern fails (or the
        prefix is inside a word) no match can start before the next word, and the search goes on
        from there. Each word is thus tried once, as `re` itself would, whatever the text.
        """
        if self.prefix is None:
            for match in self.regex.finditer(text):
                yield match.start(), match.end(), match.group(0)
            return
        find, match_at, position = self.prefix.search, self.regex.match, 0
        while (found := find(text, position)) is not None:
            start = found.start()
            match = match_at(text, start) if _at_word_boundary(text, start) else None
            if match is not None:
                yield start, match.end(), match.group(0)
                position = match.end()  # never empty: `_literal_prefix` takes patterns of width >= 1
            else:
                word_end = _NON_WORD.search(text, start)
                position = word_end.start() if word_end else len(text)


def _literal_prefix(pattern: str, compiled: re.Pattern) -> Optional[re.Pattern]:
    """The literal every match starts with, after a leading \\b, as a pattern; else None.

    Only for a pattern whose parse begins with \\b and a word character (if its top level is an
    alternation, the parser has moved the branches' shared \\b and letters in front), for Unicode
    word boundaries (no ASCII or LOCALE flag), and for patterns that cannot match the empty string,
    so that a match always moves the search on.
    """
    if compiled.flags & (re.ASCII | re.LOCALE):
        return None
    parsed = _sre_parse.parse(pattern, compiled.flags)
    if len(parsed) < 2 or parsed[0] != (_sre.AT, _sre.AT_BOUNDARY) or parsed.getwidth()[0] == 0:
        return None
    literal = ''.join(itertools.takewhile(
        bool, (chr(av) if op is _sre.LITERAL else '' for op, av in parsed[1:])))
    if not literal or not _is_word_character(literal[0]):
        return None
    return re.compile(re.escape(literal), compiled.flags)


_NON_WORD = re.compile(r'\W')


def _is_word_character(ch: str) -> bool:
    """What \\w matches in a str pattern: alphanumeric characters and the underscore."""
    return ch.isalnum() or ch == '_'


def _at_word_boundary(text: str, index: int) -> bool:
    """What \\b asks in a str pattern: a word character on exactly one side."""
    before = index > 0 and _is_word_character(text[index - 1])
    after = index < len(text) and _is_word_character(text[index])
    return before != after


class _Plan(NamedTuple):
    """What a text in one language is tagged by: (tag, pattern rules, exclusion rules) for each tag
    with a pattern for it, and the scan for the literals those rules need."""

    tags: list[tuple[TagDefinition, list[_Rule], list[_Rule]]]
    scan: LiteralScan


class Tagger:
    """Compiled taxonomy; build once, call per text.

    A text in language L gets each tag's L and `any` patterns (and exclusions); one whose language
    is `und` or unknown gets the `any` patterns only, or every language's when the taxonomy's
    `unknown_language` is `all`; one in a language no tag has patterns for gets `any` only.
    """

    def __init__(self, taxonomy: Taxonomy):
        self._taxonomy = taxonomy
        every = {p for t in taxonomy.tags
                 for regexes in (*t.patterns.values(), *t.exclude.values()) for p in regexes}
        needed = {p: needed_literals(p) for p in every}
        self._folding = case_folding(frozenset(
            ch for literals in needed.values() for options in literals for s in options for ch in s))
        compiled = {p: re.compile(p, re.IGNORECASE) for p in sorted(every)}
        rules = {p: _Rule(regex, NeededLiterals.of(needed[p], self._folding),
                          _literal_prefix(p, regex))
                 for p, regex in compiled.items()}

        def plan(patterns_of, exclude_of):
            """The tags with a pattern here, their pattern and exclusion rules, and the scan for
            these rules' literals."""
            tags = [(definition, [rules[p] for p in dict.fromkeys(patterns_of(definition))],
                     [rules[p] for p in dict.fromkeys(exclude_of(definition))])
                    for definition in taxonomy.tags if patterns_of(definition)]
            scan = LiteralScan(rule.needed for _, patterns, excludes in tags
                               for rule in (*patterns, *excludes))
            return _Plan(tags, scan)

        self._plans = {lang: plan(lambda t, lang=lang: t.patterns_for(lang),
                                  lambda t, lang=lang: t.exclude_for(lang))
                       for lang in (*taxonomy.languages, ANY)}
        if taxonomy.unknown_language == 'all':
            self._unknown = plan(lambda t: tuple(p for ps in t.patterns.values() for p in ps),
                                 lambda t: tuple(p for ps in t.exclude.values() for p in ps))
        else:
            self._unknown = self._plans[ANY]

    def tag(self, text: str, language: Optional[str] = None) -> tuple[Tag, ...]:
        if language in (None, 'und'):
            plan = self._unknown
        else:
            plan = self._plans.get(language, self._plans[ANY])
        may_match = plan.scan.found_in(text.translate(self._folding)).may_match
        needs_evidence = self._taxonomy.min_evidence > 0
        tags = []
        for definition, patterns, excludes in plan.tags:
            patterns = [rule for rule in patterns if may_match(rule.needed)]
            if not patterns and needs_evidence:
                continue  # no pattern can match here: no evidence
            excluded = _Spans([(start, end) for rule in excludes
                               if patterns and may_match(rule.needed)
                               for start, end, _ in rule.finditer(text)])
            spans = {}
            for rule in patterns:
                for start, end, matched in rule.finditer(text):
                    if end > start and not excluded.overlaps(start, end):
                        spans[(start, end)] = matched
            evidence = _without_overlaps(spans)
            if len(evidence) < self._taxonomy.min_evidence:
                continue
            tags.append(Tag(
                id=definition.id, label=definition.label, score=round(1 - 0.5 ** len(evidence), 4),
                evidence=tuple(evidence[:self._taxonomy.max_evidence])))
        return tuple(sorted(tags, key=lambda t: (-t.score, t.id)))


class _Spans:
    """Spans (start, end) that answer "does any of you overlap [start, end)?" in log time.

    A hostile text can hold a hundred thousand matches and as many exclusions; comparing each match
    with each exclusion would take hours where this takes a second. Sorted by start with the running
    maximum of the ends, the spans starting before `end` are a prefix, and one of them overlaps
    when the largest end in that prefix is past `start`.
    """

    def __init__(self, spans):
        spans = sorted(spans)
        self._starts = [s for s, _ in spans]
        self._max_ends = list(itertools.accumulate((e for _, e in spans), max))

    def overlaps(self, start: int, end: int) -> bool:
        before = bisect.bisect_left(self._starts, end)
        return before > 0 and self._max_ends[before - 1] > start


def _without_overlaps(spans: dict) -> list[Evidence]:
    """Distinct evidence: of overlapping matches keep the longest (then the first).

    The kept spans never overlap one another, so sorted by start their ends are sorted too, and a
    candidate overlaps a kept span exactly when the last kept span starting before its end reaches
    past its start.
    """
    starts: list[int] = []
    ends: list[int] = []
    kept: list[Evidence] = []
    for (start, end), text in sorted(spans.items(), key=lambda kv: (-(kv[0][1] - kv[0][0]), kv[0])):
        before = bisect.bisect_left(starts, end)
        if before and ends[before - 1] > start:
            continue
        starts.insert(before, start)
        ends.insert(before, end)
        kept.append(Evidence(text=text, start=start, end=end))
    return sorted(kept, key=lambda e: e.start)


class TagDocumentsFn(beam.DoFn):

    def __init__(self, taxonomy: Taxonomy):
        self._taxonomy = taxonomy
        self._tagger: Optional[Tagger] = None
        self._tags = Metrics.counter('newswire', 'topic_tags')  # the metric keeps its name

    def setup(self):
        self._tagger = Tagger(self._taxonomy)
        self._remembered: memo.Recent[tuple[Tag, ...]] = memo.Recent()  # syndicated copies

    def process(self, doc: Document):
        language = doc.language.code if doc.language else None
        tags = self._remembered.of_text(doc.text, lambda: self._tagger.tag(doc.text, language),
                                        language)
        self._tags.inc(len(tags))
        yield doc.replaced(tags=tags)


class TagDocuments(beam.PTransform):
    """Documents -> `StageOutputs(documents with tags [{id, label, score, evidence}], [])`."""

    def __init__(self, taxonomy: Taxonomy, timeout_seconds: Optional[float] = None):
        super().__init__()
        self._taxonomy = taxonomy
        self._timeout_seconds = timeout_seconds

    def expand(self, docs):
        return docs | 'Tag' >> ApplyStage(TagDocumentsFn(self._taxonomy), STAGE,
                                          timeout_seconds=self._timeout_seconds)
