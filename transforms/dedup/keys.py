"""Candidate keys: the buckets a signature is filed under, so that only documents sharing one are
ever compared.

A key is typed (`CandidateKey`: its `KeyKind` and value); what the shuffles carry is its compact
encoding (`CandidateKey.encode`), a short string whose first character names the kind: `x:<content
hash>`, `s:<source kind>:<source id>`, `b<band>:<digest>` and `t:<term>`. The shuffles group and
order by that string, so the encoding is kept as it was: the same groups in the same order, the same
output. Only this module reads or writes it.
"""

from __future__ import annotations

import enum
import functools
import hashlib
from dataclasses import dataclass
from typing import Iterable, Optional

from newswire.transforms import similarity
from newswire.transforms.dedup.config import DedupConfig
from newswire.transforms.dedup.signature import DedupSignature


class KeyKind(enum.Enum):
    """What a candidate key is made of, and so which pair test its bucket runs (`pairs.match_pair`).
    The value is the kind's letter in the encoding."""

    CONTENT = 'x'  # the normalized text's hash: exact copies
    SOURCE = 's'  # the source's kind and id: the same item again
    BAND = 'b'  # one LSH band of the MinHash: near copies
    TERM = 't'  # one of the heaviest terms: reports of the same story

    @property
    def exact(self) -> bool:
        """Whether sharing the key is itself the test (an exact match)."""
        return self in (KeyKind.CONTENT, KeyKind.SOURCE)

    @property
    def capped_name(self) -> Optional[str]:
        """What the summary calls keys of this kind dropped when crowded (`crowding`), None for the
        exact kinds, which never are: their test is sharing the key, so a bucket of any size is
        decided in one pass (`buckets.exact_matches`)."""
        return _CAPPED_NAMES.get(self)

    @classmethod
    def of_encoded(cls, encoded: str) -> 'KeyKind':
        """The kind of an encoded key or band group (`band_group_key`)."""
        try:
            return cls(encoded[:1])
        except ValueError:
            raise ValueError(
                f'a candidate key starting with one of x, s, b, t; got {encoded!r}') from None


_CAPPED_NAMES = {KeyKind.BAND: 'lsh_band', KeyKind.TERM: 'story_term'}
# What the summary calls each capped kind (`dedup_dropped_keys_<name>`).
CAPPED_KEY_NAMES = tuple(_CAPPED_NAMES.values())


@functools.total_ordering
@dataclass(frozen=True, slots=True)
class CandidateKey:
    """One bucket: its kind, its value (content hash, source key, the band's digest in hex, or
    term) and, for a band key, which band. Keys order as their encodings do."""

    kind: KeyKind
    value: str
    band: int = 0

    def encode(self) -> str:
        """The shuffle's key: `x:<hash>`, `s:<source>`, `b<band>:<digest>` or `t:<term>`."""
        if self.kind is KeyKind.BAND:
            return f'b{self.band}:{self.value}'
        return f'{self.kind.value}:{self.value}'

    @classmethod
    def decode(cls, encoded: str) -> 'CandidateKey':
        """`encode`'s inverse."""
        kind = KeyKind.of_encoded(encoded)
        prefix, separator, value = encoded.partition(':')
        if not separator:
            raise ValueError(f'a candidate key as <kind>:<value>; got {encoded!r}')
        if kind is KeyKind.BAND:
            return cls(kind, value, int(prefix[1:]))
        return cls(kind, value)

    def __lt__(self, other: 'CandidateKey') -> bool:
        if not isinstance(other, CandidateKey):
            return NotImplemented
        return self.encode() < other.encode()


def story_term_key(term: str) -> CandidateKey:
    return CandidateKey(KeyKind.TERM, term)


def candidate_keys(sig: DedupSignature,
                   config: DedupConfig) -> Iterable[tuple[CandidateKey, DedupSignature]]:
    """The buckets a signature is filed under (see the package docstring); each copy carries only
    what its bucket's test reads (`pairs.match_pair`)."""
    identity = sig.identity_only()
    yield CandidateKey(KeyKind.CONTENT, sig.content_hash), identity
    yield CandidateKey(KeyKind.SOURCE, sig.source_key), identity
    if sig.minhash:
        near = sig.minhash_only()
        width = config.lsh_rows * similarity.MINHASH_DTYPE.itemsize  # bytes per band
        for band in range(config.lsh_bands):
            values = sig.minhash[band * width:(band + 1) * width]
            yield CandidateKey(KeyKind.BAND, band_digest(values).hex(), band), near
    if sig.story_keys:
        story = sig.story_vector_only()
        for term in sig.story_keys:
            yield story_term_key(term), story


BAND_DIGEST_BYTES = 10  # of a band key's digest


def band_digest(values: bytes) -> bytes:
    """The digest of one band's MinHash values (a band key's value is its hex)."""
    return hashlib.blake2b(values, digest_size=BAND_DIGEST_BYTES).digest()


def band_group_key(key: CandidateKey) -> str:
    """The batch shuffle's key for a band key: its band and the first byte of its digest, encoded
    as `b<band>:<byte in hex>`. Most band keys are one document's alone, and the runner keeps a list
    per key: 256 groups per band are shuffled instead of some 60 keys per document, each entry
    carrying its full digest."""
    return f'b{key.band}:{key.value[:2]}'


def band_of_group(encoded: str) -> int:
    """The band of a `band_group_key`."""
    return int(encoded[1:encoded.index(':')])
