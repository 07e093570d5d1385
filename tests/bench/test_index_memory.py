"""bench.index_memory on a few documents: it runs, and it tells the index's two forms apart by
memory, not by decisions. Nothing here is timed."""

import pytest

from bench import corpus
from bench.index_memory import measure
from newswire.transforms.dedup import stream_index

pytestmark = pytest.mark.skipif(
    not (corpus.shared_eval() / 'same-story-ecbplus' / 'docs.jsonl').is_file(),
    reason='no ../shared/eval/same-story-ecbplus beside this checkout')


@pytest.mark.slow  # some 4 s: the corpus and 240 signatures
def test_the_compact_index_holds_less_for_the_same_decisions(monkeypatch):
    compact = measure(120)
    monkeypatch.setattr(stream_index, '_COMPACT_SINGLES', False)
    plain = measure(120)
    assert compact['documents'] == plain['documents'] == 120
    assert compact['decisions_sha256'] == plain['decisions_sha256']
    assert 0 < compact['kb_held_a_document'] < plain['kb_held_a_document']
    assert 0 < compact['snapshot_kb_a_document'] < plain['snapshot_kb_a_document']


@pytest.mark.slow  # some 3 s
def test_untraced_it_gives_the_same_decisions_and_no_memory_figure():
    traced, untraced = measure(60), measure(60, traced=False)
    assert untraced['decisions_sha256'] == traced['decisions_sha256']
    assert untraced['kb_held_a_document'] is None and untraced['seconds'] >= 0
