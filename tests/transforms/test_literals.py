"""Needed literals and the case folding they are looked for under: a pattern whose literals are
absent from a text never matches it."""

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from newswire.transforms.literals import (LiteralScan, NeededLiterals, every_character,
                                          begins_with_literal, case_folding, needed_literals)


@pytest.mark.parametrize('pattern,needed', [
    (r'\bmine[- ]?(?:field )?maps?\b', [{'mine'}, {'map'}]),
    (r'\bmass (?:graves?|burials?)\b', [{'mass '}, {'grave', 'burial'}]),
    (r'\b(?:land ?)?mines\b', [{'mines'}]),
    (r'(?:ab)+c', [{'ab'}, {'c'}]),
    (r'\bright (?:of [\w ]{1,30} )?to return\b|\brights? of \w+ to return\b', [{'right'}, {' to return', 'to return'}]),
    (r'(?:mine)?s|x', [{'s', 'x'}]),
    (r'(?:mine)?s|\d', []),  # a branch that needs nothing: nothing is needed
    (r'\w+ [a-z]', [{' '}]),
])
def test_needed_literals(pattern, needed):
    assert sorted(map(set, needed_literals(pattern)), key=sorted) == sorted(needed, key=sorted)


def test_every_character_is_each_code_point_once_in_order():
    every = every_character()
    assert len(every) == 0x110000
    assert every == ''.join(map(chr, range(0x110000)))


# Patterns with literals in odd places, letters whose case folds oddly (the Kelvin sign matches k,
# the long s matches s, the dotted capital I matches i), and a case-sensitive one.
PATTERNS = [r'\bmass (?:graves?|burials?)\b', r'(?:sign up|subscribe) to', r'stra(?:ss|ß)e \d+',
            r'kilo', r'(?-i:Post)', r'istanbul|ankara', r'σοφία', r'(?:ab)+c']
TEXT = st.text(alphabet=st.sampled_from(list('abcgikloprstuvyzSKIP ßẞσςΣΦφοίΊ\u212a\u017f\u0130\u0131'
                                                'mass graves burial sign up subscribe to post')),
               max_size=60)


@settings(max_examples=300, deadline=None)
@given(TEXT, st.sampled_from(PATTERNS))
def test_a_pattern_whose_literals_are_absent_does_not_match(text, pattern):
    needed = needed_literals(pattern)
    folding = case_folding(frozenset(ch for options in needed for s in options for ch in s))
    for flags in (re.IGNORECASE, 0):
        if re.search(pattern, text, flags):
            assert NeededLiterals.of(needed, folding).may_match(text.translate(folding))


@settings(max_examples=300, deadline=None)
@given(TEXT, st.lists(st.sampled_from(PATTERNS + [r'\w+ [a-z]', r'(?:mine)?s|x', r'ab?c|kil']),
                      min_size=1, max_size=5, unique=True))
def test_one_scan_answers_as_a_search_per_literal(text, patterns):
    # Long and short literals (' ', 's', 'x', 'ab' are searched for, not scanned), several
    # patterns per scan, letters that fold oddly.
    needed = [needed_literals(p) for p in patterns]
    folding = case_folding(frozenset(ch for n in needed for options in n for s in options for ch in s))
    needs = [NeededLiterals.of(n, folding) for n in needed]
    folded = text.translate(folding)
    found = LiteralScan(needs).found_in(folded)
    assert [found.may_match(n) for n in needs] == [n.may_match(folded) for n in needs]


def test_a_scan_finds_overlapping_literals_and_tests_short_ones_by_search():
    needs = [NeededLiterals.of((frozenset({'mass '}), frozenset({'grave'})), {}),
             NeededLiterals.of((frozenset({'ass gr'}),), {}),
             NeededLiterals.of((frozenset({'gravel'}),), {}),
             NeededLiterals.of((frozenset({'x', 'zzz'}),), {})]
    scan = LiteralScan(needs)
    assert [scan.found_in('a mass grave').may_match(n) for n in needs] == [True, True, False, False]
    assert [scan.found_in('mass gravel x').may_match(n) for n in needs] == [True, True, True, True]
    assert LiteralScan([]).found_in('anything').may_match(NeededLiterals.of((), {}))


def test_case_folding_puts_what_ignorecase_matches_together():
    folding = case_folding(frozenset('ksi'))
    assert '\u212a'.translate(folding) == 'K'.translate(folding) == 'k'.translate(folding)
    assert '\u017f'.translate(folding) == 's'.translate(folding) == 'S'.translate(folding)
    assert '\u0130'.translate(folding) == 'i'.translate(folding)
    assert 'x'.translate(folding) == 'x'  # a character no literal has is left alone


@pytest.mark.parametrize('pattern,begins', [
    ('share on', True), ('(?:read|see) also', True), ('(?:(?:sign up)|subscribe) now', True),
    ('.{0,80}?subscribe', False), ('(?<=[.!?]) follow us', False), (r'(?:\d+\s*)?comments?', False),
    ('share|.{3}', False), (r'\s*date', False), ('^date', False), ('', False),
])
def test_begins_with_literal(pattern, begins):
    assert begins_with_literal(pattern, re.IGNORECASE) is begins
