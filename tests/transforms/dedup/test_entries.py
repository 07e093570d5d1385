"""The batch shuffle's packed bucket entries."""

from newswire.transforms.dedup import pack_bucket_entry, unpack_bucket_entry
from tests.transforms.dedup.documents import ARTICLE, SIGNER, make_doc


def test_a_packed_bucket_entry_gives_back_the_very_entry():
    for signature in (SIGNER.sign(make_doc('é-1', ARTICLE, '2023-11-14T10:00:00')),
                      SIGNER.sign(make_doc('undated', ARTICLE))):
        entry = (signature.order_key, signature.event_time, signature.content_hash)
        assert unpack_bucket_entry(pack_bucket_entry(*entry)) == entry
