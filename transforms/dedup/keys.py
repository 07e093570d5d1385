"""Candidate keys: the buckets a signature is filed under, so that only documents sharing one are
ever compared."""

from __future__ import annotations

import hashlib
from typing import Iterable

from newswire.transforms import similarity
from newswire.transforms.dedup.config import DedupConfig
from newswire.transforms.dedup.signature import DedupSignature

def candidate_keys(sig: DedupSignature, config: DedupConfig) -> Iterable[tuple[str, DedupSignature]]:
    """The buckets a signature is filed under (see the module docstring); each copy carries only
    what its bucket's test reads (`match_pair`)."""
    identity = sig.identity_only()
    yield f'x:{sig.content_hash}', identity
    yield f's:{sig.source_key}', identity
    if sig.minhash:
        near = sig.minhash_only()
        width = config.lsh_rows * similarity.MINHASH_DTYPE.itemsize  # bytes per band
        for band in range(config.lsh_bands):
            values = sig.minhash[band * width:(band + 1) * width]
            digest = hashlib.blake2b(values, digest_size=10).hexdigest()
            yield f'b{band}:{digest}', near
    if sig.story_keys:
        story = sig.story_vector_only()
        for term in sig.story_keys:
            yield f't:{term}', story


_BAND_DIGEST_BYTES = 10  # of a band key's digest (`candidate_keys`)


def band_group_key(key: str) -> str:
    """The batch shuffle's key for a band key: its band and the first byte of its digest. Most band
    keys are one document's alone, and the runner keeps a list per key: 256 groups per band are
    shuffled instead of some 60 keys per document, each entry carrying its full digest."""
    return key[:key.index(':') + 3]


# Candidate keys that stop being keys when crowded, by their first letter, and what the summary
# calls them. Exact keys (`x:` content hash, `s:` source id) never do: their test is sharing the
# key, so a bucket of any size is decided in one pass (`exact_matches`).
CAPPED_KEY_KINDS = {'b': 'lsh_band', 't': 'story_term'}
