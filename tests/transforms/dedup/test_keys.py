"""Candidate keys."""

from newswire.transforms import similarity
from newswire.transforms.dedup import candidate_keys
from tests.transforms.dedup.documents import ARTICLE, CONFIG, SIGNER, make_doc, near_copy_of


def test_near_copy_signature_similarity_is_high_and_rewrite_low():
    original, copy = SIGNER.sign(make_doc('a', ARTICLE)), SIGNER.sign(make_doc('b', near_copy_of(ARTICLE)))
    shared_bands = {k for k, _ in candidate_keys(original, CONFIG) if k.startswith('b')} & {
        k for k, _ in candidate_keys(copy, CONFIG) if k.startswith('b')}
    assert shared_bands, 'a near copy shares at least one LSH band'


def test_each_bucket_copy_carries_only_what_its_test_reads():
    signature = SIGNER.sign(make_doc('a', ARTICLE, '2023-11-14'))
    keyed = list(candidate_keys(signature, CONFIG))
    for key, copy in keyed:
        assert (copy.id, copy.order_key, copy.content_hash) == (
            signature.id, signature.order_key, signature.content_hash)
        assert copy.minhash == (signature.minhash if key[0] == 'b' else b'')
        assert copy.story_vector == (signature.story_vector if key[0] == 't'
                                     else similarity.PackedVector())
        assert copy.story_keys == ()
    assert sorted({key[0] for key, _ in keyed}) == ['b', 's', 't', 'x']
