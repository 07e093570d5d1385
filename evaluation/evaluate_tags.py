"""`newswire eval topics`: the pipeline's tags against texts labelled by hand.

The command keeps the name `topics`, as its output does (`"task": "topics"`, `per_topic`): both
are what users already run and read.

Input: every `*.jsonl` under `--data DIR` (sorted, subfolders included), one JSON object a line:

    {"id": "az-07", "language": "az", "text": "...", "labels": ["mine_maps", "landmines"]}

`labels` are tag ids (the `id`s of the taxonomy's `topics:` list), `[]` for a text that should get no
tag. Each text goes through the pipeline's own stage code: a `Document` is given the record's
`language` (or, with `--detect-language`, the language stage's `DetectLanguageFn` decides), then
`TagDocumentsFn` tags it, as `assembly.EnrichDocuments` runs them. Cleaning and metadata are not
run: a labelled text is a story's body already.

Scores count (text, tag) decisions: a tag the labels have is a true positive, a tag they lack a
false positive, a label without its tag a false negative. Per tag and per language the counts are
summed (micro); overall there is the micro figure and the macro mean over the tags the labels or
the tags touch. A slice with no label and no tag has no figures (null); otherwise precision is 0
when labels were missed without any tag, and recall 1 when only wrong tags were given (so F1 0).

A line that cannot be used (not JSON, a key missing or of the wrong type, a label the taxonomy does
not have, an id seen before) is reported with its file and line and skipped; the rest is scored.
Exit status: 0 when at least one text was scored, 2 when none could be (or on a usage error).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
from collections import Counter
from dataclasses import dataclass, field
from typing import Optional, Sequence

from newswire.evaluation import scoring
from newswire.transforms.records import Document, Language, SourceRef

# Characters of text around the first evidence span (or from the start) a mistake shows.
EXCERPT_CHARS = 110
REQUIRED_KEYS = {'id': str, 'language': str, 'text': str, 'labels': list}


@dataclass(frozen=True)
class LabelledText:
    id: str
    language: str
    text: str
    labels: frozenset[str]
    path: str
    line: int


@dataclass(frozen=True)
class BadLine:
    path: str
    line: int
    problem: str

    def __str__(self) -> str:
        return f'{self.path}:{self.line}: {self.problem}'


@dataclass
class Counts:
    """True positives, false positives and false negatives of one slice of the decisions."""
    tp: int = 0
    fp: int = 0
    fn: int = 0

    def add(self, other: 'Counts') -> None:
        self.tp += other.tp
        self.fp += other.fp
        self.fn += other.fn

    @property
    def touched(self) -> bool:
        return bool(self.tp or self.fp or self.fn)

    def prf(self) -> tuple[float, float, float]:
        """(precision, recall, F1) of a touched slice, unrounded."""
        precision = self.tp / (self.tp + self.fp) if self.tp + self.fp else 0.0
        recall = self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0
        return precision, recall, scoring.f1(precision, recall)

    def scores(self) -> dict:
        if not self.touched:  # nothing labelled and nothing tagged: no figure to give
            return {'precision': None, 'recall': None, 'f1': None, 'tp': 0, 'fp': 0, 'fn': 0}
        precision, recall, f1 = self.prf()
        return {'precision': round(precision, 4), 'recall': round(recall, 4), 'f1': round(f1, 4),
                'tp': self.tp, 'fp': self.fp, 'fn': self.fn}


@dataclass(frozen=True)
class Mistake:
    id: str
    language: str
    topic: str  # the tag id; named as in the JSON output (`dataclasses.asdict`)
    kind: str  # false_positive | false_negative
    excerpt: str
    evidence: tuple[str, ...] = ()
    detected_language: Optional[str] = None


@dataclass
class TagEvaluation:
    data: str
    taxonomy: str
    language_from: str  # 'given' or 'detected'
    texts: int = 0
    per_tag: dict = field(default_factory=dict)      # tag id -> Counts
    per_language: dict = field(default_factory=dict)   # language -> Counts
    per_language_tag: dict = field(default_factory=dict)  # language -> tag id -> Counts
    texts_per_language: Counter = field(default_factory=Counter)
    unlabelled_per_language: Counter = field(default_factory=Counter)  # texts labelled []
    unlabelled_tagged_per_language: Counter = field(default_factory=Counter)  # ... that got a tag
    detected: dict = field(default_factory=dict)       # given language -> Counter of detected codes
    mistakes: list = field(default_factory=list)
    bad_lines: list = field(default_factory=list)

    def overall(self) -> dict:
        micro = Counts()
        for counts in self.per_tag.values():
            micro.add(counts)
        touched = [c.prf() for c in self.per_tag.values() if c.touched]
        macro = {k: round(sum(s[i] for s in touched) / len(touched), 4) if touched else None
                 for i, k in enumerate(('precision', 'recall', 'f1'))}
        return {'micro': micro.scores(), 'macro': {**macro, 'topics': len(touched)}}

    def language_row(self, language: str) -> dict:
        return {'texts': self.texts_per_language[language],
                'unlabelled': self.unlabelled_per_language[language],
                'unlabelled_tagged': self.unlabelled_tagged_per_language[language],
                **self.per_language[language].scores()}

    def to_json(self) -> dict:
        return {
            'task': 'topics', 'data': self.data, 'taxonomy': self.taxonomy,
            'language_from': self.language_from, 'texts': self.texts,
            'overall': self.overall(),
            'per_topic': {t: c.scores() for t, c in sorted(self.per_tag.items())},
            'per_language': {lang: self.language_row(lang) for lang in sorted(self.per_language)},
            'per_language_topic': {lang: {t: c.scores() for t, c in sorted(tags.items())
                                          if c.touched}
                                   for lang, tags in sorted(self.per_language_tag.items())},
            'detected_languages': {lang: dict(sorted(codes.items()))
                                   for lang, codes in sorted(self.detected.items())},
            'mistakes': [dataclasses.asdict(m) for m in self.mistakes],
            'bad_lines': [vars(b) for b in self.bad_lines],
        }


# --- reading ----------------------------------------------------------------------------------

def jsonl_files(data_dir: str) -> list[str]:
    """Every *.jsonl under `data_dir`, subfolders included, in sorted order."""
    found = []
    for folder, subfolders, files in os.walk(data_dir):
        subfolders.sort()
        found += [os.path.join(folder, name) for name in sorted(files) if name.endswith('.jsonl')]
    return found


def read_labelled(data_dir: str, tag_ids: frozenset[str]) -> tuple[list[LabelledText], list[BadLine]]:
    """The usable texts under `data_dir` and what was wrong with the other lines (blank ones skipped)."""
    texts, bad, seen = [], [], {}
    for path in jsonl_files(data_dir):
        shown = os.path.relpath(path, data_dir)
        with open(path, encoding='utf-8', errors='replace') as handle:
            for number, line in enumerate(handle, 1):
                if not line.strip():
                    continue
                item, problem = _parse_line(line, tag_ids)
                if problem is None and item['id'] in seen:
                    problem = f'id {item["id"]!r} was already used at {seen[item["id"]]}'
                if problem is not None:
                    bad.append(BadLine(shown, number, problem))
                    continue
                seen[item['id']] = f'{shown}:{number}'
                texts.append(LabelledText(item['id'], item['language'], item['text'],
                                          frozenset(item['labels']), shown, number))
    return texts, bad


def _parse_line(line: str, tag_ids: frozenset[str]) -> tuple[Optional[dict], Optional[str]]:
    try:
        item = json.loads(line)
    except json.JSONDecodeError as error:
        return None, f'expected a JSON object, got malformed JSON ({error.msg} at column {error.colno})'
    if not isinstance(item, dict):
        return None, f'expected a JSON object, got {type(item).__name__}'
    missing = [key for key in REQUIRED_KEYS if key not in item]
    if missing:
        return None, f'expected keys {sorted(REQUIRED_KEYS)}, missing {missing}'
    for key, kind in REQUIRED_KEYS.items():
        if not isinstance(item[key], kind):
            return None, f'expected "{key}" to be a {kind.__name__}, got {type(item[key]).__name__}'
    if not item['id'] or not item['language'].strip():
        return None, 'expected a non-empty "id" and "language"'
    if not all(isinstance(label, str) for label in item['labels']):
        return None, 'expected "labels" to be a list of topic ids (strings)'
    unknown = sorted(set(item['labels']) - tag_ids)
    if unknown:
        return None, f'labels {unknown} are not topics of the taxonomy (known: {sorted(tag_ids)})'
    return item, None


# --- tagging ----------------------------------------------------------------------------------

class PipelineTagger:
    """The language and tagging stages' DoFns, set up once, applied to one text at a time (the
    language stage's `detect` to a list of one)."""

    def __init__(self, settings, detect_language: bool):
        from newswire.transforms.language import DetectLanguageFn
        from newswire.transforms.tagging import TagDocumentsFn

        self._detect = DetectLanguageFn(settings.language) if detect_language else None
        self._tag = TagDocumentsFn(settings.taxonomy)
        for fn in filter(None, (self._detect, self._tag)):
            fn.setup()

    def tag(self, item: LabelledText) -> Document:
        doc = Document(id=item.id, source=SourceRef('jsonl', item.id, path=item.path, line=item.line),
                       text=item.text)
        if self._detect is None:
            doc = dataclasses.replace(doc, language=Language(item.language, 1.0))
        else:
            doc = _only_document(self._detect.detect([doc]), 'language', item.id)
        return _only_document(self._tag.process(doc), 'topics', item.id)


def _only_document(outputs, stage: str, item_id: str) -> Document:
    """The one Document a stage's DoFn yields for a text; a dead letter instead is an error here."""
    outputs = list(outputs)
    if len(outputs) != 1 or not isinstance(outputs[0], Document):
        raise RuntimeError(f'{item_id}: the {stage} stage gave {outputs!r}, expected one document')
    return outputs[0]


def _excerpt(text: str, around: Optional[int] = None) -> str:
    start = 0 if around is None else max(0, around - EXCERPT_CHARS // 3)
    piece = ' '.join(text[start:start + EXCERPT_CHARS].split())
    return ('…' if start else '') + piece + ('…' if start + EXCERPT_CHARS < len(text) else '')


def evaluate_tags(data_dir: str, settings, taxonomy_name: str,
                    detect_language: bool = False) -> TagEvaluation:
    tag_ids = frozenset(t.id for t in settings.taxonomy.tags)
    texts, bad = read_labelled(data_dir, tag_ids)
    result = TagEvaluation(data_dir, taxonomy_name, 'detected' if detect_language else 'given',
                             bad_lines=bad)
    result.per_tag = {t: Counts() for t in sorted(tag_ids)}
    tagger = PipelineTagger(settings, detect_language) if texts else None
    for item in texts:
        doc = tagger.tag(item)
        detected = doc.language.code if detect_language else None
        tags = {tag.id: tag for tag in doc.tags}
        result.texts += 1
        result.texts_per_language[item.language] += 1
        if detect_language:
            result.detected.setdefault(item.language, Counter())[detected] += 1
        if not item.labels:
            result.unlabelled_per_language[item.language] += 1
            result.unlabelled_tagged_per_language[item.language] += bool(tags)
        language_counts = result.per_language.setdefault(item.language, Counts())
        by_tag = result.per_language_tag.setdefault(item.language, {})
        for tag_id in sorted(item.labels | set(tags)):
            decision = Counts(tp=int(tag_id in tags and tag_id in item.labels),
                              fp=int(tag_id in tags and tag_id not in item.labels),
                              fn=int(tag_id not in tags))
            for counts in (result.per_tag[tag_id], language_counts,
                           by_tag.setdefault(tag_id, Counts())):
                counts.add(decision)
            if decision.fp:
                evidence = tags[tag_id].evidence
                result.mistakes.append(Mistake(item.id, item.language, tag_id, 'false_positive',
                                               _excerpt(item.text, evidence[0].start),
                                               tuple(e.text for e in evidence), detected))
            elif decision.fn:
                result.mistakes.append(Mistake(item.id, item.language, tag_id, 'false_negative',
                                               _excerpt(item.text), (), detected))
    return result


# --- command line -----------------------------------------------------------------------------

def format_report(result: TagEvaluation) -> str:
    overall = result.overall()
    micro, macro = overall['micro'], overall['macro']
    out = [f'== topics  ({result.data})  taxonomy: {result.taxonomy}  language: {result.language_from}'
           f'  texts: {result.texts}  bad lines: {len(result.bad_lines)}',
           f"overall micro  P {_figure(micro['precision'])}  R {_figure(micro['recall'])}"
           f"  F1 {_figure(micro['f1'])}  (tp {micro['tp']}, fp {micro['fp']}, fn {micro['fn']})",
           f"overall macro  P {_figure(macro['precision'])}  R {_figure(macro['recall'])}"
           f"  F1 {_figure(macro['f1'])}  (mean over the {macro['topics']} topics labelled or tagged)",
           '']
    out += _table('topic', [(t, c.scores()) for t, c in sorted(result.per_tag.items())])
    out.append('')
    out += _table('language', [(lang, result.language_row(lang)) for lang in sorted(result.per_language)],
                  extra=('texts', 'unlabelled', 'unlabelled_tagged'))
    if result.detected:
        out += ['', 'detected language per given language:']
        out += [f'  {lang}: ' + ', '.join(f'{code} {n}' for code, n in codes.most_common())
                for lang, codes in sorted(result.detected.items())]
    languages = sorted(result.per_language_tag)
    out += ['', 'F1 per topic and language (- : neither labelled nor tagged)',
            '  '.join(['topic'.ljust(20), *(lang.rjust(5) for lang in languages)])]
    for tag_id in sorted(result.per_tag):
        cells = [(result.per_language_tag[lang].get(tag_id) or Counts()) for lang in languages]
        out.append('  '.join([tag_id.ljust(20), *((f"{c.scores()['f1']:.2f}" if c.touched else '-')
                                                   .rjust(5) for c in cells)]))
    out += ['', f'mistakes ({len(result.mistakes)}):']
    for m in result.mistakes:
        kind = 'FP' if m.kind == 'false_positive' else 'FN'
        detected = f' (detected {m.detected_language})' if m.detected_language else ''
        evidence = f' on {list(m.evidence)}' if m.evidence else ''
        out.append(f'  {kind} {m.topic:<20} {m.id} [{m.language}]{detected}{evidence}: {m.excerpt}')
    if result.bad_lines:
        out += ['', f'bad lines ({len(result.bad_lines)}), skipped:']
        out += [f'  {b}' for b in result.bad_lines]
    return '\n'.join(out)


def _figure(value) -> str:
    return '-' if value is None else f'{value:.3f}' if isinstance(value, float) else str(value)


def _table(name: str, rows: list[tuple[str, dict]], extra: Sequence[str] = ()) -> list[str]:
    columns = [*extra, 'precision', 'recall', 'f1', 'tp', 'fp', 'fn']
    header = [name, *({'precision': 'P', 'recall': 'R', 'f1': 'F1'}.get(c, c) for c in columns)]
    lines = [[key, *(_figure(row[c]) for c in columns)]
             for key, row in rows]
    widths = [max(len(x) for x in column) for column in zip(header, *lines)]
    return ['  '.join(c.ljust(w) for c, w in zip(line, widths)).rstrip() for line in [header, *lines]]


def parse_args(argv: Sequence[str]):
    parser = argparse.ArgumentParser(
        prog='newswire eval topics',
        description='Score the pipeline\'s topic tags against labelled JSONL texts (every *.jsonl '
                    'under --data; each line {"id", "language", "text", "labels": [topic ids]}).')
    parser.add_argument('--data', required=True, help='the folder of labelled *.jsonl files')
    parser.add_argument('--json', action='store_true', help='print JSON instead of tables')
    parser.add_argument('--taxonomy', default=None,
                        help='a taxonomy file, as for `newswire run` (default: the built-in one)')
    parser.add_argument('--settings', default=None, help='a settings file, as for `newswire run`')
    parser.add_argument('--detect-language', action='store_true',
                        help="tag with the language the language stage detects (its settings' "
                             "detector) instead of each record's given `language`")
    return parser.parse_args(list(argv))


def main(argv: Sequence[str]) -> int:
    """0 when at least one text was scored (bad lines are reported), 2 on a usage error or none."""
    from newswire.pipeline.job.settings import load_settings

    try:
        args = parse_args(argv)
    except SystemExit as exit_request:  # --help (0) or a usage error argparse has printed (2)
        return int(exit_request.code or 0)
    if not os.path.isdir(args.data):
        print(f'newswire eval: topics: no such folder {args.data!r}', file=sys.stderr)
        return 2
    try:
        settings = load_settings(args.settings, args.taxonomy)
    except (ValueError, OSError) as error:
        print(f'newswire eval: topics: {error}', file=sys.stderr)
        return 2
    result = evaluate_tags(args.data, settings, args.taxonomy or 'built-in taxonomy.yaml',
                             args.detect_language)
    if not result.texts:
        for bad in result.bad_lines:
            print(f'newswire eval: topics: skipped {bad}', file=sys.stderr)
        print(f'newswire eval: topics: no labelled text could be read under {args.data!r} '
              f'(expected *.jsonl files of {{"id", "language", "text", "labels"}} lines)',
              file=sys.stderr)
        return 2
    print(json.dumps(result.to_json(), indent=2, ensure_ascii=False) if args.json
          else format_report(result))
    if result.bad_lines:
        print(f'newswire eval: topics: skipped {len(result.bad_lines)} bad line(s), listed in the '
              f'output', file=sys.stderr)
    return 0
