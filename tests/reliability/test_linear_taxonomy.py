"""Every taxonomy pattern and exclusion, in every language, runs in linear time on hostile text.

A regular expression that backtracks (a nested repeat, an unanchored run of \\w before a literal) can
take minutes on a text built to trip it; the topics stage runs every pattern over every record, so
one such pattern stalls the pipeline. Each pattern of the shipped taxonomy is run over 1 MB of
each of: its own literal fragments repeated (with and without spaces between them), long runs of
spaces, of word characters of its own script, and of newlines; each run must finish within a
second of CPU time. The tagger as a whole is then run over 1 MB of every language's fragments.
"""

import re
import time

import pytest

from newswire.transforms.tagging import Tagger, _Rule, _literal_prefix, load_taxonomy

try:  # the parser `re` compiles from (re._parser from Python 3.11, sre_parse before)
    from re import _constants as _sre
    from re import _parser as _sre_parse
except ImportError:  # Python 3.10
    import sre_constants as _sre
    import sre_parse as _sre_parse

TAXONOMY = load_taxonomy()
MEGABYTE = 1 << 20
SECONDS = 1.0
RULES = sorted({(language, kind, pattern)
                for topic in TAXONOMY.tags
                for kind, rules in (('patterns', topic.patterns), ('exclude', topic.exclude))
                for language, patterns in rules.items() for pattern in patterns})


def _fragments(items, out):
    """Every run of literal characters anywhere in the parse tree, optional parts included."""
    run = []
    for op, av in [*items, (None, None)]:
        if op is _sre.LITERAL:
            run.append(chr(av))
            continue
        if run:
            out.append(''.join(run))
            run = []
        if op is _sre.SUBPATTERN:
            _fragments(av[3], out)
        elif op is _sre.BRANCH:
            for branch in av[1]:
                _fragments(branch, out)
        elif op in (_sre.MAX_REPEAT, _sre.MIN_REPEAT, getattr(_sre, 'POSSESSIVE_REPEAT', None)):
            _fragments(av[2], out)
        elif op in (_sre.ASSERT, _sre.ASSERT_NOT):
            _fragments(av[1], out)
        elif op is getattr(_sre, 'ATOMIC_GROUP', None):
            _fragments(av, out)
    return out


def fragments(pattern):
    return _fragments(_sre_parse.parse(pattern), []) or ['x']


def _megabyte(unit):
    return (unit * (MEGABYTE // len(unit) + 1))[:MEGABYTE]


def hostile_texts(pattern):
    """(name, 1 MB text) built from the pattern's own pieces and the runs that make regexes backtrack."""
    pieces = fragments(pattern)
    letters = ''.join(ch for piece in pieces for ch in piece if ch.isalpha()) or 'a'
    yield 'its fragments, spaced', _megabyte(' '.join(pieces) + ' ')
    yield 'its fragments, glued', _megabyte(''.join(pieces))
    yield 'its fragments, glued after a letter', 'x' + _megabyte(''.join(pieces))[1:]
    yield 'its fragments, each followed by a long word', _megabyte(
        ' '.join(piece + letters * (200 // len(letters) + 1) for piece in pieces) + ' ')
    yield 'spaces', ' ' * MEGABYTE
    yield 'word characters of its script', _megabyte(letters)
    yield 'newlines', '\n' * MEGABYTE
    yield 'fragments between newlines and spaces', _megabyte('\n  '.join(pieces) + ' \n')


def _cpu_seconds(run):
    """CPU time of this process, so that other work on a shared machine does not count."""
    start = time.process_time()
    run()
    return time.process_time() - start


def _seconds(regex, text):
    return _cpu_seconds(lambda: [None for _ in regex.finditer(text)])


@pytest.mark.slow
@pytest.mark.parametrize('language,kind,pattern', RULES)
def test_pattern_runs_in_linear_time(language, kind, pattern):
    regex = re.compile(pattern, re.IGNORECASE)
    rule = _Rule(regex, (), _literal_prefix(pattern, regex))  # as the tagger runs it
    for name, text in hostile_texts(pattern):
        assert len(text) == MEGABYTE
        for how, run in (('re', lambda: [None for _ in regex.finditer(text)]),
                         ('the tagger', lambda: [None for _ in rule.finditer(text)])):
            elapsed = _cpu_seconds(run)
            assert elapsed < SECONDS, (f'{language} {kind} {pattern!r} run by {how}: {elapsed:.2f} s on '
                                       f'1 MB of {name} (expected under {SECONDS} s)')


def test_the_hostile_texts_are_built_from_the_pattern():
    pattern = r'\bкарт\w{0,3} (?:минных полей|минирования)\b'
    pieces = fragments(pattern)  # the parser may move a common prefix out of the branches
    assert pieces[0] == 'карт' and set(''.join(pieces)) == set('карт минныхполейирования')
    texts = dict(hostile_texts(pattern))
    assert ' '.join(pieces) in texts['its fragments, spaced']
    assert set(texts['word characters of its script']) == set('картминныхполейминирования')


def test_a_backtracking_pattern_is_caught():
    """The timing catches what it is for: a pattern whose time grows with the square of the text."""
    regex = re.compile(r'\w+\d', re.IGNORECASE)  # every start scans the rest of a word for a digit
    text = dict(hostile_texts(regex.pattern))['word characters of its script'][:6_000]
    small, large = _seconds(regex, text[:1_500]), _seconds(regex, text)
    assert large > 8 * small  # 4x the text, ~16x the time


@pytest.mark.slow
def test_the_tagger_is_linear_on_every_languages_fragments():
    """A record in `und` runs every language's patterns and exclusions: over 1 MB of all their
    fragments the tagger takes about four times what it takes over a quarter of it (a quadratic step,
    such as comparing every match with every exclusion, would take sixteen)."""
    tagger = Tagger(TAXONOMY)
    assert TAXONOMY.unknown_language == 'all'
    text = _megabyte(' '.join(piece for _, _, pattern in RULES for piece in fragments(pattern)) + ' ')
    quarter = text[:MEGABYTE // 4]
    assert tagger.tag(quarter, 'und')  # the fragments do match: the time is spent tagging
    small = _cpu_seconds(lambda: tagger.tag(quarter, 'und'))
    large = _cpu_seconds(lambda: tagger.tag(text, 'und'))
    assert large < 8 * small, f'1 MB took {large:.2f} s, a quarter of it {small:.2f} s'
    assert large < SECONDS * len(RULES)
