"""The similarity measures behind the duplicate tiers, as properties: MinHash estimates Jaccard,
containment follows from it, story vectors are unit vectors whose cosine behaves like one."""

import math
import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from newswire.transforms import similarity
from newswire.transforms.similarity import (MINHASH_DTYPE, SCREEN_SLOTS, MinHasher, PackedVector,
                                            StoryParams, TermColumns, containment, cosine,
                                            minhash_jaccard, minhash_permutations,
                                            shares_central_term, story_cosine_screen,
                                            story_features, term_matrix)

HASHER = MinHasher(num_perm=256, seed=1, shingle_words=3)
# Words for generated texts: a small vocabulary, so generated texts share shingles.
WORDS = st.sampled_from(['harbour', 'pier', 'reopened', 'council', 'bridge', 'river', 'flood',
                         'engineers', 'repairs', 'tuesday', 'budget', 'schools', 'talks', 'minister'])
TEXTS = st.lists(WORDS, min_size=0, max_size=40).map(' '.join)
FAST = settings(max_examples=40, deadline=None)

REPORT = ('The harbour authority reopened the northern pier in Portmere on Tuesday after two months '
          'of repairs. Engineers from Halvik Marine replaced the pier decking, the authority said.')
OTHER = ('The city council approved a budget for schools and libraries on Wednesday, with more '
         'money for school buses in the northern districts.')


# --- MinHash ----------------------------------------------------------------------------------

def test_shingles_are_runs_of_words_after_normalisation():
    assert HASHER.shingles('The Pier, reopened!  On Tuesday.') == {
        'the pier reopened', 'pier reopened on', 'reopened on tuesday'}
    assert HASHER.shingles('Pier reopened') == {'pier reopened'}  # shorter than a shingle: one
    assert HASHER.shingles(' ... ') == set()


@FAST
@given(TEXTS)
def test_a_signature_is_num_perm_hash_values_and_empty_only_for_no_words(text):
    signature = HASHER.signature(text)
    if not text.split():
        assert signature == b''
        assert minhash_jaccard(signature, signature) == 0.0
    else:
        assert len(signature) == 256 * MINHASH_DTYPE.itemsize
        assert signature == HASHER.signature(text.upper())  # normalised: case does not count
        assert minhash_jaccard(signature, signature) == 1.0


@FAST
@given(st.sets(st.text(min_size=1, max_size=12), min_size=1, max_size=30))
def test_the_order_shingles_come_in_does_not_matter(shingles):
    reordered = set(sorted(shingles, reverse=True))
    assert HASHER.signature_of_shingles(shingles) == HASHER.signature_of_shingles(reordered)


@settings(max_examples=200, deadline=None)
@given(st.sets(st.text(alphabet=st.characters(exclude_categories=['Cs']), min_size=1, max_size=40),
               min_size=1, max_size=60))
def test_signature_is_datasketchs_minhash_with_its_default_hash(shingles):
    """The SHA-1 values are computed in bulk here; datasketch's own hash (`sha1_hash32`) per shingle
    must give the same signature."""
    from datasketch import MinHash

    reference = MinHash(num_perm=256, seed=1)
    reference.update_batch([shingle.encode('utf-8') for shingle in shingles])
    assert HASHER.signature_of_shingles(shingles) == reference.hashvalues.astype(MINHASH_DTYPE).tobytes()


@settings(max_examples=25, deadline=None)
@given(st.integers(1, 300), st.integers(0, 2**32 - 1),
       st.sets(st.text(alphabet=st.characters(exclude_categories=['Cs']), min_size=1, max_size=30),
               min_size=1, max_size=1500))
def test_any_seed_and_size_and_long_texts_give_datasketchs_minhash(num_perm, seed, shingles):
    """Other permutation counts and seeds, and more shingles than one block of products."""
    from datasketch import MinHash

    reference = MinHash(num_perm=num_perm, seed=seed)
    reference.update_batch([shingle.encode('utf-8') for shingle in shingles])
    hasher = MinHasher(num_perm=num_perm, seed=seed, shingle_words=3)
    assert hasher.signature_of_shingles(shingles) == reference.hashvalues.astype(MINHASH_DTYPE).tobytes()


def test_permutations_are_datasketchs():
    from datasketch import MinHash

    for num_perm, seed in ((256, 1), (128, 7), (1, 0)):
        a, b = minhash_permutations(num_perm, seed)
        reference = MinHash(num_perm=num_perm, seed=seed)
        assert reference.scheme == 'affine32'  # the scheme `MinHasher` computes
        assert np.array_equal(np.array([a, b]), reference.permutations)
        assert a.dtype == b.dtype == reference.permutations.dtype


def test_signing_an_english_text_imports_neither_datasketch_nor_wordfreq():
    """The signature is computed without datasketch (which imports scipy), and English word
    frequencies are read without importing wordfreq: both are start-up time."""
    import subprocess
    import sys

    code = ('import sys; from newswire.transforms.similarity import MinHasher, story_features; '
            'MinHasher(256, 1, 5).signature("a wire report of some words"); '
            'story_features("Pier reopens", "The harbour pier reopened on Tuesday.", "en"); '
            'print(sorted({"datasketch", "scipy", "wordfreq"} & set(sys.modules)))')
    result = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True,
                            check=True)
    assert result.stdout.strip() == '[]'


def test_signatures_depend_on_the_seed_not_the_instance():
    again = MinHasher(num_perm=256, seed=1, shingle_words=3)
    other_seed = MinHasher(num_perm=256, seed=2, shingle_words=3)
    assert again.signature(REPORT) == HASHER.signature(REPORT)
    assert other_seed.signature(REPORT) != HASHER.signature(REPORT)


@FAST
@given(TEXTS, TEXTS)
def test_minhash_jaccard_is_symmetric_and_estimates_the_shingle_jaccard(a, b):
    sig_a, sig_b = HASHER.signature(a), HASHER.signature(b)
    estimate = minhash_jaccard(sig_a, sig_b)
    assert estimate == minhash_jaccard(sig_b, sig_a) and 0.0 <= estimate <= 1.0
    shingles_a, shingles_b = HASHER.shingles(a), HASHER.shingles(b)
    if shingles_a and shingles_b:
        exact = len(shingles_a & shingles_b) / len(shingles_a | shingles_b)
        # 256 permutations: a standard error of at most 0.031; six of them is no accident.
        assert abs(estimate - exact) <= 0.19
        if exact == 0.0:
            assert estimate < 0.1
        if shingles_a == shingles_b:
            assert estimate == 1.0


def test_signatures_of_different_lengths_share_nothing():
    short = MinHasher(num_perm=64, seed=1, shingle_words=3).signature(REPORT)
    assert minhash_jaccard(short, HASHER.signature(REPORT)) == 0.0


def test_a_light_edit_keeps_most_of_the_signature_and_another_story_little():
    edited = REPORT.replace('two months', 'nine weeks')
    assert minhash_jaccard(HASHER.signature(REPORT), HASHER.signature(edited)) > 0.6
    assert minhash_jaccard(HASHER.signature(REPORT), HASHER.signature(OTHER)) < 0.1


@FAST
@given(st.floats(0.0, 1.0), st.integers(0, 500), st.integers(0, 500))
def test_containment_is_a_share_symmetric_in_the_sizes(jaccard, count_a, count_b):
    value = containment(jaccard, count_a, count_b)
    assert 0.0 <= value <= 1.0
    assert value == containment(jaccard, count_b, count_a)
    # At least the Jaccard, as in exact arithmetic, but for the last bits: with J near 1 and equal
    # sizes, 2J / (1 + J) can round one unit below J.
    assert value >= jaccard * (1 - 1e-15) or min(count_a, count_b) == 0 or jaccard == 0.0


@FAST
@given(st.integers(1, 200), st.integers(1, 200), st.integers(0, 200))
def test_containment_recovers_the_overlap_of_exact_sets(size_a, size_b, shared):
    shared = min(shared, size_a, size_b)
    jaccard = shared / (size_a + size_b - shared)
    assert containment(jaccard, size_a, size_b) == pytest.approx(shared / min(size_a, size_b))


# --- story vectors ------------------------------------------------------------------------------

@FAST
@given(st.one_of(st.none(), TEXTS), TEXTS, st.sampled_from(['en', 'und', 'en-GB', 'xx', None]))
def test_a_story_vector_is_a_sorted_unit_vector_and_its_keys_its_heaviest_terms(title, text,
                                                                                language):
    features = story_features(title, text, language, top_keys=5)
    terms = [term for term, _ in features.vector]
    assert terms == sorted(terms) and len(set(terms)) == len(terms)
    if features.vector:
        assert math.isclose(sum(w * w for _, w in features.vector), 1.0, rel_tol=1e-9)
        assert math.isclose(cosine(features.vector, features.vector), 1.0, rel_tol=1e-9)
    weights = dict(features.vector)
    assert len(features.keys) == min(5, len(weights))
    ranked = sorted(weights.items(), key=lambda tw: (-tw[1], tw[0]))
    assert list(features.keys) == [term for term, _ in ranked[:5]]


def _story_features_by_loops(title, text, language='en', top_keys=8, params=StoryParams()):
    """`story_features` as its definition reads, one token at a time: the reference its faster
    steps (maps over the tokens, the table filled once per distinct word) must equal, float for
    float."""
    frequencies = _wordfreq_table((language or 'en').split('-')[0].lower().replace('und', 'en'))

    def idf(word):
        if len(word) < 2:
            return 0.0
        if word.isdigit():
            return params.year_idf if re.match(r'^(?:19|20)\d\d$', word) else params.number_idf
        frequency = frequencies.get(word) if frequencies else None
        zipf = math.log10(frequency) + 9.0 if frequency else 0.0
        return 0.0 if zipf >= params.stop_zipf else max(params.idf_floor, params.zipf_max - zipf)

    def tokens(text, names):
        out = []
        for gap, token in re.findall(r'(\W*)(\w+)', text):
            if not out or set(gap) & set('.!?;:\n'):
                out.append(None)
            elif names is not None and token[0].isupper():
                stripped = gap.strip()
                if not stripped or stripped[-1] not in '.!?:;"\'\u201c\u201d\n':
                    names.add(token.lower())
            out.append(token.lower())
        return out

    names, counts = set(), {}
    for words, weight in ((tokens(text, names), 1.0), (tokens(title or '', None), params.title_weight)):
        previous = None
        for token in words:
            if token is None or idf(token) == 0.0:
                previous = None
                continue
            counts[token] = counts.get(token, 0.0) + weight
            if params.bigram_weight and previous is not None:
                pair = f'{previous} {token}'
                counts[pair] = counts.get(pair, 0.0) + weight
            previous = token
    weights = {}
    for term, count in counts.items():
        tf = 1.0 + math.log(count) if count >= 1.0 else count
        first, space, second = term.partition(' ')
        if space:
            weight = tf * params.bigram_weight * 0.5 * (idf(first) + idf(second))
            boost = first in names and second in names
        else:
            weight = tf * idf(term)
            boost = term in names
        weights[term] = weight * (params.name_boost if boost else 1.0)
    norm = math.sqrt(sum(w * w for w in weights.values())) or 1.0
    vector = tuple(sorted((t, w / norm) for t, w in weights.items()))
    return vector, tuple(t for t, _ in sorted(vector, key=lambda tw: (-tw[1], tw[0]))[:top_keys])


# Text of words (capitalised or not, some stopwords, numbers and years) and the punctuation the
# tokens and clause breaks are read from, with letters whose case folds oddly.
STORY_TEXT = st.lists(st.one_of(
    st.sampled_from(['Harbour', 'pier', 'the', 'of', 'Portmere', 'reopened', '2024', '17', 'a',
                     'İstanbul', 'STRASSE', 'Σοφία', 'ſ', 'x']),
    st.sampled_from([' ', ', ', '. ', '; ', ': ', '\n', ' "', '" ', '! ', ' - ', '\u201c', '  '])),
    max_size=80).map(''.join)


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.none(), STORY_TEXT), STORY_TEXT | st.text(max_size=200),
       st.sampled_from(['en', 'de', 'und', None, 'xx']),
       st.sampled_from([StoryParams(), StoryParams(title_weight=0.7, bigram_weight=0.0),
                        StoryParams(title_weight=0.3, bigram_weight=0.35, name_boost=2.0,
                                    idf_floor=0.0)]))
def test_story_features_equal_the_one_token_at_a_time_definition(title, text, language, params):
    features = story_features(title, text, language, top_keys=5, params=params)
    vector, keys = _story_features_by_loops(title, text, language, top_keys=5, params=params)
    assert features.vector == vector and features.keys == keys


def _wordfreq_table(code):
    """wordfreq's own table for `code`, None where it has none: the reference's word frequencies."""
    import wordfreq

    try:
        return wordfreq.get_frequency_dict(code)
    except LookupError:
        return None


def test_common_words_carry_no_weight_and_names_weigh_more():
    features = dict(story_features(None, REPORT, 'en').vector)
    assert 'the' not in features and 'after' not in features and 'of' not in features
    # "Portmere" is written capitalised mid-sentence: a name. Lowercased, the same word is not.
    as_word = dict(story_features(None, REPORT.replace('Portmere', 'portmere'), 'en').vector)
    assert features['portmere'] > as_word['portmere']
    # Adjacent content words make a pair term too.
    assert 'northern pier' in features


def test_the_vector_depends_on_the_document_alone():
    first = story_features('Pier reopens', REPORT, 'en')
    story_features('Budget passes', OTHER, 'en')
    assert story_features('Pier reopens', REPORT, 'en') == first


def test_the_same_story_scores_higher_than_another():
    rewrite = ('After two months of repairs, the northern pier in Portmere is open again: the '
               'harbour authority said on Tuesday that Halvik Marine engineers had replaced it.')
    report, same, other = (story_features(None, text, 'en').vector for text in (REPORT, rewrite,
                                                                                OTHER))
    assert cosine(report, same) > 0.3 > cosine(report, other)


VECTORS = st.dictionaries(WORDS, st.floats(0.01, 10.0), max_size=8).map(
    lambda weights: tuple(sorted((t, w / math.sqrt(sum(x * x for x in weights.values())))
                                 for t, w in weights.items())))


@FAST
@given(VECTORS, VECTORS)
def test_cosine_is_symmetric_and_within_zero_and_one(a, b):
    value = cosine(a, b)
    assert value == pytest.approx(cosine(b, a))
    assert -1e-12 <= value <= 1.0 + 1e-9


@FAST
@given(st.lists(VECTORS, max_size=6))
def test_one_sparse_product_holds_every_pairwise_cosine(vectors):
    packed = [PackedVector.of(v) for v in vectors]
    assert [p.unpacked() for p in packed] == [tuple(v) for v in vectors]
    if not vectors:
        return
    products = (term_matrix(packed) @ term_matrix(packed).T).toarray()
    expected = np.array([[cosine(a, b) for b in vectors] for a in vectors])
    assert np.allclose(products, expected)


@FAST
@given(st.lists(st.lists(VECTORS, max_size=6), max_size=5), st.integers(1, 12),
       st.integers(2, 12))
def test_shared_term_columns_give_each_group_the_cosines_of_its_own_matrix(groups, max_terms,
                                                                            max_rows):
    # Small bounds, so that the numbering starts again between groups and a group can be too large.
    columns = TermColumns(max_terms=max_terms, max_rows=max_rows)
    for group in groups + groups[::-1]:  # each group again, its rows numbered by then
        packed = [PackedVector.of(v) for v in group]
        matrix = columns.matrix(packed)
        assert matrix.shape[0] == len(packed)
        products = (matrix @ matrix.T).toarray()
        expected = np.array([[cosine(a, b) for b in group] for a in group]).reshape(products.shape)
        assert np.allclose(products, expected, rtol=0, atol=1e-12)


def test_shared_term_columns_number_a_report_once_and_start_again_past_their_bounds():
    reports = [PackedVector.of(story_features(None, text).vector) for text in (REPORT, OTHER)]
    flood = PackedVector.of((('flood', 1.0),))
    columns = TermColumns(max_terms=10 ** 6, max_rows=4)
    numbered = []
    number = columns._numbered
    columns._numbered = lambda vector: numbered.append(vector) or number(vector)
    first = columns.matrix(reports)
    assert columns.matrix(reports[::-1]).shape == first.shape  # no new terms, no new columns
    assert numbered == reports
    columns.matrix([flood])
    assert columns.matrix([flood]).shape[1] == first.shape[1] + 1
    # Three rows numbered: two more would pass max_rows, so the numbering starts again.
    assert columns.matrix(reports).shape[1] == first.shape[1]
    assert numbered == reports + [flood] + reports
    few_terms = TermColumns(max_terms=3, max_rows=100)
    few_terms.matrix(reports)
    assert few_terms.matrix([flood]).shape[1] == 1
    # A group larger than half of max_rows is a matrix of its own: nothing numbered.
    alone = TermColumns(max_terms=10 ** 6, max_rows=3)
    assert alone.matrix(reports).shape == term_matrix(reports).shape
    assert not alone._rows


def test_reports_share_a_central_term_when_either_ones_heaviest_is_in_the_other():
    pier = PackedVector.of((('pier', 0.8), ('portmere', 0.6)))
    also_pier = PackedVector.of((('harbour', 0.9), ('pier', 0.436)))
    budget = PackedVector.of((('budget', 0.8), ('schools', 0.6)))
    assert shares_central_term(pier, also_pier) and shares_central_term(also_pier, pier)
    assert not shares_central_term(pier, budget)
    assert not shares_central_term(PackedVector(), pier)


_WORDS = ('ceasefire', 'border', 'delegation', 'mines', 'Baku', 'Yerevan', 'Tbilisi', 'treaty',
          'missing', 'remains', 'exhumation', 'corridor', 'talks', 'minister', 'villages', 'returns')


@settings(max_examples=60, deadline=None)
@given(st.lists(st.lists(st.sampled_from(_WORDS), min_size=0, max_size=40), min_size=1,
                max_size=12))
def test_the_story_screen_is_never_below_a_cosine_beyond_rounding(texts):
    vectors = [PackedVector.of(story_features(None, ' '.join(words)).vector) for words in texts]
    first, others = vectors[0], vectors[1:]
    screen = story_cosine_screen(first, others)
    assert screen.shape == (len(others),)
    for other, value in zip(others, screen.tolist()):
        exact = cosine(first.unpacked(), other.unpacked())
        terms = set(first.weights_by_term()) | set(other.weights_by_term())
        if len({hash(term) % SCREEN_SLOTS for term in terms}) == len(terms):
            # Equal but for the order of the additions: no two terms share a slot.
            assert value == pytest.approx(exact, abs=1e-12)
        else:
            assert value >= exact - 1e-12


def test_terms_that_share_a_slot_keep_the_screen_above_the_cosine(monkeypatch):
    # One slot for every term: the screen is the product of the two weight sums, and a table that
    # kept one weight per slot instead of their sum would fall below the cosine.
    monkeypatch.setattr(similarity, 'SCREEN_SLOTS', 1)
    similarity._slotted_terms.cache_clear()
    try:
        first = PackedVector.of(story_features(None, 'ceasefire border delegation Baku').vector)
        other = PackedVector.of(story_features(None, 'border talks Baku minister').vector)
        unrelated = PackedVector.of(story_features(None, 'villages returns corridor').vector)
        screen = story_cosine_screen(first, [other, unrelated, PackedVector()]).tolist()
    finally:
        similarity._slotted_terms.cache_clear()
    sums = [sum(vector.weights_by_term().values()) for vector in (first, other, unrelated)]
    assert screen == pytest.approx([sums[0] * sums[1], sums[0] * sums[2], 0.0], abs=1e-12)
    assert screen[0] > cosine(first.unpacked(), other.unpacked()) > 0.0
