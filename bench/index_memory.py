"""What the streaming one-key dedup index (`transforms/dedup/stream_index.py`) holds a document:
`python -m bench.index_memory [N] [--untraced]`.

N bench documents (`bench.corpus`, one a second) go through the index's rules outside Beam, with a
settle firing every 50 and the horizon's expiry as it falls due; then every record is decided. It
prints the memory the index still holds a document (tracemalloc, after the process-wide caches of
unpacked term vectors are emptied: they are bounded, not per document), its snapshot's size a
document (what the journal in the runner's state holds) and a digest of the decisions, which two
versions of the index must give alike. `seconds` is the rules' time for the N documents, slowed by
tracemalloc unless `--untraced`, which times them alone and leaves the memory out.
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import itertools
import pickle
import time
import tracemalloc

from bench.corpus import generate


def measure(n: int, traced: bool = True) -> dict:
    from newswire.pipeline.job.settings import load_settings
    from newswire.transforms import similarity
    from newswire.transforms.dedup import pairs, stream_index
    from newswire.transforms.dedup.signature import Signer
    from newswire.transforms.records import Document, Language, SourceRef

    config = load_settings().dedup
    signer = Signer(config)
    arrivals = []
    for second, record in enumerate(itertools.islice(generate(n), n)):
        doc = Document(id=record['id'], source=SourceRef('pubsub', record['id']),
                       text=record['text'], title=record.get('title'),
                       published_at=record.get('published_at'), language=Language('en', 1.0))
        micros = (1_700_000_000 + second) * 1_000_000
        arrivals.append((micros, doc, signer.sign(doc, micros / 1e6)))
    index, state = stream_index._OneKeyIndex(config), stream_index._IndexState()
    gc.collect()
    if traced:
        tracemalloc.start()
        base = tracemalloc.get_traced_memory()[0]
    started = time.perf_counter()
    decided = []
    for number, (micros, doc, signature) in enumerate(arrivals, 1):
        decided += index.apply(state, ('doc', micros, doc, signature), counted=False)
        if number % 50 == 0:
            decided += index.apply(state, ('settle', micros - 10_000_000), counted=False)
            due = state.next_expiry()
            if due is not None and due <= micros:
                index.apply(state, ('expire', micros), counted=False)
    decided += index.apply(state, ('settle', 2**62), counted=False)
    seconds = time.perf_counter() - started
    digest = hashlib.sha256(pickle.dumps([(doc.id, decision) for doc, decision in decided]))
    del decided, arrivals
    held = None
    if traced:
        pairs._terms_and_weights.cache_clear()
        similarity._slotted_terms.cache_clear()
        similarity._central_term.cache_clear()
        gc.collect()
        held = round((tracemalloc.get_traced_memory()[0] - base) / n / 1024, 1)
        tracemalloc.stop()
    return {'documents': n, 'kb_held_a_document': held,
            'snapshot_kb_a_document': round(len(stream_index._snapshot(state)) / n / 1024, 1),
            'seconds': round(seconds, 1), 'decisions_sha256': digest.hexdigest()}


if __name__ == '__main__':
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('n', nargs='?', type=int, default=3000, help='documents (default 3000)')
    parser.add_argument('--untraced', action='store_true',
                        help='time the rules without tracemalloc; no memory figure')
    args = parser.parse_args()
    print(measure(args.n, traced=not args.untraced))
