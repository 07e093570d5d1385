"""langdetect_fast against langdetect itself: the same languages and probabilities, bit for bit."""

import json
import os
import random
import shutil

import numpy as np
import pytest
from langdetect import detector_factory
from langdetect.lang_detect_exception import LangDetectException
from langdetect.utils.ngram import NGram

from newswire.evaluation.evaluate import load_language_items
from newswire.transforms.langdetect_fast import FastLangdetect, load_profiles
from tests.conftest import SEEDS, SHARED_EVAL

LANGID = SHARED_EVAL / 'langid-lingua-testdata'
ECB = SHARED_EVAL / 'same-story-ecbplus' / 'docs.jsonl'
needs_data = pytest.mark.skipif(not SHARED_EVAL.is_dir(), reason='shared/eval is not beside the repo')


def _langdetect(text, seed=0):
    """langdetect's own detect_langs with a seed: the oracle."""
    detector_factory.init_factory()
    detector = detector_factory._factory.create()
    detector.seed = seed  # what DetectorFactory.seed would hand it, without setting langdetect's global
    detector.append(text)
    try:
        return [(found.lang, found.prob) for found in detector.get_probabilities()]
    except LangDetectException:  # no known n-gram
        return []


FAST = FastLangdetect(0)


def _assert_same(texts, seed=0):
    """Each text alone and all of them together (`probabilities_many`) give langdetect's answers."""
    fast = FAST if seed == 0 else FastLangdetect(seed)
    expected = [_langdetect(text, seed) for text in texts]
    for way, answers in (('alone', [fast.probabilities(text) for text in texts]),
                         ('together', fast.probabilities_many(texts))):
        differing = [(text[:60], wanted, got) for text, wanted, got in zip(texts, expected, answers)
                     if wanted != got]
        assert not differing, f'{way}: {len(differing)} of {len(texts)} differ, first: {differing[0]}'


def test_languages_are_langdetects_in_its_order():
    detector_factory.init_factory()
    assert list(FAST.languages) == detector_factory._factory.get_lang_list()


@pytest.mark.slow  # both detectors over 75 languages' sentences
@needs_data
def test_same_as_langdetect_on_sentences_of_75_languages():
    items = load_language_items(str(LANGID / 'sentences.tsv'), limit=10)
    assert len({lang for lang, _ in items}) == 75 and len(items) >= 700
    _assert_same([text for _, text in items])


@pytest.mark.slow
@needs_data
def test_same_as_langdetect_on_word_pairs():
    _assert_same([text for _, text in load_language_items(str(LANGID / 'word-pairs.tsv'), limit=3)])


def test_same_as_langdetect_on_the_seeds():
    texts = [path.read_text(encoding='utf-8') for path in sorted(SEEDS.glob('*.txt'))]
    _assert_same(texts + [text[:3000] for text in texts])


@needs_data
def test_same_as_langdetect_on_news_articles():
    with open(ECB, encoding='utf-8') as handle:
        texts = [json.loads(line)['text'] for line in handle]
    _assert_same([text[:3000] for text in texts[::8]])


EDGE_CASES = [
    '',
    '12345 !!! ???',
    'see https://example.com/a?b=c and mail someone@example.org now',
    'NATO AND THE UN MET IN NEW YORK. The UN said NATO agreed.',
    'ÉTATS-UNIS: Le Président a parlé. WHO said aBCdEF GhIJ',
    'Tiếng Việt có dấu: Thành phố Hồ Chí Minh',
    'Tie\u0302\u0301ng Vie\u0323\u0302t vi\u0301 du\u0323',  # combining marks, normalize_vi
    'Rom\u00e2nia: \u0219coal\u0103 \u0219i \u021bar\u0103',  # comma-below s and t
    '\u06cc\u06a9 \u0631\u0648\u0632 \u062e\u0648\u0628 \u0627\u0633\u062a',  # Farsi yeh
    '東京都の人口は増えています。カタカナ ひらがな 中华人民共和国 한국어 문장',
    'Москва and Berlin: министр встретился с коллегой in the city',
    'Москва Berlin: министр встретился с коллегой',  # mostly not Latin: Latin letters are dropped
    'lone \ud800 surrogate and emoji \U0001F600 and \U00010400 Deseret',
    '  many     spaces\t\tand\nnew\n\nlines  ',
    'word ' * 3000,  # past the 10000 characters langdetect reads
    'ENDS IN CAPITALS', 'ends with a space ', ' starts with one', 'X', '   ',
]


@pytest.mark.parametrize('text', EDGE_CASES)
def test_same_as_langdetect_on_edge_cases(text):
    _assert_same([text])


def test_edge_cases_side_by_side():
    """Texts laid end to end share no n-gram, whatever ends one and starts the next."""
    _assert_same(EDGE_CASES + EDGE_CASES[::-1] + [case.upper() for case in EDGE_CASES])


@pytest.mark.parametrize('seed', [1, 12345])
def test_same_as_langdetect_with_other_seeds(seed):
    _assert_same(['The foreign ministers met in Washington to discuss the peace treaty.',
                  'Les négociations continuent. Die Gespräche gehen weiter.'], seed)


def test_random_texts_over_mixed_alphabets():
    alphabet = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ    .,-' \
               'éèàçüößøåñ' 'абвгдежзиклмнопрстуфхцчшщыэюя' 'αβγδεζηθικλμνξοπρστυφχψω' 'אבגדהוזחטיכלמנסעפצקרשת'
    rng = random.Random(7)
    _assert_same([''.join(rng.choice(alphabet) for _ in range(rng.randrange(1, 400))) for _ in range(60)])


@pytest.mark.slow  # a million code points
def test_normalisation_leaves_characters_beyond_the_basic_plane_alone():
    """load_profiles computes NGram.normalize for the Basic Multilingual Plane only."""
    assert all(NGram.normalize(chr(cp)) == chr(cp) for cp in range(0x10000, 0x110000))
    assert load_profiles().normalized[0x1F600] == 0x1F600


def test_the_capitals_table_is_str_isupper_for_every_code_point():
    upper = load_profiles().upper
    assert upper.tolist() == [chr(cp).isupper() for cp in range(0x110000)]


@pytest.mark.parametrize('n', [1, 2, 3, 7, 64, 1000, 1024, 3431, 30000])
def test_draws_are_the_choices_and_gausses_of_random(n):
    """_Draws against random.Random itself: trials of made-up lengths, each a gauss then choices."""
    from newswire.transforms.langdetect_fast import _Draws, _RandomStream

    items = list(range(n))
    lengths = [1, 6, 46, 0, 3, 211, 4096, 2, 17]
    reference = random.Random(5)
    expected = [(reference.gauss(0.0, 1.0), [reference.choice(items) for _ in range(length)])
                for length in lengths]
    draws, got = _Draws(_RandomStream(), 5, n), []
    for length in lengths:
        value = draws.gauss()
        peeked = draws.peek(0, length + 3)  # looking further than a trial goes uses nothing up
        got.append((value, draws.peek(0, length).tolist()))
        assert peeked[:length].tolist() == got[-1][1]
        draws.consume(length)
    assert got == expected


@pytest.mark.parametrize('count', [0, 1, 5, 3000, 60000])
def test_key_table_finds_what_a_dict_finds(count):
    import numpy as np

    from newswire.transforms.langdetect_fast import KeyTable

    rng = np.random.default_rng(count)
    # Keys as n-gram keys are: up to three 21-bit code points, many sharing their low bits.
    keys = np.unique(rng.integers(0, 1 << 63, size=count, dtype=np.int64) >> rng.integers(0, 63, count))
    rows = rng.permutation(len(keys)).astype(np.int64)
    table = KeyTable.of(keys, rows)
    asked = np.concatenate([keys, rng.integers(0, 1 << 63, size=2 * count + 3, dtype=np.int64),
                            keys + 1, np.zeros(1, dtype=np.int64)])
    expected = dict(zip(keys.tolist(), rows.tolist()))
    assert table.lookup(asked).tolist() == [expected.get(key, -1) for key in asked.tolist()]


def _assert_same_profiles(got, expected):
    assert got.languages == expected.languages
    assert np.array_equal(got.probabilities, expected.probabilities)
    for ours, theirs in zip(got.tables, expected.tables, strict=True):
        assert (ours.shift, ours.probes) == (theirs.shift, theirs.probes)
        assert np.array_equal(ours.slots, theirs.slots) and np.array_equal(ours.rows, theirs.rows)
    assert np.array_equal(got.normalized, expected.normalized)
    assert np.array_equal(got.upper, expected.upper)


def test_profiles_are_built_once_per_machine_and_mapped_from_there_after(tmp_path, monkeypatch):
    from newswire.transforms import langdetect_fast

    in_memory = langdetect_fast.profiles_through(detector_factory.PROFILES_DIRECTORY, None)
    built = langdetect_fast.profiles_through(detector_factory.PROFILES_DIRECTORY, tmp_path)
    _assert_same_profiles(built, in_memory)

    def no_building(*arguments):
        raise AssertionError('built again')

    monkeypatch.setattr(langdetect_fast, '_profile_arrays', no_building)
    mapped = langdetect_fast.profiles_through(detector_factory.PROFILES_DIRECTORY, tmp_path)
    _assert_same_profiles(mapped, in_memory)
    assert isinstance(mapped.probabilities.base, np.memmap)
    text = 'The harbour authority reopened the northern pier on Tuesday after repairs.'
    assert (FastLangdetect(0, mapped).probabilities(text)
            == FastLangdetect(0, in_memory).probabilities(text) == _langdetect(text))


def test_changed_profiles_are_built_anew(tmp_path):
    from newswire.transforms import langdetect_fast

    profiles = tmp_path / 'profiles'
    profiles.mkdir()
    for language in ('en', 'de', 'fr'):
        shutil.copy(os.path.join(detector_factory.PROFILES_DIRECTORY, language), profiles)
    cache = tmp_path / 'cache'
    assert sorted(langdetect_fast.profiles_through(str(profiles), cache).languages) == [
        'de', 'en', 'fr']
    (profiles / 'fr').unlink()
    assert sorted(langdetect_fast.profiles_through(str(profiles), cache).languages) == ['de', 'en']
    assert len(list((cache / 'langdetect').iterdir())) == 2
