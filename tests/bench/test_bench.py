"""The benchmark itself, on a tiny corpus, so it cannot silently break. Nothing here is timed."""

import collections
import json

import pytest

from bench import corpus
from bench.run import main
from tests.conftest import missing_tool

# The corpora are built from ECB+ in ../shared/eval (beside the clone in CI).
pytestmark = pytest.mark.skipif(
    not (corpus.shared_eval() / 'same-story-ecbplus' / 'docs.jsonl').is_file(),
    reason='no ../shared/eval/same-story-ecbplus beside this checkout')


@pytest.mark.slow
def test_corpus_is_reproducible_and_varied():
    first, again = corpus.generate(300, seed=3), corpus.generate(300, seed=3)
    assert first == again
    assert first != corpus.generate(300, seed=4)
    kinds = collections.Counter(record['bench_kind'] for record in first)
    assert set(kinds) == {'original', 'same_story', 'near_copy', 'republished'}
    published = [record['published'] for record in first]
    assert published == sorted(published)
    # A re-published item is byte for byte an earlier one; a near copy is not.
    texts = [record['text'] for record in first]
    for index, record in enumerate(first):
        if record['bench_kind'] == 'republished':
            assert record['text'] in texts[:index]
        if record['bench_kind'] == 'near_copy':
            assert record['text'] not in texts[:index]


def test_corpus_files(tmp_path):
    paths = corpus.write_corpus(1200, tmp_path / 'c', seed=5)
    assert [p.name for p in paths] == ['corpus-00000.jsonl', 'corpus-00001.jsonl']
    lines = [json.loads(line) for p in paths for line in p.read_text().splitlines()]
    assert len(lines) == 1200 and len({r['id'] for r in lines}) == 1200


@pytest.mark.slow
def test_benchmark_end_to_end_on_a_tiny_corpus(tmp_path, pubsub_emulator):
    results_path = tmp_path / 'bench.json'
    assert main(['--sizes', '60', '--workers', '1,2', '--html-repeat', '1', '--html-pages', '3',
                 '--stream-rate', '5', '--stream-seconds', '2', '--stream-settle', '0',
                 '--emulator-host', pubsub_emulator, '--json', str(results_path),
                 '--work-dir', str(tmp_path / 'work')]) == 0
    results = json.loads(results_path.read_text())
    assert results['machine']['nproc'] >= 1

    (row,) = results['text']
    assert row['n'] == 60
    assert row['plain']['read'] == row['plain']['enriched'] == 60
    for workers in ('1', '2'):
        run = row['pipeline'][workers]
        summary = run['summary']
        assert summary['documents_read'] == summary['enriched'] == 60
        assert summary['accounting_ok']
        # The corpus's variation is seen by the pipeline's duplicate tiers.
        assert summary['duplicates_by_tier']['exact'] > 0
        assert summary['duplicates_by_tier']['near_copy'] + summary['duplicates_by_tier'][
            'exact'] > 0
        # The plain loop runs the same functions: the same records, byte for byte.
        assert run['same_output_as_plain'] is True
        assert run['peak_rss_mb'] > 0
        assert sum(run['stage_share'].values()) == pytest.approx(1.0, abs=0.01)

    html = results['html']
    assert html['pages'] == 3 and html['bare_trafilatura']['pages'] == 3
    assert html['pipeline']['summary']['documents_read'] == 3

    (stream,) = results['streaming']
    assert stream['runner'] == 'DirectRunner' and stream['settle_seconds'] == 0
    assert stream['received'] == stream['published'] == 10
    assert 0 < stream['p50_seconds'] <= stream['p99_seconds']
    # Sent -> published by the pipeline, then delivered by the emulator: two parts of the latency.
    assert 0 < stream['to_published_p50_seconds'] <= stream['p50_seconds'] + 0.002
    assert 0 <= stream['delivery_p99_seconds'] <= stream['p99_seconds']


@pytest.mark.slow
@pytest.mark.parametrize('runner', ['prism', 'prism-process', 'flink'])
def test_the_benchmark_runs_the_text_path_on_a_portable_runner_beside_the_direct_runner(
        runner, tmp_path):
    from newswire.pipeline.job import runners

    if runner.startswith('prism') and runners.installed_prism() is None:
        missing_tool(f'Prism is not installed: {runners.INSTALL_COMMAND}')
    if runner == 'flink' and runners.installed_job_server(runners.FLINK) is None:
        missing_tool(f'Flink\'s job server is not installed: {runners.FLINK.install_command}')
    results_path = tmp_path / 'bench.json'
    assert main(['--sizes', '60', '--workers', '1', '--runners', f'direct,{runner}',
                 '--html-repeat', '0', '--stream-seconds', '0', '--json', str(results_path),
                 '--work-dir', str(tmp_path / 'work')]) == 0
    (row,) = json.loads(results_path.read_text())['text']
    assert sorted(row['pipeline']) == ['1', runner]
    for run in row['pipeline'].values():
        assert run['summary']['documents_read'] == run['summary']['enriched'] == 60
        assert run['same_output_as_plain'] is True
        assert run['peak_rss_mb'] > 0
        assert sum(run['stage_share'].values()) == pytest.approx(1.0, abs=0.01)
        assert run['stage_share']['other'] < 0.5  # the steps were recognised, on both runners


def test_a_portable_runners_transform_ids_map_to_the_stages_of_their_labels():
    from bench.jobs import stage_of

    assert stage_of('Enrich/DetectLanguage/Detect') == 'language'
    assert stage_of('ref_AppliedPTransform_Enrich-DetectLanguage-Detect-Process_48') == 'language'
    assert stage_of('ref_AppliedPTransform_Enrich-FlagDuplicates-Sign-Process_62') == 'dedup_sign'
    assert stage_of('ref_AppliedPTransform_Enrich-FlagDuplicates-Annotate_129') == 'dedup_compare'
    assert stage_of('ref_AppliedPTransform_Write-WriteShards_143') == 'write'
    assert stage_of('ref_AppliedPTransform_Unlabelled_7') == 'other'


def test_an_unknown_runner_is_refused(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(['--runners', 'direct,samza', '--json', str(tmp_path / 'bench.json')])
    assert exit_.value.code == 2
    assert ('--runners: expected names from direct, prism, prism-process, prism-inline, flink, '
            'spark, got samza'
            in capsys.readouterr().err)


@pytest.mark.slow
def test_the_benchmark_streams_on_prism_beside_the_direct_runner(tmp_path, pubsub_emulator):
    from newswire.pipeline.job import runners
    if runners.installed_prism() is None:
        missing_tool(f'Prism is not installed: {runners.INSTALL_COMMAND}')
    results_path = tmp_path / 'bench.json'
    assert main(['--sizes', '', '--html-repeat', '0', '--stream-runners',
                 'direct,prism-process,prism-inline', '--stream-rate', '5', '--stream-seconds',
                 '2', '--stream-settle', '0', '--emulator-host', pubsub_emulator, '--json',
                 str(results_path)]) == 0
    streams = json.loads(results_path.read_text())['streaming']
    assert [stream['runner'] for stream in streams] == ['DirectRunner', 'PrismRunner',
                                                        'PrismRunner']
    for stream in streams:
        assert stream['received'] == stream['published'] == 10
        assert 0 < stream['p50_seconds'] <= stream['p99_seconds']
    direct, process, inline = streams
    assert direct['ran_on'] is None
    assert process['flags'] == ['--enrichment-process=true']
    assert process['ran_on'].endswith('the per-document steps in a worker process')
    assert inline['flags'] == ['--enrichment-process=false']
    assert inline['ran_on'].startswith('PrismRunner') and 'worker process' not in inline['ran_on']
