"""Signatures: event times, content hash, MinHash bytes and the term vector."""

import dataclasses

from newswire.transforms import similarity
from newswire.transforms.dedup import event_seconds
from tests.transforms.dedup.documents import ARTICLE, CONFIG, SIGNER, make_doc, near_copy_of


def test_event_seconds():
    assert event_seconds('2023-11-14') == event_seconds('2023-11-14T00:00:00+00:00')
    assert event_seconds('2023-11-14T04:00:00+04:00') == event_seconds('2023-11-14')
    assert event_seconds(None) is None and event_seconds('garbage') is None


def test_signature_normalises_once_to_the_same_hash_and_shingles():
    from newswire.transforms.records import content_hash, hash_of_normalized, normalize_for_hash
    text = 'Ünïcode  TEXT, with—punctuation… and ﬁ ligatures!'
    assert hash_of_normalized(normalize_for_hash(text)) == content_hash(text)
    hasher = similarity.MinHasher(CONFIG.num_perm, CONFIG.minhash_seed, CONFIG.shingle_words)
    assert hasher.shingles_of_normalized(normalize_for_hash(ARTICLE)) == hasher.shingles(ARTICLE)
    assert SIGNER.sign(make_doc('a', ARTICLE)).content_hash == content_hash(ARTICLE)


def _tuple_jaccard(a, b):
    """The share of equal values as computed on tuples of Python ints, before signatures were bytes."""
    import numpy as np
    if not a or not b or len(a) != len(b):
        return 0.0
    return float(np.mean(np.asarray(a, dtype=np.uint64) == np.asarray(b, dtype=np.uint64)))


def test_minhash_bytes_hold_the_hash_values_and_their_jaccard_is_the_tuple_one():
    import numpy as np
    texts = [ARTICLE, near_copy_of(ARTICLE), ' '.join(ARTICLE.split(' ')[:48]), 'short text', '']
    signatures = [SIGNER.sign(make_doc(f'd{i}', text)).minhash for i, text in enumerate(texts)]
    assert len(signatures[0]) == CONFIG.num_perm * 4 and signatures[-1] == b''
    from datasketch import MinHash
    reference = MinHash(num_perm=CONFIG.num_perm, seed=CONFIG.minhash_seed)
    reference.update_batch([s.encode() for s in similarity.MinHasher(
        CONFIG.num_perm, CONFIG.minhash_seed, CONFIG.shingle_words).shingles(ARTICLE)])
    assert np.frombuffer(signatures[0], similarity.MINHASH_DTYPE).tolist() == [
        int(v) for v in reference.hashvalues]
    as_tuples = [tuple(np.frombuffer(s, similarity.MINHASH_DTYPE).tolist()) for s in signatures]
    for a, ta in zip(signatures, as_tuples):
        for b, tb in zip(signatures, as_tuples):
            assert similarity.minhash_jaccard(a, b) == _tuple_jaccard(ta, tb)
    assert 0.5 < similarity.minhash_jaccard(signatures[0], signatures[1]) < 1.0


def test_packed_term_vector_gives_back_the_very_vector():
    features = similarity.story_features('Talks resume in Baku', ARTICLE, 'en')
    packed = similarity.PackedVector.of(features.vector)
    assert packed.unpacked() == features.vector and len(packed.weights) == 8 * len(features.vector)
    assert SIGNER.sign(make_doc('a', ARTICLE, title='Talks resume in Baku')).story_vector == packed
    assert similarity.PackedVector.of(()).unpacked() == () and not similarity.PackedVector().terms
    matrix = similarity.term_matrix([packed, similarity.PackedVector(), packed])
    assert matrix.shape == (3, len(features.vector)) and matrix[1].nnz == 0
    assert abs((matrix @ matrix.T)[0, 2] - 1.0) < 1e-12


def test_central_term_is_the_heaviest_and_the_first_key():
    features = similarity.story_features('Talks resume in Baku', ARTICLE, 'en')
    packed = similarity.PackedVector.of(features.vector)
    assert packed.central_term() == features.keys[0]
    tied = similarity.PackedVector.of((('baku', 0.6), ('icrc', 0.6), ('talks', 0.529)))
    assert tied.central_term() == 'baku'  # a tie goes to the first term, as in the keys
    assert tied.has_term('icrc') and not tied.has_term('icr') and not tied.has_term('')
    assert similarity.PackedVector().central_term() == ''


def test_normalized_text_is_its_alphanumeric_runs_casefolded():
    import sys
    import unicodedata
    from newswire.transforms.records import normalize_for_hash
    every_character = ''.join(map(chr, range(sys.maxunicode + 1)))
    text = f'Ǆemal   Bijedić—Stadium_2 ½ (3²) {every_character}'
    folded = unicodedata.normalize('NFKC', text).casefold()
    by_character = ' '.join(''.join(c if c.isalnum() else ' ' for c in folded).split())
    assert normalize_for_hash(text) == by_character
    assert normalize_for_hash('Stadium_2, ½!') == 'stadium 2 1 2'  # NFKC: ½ is 1⁄2


def test_word_weights_are_kept_across_documents_and_bounded(monkeypatch):
    similarity._idf_table.cache_clear()
    first = similarity.story_features('Talks resume in Baku', ARTICLE, 'en')
    table = similarity._idf_table('en', similarity.DEFAULT_STORY_PARAMS)
    assert 'exhumation' in table
    assert similarity.story_features('Talks resume in Baku', ARTICLE, 'en') == first  # from the table
    monkeypatch.setattr(similarity, '_IDF_TABLE_MAX_WORDS', 10)
    assert similarity.story_features('Talks resume in Baku', ARTICLE, 'und') == first  # 'und' is 'en'
    assert 10 < len(table) < 200  # emptied once past the bound, then filled by this document only


def test_copies_word_for_word_are_signed_once_and_alike():
    from newswire.transforms.dedup import Signer
    from newswire.transforms.records import Language
    # Copies of one text under other titles, in other spacing and case (one normalized text), in
    # another language, and more distinct texts than the memo holds.
    variants = [ARTICLE, ARTICLE.upper(), ARTICLE.replace(' ', '  '), near_copy_of(ARTICLE)]
    docs = [make_doc(f'd{i}', variants[i % 4], title=('Missing', None, 'Remains')[i % 3])
            for i in range(24)]
    docs += [make_doc(f'x{i}', f'{ARTICLE} Item {i}.') for i in range(5)] * 2
    docs.append(dataclasses.replace(docs[0], id='ru', language=Language('ru', 1.0)))
    memo = Signer(CONFIG, memo_size=4)
    for signer in (memo, Signer(CONFIG, memo_size=0)):
        assert [signer.sign(d) for d in docs] == [Signer(CONFIG).sign(d) for d in docs]
    first, again = memo.sign(docs[0]), memo.sign(docs[0])
    assert again.minhash is first.minhash and again.story_vector is first.story_vector
