import json

import pytest

from newswire.transforms.records import (Document, Language, SourceRef, UnserialisableRecord,
                                         encode_json_line, json_safe, to_json_line)


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
