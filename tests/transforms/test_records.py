import dataclasses
import gzip
import hashlib
import json
import re
import sys
import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from newswire.transforms import records
from newswire.transforms.records import (Document, Language, SourceRef, UnserialisableRecord,
                                         content_hash, encode_json_line, json_safe,
                                         _ASCII_GAP, _TABLE_FROM, _alphanumeric_table,
                                         _non_ascii_stretches, _single_spaced, normalize_for_hash,
                                         normalized_bytes, to_json_line)
from newswire.transforms.feeds import decode_html
from tests.conftest import SHARED_EVAL


def strict_loads(line):
    """json.loads refusing NaN/Infinity (the literals most parsers reject)."""
    def refuse(constant):
        raise ValueError(f'non-standard JSON constant {constant}')
    return json.loads(line, parse_constant=refuse)


def _doc(**fields):
    return Document(id='d1', source=SourceRef('jsonl', 's1'), text='The port reopened on Monday.',
                    **fields)


def test_json_safe_writes_non_finite_floats_as_their_words_at_any_depth():
    value = {'a': float('nan'), 'b': [1.5, float('inf'), {'c': float('-inf')}], 'd': 'NaN'}
    assert json_safe(value) == {'a': 'NaN', 'b': [1.5, 'Infinity', {'c': '-Infinity'}], 'd': 'NaN'}
    assert value['a'] != value['a']  # the input is not changed


def test_json_safe_returns_a_value_without_non_finite_floats_unchanged():
    value = {'wire': 'Trend', 'scores': [0.25, 3], 'nested': {'ok': True, 'none': None}}
    assert json_safe(value) is value


def test_extra_with_nan_is_written_as_strict_json():
    doc = _doc(extra={'reading': float('nan'), 'limits': [float('inf'), -1.0]})
    record = strict_loads(encode_json_line(doc.to_json_dict()))
    assert record['extra'] == {'reading': 'NaN', 'limits': ['Infinity', -1.0]}


def test_to_json_line_refuses_nan_outside_extra():
    doc = _doc(language=Language('en', float('nan')))
    with pytest.raises(ValueError):
        to_json_line(doc.to_json_dict())
    with pytest.raises(UnserialisableRecord, match='expected a value JSON can hold'):
        encode_json_line(doc.to_json_dict())


def test_a_lone_surrogate_is_unserialisable_and_the_message_names_it():
    doc = _doc(title='Ministers met \ud800 in Baku')
    with pytest.raises(UnserialisableRecord, match='lone surrogate U\\+D800'):
        encode_json_line(doc.to_json_dict())


@pytest.mark.parametrize('extra', [
    {'id': 10 ** 5000},              # past Python's int-to-str digit limit
    {'when': {1, 2}},                # a type JSON has no form for
    {'mixed': {1: 'a', 'b': 'c'}},   # keys that cannot be sorted together
])
def test_values_json_cannot_hold_are_unserialisable(extra):
    with pytest.raises(UnserialisableRecord):
        encode_json_line(_doc(extra=extra).to_json_dict())


def test_nesting_past_the_encoder_limit_is_unserialisable():
    nested = 'bottom'
    for _ in range(5000):
        nested = [nested]
    with pytest.raises(UnserialisableRecord):
        encode_json_line({'extra': {'deep': nested}})


def test_a_normal_record_encodes_as_its_canonical_line():
    doc = _doc(title='Süd — north', extra={'score': 0.5})
    line = encode_json_line(doc.to_json_dict())
    assert line == to_json_line(doc.to_json_dict()).encode('utf-8')
    assert strict_loads(line)['title'] == 'Süd — north'


# --- normalize_for_hash against the reference it replaced (record ids and content hashes are
# part of the output, so the fast version must agree with it on every input) ---

_REFERENCE_ALNUM_RUN = re.compile(r'[^\W_]+')


def reference_normalize_for_hash(text: str) -> str:
    """The definition: NFKC of the whole text, case-folded, its alphanumeric runs joined by spaces."""
    folded = unicodedata.normalize('NFKC', text).casefold()
    return ' '.join(_REFERENCE_ALNUM_RUN.findall(folded))


def reference_content_hash(text: str) -> str:
    return hashlib.sha256(reference_normalize_for_hash(text).encode('utf-8')).hexdigest()[:32]


def _assert_same(text):
    expected = reference_normalize_for_hash(text)
    assert normalize_for_hash(text) == expected
    assert normalized_bytes(text) == expected.encode('utf-8')
    assert content_hash(text) == reference_content_hash(text)


# Characters where folding is not one character at a time: combining marks that compose with the
# letter before them (also an ASCII one), compatibility forms, Hangul jamo, case folds that grow
# ("ß" -> "ss"), marks that compose with "<" "=" ">", digits of other scripts, underscores, spaces
# of every kind and lone surrogates (which `str` holds and UTF-8 cannot).
_TRICKY = ('e\u0301', 'A\u030a', '<\u0338', '=\u0338', '\u0338', '\u0301\u0323', 'ﬁ', 'Ⅻ', '①',
           '\uff21\uff22', '\u1100\u1161\u11a8', '\uac00\u11a8', 'ß', 'İ', 'Σς', 'ǅ', '٣', '_',
           '\xa0', '\u2003', '\u200b', '\ud800', '\udfff', '\ud83d\ude00', '😀', '\x00', '\x7f',
           '\u0345', 'ᾼ')
_HTMLISH = st.lists(st.one_of(
    st.text(max_size=20),
    st.text(alphabet=st.characters(max_codepoint=0x7f), max_size=20),
    st.sampled_from(_TRICKY),
    st.sampled_from(['<p>', '</div>', '&nbsp;', '<a href="x_y">', ' ', '\n', 'Ünïcödé', 'ΑΘΗΝΑ']),
), max_size=30).map(''.join)


@settings(max_examples=250, deadline=None)
@given(_HTMLISH)
def test_normalize_for_hash_equals_the_reference_on_html_like_text(text):
    _assert_same(text)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.characters(blacklist_categories=()), max_size=60))
def test_normalize_for_hash_equals_the_reference_on_any_code_points(text):
    _assert_same(text)  # surrogates included: the blacklist above is empty


@pytest.mark.slow
@pytest.mark.parametrize('few', [0, 10**9], ids=['stretches', 'each-run'])
def test_normalize_for_hash_equals_the_reference_for_every_code_point_beside_ascii(
        few, monkeypatch):
    # Each code point alone, after an ASCII letter and a "<" (which marks can compose with), and
    # before ASCII letters (which nothing composes with): every boundary the fast version cuts at,
    # both ways of finding the runs.
    monkeypatch.setattr(records, '_FEW_EXTRA_BYTES', few)
    step = 4096
    for low in range(0, sys.maxunicode + 1, step):
        high = min(low + step, sys.maxunicode + 1)
        text = ''.join(f'A{chr(c)}.<{chr(c)}b{chr(c)}' for c in range(low, high))
        _assert_same(text)


@settings(max_examples=100, deadline=None)
@given(st.lists(_HTMLISH, min_size=1, max_size=8))
def test_normalize_for_hash_equals_the_reference_on_texts_over_a_kilobyte(parts):
    # Folded bytes from 1,024 on have their gaps closed by numpy, not by splitting.
    text = ' '.join(parts)
    _assert_same(text * (1 + 1100 // (len(text) + 1)))


# Pages in the region's scripts: long non-ASCII stretches (folded through the code-point table)
# with ASCII gaps just under, at and over the length that still joins two runs into one stretch.
_REGION_WORDS = st.sampled_from(['Երևան', 'ԽԱՂԱՂՈՒԹՅԱՆ', 'თბილისი', 'ᲡᲐᲥᲐᲠᲗᲕᲔᲚᲝ', 'Ереван', 'МИНЫ',
                                 'Ağdam', 'İSTANBUL', 'ＡＢＣ１２３', '東京', 'ﬁ', 'e\u0301', '\u0301',
                                 '\ud800', '—', '«»', '٣', '\u1100\u1161\u11a8', 'ß'])
_ASCII_GAPS = st.sampled_from(['', ' ', ', ', '<p class="t">', 'x' * (_ASCII_GAP - 2),
                               ' ' * (_ASCII_GAP - 1), ' ' * _ASCII_GAP, 'A' * (_ASCII_GAP + 1)])
_REGION_PAGES = st.lists(st.tuples(st.lists(_REGION_WORDS, min_size=1, max_size=60), _ASCII_GAPS),
                         min_size=1, max_size=12).map(
    lambda parts: ''.join(' '.join(words) + gap for words, gap in parts))


@settings(max_examples=80, deadline=None)
@given(_REGION_PAGES)
def test_normalize_for_hash_equals_the_reference_on_pages_in_other_scripts(text):
    _assert_same(text)


@pytest.mark.parametrize('few', [0, 10**9], ids=['always-stretches', 'always-each-run'])
@settings(max_examples=60, deadline=None)
@given(text=st.one_of(_HTMLISH, _REGION_PAGES))
def test_both_ways_of_finding_runs_fold_alike(few, text):
    # Which way a text takes depends on how many non-ASCII characters it has; forced either way,
    # every text must still give the reference.
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(records, '_FEW_EXTRA_BYTES', few)
        _assert_same(text)


@settings(max_examples=80, deadline=None)
@given(_REGION_PAGES)
def test_stretches_cover_every_non_ascii_byte_and_end_at_ascii_ones(text):
    data = text.encode('utf-8', 'surrogatepass')
    stretches = _non_ascii_stretches(data)
    covered = bytearray(len(data))
    previous_end = 0
    for begin, end in stretches:
        assert previous_end <= begin < end <= len(data)
        assert begin == 0 or data[begin] < 0x80  # the ASCII byte before the first run
        assert end == len(data) or data[end] < 0x80
        if previous_end:  # runs closer than the gap are one stretch
            assert begin + 1 - previous_end >= _ASCII_GAP
        covered[begin:end] = b'\x01' * (end - begin)
        previous_end = end
    assert all(covered[i] for i, byte in enumerate(data) if byte >= 0x80)


def test_stretches_join_runs_closer_than_the_gap():
    first, second, third = 'Ереван'.encode(), 'Երևան'.encode(), 'თბილისი'.encode()
    data = first + b' ' * (_ASCII_GAP - 1) + second + b' ' * _ASCII_GAP + third
    joined_end = len(first) + _ASCII_GAP - 1 + len(second)
    assert _non_ascii_stretches(data) == [(0, joined_end),
                                          (joined_end + _ASCII_GAP - 1, len(data))]
    _assert_same('Ереван ' * _TABLE_FROM)  # one stretch, long enough for the code-point table


def test_the_code_point_table_is_str_isalnum_for_every_code_point():
    table = _alphanumeric_table()
    assert len(table) == sys.maxunicode + 1
    assert table.tolist() == [chr(c).isalnum() for c in range(sys.maxunicode + 1)]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.sampled_from([b' ', b'   ', b'a', b'Z9', b'\xc3\xa9', b' ' * 40]),
                min_size=150, max_size=400).map(b''.join))
def test_single_spacing_is_splitting_and_joining(folded):
    assert _single_spaced(folded) == b' '.join(folded.split())


@pytest.mark.slow
@pytest.mark.skipif(not SHARED_EVAL.is_dir(), reason='shared/eval is not beside the repo')
def test_normalize_for_hash_equals_the_reference_on_the_zyte_pages():
    pages = sorted((SHARED_EVAL / 'article-extraction-zyte-benchmark' / 'html').glob('*.html.gz'))
    assert pages
    for page in pages:
        _assert_same(decode_html(gzip.decompress(page.read_bytes()), None))


def test_normalize_for_hash_on_known_cases():
    assert normalize_for_hash('<p>The PORT re-opened&nbsp;on\xa0Monday_</p>') == \
        'p the port re opened nbsp on monday p'
    assert normalize_for_hash('Cafe\u0301 ﬁnal Ⅻ') == 'café final xii'
    assert normalize_for_hash('') == ''
    assert normalize_for_hash('-- \ud800 --') == ''


_FIELD_VALUES = {
    'id': st.text(max_size=5),
    'text': st.text(max_size=20),
    'title': st.none() | st.text(max_size=5),
    'language': st.none() | st.builds(Language, st.sampled_from(['en', 'ru', 'ka']),
                                      st.floats(0, 1)),
    'extra': st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
    'arrival_day': st.none() | st.just('2024-03-01'),  # not compared: checked through vars()
    'published_at_source': st.none() | st.text(max_size=4),
}


@settings(max_examples=200, deadline=None)
@given(before=st.fixed_dictionaries({}, optional=_FIELD_VALUES),
       changes=st.fixed_dictionaries({}, optional=_FIELD_VALUES))
def test_replaced_makes_the_copy_dataclasses_replace_makes(before, changes):
    doc = dataclasses.replace(_doc(), **before)
    fields_before = dict(vars(doc))
    copy = doc.replaced(**changes)
    expected = dataclasses.replace(doc, **changes)
    assert copy == expected and vars(copy) == vars(expected)
    assert type(copy) is Document and copy is not doc
    assert vars(doc) == fields_before
    with pytest.raises(dataclasses.FrozenInstanceError):
        copy.text = 'changed'


def test_replaced_refuses_a_name_that_is_not_a_field():
    with pytest.raises(TypeError, match='no field languag$'):
        _doc().replaced(languag=Language('en', 1.0))
