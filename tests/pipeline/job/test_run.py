"""The `newswire run` command end to end on real files, in process and as the installed script."""

import json
import os
import pathlib
import shutil
import subprocess
import sys

import pytest

from newswire.pipeline.cli import main
from tests.conftest import REPO, SEEDS, seed_path


def _records(output: pathlib.Path, prefix='enriched'):
    return [json.loads(line) for path in sorted(output.glob(f'{prefix}-*.jsonl'))
            for line in path.read_text(encoding='utf-8').splitlines()]


# The seeds' yearless datelines with no dated report in their story take the run date's year: a
# fixed run date keeps their records the same whatever day the tests run.
RUN_DATE = '2024-03-01'


@pytest.fixture(scope='module')
def run_date_settings(tmp_path_factory):
    path = tmp_path_factory.mktemp('settings') / 'run-date.yaml'
    path.write_text(f"dates:\n  run_date: '{RUN_DATE}'\n", encoding='utf-8')
    return str(path)


@pytest.fixture(scope='module')
def seeds_run(tmp_path_factory, run_date_settings):
    output = tmp_path_factory.mktemp('seeds-run')
    assert main(['run', '--input', str(SEEDS), '--output', str(output),
                 '--settings', run_date_settings]) == 0
    return output


def _by_seed(records):
    return {r['source']['id'][:3]: r for r in records}


def test_seeds_summary_and_accounting(seeds_run, capsys):
    summary = json.loads((seeds_run / 'summary.json').read_text())
    assert summary['documents_read'] == 5
    assert summary['enriched'] == 5
    assert summary['dead_letters'] == 0 and summary['accounting_ok']
    assert summary['duplicates_by_tier'] == {'exact': 0, 'near_copy': 0, 'same_story': 2}
    assert summary['stories'] == 3
    assert summary['languages'] == {'en': 5}
    assert summary['topics']['mine_maps'] == 5 and summary['topics']['peace_treaty'] == 2


def test_seed_records_validate_against_the_schema(seeds_run, enriched_validator):
    records = _records(seeds_run)
    assert len(records) == 5
    for record in records:
        errors = [e.message for e in enriched_validator.iter_errors(record)]
        assert errors == [], record['source']['id']
    assert _records(seeds_run, 'dead_letter') == []


def test_seed_stories_and_duplicates(seeds_run):
    seeds = _by_seed(_records(seeds_run))
    story = seeds['000']['dedup']['story_id']
    assert seeds['001']['dedup']['story_id'] == story
    assert seeds['002']['dedup']['story_id'] == story
    # The canonical report is the earliest published: 002 is the only one of the three with a date.
    assert story == seeds['002']['id'] and seeds['002']['dedup']['tier'] is None
    assert seeds['003']['dedup']['story_id'] == seeds['003']['id']
    assert seeds['004']['dedup']['story_id'] == seeds['004']['id']
    for record in seeds.values():
        assert record['dedup']['duplicate_of'] is None
        assert record['dedup']['near_duplicate_of'] is None
    for joined in ('000', '001'):
        assert seeds[joined]['dedup']['tier'] == 'same_story'
        assert seeds[joined]['dedup']['similarity']['same_story'] > 0.5


def test_seed_metadata_and_cleaning(seeds_run):
    seeds = _by_seed(_records(seeds_run))
    assert seeds['000']['dateline'] == {'place': 'BAKU, Azerbaijan', 'month': 'November', 'day': 14}
    assert seeds['000']['source']['outlet'] == 'Trend'
    assert seeds['001']['title'].startswith('Chief of Azerbaijan’s State Security Service meets')
    assert seeds['002']['source']['outlet'] == 'News.Az'
    assert seeds['002']['published_at'] == '2023-11-14'
    assert seeds['003']['published_at'] == '2023-09-18T13:36:00+04:00'
    assert seeds['002']['published_at_source'] == seeds['003']['published_at_source'] == 'page_header'
    assert [r['rule'] for r in seeds['001']['removed']] == ['related_articles_block']
    for record in seeds.values():
        for chrome in ('You Might Also Like', 'WhatsApp channel', '↺', ' px'):
            assert chrome not in record['text']
        assert not record['text'].rstrip().endswith('News.Az')


def test_seed_yearless_datelines_are_dated_and_say_how(seeds_run):
    seeds = _by_seed(_records(seeds_run))
    # 000 says "November 14" and shares its story with 002, dated 2023-11-14 by its page header.
    assert seeds['000']['dedup']['story_id'] == seeds['002']['dedup']['story_id']
    assert (seeds['000']['published_at'], seeds['000']['published_at_source']) == (
        '2023-11-14', 'dateline_year_from_story')
    # 004 says "November 14" too, alone in its story: the latest November 14 not after the run date.
    assert seeds['004']['dedup']['story_id'] == seeds['004']['id']
    assert (seeds['004']['published_at'], seeds['004']['published_at_source']) == (
        '2023-11-14', 'dateline_year_from_run_date')
    # 001 has no dateline and no date anywhere: nothing to read a day from, so it stays undated.
    assert seeds['001']['dateline'] is None
    assert (seeds['001']['published_at'], seeds['001']['published_at_source']) == (None, None)


def test_seed_003_is_flagged_as_two_articles_with_its_text_whole(seeds_run):
    seeds = _by_seed(_records(seeds_run))
    (part,) = seeds['003']['embedded_articles']
    text = seeds['003']['text']
    assert part['headline'].startswith('Ali Naghiyev: ')
    assert text[part['start']:].startswith(part['headline'])
    assert text[part['body_start']:].startswith('As a result of military aggression')
    source = seed_path('003').read_text(encoding='utf-8')
    assert text[part['start']:] in source  # nothing after the headline is lost
    for name in ('000', '001', '002', '004'):
        assert seeds[name]['embedded_articles'] == []


@pytest.mark.slow  # a second seeds run; the fast subset checks the summary on the module's run
def test_summary_is_printed(tmp_path, capsys):
    assert main(['run', '--input', str(SEEDS), '--output', str(tmp_path)]) == 0
    printed = capsys.readouterr().out
    assert 'documents read   5' in printed
    assert 'stories          3' in printed
    assert 'accounting       ok' in printed


@pytest.mark.slow  # a second, multi-threaded seeds run
def test_two_runs_give_byte_identical_output(seeds_run, run_date_settings, tmp_path):
    assert main(['run', '--input', str(SEEDS), '--output', str(tmp_path),
                 '--settings', run_date_settings,
                 '--direct_num_workers=2', '--direct_running_mode=multi_threading']) == 0
    for name in ('enriched-00000-of-00001.jsonl', 'dead_letter-00000-of-00001.jsonl',
                 'summary.json'):
        assert (tmp_path / name).read_bytes() == (seeds_run / name).read_bytes(), name


@pytest.mark.slow
def test_bad_inputs_are_dead_letters_and_accounting_holds(tmp_path, dead_letter_validator,
                                                          enriched_validator):
    inputs = tmp_path / 'in'
    shutil.copytree(SEEDS, inputs)
    (inputs / 'empty.txt').write_bytes(b'')
    (inputs / 'binary.txt').write_bytes(bytes(range(256)))
    (inputs / 'latin1.txt').write_bytes('Caf\xe9 talks in Baku continue today.'.encode('latin-1'))
    (inputs / 'huge.txt').write_bytes(b'a' * 5_000_001)
    (inputs / 'nothing.html').write_text('<html><head><title>x</title></head><body></body></html>')
    (inputs / 'records.jsonl').write_text('\n'.join([
        json.dumps({'id': 'ok-1', 'text': 'The peace treaty talks resumed in Washington on '
                    'Monday, officials said.', 'outlet': 'Example Wire'}),
        '{"broken": ',
        json.dumps({'id': 'no-body', 'title': 'Only a title'}),
    ]) + '\n')
    output = tmp_path / 'out'
    assert main(['run', '--input', str(inputs), '--output', str(output)]) == 0
    summary = json.loads((output / 'summary.json').read_text())
    enriched, dead = _records(output), _records(output, 'dead_letter')
    assert summary['documents_read'] == 13
    assert (summary['enriched'], summary['dead_letters']) == (len(enriched), len(dead)) == (6, 7)
    assert summary['accounting_ok']
    assert summary['dead_letters_by_reason'] == {
        'extract:no_extractable_text': 1, 'read:binary': 1, 'read:empty': 1,
        'read:malformed_json': 1, 'read:no_text': 1, 'read:too_large': 1, 'read:undecodable': 1}
    for letter in dead:
        assert [e.message for e in dead_letter_validator.iter_errors(letter)] == []
    for record in enriched:
        assert [e.message for e in enriched_validator.iter_errors(record)] == []


@pytest.mark.parametrize('args,message', [
    (['--input', '/nonexistent/dir'], 'no such file'),
    (['--taxonomy', '/nonexistent.yaml'], 'no such file'),
    (['--outptu', 'x'], 'unknown option'),
])
def test_usage_errors_exit_2_with_a_message(tmp_path, capsys, args, message):
    assert main(['run', '--output', str(tmp_path)] + args) == 2
    assert message in capsys.readouterr().err


def test_invalid_taxonomy_is_a_usage_error(tmp_path, capsys):
    bad = tmp_path / 'taxonomy.yaml'
    bad.write_text('topics:\n  - id: BAD\n    patterns: ["x"]\n')
    assert main(['run', '--input', str(SEEDS), '--output', str(tmp_path / 'o'),
                 '--taxonomy', str(bad)]) == 2
    assert 'topic 0' in capsys.readouterr().err


@pytest.mark.slow  # a seeds run; test_settings.py checks overrides without one
def test_settings_override_changes_sharding(tmp_path):
    settings = tmp_path / 'settings.yaml'
    settings.write_text('output:\n  num_shards: 3\n')
    output = tmp_path / 'out'
    assert main(['run', '--input', str(SEEDS), '--output', str(output),
                 '--settings', str(settings)]) == 0
    assert len(list(output.glob('enriched-*-of-00003.jsonl'))) == 3
    assert len(_records(output)) == 5


@pytest.mark.slow  # a seeds run in a subprocess
def test_installed_console_script_runs_with_default_input(tmp_path):
    script = pathlib.Path(sys.executable).parent / 'newswire'
    assert script.exists(), 'the project is installed with its console script'
    done = subprocess.run([str(script), 'run', '--output', str(tmp_path)], cwd=REPO,
                          capture_output=True, text=True, timeout=300,
                          env={**os.environ, 'PYTHONWARNINGS': 'ignore'})
    assert done.returncode == 0, done.stderr[-2000:]
    assert 'enriched         5' in done.stdout
