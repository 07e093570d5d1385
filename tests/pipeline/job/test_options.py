"""`NewswireOptions`: parsing (both spellings, as a terminal and a Flex Template pass them), the
defaults, and the checks that name what is wrong before a job starts."""

import pytest
from apache_beam.options.pipeline_options import PipelineOptions

from newswire.pipeline.job.options import NewswireOptions
from newswire.pipeline.job.run import UsageError, pipeline_options
from tests.conftest import SEEDS

SUBSCRIPTION = 'projects/wire-desk/subscriptions/raw'
TOPIC = 'projects/wire-desk/topics/enriched'


def parse(*argv: str) -> NewswireOptions:
    return PipelineOptions(list(argv)).view_as(NewswireOptions)


def test_defaults_read_seeds_into_out():
    job = parse()
    assert job.input_paths() == ['seeds/'] and job.output_dir() == 'out/'
    assert (job.inputs, job.feeds, job.output, job.settings_file) == (None, None, None, None)
    assert (job.follow_symlinks, job.route_topics, job.report) == (False, False, False)
    assert job.window_seconds == 60 and job.allow_hosts is None


def test_input_repeats_and_keeps_its_order():
    job = parse('--input', 'wires/b', '--input', 'wires/a.jsonl', '--output', 'results/')
    assert job.input_paths() == ['wires/b', 'wires/a.jsonl'] and job.output_dir() == 'results/'


def test_feeds_alone_reads_no_files_and_with_input_reads_both():
    assert parse('--feeds', 'feeds.txt').input_paths() == []
    assert parse('--feeds', 'feeds.txt', '--input', 'wires/').input_paths() == ['wires/']


@pytest.mark.parametrize('argv', [
    ['--input-subscription', SUBSCRIPTION, '--output-topic', TOPIC, '--dead-letter-topic',
     TOPIC + '-dead', '--route-topics', '--window-seconds', '30'],
    # A Flex Template passes every parameter as --name=value, with underscores.
    [f'--input_subscription={SUBSCRIPTION}', f'--output_topic={TOPIC}',
     f'--dead_letter_topic={TOPIC}-dead', '--route_topics=true', '--window_seconds=30'],
])
def test_both_spellings_parse_alike(argv):
    job = parse(*argv)
    assert (job.input_subscription, job.output_topic, job.dead_letter_topic) == (
        SUBSCRIPTION, TOPIC, TOPIC + '-dead')
    assert job.route_topics is True and job.window_seconds == 30


@pytest.mark.parametrize('value,expected', [
    ('true', True), ('TRUE', True), ('1', True), ('yes', True), (' Yes ', True),
    ('false', False), ('False', False), ('0', False), ('no', False),
])
def test_boolean_options_take_a_value_too(value, expected):
    job = parse(f'--route_topics={value}', f'--follow_symlinks={value}')
    assert (job.route_topics, job.follow_symlinks) == (expected, expected)


def test_a_boolean_option_refuses_anything_else_saying_what_it_expects(capsys):
    with pytest.raises(SystemExit) as exited:
        parse('--route-topics=maybe')
    assert exited.value.code == 2
    assert "--route-topics/--route_topics: expected true or false, got 'maybe'" in (
        capsys.readouterr().err)


def test_window_seconds_must_be_a_whole_number(capsys):
    with pytest.raises(SystemExit):
        parse('--window-seconds', 'a minute')
    assert "--window-seconds/--window_seconds: invalid int value: 'a minute'" in (
        capsys.readouterr().err)


@pytest.mark.parametrize('argv,suggestion', [
    (['--inptu', 'wires/'], '--inptu (did you mean --input?)'),
    (['--window_secs=30'], '--window_secs (did you mean --window_seconds?)'),
    # Beam hands unknown options back with underscores: the suggestion is a spelling that works.
    (['--dead-leter-topic', TOPIC], '--dead_leter_topic (did you mean --dead_letter_topic?)'),
    (['--taxonomyy=t.yaml'], '--taxonomyy (did you mean --taxonomy?)'),
])
def test_a_misspelt_option_is_refused_with_a_suggestion(argv, suggestion):
    with pytest.raises(UsageError) as raised:
        pipeline_options(argv)
    assert str(raised.value) == (f'unknown option(s): {suggestion}; newswire run --help lists '
                                 'the options')


def test_an_option_like_none_is_refused_without_a_guess():
    with pytest.raises(UsageError, match=r'unknown option\(s\): --zebra_crossing; ') as raised:
        pipeline_options(['--zebra-crossing=1'])
    assert 'did you mean' not in str(raised.value)


def test_beams_own_options_pass_through():
    options = pipeline_options(['--input', str(SEEDS), '--direct_num_workers=2'])
    assert options.get_all_options()['direct_num_workers'] == 2
    assert options.view_as(NewswireOptions).input_paths() == [str(SEEDS)]


# --- validate_streaming ---------------------------------------------------------------------------

def test_a_complete_stream_has_no_errors():
    assert parse('--input-subscription', SUBSCRIPTION, '--output-topic', TOPIC,
                 '--route-topics').validate_streaming() == []
    assert parse('--feeds', 'feeds.txt', '--output', 'out/').validate_streaming() == []


@pytest.mark.parametrize('argv,errors', [
    ([], ['--streaming needs --input-subscription projects/P/subscriptions/S and/or --feeds FILE',
          '--streaming needs somewhere to write: --output-topic and/or --output']),
    (['--input-subscription', SUBSCRIPTION, '--input', 'wires/', '--output', 'out/'],
     ['--input reads files, which is batch: drop --streaming or --input']),
    (['--input-subscription', SUBSCRIPTION, '--output', 'out/', '--route-topics'],
     ['--route-topics needs --output-topic']),
])
def test_an_incomplete_stream_lists_every_problem(argv, errors):
    assert parse(*argv).validate_streaming() == errors


# --- validate_paths -------------------------------------------------------------------------------

def test_existing_paths_globs_and_remote_paths_pass(tmp_path):
    feeds = tmp_path / 'feeds.txt'
    feeds.write_text('https://wire.example/rss\n', encoding='utf-8')
    assert parse('--input', str(SEEDS), '--input', str(tmp_path / '*.jsonl'),
                 '--input', 'gs://wire-bucket/2024/', '--feeds', str(feeds),
                 '--allow-host', '127.0.0.1').validate_paths() == []


def test_a_missing_input_and_a_missing_rules_file_are_both_named(tmp_path):
    missing = tmp_path / 'nowhere'
    errors = parse('--input', str(missing), '--taxonomy', str(tmp_path / 'taxonomy.yaml'),
                   '--settings', str(tmp_path)).validate_paths()
    assert errors == [f'--input {missing}: no such file or directory',
                      f'--taxonomy {tmp_path / "taxonomy.yaml"}: no such file',
                      # A directory is not a settings file.
                      f'--settings {tmp_path}: no such file']


def test_no_input_outside_the_repository_names_the_default_and_the_directory(tmp_path,
                                                                             monkeypatch):
    monkeypatch.chdir(tmp_path)
    (error,) = parse().validate_paths()
    assert error.startswith(f'no --input given, and the default, seeds/, is not in this directory '
                            f'({tmp_path}): pass --input PATH')


@pytest.mark.parametrize('argv,error', [
    (['--report', '--output', 'gs://wire-bucket/out'],
     '--report needs a local --output directory, got gs://wire-bucket/out'),
    (['--follow-symlinks', '--feeds', '{feeds}'],
     '--follow-symlinks only applies to files read with --input'),
    (['--allow-host', '127.0.0.1'], '--allow-host only applies with --feeds'),
])
def test_options_that_need_another_say_which(tmp_path, argv, error):
    feeds = tmp_path / 'feeds.txt'
    feeds.write_text('https://wire.example/rss\n', encoding='utf-8')
    argv = [arg.replace('{feeds}', str(feeds)) for arg in argv] + ['--input', str(SEEDS)] * (
        '--feeds' not in argv)
    assert parse(*argv).validate_paths() == [error]
