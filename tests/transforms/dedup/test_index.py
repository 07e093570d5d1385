"""The in-memory batch strategy (`index`): the shuffle strategy's decisions from one index."""

import collections
import dataclasses

import apache_beam as beam
import pytest
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.runners.runner import create_runner
from apache_beam.testing.util import assert_that, equal_to

from newswire.transforms.dedup import (NEAR_COPY, SAME_STORY, BestMatches, BestMatchesFn,
                                       FlagDuplicates, candidate_keys, dedup_info,
                                       dropped_key_kind)
from newswire.transforms.dedup.buckets import STORY_MATRIX_MIN_REPORTS
from newswire.transforms.dedup.index import (MEMORY, SHUFFLE, _Index, batch_index_strategy,
                                             match_in_index)
from newswire.transforms.dedup.keys import KeyKind
from tests.conftest import direct_pipeline
from tests.transforms.dedup.documents import (ARTICLE, CONFIG, SIGNER, ecb_reports, make_doc,
                                              near_copies, near_copy_of)

# Small enough that the corpus below crowds keys past it, on both sides of the horizon.
CROWDED = dataclasses.replace(CONFIG, max_documents_per_key=4, horizon_seconds=2 * 86400)

_FERRY = ('The harbour board said on Tuesday that the night ferry to the northern islands would '
          'carry {} passengers a week from March, and port officials expected fares to stay '
          'unchanged.')
_GRID = ('Engineers restored power to the eastern grid on Sunday after a storm brought down {} '
         'pylons near the river crossing; the utility said repairs to the dam turbines would take '
         'another week.')


def varied_docs():
    """Near copies, same-story rewrites, exact copies, keys crowded past `CROWDED`'s cap within its
    horizon and the same texts spread beyond it, documents exactly one horizon apart and one second
    more, equal publication times, no publication time, the same id twice and an empty text."""
    docs = near_copies(5) + [
        make_doc('orig', ARTICLE, '2023-11-14T09:00:00'),
        make_doc('again', ARTICLE.upper(), '2023-11-14T10:00:00'),
        make_doc('syndicated', near_copy_of(ARTICLE), '2023-11-14T10:00:00'),  # an equal time
        make_doc('undated', near_copy_of(ARTICLE)),
        make_doc('twin', ARTICLE, '2023-11-15T09:00:00'),
        make_doc('twin', near_copy_of(ARTICLE), '2023-11-15T09:00:00'),  # the same id, other text
        make_doc('twin', _GRID.format(12), '2024-03-01T09:00:00'),  # ... and another time
        make_doc('empty', '', '2023-11-14T09:00:00'),
        make_doc('same-source', 'A short note on the ferry timetable.', '2023-11-14T11:00:00',
                 source_id='orig'),
    ]
    # One ferry sentence, its number changed: near copies sharing most bands and every heavy term
    # but the number; six within two days crowd them, the rest are days apart.
    docs += [make_doc(f'ferry{i}', _FERRY.format(1000 + i), f'2023-12-01T{i:02d}:00:00')
             for i in range(6)]
    docs += [make_doc(f'ferry-late{i}', _FERRY.format(2000 + i), f'2023-12-{5 + 3 * i:02d}')
             for i in range(3)]
    # Reports of one outage: the same story in other words, two days apart exactly (within the
    # horizon) and two days and a second (beyond it).
    docs += [make_doc('grid0', _GRID.format(40), '2024-01-10T12:00:00'),
             make_doc('grid1', _GRID.format('forty').replace('Sunday', 'the weekend'),
                      '2024-01-12T12:00:00'),
             make_doc('grid2', _GRID.format(41).replace('Engineers', 'Crews'),
                      '2024-01-14T12:00:01'),
             make_doc('grid3', _GRID.format(41), '2024-01-14T12:00:01')]  # equal times
    return docs


def _plain_route(docs, config):
    """What the plain loop (bench/jobs.py `plain_job`) decides: every bucket's matches, combined per
    document, and the keys dropped per kind."""
    return _plain_decisions([SIGNER.sign(d) for d in docs], config)


def _plain_decisions(signatures, config):
    buckets = collections.defaultdict(list)
    for signature in signatures:
        for key, copy in candidate_keys(signature, config):
            buckets[key].append(copy)
    combine, best = BestMatchesFn(), {}
    dropped = collections.Counter()
    for key, bucket in buckets.items():
        kind = dropped_key_kind(key, bucket, config)
        if kind:
            dropped[kind] += 1
        for match in compare_bucket(key, bucket, config):
            best[match.later] = combine.add_input(best.get(match.later, BestMatches()), match)
    parents = {doc_id: b.parent().earlier for doc_id, b in best.items()}
    infos = sorted((s.id, s.content_hash, dedup_info(s, best.get(s.id, BestMatches()), parents))
                   for s in signatures)
    return infos, dict(dropped), signatures


def _index_route(signatures, config):
    matched = match_in_index(reversed(signatures), config)  # the order given does not matter
    infos = []
    for s in signatures:
        decision = matched.decisions.get(s.id)
        info = dedup_info(s, decision.best if decision else BestMatches(), {})
        if decision:
            info = dataclasses.replace(info, story_id=decision.story_id)
        infos.append((s.id, s.content_hash, info))
    return sorted(infos), matched.dropped_keys


from newswire.transforms.dedup import compare_bucket  # noqa: E402  (used by _plain_route)


def test_the_index_decides_as_the_plain_loop_on_large_story_buckets():
    # Reports of three ECB+ topics: story buckets large enough for a sparse product, whose terms
    # the index numbers once for all of them (`similarity.TermColumns`).
    signatures = ecb_reports()
    expected, dropped, _ = _plain_decisions(signatures, CONFIG)
    infos, index_dropped = _index_route(signatures, CONFIG)
    assert infos == expected
    assert index_dropped == dropped
    sizes = collections.Counter(key.value for s in signatures
                                for key, _ in candidate_keys(s, CONFIG) if key.kind is KeyKind.TERM)
    assert sum(size > STORY_MATRIX_MIN_REPORTS for size in sizes.values()) >= 3
    assert sum(info.tier == SAME_STORY for _, _, info in infos) >= 20


# Bands of 5 rows: 20 bytes of values a band, not a whole number of the index's 64-bit words.
FIVE_ROWS = dataclasses.replace(CROWDED, lsh_bands=50, lsh_rows=5)


@pytest.mark.parametrize('config', [CONFIG, CROWDED, FIVE_ROWS],
                         ids=['default', 'crowded', 'five-rows'])
def test_the_index_decides_as_the_plain_loop_and_drops_the_same_keys(config):
    expected, dropped, signatures = _plain_route(varied_docs(), config)
    infos, index_dropped = _index_route(signatures, config)
    assert infos == expected
    assert index_dropped == dropped
    tiers = collections.Counter(info.tier for _, _, info in infos)
    assert tiers['exact'] and tiers[NEAR_COPY] and tiers[SAME_STORY]
    if config is not CONFIG:
        assert set(dropped) == {'lsh_band', 'story_term'}
    else:
        assert dropped == {}



@pytest.mark.parametrize('config', [CONFIG, FIVE_ROWS], ids=['default', 'five-rows'])
def test_the_index_groups_bands_as_their_keys_do(config):
    index = _Index([SIGNER.sign(d) for d in varied_docs()], config)
    keys = [[k for k, _ in candidate_keys(s, config) if k.kind is KeyKind.BAND]
            for s in index.ordered]
    shared_somewhere = False
    for band in range(config.lsh_bands):
        expected = collections.defaultdict(list)
        for position, band_keys in enumerate(keys):
            if band_keys:  # a signature with a MinHash
                expected[band_keys[band]].append(position)
        shared = sorted(positions for positions in expected.values() if len(positions) > 1)
        assert sorted(index.shared_bands(band)) == shared
        for positions in shared:
            for position in positions:
                assert index.band_key(band, position) == keys[position][band]
        shared_somewhere |= bool(shared)
    assert shared_somewhere

def test_an_empty_batch_has_no_decisions():
    assert match_in_index([], CONFIG) == ({}, {})


def test_auto_is_memory_on_local_runners_and_shuffle_on_distributed_ones():
    def strategy(runner, *flags, setting='auto'):
        return batch_index_strategy(setting, create_runner(runner), PipelineOptions(list(flags)))

    assert strategy('DirectRunner') == MEMORY
    assert strategy('PrismRunner') == MEMORY
    assert strategy('FlinkRunner') == MEMORY  # Beam's default master: an embedded Flink
    assert strategy('FlinkRunner', '--flink_master=[local]') == MEMORY
    assert strategy('FlinkRunner', '--flink_master=flink-jobmanager:8081') == SHUFFLE
    assert strategy('SparkRunner') == MEMORY  # local[4]
    assert strategy('SparkRunner', '--spark_master_url=spark://master:7077') == SHUFFLE
    assert strategy('DataflowRunner') == SHUFFLE
    assert strategy('PortableRunner', '--job_endpoint=localhost:8099') == SHUFFLE
    assert strategy('DataflowRunner', setting='memory') == MEMORY
    assert strategy('DirectRunner', setting='shuffle') == SHUFFLE
    with pytest.raises(ValueError, match="one of auto, memory, shuffle, got 'disk'"):
        strategy('DirectRunner', setting='disk')


def _flag(docs, config, batch_index, directory):
    """FlagDuplicates with `batch_index` in a pipeline -> {output: its elements' reprs, sorted}:
    the flagged documents, the dead letters and the dropped keys."""
    with direct_pipeline() as p:
        outputs = p | beam.Create(docs) | FlagDuplicates(config, batch_index=batch_index)
        for name, pcoll in zip(('flagged', 'dead', 'dropped'), outputs):
            (pcoll | f'Repr{name}' >> beam.Map(repr)
             | f'Write{name}' >> beam.io.WriteToText(str(directory / name), shard_name_template=''))
    return {name: sorted((directory / name).read_text(encoding='utf-8').splitlines())
            for name in ('flagged', 'dead', 'dropped')}


@pytest.mark.slow  # two pipelines
@pytest.mark.parametrize('config', [CONFIG, CROWDED], ids=['default', 'crowded'])
def test_both_strategies_give_the_same_records_dead_letters_and_dropped_keys(config, tmp_path):
    docs = varied_docs()
    (tmp_path / 'memory').mkdir()
    (tmp_path / 'shuffle').mkdir()
    memory = _flag(docs, config, 'memory', tmp_path / 'memory')
    shuffle = _flag(docs, config, 'shuffle', tmp_path / 'shuffle')
    assert memory == shuffle
    assert len(memory['flagged']) == len(docs)
    assert bool(memory['dropped']) == (config is CROWDED)
