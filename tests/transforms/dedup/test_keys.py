"""Candidate keys."""

import hashlib

import pytest

from newswire.transforms import similarity
from newswire.transforms.dedup import candidate_keys
from newswire.transforms.dedup.keys import (CandidateKey, KeyKind, band_group_key,
                                            band_of_group)
from tests.transforms.dedup.documents import ARTICLE, CONFIG, SIGNER, make_doc, near_copy_of


def test_near_copy_signature_similarity_is_high_and_rewrite_low():
    original = SIGNER.sign(make_doc('a', ARTICLE))
    copy = SIGNER.sign(make_doc('b', near_copy_of(ARTICLE)))
    shared_bands = (
        {k for k, _ in candidate_keys(original, CONFIG) if k.kind is KeyKind.BAND}
        & {k for k, _ in candidate_keys(copy, CONFIG) if k.kind is KeyKind.BAND})
    assert shared_bands, 'a near copy shares at least one LSH band'


def test_each_bucket_copy_carries_only_what_its_test_reads():
    signature = SIGNER.sign(make_doc('a', ARTICLE, '2023-11-14'))
    keyed = list(candidate_keys(signature, CONFIG))
    for key, copy in keyed:
        assert (copy.id, copy.order_key, copy.content_hash) == (
            signature.id, signature.order_key, signature.content_hash)
        assert copy.minhash == (signature.minhash if key.kind is KeyKind.BAND else b'')
        assert copy.story_vector == (signature.story_vector if key.kind is KeyKind.TERM
                                     else similarity.PackedVector())
        assert copy.story_keys == ()
    assert {key.kind for key, _ in keyed} == set(KeyKind)


def test_a_key_encodes_to_its_shuffle_string_and_decodes_to_itself():
    signature = SIGNER.sign(make_doc('a', ARTICLE, '2023-11-14', source_id='wire:7'))
    keys = [key for key, _ in candidate_keys(signature, CONFIG)]
    encoded = [key.encode() for key in keys]
    # The shuffles group by these strings: the kind's letter (a band's with its number) first.
    assert encoded[:2] == [f'x:{signature.content_hash}', 's:jsonl:wire:7']
    width = CONFIG.lsh_rows * 4
    assert encoded[2:2 + CONFIG.lsh_bands] == [
        f'b{band}:' + hashlib.blake2b(signature.minhash[band * width:(band + 1) * width],
                                      digest_size=10).hexdigest()
        for band in range(CONFIG.lsh_bands)]
    assert encoded[2 + CONFIG.lsh_bands:] == [f't:{term}' for term in signature.story_keys]
    assert [CandidateKey.decode(e) for e in encoded] == keys
    # A value may hold the separator itself: only the first one ends the kind.
    assert CandidateKey.decode('t:a:b') == CandidateKey(KeyKind.TERM, 'a:b')


def test_keys_order_as_their_encodings():
    keys = [CandidateKey(KeyKind.BAND, 'ff', 10), CandidateKey(KeyKind.TERM, 'baku'),
            CandidateKey(KeyKind.BAND, '00', 2), CandidateKey(KeyKind.CONTENT, '9a'),
            CandidateKey(KeyKind.SOURCE, 'jsonl:x'), CandidateKey(KeyKind.BAND, '01', 2)]
    assert [k.encode() for k in sorted(keys)] == sorted(k.encode() for k in keys)
    assert sorted(keys)[0] == CandidateKey(KeyKind.BAND, 'ff', 10)  # 'b10:' sorts before 'b2:'
    assert CandidateKey(KeyKind.TERM, 'a') <= CandidateKey(KeyKind.TERM, 'a')


def test_kinds_say_which_are_exact_and_which_can_be_dropped():
    assert [kind for kind in KeyKind if kind.exact] == [KeyKind.CONTENT, KeyKind.SOURCE]
    assert {kind: kind.capped_name for kind in KeyKind} == {
        KeyKind.CONTENT: None, KeyKind.SOURCE: None,
        KeyKind.BAND: 'lsh_band', KeyKind.TERM: 'story_term'}


def test_a_malformed_key_names_what_was_expected_and_what_arrived():
    with pytest.raises(ValueError, match="one of x, s, b, t; got 'q:1'"):
        CandidateKey.decode('q:1')
    with pytest.raises(ValueError, match="<kind>:<value>; got 'tbaku'"):
        CandidateKey.decode('tbaku')


def test_a_band_group_holds_the_band_and_the_first_byte_of_the_digest():
    key = CandidateKey(KeyKind.BAND, '3fa2' + '00' * 8, 41)
    assert band_group_key(key) == 'b41:3f'
    assert band_of_group(band_group_key(key)) == 41
    assert KeyKind.of_encoded(band_group_key(key)) is KeyKind.BAND
