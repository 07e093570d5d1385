"""The memo of answers for recent texts: keys, the least recently used going first, long texts."""

import pytest

from newswire.transforms import memo


def test_text_keys_tell_apart_what_differs_and_nothing_else():
    keys = [memo.text_key('ab', 'c'), memo.text_key('a', 'bc'), memo.text_key('abc'),
            memo.text_key('abc', None), memo.text_key('abc', ''), memo.text_key(None, 'abc'),
            memo.text_key('\udc80 lone surrogate'), memo.text_key('\U0001d538 astral')]
    assert len(set(keys)) == len(keys) and all(len(k) == 16 for k in keys)
    assert memo.text_key('a', None) == memo.text_key('a', None)


def test_the_least_recently_used_answer_goes_first():
    recent = memo.Recent(2)
    recent.put('a', 1)
    recent.put('b', 2)
    assert recent.get('a') == 1  # 'a' is now the most recent
    recent.put('c', 3)
    assert (recent.get('a'), recent.get('b'), recent.get('c'), len(recent)) == (1, None, 3, 2)


def test_answers_are_computed_once_per_text_and_context():
    recent, calls = memo.Recent(8), []

    def answer(text, *context):
        return recent.of_text(text, lambda: calls.append((text, context)) or len(calls), *context)

    assert [answer('x'), answer('x'), answer('x', 'en'), answer('x', 'en'), answer('y')] == [1, 1, 2, 2, 3]
    long_text = 'w' * (memo.MAX_TEXT_CHARS + 1)
    assert answer(long_text) == 4 and answer(long_text) == 5  # never remembered
    assert len(recent) == 3


def test_a_memo_of_size_zero_remembers_nothing():
    recent = memo.Recent(0)
    assert recent.of_text('x', lambda: 1) == 1 and recent.of_text('x', lambda: 2) == 2
    assert len(recent) == 0
    with pytest.raises(ValueError, match='at least 0'):
        memo.Recent(-1)
