"""What the batch shuffle carries of a document into a bucket: only what that bucket's test reads,
in a compact form (`BucketEntry` packed as bytes, `StoryEntry` as a plain tuple)."""

from __future__ import annotations

import struct
from typing import NamedTuple, Optional

from newswire.transforms import similarity

class BucketEntry(NamedTuple):
    """All that a batch bucket which only orders its documents reads of each: exact buckets (their
    test is sharing the key) and band buckets (which only name pairs). It is shuffled packed in
    one bytes value (`pack_bucket_entry`), which Beam's coder writes without pickling: a signature
    goes into some 70 buckets, and each copy is decoded where its bucket is read."""
    order_key: tuple
    event_time: Optional[float]
    content_hash: str

    @property
    def id(self) -> str:
        return self.order_key[2]


class StoryEntry(NamedTuple):
    """All that a batch story bucket reads of each document (`compare_bucket` on a story-term key).
    Shuffled as a plain tuple with the vector's two fields, which Beam's coder writes without
    pickling, like `BucketEntry`: a document goes into `story_keys` such buckets."""
    order_key: tuple
    event_time: Optional[float]
    story_vector: similarity.PackedVector

    @property
    def id(self) -> str:
        return self.order_key[2]


# A `BucketEntry` packed as one bytes value: (time unknown, time, event time known, event time,
# id length), then the id and the content hash, UTF-8.
_PACKED_ENTRY = struct.Struct('<?d?dI')


def pack_bucket_entry(order_key: tuple, event_time: Optional[float], content_hash: str) -> bytes:
    """A `BucketEntry` as one bytes object. The runner holds every entry of the shuffle at once, a
    document's in some 70 buckets: one small object each instead of a tuple of five."""
    unknown, when, doc_id = order_key
    encoded_id = doc_id.encode('utf-8')
    return (_PACKED_ENTRY.pack(unknown, when, event_time is not None, event_time or 0.0,
                               len(encoded_id))
            + encoded_id + content_hash.encode('utf-8'))


def unpack_bucket_entry(packed: bytes) -> 'BucketEntry':
    unknown, when, has_event_time, event_time, id_length = _PACKED_ENTRY.unpack_from(packed)
    start = _PACKED_ENTRY.size
    doc_id = packed[start:start + id_length].decode('utf-8')
    return BucketEntry((unknown, when, doc_id), event_time if has_event_time else None,
                       packed[start + id_length:].decode('utf-8'))
