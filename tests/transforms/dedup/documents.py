"""Documents the dedup tests share: a wire article, its edited copies, ECB+ reports, and the matches
of every bucket they fall into."""

import pytest

from newswire.transforms.dedup import DedupConfig, Signer, candidate_keys, compare_bucket
from newswire.transforms.records import Document, Language, SourceRef

CONFIG = DedupConfig()
SIGNER = Signer(CONFIG)

ARTICLE = (
    "Azerbaijan's Deputy Foreign Minister met the head of the ICRC delegation in Baku on Tuesday to "
    "discuss the fate of 3,890 people registered as missing since the first Karabakh war. The sides "
    "agreed to set up a joint working group on the exhumation of remains found near Aghdam. "
    "Officials said the group will meet monthly and report to both governments.\n\n"
    "The ICRC said its forensic teams had identified 112 sets of remains since 2021 and that the "
    "families of the missing deserve answers. Demining crews will clear the access roads first.")


def make_doc(doc_id, text, published=None, source_id=None, title=None):
    return Document(id=doc_id, source=SourceRef('jsonl', source_id or doc_id), text=text,
                    title=title, published_at=published, language=Language('en', 1.0))


def near_copy_of(text):
    """A syndicated copy: other headline, a typo, the last sentence trimmed, an extra promo line."""
    edited = text.replace('Officials said', 'Officals said').rsplit(' Demining', 1)[0]
    return edited + '\n\nFollow our agency for more news.'


def all_matches(docs, config=CONFIG):
    signatures = [SIGNER.sign(d) for d in docs]
    buckets = {}
    for sig in signatures:
        for key, s in candidate_keys(sig, config):
            buckets.setdefault(key, []).append(s)
    return [m for key, sigs in buckets.items() for m in compare_bucket(key, sigs, config)]


def near_copies(count):
    """`count` near copies of ARTICLE, each with another edit, a minute apart."""
    words = ARTICLE.split(' ')
    return [make_doc(f'c{i}', ' '.join(words[:30 + i] + ['edited'] + words[31 + i:]),
                 f'2023-11-14T10:{i:02d}:00') for i in range(count)]


def ecb_reports(topics=(1, 2, 3)):
    """ECB+ reports of a few topics (two similar stories each), as signatures, an hour apart in a
    shuffled order (so that reports of one story lie hours to days apart)."""
    import json
    import random
    from tests.conftest import SHARED_EVAL
    path = SHARED_EVAL / 'same-story-ecbplus' / 'docs.jsonl'
    if not path.is_file():
        pytest.skip('shared/eval is not beside the repo')
    with open(path, encoding='utf-8') as handle:
        records = [r for r in map(json.loads, handle) if r['topic'] in topics]
    random.Random(1).shuffle(records)
    return [SIGNER.sign(make_doc(r['doc_id'], r['text'],
                                 f'2023-11-{1 + i // 24:02d}T{i % 24:02d}:00:00',
                                 title=r['title'])) for i, r in enumerate(records)]
