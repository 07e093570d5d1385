"""What dedup knows of a document (`DedupSignature`) and how it is made (`Signer`).

A signature holds the content hash, the MinHash of the text's word shingles with the number of
distinct shingles, and the weighted term vector of `similarity.story_features`; the pair tests
(`pairs`) read nothing else.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass
from typing import Optional

import apache_beam as beam

from newswire.transforms import memo, similarity
from newswire.transforms.dedup.config import DedupConfig
from newswire.transforms.records import Document, hash_of_normalized, normalize_for_hash

_NO_VECTOR = similarity.PackedVector()


@dataclass(frozen=True)
class DedupSignature:
    id: str
    event_time: Optional[float]  # seconds since the epoch, None when the publication time is unknown
    content_hash: str
    source_key: str
    minhash: bytes  # `similarity.MINHASH_DTYPE` values, b'' when there is no text
    story_vector: similarity.PackedVector  # `similarity.story_features`' vector
    story_keys: tuple[str, ...]
    arrival_time: Optional[float] = None  # in a stream: when it was published to the queue
    shingle_count: int = 0  # distinct word shingles of the text, for the containment estimate

    @property
    def order_key(self) -> tuple:
        """Publication order: earliest first (arrival standing in for an unknown publication time),
        unknown times last, then by id."""
        when = self.event_time if self.event_time is not None else self.arrival_time
        return (when is None, when or 0.0, self.id)

    # What a copy of the signature carries where only one test reads it: a signature is filed under
    # some 70 buckets, and each copy need not carry the features the other tests read.
    def identity_only(self) -> 'DedupSignature':
        """Without MinHash, term vector and keys: for exact buckets and the annotation join."""
        return dataclasses.replace(self, minhash=b'', story_vector=_NO_VECTOR, story_keys=())

    def minhash_only(self) -> 'DedupSignature':
        """Without term vector and keys: for the near-copy test."""
        return dataclasses.replace(self, story_vector=_NO_VECTOR, story_keys=())

    def story_vector_only(self) -> 'DedupSignature':
        """Without MinHash and keys: for the same-story test."""
        return dataclasses.replace(self, minhash=b'', story_keys=())


def event_seconds(published_at: Optional[str]) -> Optional[float]:
    """ISO 8601 published_at -> epoch seconds (a date alone is its midnight UTC; no zone means UTC)."""
    if not published_at:
        return None
    try:
        parsed = dt.datetime.fromisoformat(published_at)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.timezone.utc)
    return parsed.timestamp()


class Signer:
    """Builds signatures; the MinHash permutations are made once, not per document.

    A text's MinHash and a (title, text, language)'s term vector are remembered for the last
    `memo_size` distinct ones (`memo`): syndicated copies are signed once.
    """

    def __init__(self, config: DedupConfig, memo_size: int = memo.DEFAULT_SIZE):
        self._config = config
        self._minhasher = similarity.MinHasher(config.num_perm, config.minhash_seed,
                                               config.shingle_words)
        self._minhashes: memo.Recent[tuple[bytes, int]] = memo.Recent(memo_size)
        self._stories: memo.Recent[tuple[similarity.PackedVector, tuple[str, ...]]] = (
            memo.Recent(memo_size))

    def sign(self, doc: Document, arrival_time: Optional[float] = None) -> DedupSignature:
        """`arrival_time` (seconds) orders documents whose text gives no publication time; the
        horizon applies to publication times only."""
        text = doc.text
        normalized = normalize_for_hash(text)  # once, for the content hash and the shingles
        minhash, shingle_count = self._minhashes.of_text(
            normalized, lambda: self._minhash_of_normalized(normalized))
        language = doc.language.code if doc.language else 'en'
        vector, keys = self._stories.of_text(
            text, lambda: self._packed_story_features(doc.title, text, language),
            doc.title, language)
        return DedupSignature(
            id=doc.id,
            event_time=event_seconds(doc.published_at),
            content_hash=hash_of_normalized(normalized),
            source_key=f'{doc.source.kind}:{doc.source.id}',
            minhash=minhash,
            story_vector=vector,
            story_keys=keys,
            arrival_time=arrival_time,
            shingle_count=shingle_count,
        )

    def _minhash_of_normalized(self, normalized: str) -> tuple[bytes, int]:
        """The MinHash of a normalized text's shingles, and how many distinct shingles it has."""
        shingles = self._minhasher.shingles_of_normalized(normalized)
        return self._minhasher.signature_of_shingles(shingles), len(shingles)

    def _packed_story_features(self, title: Optional[str], text: str,
                               language: str) -> tuple[similarity.PackedVector, tuple[str, ...]]:
        features = similarity.story_features(title, text, language,
                                             top_keys=self._config.story_keys)
        return similarity.PackedVector.of(features.vector), features.keys


class SignDocumentsFn(beam.DoFn):
    """Document -> (document, its signature); in a stream, (document, arrival seconds) -> the same."""

    def __init__(self, config: DedupConfig):
        self._config = config
        self._signer: Optional[Signer] = None

    def setup(self):
        self._signer = Signer(self._config)

    def process(self, item):
        doc, arrival = item if isinstance(item, tuple) else (item, None)
        yield doc, self._signer.sign(doc, arrival)
