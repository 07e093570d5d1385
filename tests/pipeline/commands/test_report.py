"""`newswire report`: shaping records into stories, topics per day and counts, and rendering them
into one page that escapes whatever the records carry."""

import html.parser
import json
import pathlib
import re

import pytest

from newswire.pipeline.cli import main
from newswire.pipeline.commands.report import (NO_TAG, UNDATED, build_report, dead_letter_groups,
                                               group_stories, headline, highlight, publication_day,
                                               render_html, tags_per_day)
from newswire.transforms.records import (DedupInfo, Document, EmbeddedArticle, Evidence, Language,
                                         SourceRef, Tag, content_hash, record_id)


def _tag(label, text, *phrases):
    """A tag on `text` with evidence at each phrase's first occurrence."""
    evidence = tuple(Evidence(p, text.index(p), text.index(p) + len(p)) for p in phrases)
    return Tag('t_' + re.sub(r'[^a-z0-9]+', '_', label.lower()).strip('_'), label, 0.5, evidence)


def _record(name, text, outlet=None, published_at=None, title=None, story_of=None, tier=None,
            similarity=None, tags=(), language=Language('en', 0.99)):
    """An enriched record as `newswire run` writes it (via the pipeline's own dataclasses)."""
    source = SourceRef('jsonl', name, outlet=outlet)
    doc_id = record_id(source, text)
    dedup = DedupInfo(content_hash(text), story_id=story_of or doc_id, tier=tier,
                      story_similarity=similarity if tier == 'same_story' else None,
                      near_duplicate_of=story_of if tier == 'near_copy' else None,
                      near_copy_similarity=similarity if tier == 'near_copy' else None)
    return Document(id=doc_id, source=source, text=text, title=title, published_at=published_at,
                    language=language, dedup=dedup,
                    tags=tuple(_tag(label, text, *phrases) for label, *phrases in tags)
                    ).to_json_dict()


MEETING = 'Mine maps were handed over in Baku.\nThe talks on missing persons go on.'


@pytest.fixture
def meeting_story():
    first = _record('wire-a-1', MEETING, outlet='Wire A', published_at='2024-01-02',
                    title='Mine maps handed over', tags=[('Mine maps', 'Mine maps')])
    joined_undated = _record('unnamed-1', MEETING + ' More.', similarity=0.81,
                             story_of=first['id'], tier='same_story')
    joined_later = _record('wire-b-1', 'Maps of mines given to Baku.\nMissing persons talks.',
                           outlet='Wire B', published_at='2024-01-03T10:00:00+02:00',
                           story_of=first['id'], tier='same_story', similarity=0.62)
    near = _record('wire-c-1', MEETING + ' Ends.', outlet='Wire A', published_at='2024-01-02',
                   story_of=first['id'], tier='near_copy', similarity=0.9)
    return first, joined_undated, joined_later, near


def test_stories_are_grouped_largest_first_canonical_first(meeting_story):
    first, joined_undated, joined_later, near = meeting_story
    single = _record('wire-b-2', 'Another story entirely.', outlet='Wire B',
                     published_at='2023-12-31')
    stories = group_stories([single, joined_undated, near, joined_later, first])
    assert [len(s.members) for s in stories] == [4, 1]
    story = stories[0]
    assert story.story_id == first['id'] and story.canonical_in_input
    assert story.headline == 'Mine maps handed over'
    # canonical, then dated reports in time order (08:00 UTC on the 3rd after the 2nd), then undated
    assert [m.id for m in story.members] == [first['id'], near['id'], joined_later['id'],
                                             joined_undated['id']]
    assert [m.mark for m in story.members] == ['first report', 'near copy', 'same story',
                                               'same story']
    assert [m.similarity for m in story.members] == [None, 0.9, 0.62, 0.81]
    assert story.members[1].related_to == first['id']
    assert story.outlets == ('Wire A', 'Wire B') and story.unnamed_reports == 1
    assert (story.first_seen, story.last_seen) == ('2024-01-02', '2024-01-03T10:00:00+02:00')
    assert story.undated_reports == 1
    assert stories[1].members[0].id == single['id'] and stories[1].outlets == ('Wire B',)


def test_story_without_its_first_report_takes_the_earliest_headline(meeting_story):
    _, joined_undated, joined_later, _ = meeting_story
    (story,) = group_stories([joined_undated, joined_later])
    assert not story.canonical_in_input
    assert story.members[0].id == joined_later['id']
    assert story.headline == 'Maps of mines given to Baku.'


def test_a_story_whose_first_report_has_no_title_takes_another_reports_title(meeting_story):
    first, joined_undated, joined_later, near = meeting_story
    untitled = {**first, 'title': None}
    titled_later = {**joined_later, 'title': 'Baku receives the maps of mined areas'}
    (story,) = group_stories([untitled, joined_undated, near, titled_later])
    assert story.members[0].id == first['id']
    assert story.headline == 'Baku receives the maps of mined areas'
    (untitled_story,) = group_stories([untitled, joined_undated, near, joined_later])
    assert untitled_story.headline == 'Mine maps were handed over in Baku.'


def test_each_story_shows_its_reports_languages_with_counts(tmp_path):
    first = _record('trend-ru', 'Карты минных полей переданы Баку.', outlet='Trend',
                    published_at='2024-01-02', language=Language('ru', 0.99))
    editions = [
        _record('trend-az', 'Mina xəritələri Bakıya verilib.', outlet='Trend',
                story_of=first['id'], tier='same_story', similarity=0.7,
                language=Language('az', 0.95)),
        _record('apa-az', 'Minalanmış ərazilərin xəritələri verilib.', outlet='APA',
                story_of=first['id'], tier='same_story', similarity=0.6,
                language=Language('az', 0.91)),
        _record('unsure', 'Maps.', story_of=first['id'], tier='same_story', similarity=0.5,
                language=Language('und', 0.0)),
    ]
    other = _record('news-am', 'Ականազերծումը շարունակվում է։', outlet='news.am',
                    language=Language('hy', 0.97))
    records = [first, *editions, other]
    stories = group_stories(records)
    assert [s.languages for s in stories] == [(('az', 2), ('ru', 1), ('und', 1)), (('hy', 1),)]
    page = render_html(build_report(str(_write_run(tmp_path / 'run', records))))
    parser = _Tags()
    parser.feed(page)
    cells = {attrs['data-languages'] for tag, attrs in parser.tags
             if tag == 'td' and attrs.get('class') == 'languages'}
    assert cells == {'az:2 ru:1 und:1', 'hy:1'}
    row = page.split(f'data-story-id="{first["id"]}"', 1)[1].split('</tr>', 1)[0]
    assert '<code>az</code> 2' in row and '<code>und</code> 1' in row and 'hy' not in row


def test_headline_falls_back_to_the_first_text_line():
    text = '\n\n  First line of the text.  \nSecond line.'
    assert headline(_record('a', text, title=None)) == 'First line of the text.'
    assert headline(_record('b', text, title='')) == 'First line of the text.'
    assert headline(_record('c', text, title='A title')) == 'A title'
    long_line = 'word ' * 100
    assert len(headline(_record('d', long_line))) <= 200


def test_topics_per_day_counts_every_record_with_undated_and_no_topic_buckets():
    records = [
        _record('1', 'Mine maps and missing persons.', published_at='2024-01-02T23:30:00+04:00',
                tags=[('Mine maps', 'Mine maps'), ('Missing persons', 'missing persons')]),
        _record('2', 'Mine maps again.', published_at='2024-01-02',
                tags=[('Mine maps', 'Mine maps')]),
        _record('3', 'Mine maps, later.', published_at='2024-01-05T01:00:00',
                tags=[('Mine maps', 'Mine maps')]),
        _record('4', 'Mine maps, no date.', tags=[('Mine maps', 'Mine maps')]),
        _record('5', 'Nothing tagged here.', published_at='2024-01-05'),
    ]
    timeline = tags_per_day(records)
    assert timeline.days == ('2024-01-02', '2024-01-05', UNDATED)
    assert timeline.counts == {'Mine maps': (2, 1, 1), 'Missing persons': (1, 0, 0),
                               NO_TAG: (0, 1, 0)}
    # Each record is on the chart at least once: no topic and no date are buckets, not drops.
    assert timeline.total('Mine maps') + timeline.total(NO_TAG) == len(records)


def test_publication_day_is_the_outlets_own_date():
    assert publication_day('2024-01-02T23:30:00+04:00') == '2024-01-02'
    assert publication_day('2024-01-02') == '2024-01-02'
    assert publication_day(None) == UNDATED
    assert publication_day('2024-13-45') == UNDATED
    assert publication_day('yesterday') == UNDATED


def test_highlight_cuts_text_at_evidence_offsets_overlaps_carry_both_topics():
    text = 'Mine maps were handed over. Demining continues.'
    topics = [
        {'label': 'Mine maps', 'evidence': [{'text': 'Mine maps', 'start': 0, 'end': 9}]},
        {'label': 'Demining', 'evidence': [
            {'text': 'maps were', 'start': 5, 'end': 14},
            {'text': 'Demining', 'start': 28, 'end': 36},
            {'text': 'Demining', 'start': 0, 'end': 8},      # offsets that do not point at it
            {'text': 'beyond', 'start': 40, 'end': 99}]},    # offsets past the end of the text
    ]
    segments, not_found = highlight(text, topics)
    assert ''.join(s.text for s in segments) == text
    assert [(s.text, s.tags) for s in segments] == [
        ('Mine ', ('Mine maps',)), ('maps', ('Demining', 'Mine maps')), (' were', ('Demining',)),
        (' handed over. ', ()), ('Demining', ('Demining',)), (' continues.', ())]
    assert not_found == 2


def test_highlight_of_untagged_text_is_one_plain_segment():
    segments, not_found = highlight('plain', [])
    assert [(s.text, s.tags) for s in segments] == [('plain', ())] and not_found == 0


def test_dead_letters_are_counted_by_reason_with_a_few_examples():
    letters = [{'stage': 'read', 'reason': 'empty', 'detail': 'empty file',
                'source': {'kind': 'text_file', 'id': f'e{i}.txt', 'path': f'/in/e{i}.txt'},
                'original': '', 'original_encoding': 'utf-8', 'original_bytes': 0}
               for i in range(5)]
    letters.append({'stage': 'read', 'reason': 'binary', 'detail': 'NUL bytes',
                    'source': {'kind': 'text_file', 'id': 'b.bin'}, 'original': 'AAEC',
                    'original_encoding': 'base64', 'original_bytes': 3})
    groups = dead_letter_groups(letters, examples=2)
    assert [(g.reason, g.count, len(g.examples)) for g in groups] == [
        ('read:empty', 5, 2), ('read:binary', 1, 1)]
    assert groups[0].examples[0].source == 'e0.txt (/in/e0.txt)'
    assert groups[1].examples[0].original == '(3 bytes, not UTF-8 text)'


def _write_run(directory: pathlib.Path, records, letters=()):
    directory.mkdir(parents=True, exist_ok=True)
    (directory / 'enriched-00000-of-00001.jsonl').write_text(
        ''.join(json.dumps(r) + '\n' for r in records), encoding='utf-8')
    (directory / 'dead_letter-00000-of-00001.jsonl').write_text(
        ''.join(json.dumps(l) + '\n' for l in letters), encoding='utf-8')
    return directory


HOSTILE = '<script>alert(1)</script>'


class _Tags(html.parser.HTMLParser):
    """Every start tag the browser's parser would build, with its attributes."""

    def __init__(self):
        super().__init__()
        self.tags = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))


def test_hostile_record_text_is_escaped_everywhere(tmp_path):
    text = f'Headline line {HOSTILE}\nBody with <b>bold</b> & <img src=x onerror=alert(3)>.'
    record = _record('evil', text, outlet='<img src=x onerror=alert(2)>', title=HOSTILE,
                     published_at='2024-01-02', tags=[(f'</svg>{HOSTILE}', '<b>bold</b>')])
    letter = {'stage': 'read', 'reason': 'malformed_json', 'detail': HOSTILE,
              'source': {'kind': 'jsonl', 'id': HOSTILE}, 'original': HOSTILE,
              'original_encoding': 'utf-8', 'original_bytes': len(HOSTILE)}
    page = render_html(build_report(str(_write_run(tmp_path / 'run', [record], [letter]))))
    assert 'alert(1)</script>' not in page
    assert '&lt;script&gt;alert(1)&lt;/script&gt;' in page
    parser = _Tags()
    parser.feed(page)
    assert 'img' not in [tag for tag, _ in parser.tags]
    assert '<b>bold</b>' not in page and '&lt;b&gt;bold&lt;/b&gt;' in page
    # The only script is pygal's inline chart config (no src): nothing from a record runs.
    scripts = [attrs for tag, attrs in parser.tags if tag == 'script']
    assert scripts == [{'type': 'text/javascript'}]
    assert 'window.pygal' in page.split('<script type="text/javascript">', 1)[1][:60]
    assert not any('onerror' in attrs for _, attrs in parser.tags)


def test_a_guessed_year_and_an_embedded_article_are_shown_on_the_page(tmp_path):
    text = 'Deminers cleared a field.\n\nA <b>second</b> headline here\n\nThe second report.'
    guessed = {**_record('guess', text, published_at='2023-11-14'),
               'published_at_source': 'dateline_year_from_run_date',
               'embedded_articles': [{'headline': 'A <b>second</b> headline here', 'start': 27,
                                      'body_start': 58}]}
    stated = {**_record('stated', 'Mine maps were handed over.', published_at='2023-11-15'),
              'published_at_source': 'page_header'}
    members = {m.source_id: m for story in group_stories([guessed, stated]) for m in story.members}
    assert (members['guess'].date_note, members['stated'].date_note) == ('year from run date', '')
    assert (members['guess'].embedded_headlines, members['stated'].embedded_headlines) == (
        ('A <b>second</b> headline here',), ())
    page = render_html(build_report(str(_write_run(tmp_path / 'run', [guessed, stated]))))
    assert '2023-11-14 <span class="muted date-note" title="published_at_source">(year from run date)' in page
    assert 'inside this text: “A &lt;b&gt;second&lt;/b&gt; headline here”' in page
    assert page.count('date-note') == 1 and page.count('class="embedded"') == 1


def test_page_references_nothing_outside_itself(tmp_path):
    records = [_record('1', 'Mine maps were handed over.', outlet='Wire A',
                       tags=[('Mine maps', 'Mine maps')])]
    page = render_html(build_report(str(_write_run(tmp_path / 'run', records))))
    parser = _Tags()
    parser.feed(page)
    for tag, attrs in parser.tags:
        for name in ('src', 'href', 'xlink:href', 'data'):
            assert attrs.get(name) is None or attrs[name].startswith('#'), (tag, attrs)
    assert '@import' not in page and 'url(' not in page


def test_same_run_renders_the_same_page(tmp_path, meeting_story):
    run = str(_write_run(tmp_path / 'run', list(meeting_story)))
    assert render_html(build_report(run)) == render_html(build_report(run))


def test_report_command_writes_the_page_and_says_where(tmp_path, capsys, meeting_story):
    run = _write_run(tmp_path / 'run', list(meeting_story))
    assert main(['report', '--input', str(run)]) == 0
    assert capsys.readouterr().out.strip() == f'report           {run / "report.html"}'
    page = (run / 'report.html').read_text(encoding='utf-8')
    assert page.count('<tr class="story"') == 1 and 'Wire B' in page
    elsewhere = tmp_path / 'pages' / 'meeting.html'
    assert main(['report', '--input', str(run), '--output', str(elsewhere)]) == 0
    assert elsewhere.read_text(encoding='utf-8') == page


@pytest.mark.parametrize('setup,message', [
    (lambda d: None, 'no such directory'),
    (lambda d: d.mkdir(), 'no enriched-*.jsonl'),
    (lambda d: _write_run(d, []) and (d / 'enriched-00000-of-00001.jsonl').write_text('{"x": '),
     'line 1: not JSON'),
    (lambda d: _write_run(d, [{'id': 'abc'}]), 'not an enriched record'),
])
def test_report_input_errors_exit_2_with_a_message(tmp_path, capsys, setup, message):
    directory = tmp_path / 'run'
    setup(directory)
    assert main(['report', '--input', str(directory)]) == 2
    assert message in capsys.readouterr().err


def test_run_report_needs_a_local_output(capsys):
    assert main(['run', '--output', 'gs://bucket/out', '--report']) == 2
    assert '--report needs a local --output' in capsys.readouterr().err


def test_chart_has_one_series_per_topic_and_its_axis_covers_the_highest_bar():
    import xml.etree.ElementTree as ElementTree

    from newswire.pipeline.commands.report import tag_chart_svg, tag_colors

    records = [_record(str(i), f'Mine maps, record {i}.', published_at='2024-01-02',
                       tags=[('Mine maps', 'Mine maps')]) for i in range(13)]
    records += [_record('x', 'Nothing tagged.'), _record('y', 'Missing persons.',
                                                         tags=[('Missing persons', 'Missing')])]
    timeline = tags_per_day(records)
    svg = ElementTree.fromstring(tag_chart_svg(timeline, tag_colors(timeline)))
    ns = {'svg': 'http://www.w3.org/2000/svg'}

    def texts(css_class):
        return [t.text for g in svg.iter('{http://www.w3.org/2000/svg}g')
                if css_class in (g.get('class') or '').split() for t in g.iterfind('.//svg:text', ns)]

    assert texts('legends') == ['Mine maps', 'Missing persons']   # no topic: in the table only
    assert [t for t in texts('x') if t] == ['2024-01-02', UNDATED]
    assert max(int(t) for t in texts('y') if t and t.isdigit()) >= 13
    assert tags_per_day(records).counts[NO_TAG] == (0, 1)


def test_large_story_folds_reports_past_the_first_five(tmp_path):
    first = _record('first', 'A story. ' * 5, outlet='Wire A')
    joined = [_record(f'j{i}', f'A story, report {i}.', story_of=first['id'], tier='same_story',
                      similarity=0.7) for i in range(6)]
    page = render_html(build_report(str(_write_run(tmp_path / 'run', [first] + joined))))
    assert page.count('<details class="member"') == 7
    shown, folded = page.split('<details class="more"><summary>')
    assert shown.count('<details class="member"') == 5
    assert folded.startswith('2 more reports</summary>')


def test_dead_letter_source_says_where_once():
    def source_of(source):
        (group,) = dead_letter_groups([{'stage': 'read', 'reason': 'no_text', 'detail': '',
                                        'source': source, 'original': None,
                                        'original_encoding': None, 'original_bytes': None}], 1)
        return group.examples[0].source

    assert source_of({'kind': 'jsonl', 'id': 'r.jsonl:2', 'path': 'r.jsonl', 'line': 2}) == 'r.jsonl:2'
    assert source_of({'kind': 'jsonl', 'id': 'abc', 'path': 'in/r.jsonl', 'line': 2}) == \
        'abc (in/r.jsonl line 2)'
    assert source_of({'kind': 'pubsub', 'id': 'm-1'}) == 'm-1'
