"""`newswire report`: one self-contained HTML page for analysts, from a run's output directory.

In: a directory with `enriched-*.jsonl` (and `dead_letter-*.jsonl`, `summary.json` when the run wrote
them). Out: one HTML file that needs no network to open: styles inline, the tag chart an inline SVG
rendered by pygal, no external scripts.

The records are first shaped into small typed views (`Story`, `Member`, `Segment`, `TagTimeline`,
`DeadLetterGroup`), then rendered by the Jinja2 template `templates/report.html.j2` with autoescaping
on, so whatever text a record carries (a `<script>` in a headline) is shown, never run.
"""

from __future__ import annotations

import argparse
import collections
import datetime
import glob
import json
import os
import re
import sys
from dataclasses import dataclass
from typing import Iterable, Optional, Sequence

REPORT_FILE = 'report.html'
UNDATED = 'undated'
NO_TAG = '(no topic)'
NO_OUTLET = '(no outlet named)'
MARKS = {
    None: 'first report',
    'exact': 'exact duplicate',
    'near_copy': 'near copy',
    'same_story': 'same story',
}
_PYGAL_STAMP = re.compile(r'<!--Generated with pygal[^>]*-->')
_DAY = re.compile(r'^(\d{4}-\d{2}-\d{2})')
_HEADLINE_CHARS = 200
# Reports listed open in a story's row; the rest fold under "N more reports".
_MEMBERS_SHOWN = 5
_ORIGINAL_EXCERPT_CHARS = 300
# Tableau 10 then two more: distinct in print and for the common colour-vision deficiencies. A tag
# keeps one colour on the chart, on its badges and on its highlighted evidence.
TAG_PALETTE = ('#4e79a7', '#f28e2b', '#e15759', '#76b7b2', '#59a14f', '#edc948', '#b07aa1',
                 '#ff9da7', '#9c755f', '#17becf', '#8c564b', '#bcbd22')
NO_TAG_COLOR = '#9e9e9e'

USAGE = """newswire report --input DIR [--output FILE] [--max-stories N] [--dead-letter-examples N]

Renders one self-contained HTML page (stories, topics per day, languages, outlets, dead letters) from
the enriched-*.jsonl and dead_letter-*.jsonl a `newswire run` wrote into DIR."""


class ReportInputError(Exception):
    """The input directory is missing, holds no run output, or a line is not what a run writes."""


# ---------------------------------------------------------------- views the template renders


@dataclass(frozen=True)
class Segment:
    """A piece of a record's text; `tags` are the labels whose evidence covers it (empty: plain)."""

    text: str
    tags: tuple[str, ...] = ()


@dataclass(frozen=True)
class TagBadge:
    id: str
    label: str
    score: float
    evidence: int


@dataclass(frozen=True)
class Member:
    """One report of a story, with how it relates to the story's first report."""

    id: str
    source_id: str
    outlet: Optional[str]
    headline: str
    published_at: Optional[str]
    language: str
    mark: str
    tier: Optional[str]
    related_to: Optional[str]
    similarity: Optional[float]
    tags: tuple[TagBadge, ...]
    segments: tuple[Segment, ...]
    evidence_not_found: int
    # How a guessed date was found ("year from story"), shown beside it; empty for a stated date.
    date_note: str = ''
    # Headlines of second articles run on inside the text (`embedded_articles`).
    embedded_headlines: tuple[str, ...] = ()


# A date whose year was inferred says so on the page: a reader weighs it as a guess.
DATE_NOTES = {'dateline_year_from_arrival': 'year from arrival',
              'dateline_year_from_story': 'year from story',
              'dateline_year_from_run_date': 'year from run date'}


@dataclass(frozen=True)
class Story:
    """The reports that share a `dedup.story_id`, the canonical (first) report first."""

    story_id: str
    headline: str
    members: tuple[Member, ...]
    outlets: tuple[str, ...]
    unnamed_reports: int
    # (language code, reports), most reports first: a story told in several of the region's languages
    # shows each, so a reader knows which editions carried it.
    languages: tuple[tuple[str, int], ...]
    first_seen: Optional[str]
    last_seen: Optional[str]
    undated_reports: int
    canonical_in_input: bool


@dataclass(frozen=True)
class TagTimeline:
    """Records per tag per day. `days` are the publication days that have records, ascending, then
    `UNDATED` when any record has no (usable) `published_at`; `counts[label][i]` goes with `days[i]`."""

    days: tuple[str, ...]
    counts: dict

    def total(self, label: str) -> int:
        return sum(self.counts[label])


@dataclass(frozen=True)
class DeadLetterExample:
    source: str
    detail: str
    original: str


@dataclass(frozen=True)
class DeadLetterGroup:
    reason: str
    count: int
    examples: tuple[DeadLetterExample, ...]


@dataclass(frozen=True)
class Report:
    input_dir: str
    records: int
    stories: tuple[Story, ...]
    stories_total: int
    timeline: TagTimeline
    chart_svg: str
    tag_colors: dict
    languages: tuple[tuple[str, int], ...]
    outlets: tuple[tuple[str, int], ...]
    dead_letters: tuple[DeadLetterGroup, ...]
    dead_letters_total: int
    summary: Optional[dict]


# ---------------------------------------------------------------- reading a run's output


def _read_jsonl(pattern: str) -> list[dict]:
    rows = []
    for path in sorted(glob.glob(pattern)):
        with open(path, encoding='utf-8') as handle:
            for number, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                try:
                    row = json.loads(line)
                except json.JSONDecodeError as error:
                    raise ReportInputError(f'{path} line {number}: not JSON ({error.msg})') from error
                if not isinstance(row, dict):
                    raise ReportInputError(f'{path} line {number}: expected a JSON object, '
                                           f'got {type(row).__name__}')
                rows.append(row)
    return rows


def load_run(input_dir: str) -> tuple[list[dict], list[dict], Optional[dict]]:
    """(enriched records, dead letters, summary or None) from a run's output directory.

    Enriched records are checked against the enriched-record schema, so the shaping below can rely on
    every field being there; an error names the file's record and what was wrong.
    """
    if not os.path.isdir(input_dir):
        raise ReportInputError(f'--input {input_dir}: no such directory')
    enriched = _read_jsonl(os.path.join(input_dir, 'enriched-*.jsonl'))
    dead = _read_jsonl(os.path.join(input_dir, 'dead_letter-*.jsonl'))
    if not glob.glob(os.path.join(input_dir, 'enriched-*.jsonl')) and not dead:
        raise ReportInputError(f'--input {input_dir}: no enriched-*.jsonl or dead_letter-*.jsonl '
                               'in it (is it the --output of `newswire run`?)')
    validator = _enriched_validator()
    for record in enriched:
        error = next(iter(validator.iter_errors(record)), None)
        if error is not None:
            where = '/'.join(str(p) for p in error.absolute_path) or '(record)'
            raise ReportInputError(f'record {record.get("id", "?")!s}: not an enriched record at '
                                   f'{where}: {error.message}')
    summary_path = os.path.join(input_dir, 'summary.json')
    summary = None
    if os.path.isfile(summary_path):
        with open(summary_path, encoding='utf-8') as handle:
            summary = json.load(handle)
    return enriched, dead, summary


def _enriched_validator():
    import importlib.resources

    import jsonschema

    schema = json.loads(importlib.resources.files('newswire.pipeline').joinpath(
        'schemas/enriched_record.schema.json').read_text(encoding='utf-8'))
    return jsonschema.Draft202012Validator(schema)


# ---------------------------------------------------------------- shaping


def headline(record: dict) -> str:
    """The record's title, else its first non-blank text line, cut to a readable length."""
    title = (record.get('title') or '').strip()
    if not title:
        title = next((line.strip() for line in record['text'].splitlines() if line.strip()), '')
    if len(title) > _HEADLINE_CHARS:
        title = title[:_HEADLINE_CHARS - 1].rstrip() + '…'
    return title or record['id']


def highlight(text: str, tags: Sequence[dict]) -> tuple[tuple[Segment, ...], int]:
    """`text` cut at every evidence boundary: (segments, evidence spans not found at their offsets).

    Overlapping evidence (two tags on one phrase) gives segments carrying both labels. A span whose
    offsets fall outside the text, or whose text is not what the offsets point at (a record edited
    after tagging), is not highlighted and is counted instead, so the page can say so.
    """
    spans, not_found = [], 0
    for tag in tags:
        for evidence in tag['evidence']:
            start, end = evidence['start'], evidence['end']
            if 0 <= start < end <= len(text) and text[start:end] == evidence['text']:
                spans.append((start, end, tag['label']))
            else:
                not_found += 1
    cuts = sorted({0, len(text)} | {s for s, _, _ in spans} | {e for _, e, _ in spans})
    segments = []
    for start, end in zip(cuts, cuts[1:]):
        labels = tuple(sorted({label for s, e, label in spans if s <= start and end <= e}))
        if segments and segments[-1].tags == labels:
            segments[-1] = Segment(segments[-1].text + text[start:end], labels)
        else:
            segments.append(Segment(text[start:end], labels))
    return tuple(segments), not_found


def _instant(published_at: Optional[str]) -> Optional[datetime.datetime]:
    """A comparable UTC time for ordering; a bare date counts as its midnight, unparseable as None."""
    if not published_at:
        return None
    try:
        moment = datetime.datetime.fromisoformat(published_at)
    except ValueError:
        return None
    if moment.tzinfo is not None:
        moment = moment.astimezone(datetime.timezone.utc).replace(tzinfo=None)
    return moment


def _member(record: dict) -> Member:
    dedup = record['dedup']
    tier = dedup['tier']
    similarity = dedup['similarity']
    related_to, score = None, None
    if tier == 'exact':
        related_to, score = dedup['duplicate_of'], 1.0
    elif tier == 'near_copy':
        related_to, score = dedup['near_duplicate_of'], similarity['near_copy']
    elif tier == 'same_story':
        related_to, score = dedup['story_id'], similarity['same_story']
    segments, not_found = highlight(record['text'], record['topics'])
    return Member(
        id=record['id'], source_id=record['source']['id'], outlet=record['source']['outlet'],
        headline=headline(record), published_at=record['published_at'],
        language=record['language']['code'], mark=MARKS.get(tier, tier or ''), tier=tier,
        related_to=related_to, similarity=score,
        tags=tuple(TagBadge(t['id'], t['label'], t['score'], len(t['evidence']))
                     for t in record['topics']),
        segments=segments, evidence_not_found=not_found,
        date_note=DATE_NOTES.get(record['published_at_source'], ''),
        embedded_headlines=tuple(a['headline'] for a in record['embedded_articles']))


def _member_order(record: dict, story_id: str):
    moment = _instant(record['published_at'])
    # The canonical report first, then dated reports in time order, then undated ones, then by id.
    return (record['id'] != story_id, moment is None, moment or datetime.datetime.min, record['id'])


def _titled(members: list[dict]) -> Optional[dict]:
    return next((m for m in members if (m.get('title') or '').strip()), None)


def group_stories(records: Iterable[dict]) -> list[Story]:
    """Records grouped by `dedup.story_id`, largest story first (ties: earliest seen, then id).

    The canonical report is the one whose id is the story id (its `dedup.tier` is null). The story's
    headline is the title of the first report in that order that has one (a wire's own headline reads
    better than a cut lead sentence), else the first text line of the canonical report, or of the
    earliest report when the canonical one is not among the records (a partial directory).
    """
    by_story = collections.defaultdict(list)
    for record in records:
        by_story[record['dedup']['story_id']].append(record)
    stories = []
    for story_id, members in by_story.items():
        members.sort(key=lambda r: _member_order(r, story_id))
        dated = [(m, _instant(m['published_at'])) for m in members]
        dated = sorted((moment, m['published_at']) for m, moment in dated if moment is not None)
        outlets = sorted({m['source']['outlet'] for m in members if m['source']['outlet']})
        stories.append(Story(
            story_id=story_id, headline=headline(_titled(members) or members[0]),
            members=tuple(_member(m) for m in members), outlets=tuple(outlets),
            unnamed_reports=sum(1 for m in members if not m['source']['outlet']),
            languages=counts((m['language']['code'] for m in members), 'und'),
            first_seen=dated[0][1] if dated else None, last_seen=dated[-1][1] if dated else None,
            undated_reports=len(members) - len(dated),
            canonical_in_input=members[0]['id'] == story_id))

    def order(story: Story):
        first = _instant(story.first_seen)
        return (-len(story.members), first is None, first or datetime.datetime.min, story.story_id)

    return sorted(stories, key=order)


def publication_day(published_at: Optional[str]) -> str:
    """The day as the outlet dated it (the date part of `published_at`, in its own offset), else
    `UNDATED`: a day per the outlet's calendar is what an analyst reading the wire expects."""
    match = _DAY.match(published_at or '')
    if match is None:
        return UNDATED
    try:
        datetime.date.fromisoformat(match.group(1))
    except ValueError:
        return UNDATED
    return match.group(1)


def tags_per_day(records: Iterable[dict]) -> TagTimeline:
    """Records per tag label per publication day; records without a date go to `UNDATED` and
    records without a tag to `NO_TAG`, so every record is counted somewhere on the chart. A record
    with two tags counts once under each."""
    counter = collections.Counter()
    days = set()
    for record in records:
        day = publication_day(record['published_at'])
        days.add(day)
        labels = {t['label'] for t in record['topics']} or {NO_TAG}
        for label in labels:
            counter[(label, day)] += 1
    ordered_days = sorted(days - {UNDATED}) + ([UNDATED] if UNDATED in days else [])
    totals = collections.Counter()
    for (label, _), count in counter.items():
        totals[label] += count
    labels = sorted(totals, key=lambda label: (label == NO_TAG, -totals[label], label))
    return TagTimeline(
        days=tuple(ordered_days),
        counts={label: tuple(counter[(label, day)] for day in ordered_days) for label in labels})


def counts(values: Iterable[Optional[str]], missing: str) -> tuple[tuple[str, int], ...]:
    """(value, count) pairs, most frequent first, ties by value; None counted as `missing`."""
    counter = collections.Counter(value or missing for value in values)
    return tuple(sorted(counter.items(), key=lambda item: (-item[1], item[0])))


def _source_label(source: dict) -> str:
    """The source id, with its path or URL (and line) when the id does not already say it."""
    label = source.get('id') or '?'
    where = source.get('path') or source.get('url')
    if where and where not in label:
        line = f' line {source["line"]}' if source.get('line') else ''
        label = f'{label} ({where}{line})'
    return label


def dead_letter_groups(letters: Iterable[dict], examples: int) -> tuple[DeadLetterGroup, ...]:
    """Dead letters counted by `stage:reason`, most frequent first, with up to `examples` of each."""
    grouped = collections.defaultdict(list)
    for letter in letters:
        grouped[f'{letter.get("stage", "?")}:{letter.get("reason", "?")}'].append(letter)
    groups = []
    for reason, members in grouped.items():
        shown = []
        for letter in sorted(members, key=lambda l: json.dumps(l.get('source'), sort_keys=True))[
                :examples]:
            original = letter.get('original')
            if original is None:
                excerpt = '(original not kept: over 64 KiB)' if letter.get('original_bytes') else ''
            elif letter.get('original_encoding') == 'base64':
                excerpt = f'({letter.get("original_bytes")} bytes, not UTF-8 text)'
            else:
                excerpt = original[:_ORIGINAL_EXCERPT_CHARS] + (
                    '…' if len(original) > _ORIGINAL_EXCERPT_CHARS else '')
            shown.append(DeadLetterExample(_source_label(letter.get('source') or {}),
                                           letter.get('detail', ''), excerpt))
        groups.append(DeadLetterGroup(reason, len(members), tuple(shown)))
    return tuple(sorted(groups, key=lambda g: (-g.count, g.reason)))


# ---------------------------------------------------------------- rendering


def tag_colors(timeline: TagTimeline) -> dict:
    """Tag label -> colour, in the chart's series order (the palette repeats past its end)."""
    labels = [label for label in timeline.counts if label != NO_TAG]
    colors = {label: TAG_PALETTE[i % len(TAG_PALETTE)] for i, label in enumerate(labels)}
    if NO_TAG in timeline.counts:
        colors[NO_TAG] = NO_TAG_COLOR
    return colors


def tag_chart_svg(timeline: TagTimeline, colors: dict) -> str:
    """The timeline as a grouped bar chart, an inline `<svg>` element (pygal escapes its labels).

    No external script is referenced (pygal's default tooltip script lives on a CDN: the page must
    open offline), and the chart id is fixed so the same input renders the same page."""
    import pygal
    from pygal.style import Style

    # Records with no tag are in the table under the chart, not on it: on a wire that is mostly
    # off-taxonomy they would dwarf the monitored tags' bars.
    charted = {label: series for label, series in timeline.counts.items() if label != NO_TAG}
    if not charted:
        return ''
    highest = max(max(series) for series in charted.values())
    step = max(1, (highest + 9) // 10)
    y_labels = list(range(0, highest + step, step))
    style = Style(colors=tuple(colors[label] for label in charted), background='white',
                  plot_background='white', font_family='sans-serif', label_font_size=13,
                  major_label_font_size=13, legend_font_size=13, value_font_size=11)
    chart = pygal.Bar(
        style=style, js=[], width=1100, height=460, explicit_size=True, legend_at_bottom=True,
        legend_at_bottom_columns=4, truncate_legend=-1, print_values=True, print_zeroes=False,
        y_title='records', x_title='publication day', y_labels=y_labels, range=(0, y_labels[-1]),
        # pygal sizes a bottom legend by floor(series / columns) rows: room for the last, partial row.
        margin_bottom=30)
    chart.uuid = 'topics-per-day'
    chart.x_labels = list(timeline.days)
    for label, series in charted.items():
        chart.add(label, list(series))
    svg = chart.render(is_unicode=True, disable_xml_declaration=True)
    # pygal stamps today's date in a comment: dropped so that the same run renders the same page.
    return _PYGAL_STAMP.sub('', svg, count=1)


def build_report(input_dir: str, max_stories: int = 200, dead_letter_examples: int = 3) -> Report:
    records, letters, summary = load_run(input_dir)
    stories = group_stories(records)
    timeline = tags_per_day(records)
    colors = tag_colors(timeline)
    return Report(
        input_dir=input_dir, records=len(records), stories=tuple(stories[:max_stories]),
        stories_total=len(stories), timeline=timeline,
        chart_svg=tag_chart_svg(timeline, colors), tag_colors=colors,
        languages=counts((r['language']['code'] for r in records), 'und'),
        outlets=counts((r['source']['outlet'] for r in records), NO_OUTLET),
        dead_letters=dead_letter_groups(letters, dead_letter_examples),
        dead_letters_total=len(letters), summary=summary)


def render_html(report: Report) -> str:
    import jinja2
    from markupsafe import Markup

    environment = jinja2.Environment(
        loader=jinja2.PackageLoader('newswire.pipeline.commands', 'templates'),
        autoescape=True, undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    chart = Markup(report.chart_svg)  # pygal's output: labels already escaped as XML
    return environment.get_template('report.html.j2').render(
        report=report, chart_svg=chart, no_outlet=NO_OUTLET, no_tag=NO_TAG, undated=UNDATED,
        members_shown=_MEMBERS_SHOWN)


def write_report(input_dir: str, output_path: Optional[str] = None, **limits) -> str:
    """Renders the report of `input_dir` to `output_path` (default `input_dir/report.html`)."""
    output_path = output_path or os.path.join(input_dir, REPORT_FILE)
    html = render_html(build_report(input_dir, **limits))
    directory = os.path.dirname(os.path.abspath(output_path))
    os.makedirs(directory, exist_ok=True)
    temporary = f'{output_path}.tmp-{os.getpid()}'
    with open(temporary, 'w', encoding='utf-8') as handle:
        handle.write(html)
    os.replace(temporary, output_path)
    return output_path


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog='newswire report', usage=USAGE.splitlines()[0],
                                     description=USAGE.split('\n\n', 1)[1])
    parser.add_argument('--input', required=True,
                        help='A `newswire run` output directory (enriched-*.jsonl, '
                             'dead_letter-*.jsonl, summary.json).')
    parser.add_argument('--output', default=None,
                        help=f'The HTML file to write. Default: INPUT/{REPORT_FILE}')
    parser.add_argument('--max-stories', type=int, default=200,
                        help='Stories shown, largest first (all are counted). Default: 200')
    parser.add_argument('--dead-letter-examples', type=int, default=3,
                        help='Examples shown per dead-letter reason. Default: 3')
    return parser


def main(argv: Sequence[str]) -> int:
    """`newswire report ARGS`: 0 when the page was written, 2 on a usage or input error."""
    try:
        args = _parser().parse_args(list(argv))
    except SystemExit as exit_:
        return int(exit_.code or 0)
    try:
        path = write_report(args.input, args.output, max_stories=args.max_stories,
                            dead_letter_examples=args.dead_letter_examples)
    except ReportInputError as error:
        print(f'newswire report: {error}', file=sys.stderr)
        return 2
    print(f'report           {path}')
    return 0
