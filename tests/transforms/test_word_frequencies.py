import pathlib

import numpy as np
import pytest

from newswire.transforms import word_frequencies
from newswire.transforms.word_frequencies import WordFrequencies, load_language

ABSENT = ['qzxvkj', 'harbourpierreopened', '', 'x' * 300, 'pier\ud800', '\udcff']


def _wordfreq(code):
    import wordfreq

    return wordfreq.get_frequency_dict(code)


def _wordfreq_languages():
    data = pathlib.Path(word_frequencies.wordlist_path('en')).parent
    return sorted({p.name.split('.')[0].split('_')[1] for p in data.glob('*_*.msgpack.gz')
                   if not p.name.startswith('_')})


def _assert_same_as(table, theirs, language='', step=1):
    words = list(theirs)[::step]
    assert table.lookup(words) == [theirs[word] for word in words], language
    assert table.lookup(ABSENT) == [None] * len(ABSENT), language
    assert len(table) == len(theirs)


@pytest.mark.slow  # builds every language's arrays and looks up each of its words: some 50 s
def test_each_languages_table_gives_wordfreqs_frequency_for_every_word(tmp_path):
    languages = _wordfreq_languages()
    assert {'en', 'ru', 'tr', 'uk', 'de'} <= set(languages)
    for language in languages:
        _assert_same_as(load_language(language, tmp_path), _wordfreq(language), language)


def test_english_as_the_pipeline_reads_it_is_wordfreqs():
    _assert_same_as(word_frequencies.of_language('en'), _wordfreq('en'))


def test_a_table_is_built_once_into_the_cache_and_then_read_from_it(tmp_path, monkeypatch):
    built = load_language('el', tmp_path)
    directories = list((tmp_path / 'wordfreq' / 'v1').iterdir())
    assert len(directories) == 1 and directories[0].name.startswith('small_el-')
    assert sorted(p.name for p in directories[0].iterdir()) == [
        'frequencies.npy', 'hashes.npy', 'offsets.npy', 'salt.npy', 'words.npy']

    def no_reading(path):
        raise AssertionError(f'read {path} again')

    monkeypatch.setattr(word_frequencies, 'read_wordlist', no_reading)
    again = load_language('el', tmp_path)
    _assert_same_as(again, _wordfreq('el'))
    assert again.lookup(['και', 'pier']) == built.lookup(['και', 'pier']) != [None, None]


@pytest.mark.parametrize('code, closest', [
    ('hr', 'sh'), ('ka', 'en'),
    # Russian's list is the largest: building it takes a few seconds.
    pytest.param('az', 'ru', marks=pytest.mark.slow),
    pytest.param('hy', 'ru', marks=pytest.mark.slow)])
def test_codes_without_a_list_of_their_own_get_wordfreqs_closest_from_the_cache(
        tmp_path, monkeypatch, code, closest):
    # Croatian's list is under 'sh' (Serbo-Croatian); the region's languages without a list get
    # what wordfreq's own matching gives them, through the same cached arrays as the list's own code.
    assert word_frequencies.closest_listed_language(code) == closest
    theirs = _wordfreq(code)
    _assert_same_as(load_language(code, tmp_path), theirs, step=7)
    stored = [path.name for path in (tmp_path / 'wordfreq' / 'v1').iterdir()]
    assert len(stored) == 1 and stored[0].split('-')[0].endswith(f'_{closest}')

    def no_reading(path):
        raise AssertionError(f'read {path} again')

    monkeypatch.setattr(word_frequencies, 'read_wordlist', no_reading)
    _assert_same_as(load_language(code, tmp_path), theirs, step=7)
    _assert_same_as(load_language(closest, tmp_path), theirs, step=7)


def test_codes_wordfreq_has_no_list_for_get_none(tmp_path):
    for code in ('zz', 'xx', '', 'not a code'):
        assert word_frequencies.closest_listed_language(code) is None
        assert load_language(code, tmp_path) is None
    assert not (tmp_path / 'wordfreq').exists()


def test_a_cache_that_cannot_be_written_leaves_the_table_in_memory(tmp_path):
    blocked = tmp_path / 'a-file'
    blocked.write_text('not a directory')
    _assert_same_as(load_language('lt', blocked), _wordfreq('lt'))
    _assert_same_as(load_language('lt', None), _wordfreq('lt'))


def test_a_damaged_table_is_built_again(tmp_path):
    load_language('da', tmp_path)
    directory = next((tmp_path / 'wordfreq' / 'v1').iterdir())
    np.save(directory / 'offsets.npy', np.arange(5, dtype='<i8'))  # whole, but not the others' fit
    _assert_same_as(load_language('da', tmp_path), _wordfreq('da'))
    assert len(np.load(directory / 'offsets.npy')) > 5  # rebuilt in place


def test_words_sharing_a_hash_get_another_salt(monkeypatch):
    real = word_frequencies._hashes

    def colliding_without_salt(encoded, salt):
        hashes = real(encoded, salt)
        return hashes % np.uint64(3) if salt == b'\x00' else hashes

    monkeypatch.setattr(word_frequencies, '_hashes', colliding_without_salt)
    words = {f'word{n}': 1.0 / (n + 1) for n in range(50)}
    table = WordFrequencies.of_mapping(words)
    assert table.lookup(list(words)) == list(words.values())
    assert table.lookup(['word50', 'word']) == [None, None]


def test_lookups_of_nothing_and_in_an_empty_table():
    assert WordFrequencies.of_mapping({'pier': 0.5}).lookup([]) == []
    empty = WordFrequencies.of_mapping({})
    assert len(empty) == 0 and empty.lookup(['pier']) == [None] and empty.get('pier') is None


def test_a_word_whose_hash_is_found_is_still_checked_against_the_listed_word(monkeypatch):
    real = word_frequencies._hashes
    # Hashes of 10 bits: the 50 listed words fit under some salt, and most of 2,000 other words
    # share a hash with a listed one.
    monkeypatch.setattr(word_frequencies, '_hashes',
                        lambda encoded, salt: real(encoded, salt) % np.uint64(1024))
    words = {f'word{n}': 1.0 / (n + 1) for n in range(50)}
    table = WordFrequencies.of_mapping(words)
    others = [f'other{n}' for n in range(2000)]
    shared = np.isin(word_frequencies._hashes([w.encode() for w in others], table._salt),
                     table._hashes)
    assert shared.sum() > 50
    assert table.lookup(others) == [None] * len(others)
    assert table.lookup(list(words)) == list(words.values())


def test_a_list_in_a_format_it_cannot_read_is_wordfreqs_own_dict_in_memory(tmp_path, monkeypatch):
    monkeypatch.setattr(word_frequencies, 'read_wordlist', lambda path: None)
    _assert_same_as(load_language('el', tmp_path), _wordfreq('el'))
    assert not (tmp_path / 'wordfreq').exists() or not list((tmp_path / 'wordfreq').rglob('*.npy'))
