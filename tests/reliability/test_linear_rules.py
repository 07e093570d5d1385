"""Every cleaning rule, metadata rule and text parser takes linear time on hostile text.

A regular expression with ambiguous quantifiers (", Trend reports citing " repeated against
`citing[^.]*\\.`, a run of spaces against `\\s*(?:UTC|GMT)`) backtracks quadratically or worse: one
crafted megabyte then holds a worker for hours. So each rule loaded from the rules files -- whatever
rules are added later -- is run the way the pipeline runs it on a megabyte of adversarial
repetition: runs of spaces, word characters, capitalised words, newlines and punctuation, and of the
rule's own pieces (its literal words, strings that walk the pattern and their prefixes, its examples).
Each input must take under a second of CPU time (CPU, not wall, time: the machine is shared). An
input that matches on every short line can cost a second while linear (hundreds of thousands of
removals, and this machine's speed drifts by a third); such a case passes when a quarter of it
costs at least a sixth as much and the whole stays under `BACKSTOP_SECONDS` (a quadratic case costs
sixteen times its quarter, and hours in all).
"""

from __future__ import annotations

import dataclasses
import gc
import re
import re._constants as sre  # the parser Python's own `re` uses: walks a pattern like `re` reads it
import re._parser as sre_parse
import signal
import time

import pytest

from newswire.transforms.clean import Cleaner, load_cleaning_rules
from newswire.transforms.metadata import (MetadataExtractor, load_metadata_rules, parse_published,
                                          split_title)

SIZE = 1_000_000  # characters of each adversarial input
LIMIT_SECONDS = 1.0
BACKSTOP_SECONDS = 5.0
CLEANING_RULES = load_cleaning_rules()
METADATA_RULES = load_metadata_rules()

# Text shapes that trip ambiguous quantifiers whatever the pattern says.
GENERIC = (' ', 'a', 'Abc ', 'ABC ', '\n', '\n\n', '. ', ', ', '-', '1', '1 ', '(', ' \n',
           '.,;:!?-–—|/()[]', 'Абв ', 'Աբգ ', 'აბგ ', 'ə ', 'a@', 'a.', 'A.', '/a', '+ ')


def _repeat(piece: str, size: int = SIZE) -> str:
    return (piece * (size // max(len(piece), 1) + 1))[:size]


# Characters tried, in order, when a character class needs one member (or one non-member).
_CANDIDATES = ' a1.,A-:/\n(Аա'
_CATEGORIES = {
    sre.CATEGORY_DIGIT: str.isdigit, sre.CATEGORY_NOT_DIGIT: lambda c: not c.isdigit(),
    sre.CATEGORY_SPACE: str.isspace, sre.CATEGORY_NOT_SPACE: lambda c: not c.isspace(),
    sre.CATEGORY_WORD: lambda c: c.isalnum() or c == '_',
    sre.CATEGORY_NOT_WORD: lambda c: not (c.isalnum() or c == '_'),
}


def _in_class(char: str, items) -> bool:
    negate = any(op is sre.NEGATE for op, _ in items)
    hit = False
    for op, av in items:
        if op is sre.LITERAL:
            hit |= char == chr(av)
        elif op is sre.RANGE:
            hit |= av[0] <= ord(char) <= av[1]
        elif op is sre.CATEGORY:
            hit |= _CATEGORIES.get(av, lambda c: False)(char)
    return hit != negate


def _walk(parsed, choice: int) -> str:
    """A string that follows the pattern, taking alternative `choice` (mod count) at each branch."""
    out = []
    for op, av in parsed:
        if op is sre.LITERAL:
            out.append(chr(av))
        elif op is sre.NOT_LITERAL:
            out.append('a' if chr(av) != 'a' else 'b')
        elif op is sre.ANY:
            out.append(' ')
        elif op is sre.IN:
            members = [c for c in _CANDIDATES if _in_class(c, av)]
            explicit = [chr(v) for o, v in av if o is sre.LITERAL]
            out.append(explicit[0] if explicit and not members else (members or ['a'])[0])
        elif op in (sre.MAX_REPEAT, sre.MIN_REPEAT, sre.POSSESSIVE_REPEAT):
            low, high, sub = av
            out.append(_walk(sub, choice) * min(max(low, 1), high))
        elif op is sre.SUBPATTERN:
            out.append(_walk(av[-1], choice))
        elif op is sre.ATOMIC_GROUP:
            out.append(_walk(av, choice))
        elif op is sre.BRANCH:
            branches = av[1]
            out.append(_walk(branches[choice % len(branches)], choice))
        elif op is sre.ASSERT and av[0] < 0:  # a lookbehind's text stands before what follows
            out.append(_walk(av[1], choice))
    return ''.join(out)


def _literal_words(parsed) -> list[str]:
    """Runs of two or more literal characters anywhere in the pattern ("reports", " citing")."""
    words, run = [], []

    def flush():
        if len(run) >= 2:
            words.append(''.join(run))
        run.clear()

    def visit(items):
        for op, av in items:
            if op is sre.LITERAL:
                run.append(chr(av))
                continue
            flush()
            if op in (sre.MAX_REPEAT, sre.MIN_REPEAT, sre.POSSESSIVE_REPEAT):
                visit(av[2])
            elif op is sre.SUBPATTERN:
                visit(av[-1])
            elif op is sre.ATOMIC_GROUP:
                visit(av)
            elif op is sre.BRANCH:
                for branch in av[1]:
                    visit(branch)
                    flush()
            elif op in (sre.ASSERT, sre.ASSERT_NOT):
                visit(av[1])
        flush()

    visit(parsed)
    return words


def adversarial_inputs(pattern: str, flags: int, examples: tuple[str, ...]) -> dict[str, str]:
    """Name -> 1 MB of text shaped to make `pattern` backtrack, if it can."""
    parsed = sre_parse.parse(pattern, flags)
    pieces = {f'generic {g!r}': g for g in GENERIC}
    words = _literal_words(parsed)
    if words:
        pieces['its words'] = ' '.join(words) + ' '
        pieces['its words, capitalised'] = ' '.join(w.capitalize() for w in words) + ' '
        for word in words[:12]:
            pieces[f'word {word!r}'] = word
            pieces[f'word {word!r} and a name'] = f'{word} Name '
    for choice in range(4):
        walk = _walk(parsed, choice)
        if not walk:
            continue
        pieces[f'walk {choice}'] = walk
        pieces[f'walk {choice} as lines'] = walk + '\n'
        for cut in sorted({len(walk) - 1, len(walk) * 3 // 4, len(walk) // 2, len(walk) // 4}):
            if cut > 0:
                pieces[f'walk {choice} cut at {cut}'] = walk[:cut]
    regex = re.compile(pattern, flags)
    for number, text in enumerate(examples):
        pieces[f'example {number}'] = text + ' '
        match = regex.search(text[:2000])
        if match and len(match.group(0)) > 1:
            pieces[f'example {number} match without its end'] = match.group(0)[:-1]
    return {name: _repeat(piece) for name, piece in pieces.items()}


class _OverBudget(Exception):
    pass


def _over_budget(signum, frame):
    raise _OverBudget


def _cpu_seconds(function, text: str, budget: float = 2 * LIMIT_SECONDS) -> float:
    """CPU seconds `function(text)` took; a quadratic case is stopped at `budget`, not hours later
    (a CPU-time timer: `re` checks for signals while it backtracks)."""
    # The collector's full passes over hundreds of thousands of removals grow with the heap, not
    # with the rule: measured without them (a quarter of such a text cost a fifth to a ninth as much
    # with them, a quarter without), so what is measured is the rule's own work.
    gc.collect()
    gc.disable()
    previous = signal.signal(signal.SIGPROF, _over_budget)
    signal.setitimer(signal.ITIMER_PROF, budget)
    start = time.process_time()
    try:
        function(text)
    except _OverBudget:
        pass
    finally:
        signal.setitimer(signal.ITIMER_PROF, 0)
        signal.signal(signal.SIGPROF, previous)
        gc.enable()
    return time.process_time() - start


def _settled_cpu_seconds(function, text: str, budget: float = 2 * LIMIT_SECONDS) -> float:
    """`_cpu_seconds`, measured again when over the limit and the smaller kept: on a busy machine
    one run can cost a third more CPU (caches shared), while a quadratic case stays over on every
    run (by hours, not by a third)."""
    seconds = _cpu_seconds(function, text, budget)
    if seconds > LIMIT_SECONDS:
        seconds = min(seconds, _cpu_seconds(function, text, budget))
    return seconds


def _linear_though_over(function, text: str) -> bool:
    """Over the limit: linear when four times the text costs at most about four times as much."""
    whole = _cpu_seconds(function, text, budget=BACKSTOP_SECONDS)
    quarter = _cpu_seconds(function, _first_quarter(text), budget=BACKSTOP_SECONDS)
    return whole < BACKSTOP_SECONDS and whole <= 6 * quarter + 0.2


def _first_quarter(text: str, tail: int = 200) -> str:
    """About the first quarter of `text`, cut where the text's last `tail` characters recur, if
    they do: the two then end alike. A repeated piece cut mid-way can leave a last line that a
    cleaning rule removes, and the cleaner then passes over the text once more; a quarter cut
    elsewhere would make one pass fewer, and look four times as fast as linear."""
    ending = text[-tail:]
    found = text.find(ending, len(text) // 4 - len(ending), len(text) // 2)
    return text[:found + len(ending)] if found != -1 else text[:len(text) // 4]


def _assert_fast(function, inputs: dict[str, str], what: str) -> None:
    slow = {}
    for name, text in inputs.items():
        seconds = _settled_cpu_seconds(function, text)
        if seconds > LIMIT_SECONDS and not _linear_though_over(function, text):
            slow[name] = round(seconds, 2)
    assert not slow, f'{what}: over {LIMIT_SECONDS} s of CPU on 1 MB of: {slow}'


def _metadata_only(section: str, rule) -> MetadataExtractor:
    others = 'datelines' if section == 'attributions' else 'attributions'
    return MetadataExtractor(dataclasses.replace(METADATA_RULES, **{section: (rule,), others: ()}))


# The two cases the review found, run on every test run: a megabyte of the attribution rule's own
# words, and a date value that is a megabyte of spaces.
def test_attribution_and_date_parser_are_linear_on_the_reported_cases():
    _assert_fast(MetadataExtractor(METADATA_RULES).outlet_from_text,
                 {'", Trend reports citing "': _repeat(', Trend reports citing '),
                  'one paragraph of capitalised words': _repeat('Trend Reports ')}, 'attributions')
    _assert_fast(parse_published, {'spaces': _repeat(' '), 'spaces then UTC': _repeat(' ') + 'UTC+4'},
                 'parse_published')


@pytest.mark.slow
def test_embedded_article_detector_is_linear():
    from newswire.pipeline.job.settings import load_settings
    from newswire.transforms.parts import find_embedded_articles

    config = load_settings().parts
    lead = ('The river authority said on Friday that the old bridge at Marrow Ford will close for '
            'repairs in the spring, and that ferries will carry cars across meanwhile.')
    headline_like = 'Seven words that look like a headline here'
    _assert_fast(lambda text: find_embedded_articles(text, config), {
        # Every other paragraph a headline whose next paragraph restates the opening: each found.
        'headlines and restating leads': _repeat(f'{lead}\n\n{lead}\n\n{headline_like}\n\n'),
        # Headlines whose leads restate nothing: every one compared with one opening.
        'headlines and new leads': lead + '\n\n' + lead + '\n\n' + _repeat(
            f'{headline_like}\n\n{lead.replace("bridge", "dam").replace("the", "a")}\n\n'),
        'one paragraph': _repeat('word '),
        'blank lines': _repeat('\n \n\t'),
    }, 'find_embedded_articles')


@pytest.mark.slow
@pytest.mark.parametrize('rule', CLEANING_RULES, ids=lambda r: r.id)
def test_cleaning_rule_is_linear(rule):
    cleaner = Cleaner([rule])
    flags = 0 if rule.case_sensitive else re.IGNORECASE
    inputs = adversarial_inputs(rule.pattern, flags, tuple(e.text for e in rule.examples))
    _assert_fast(cleaner.clean, inputs, f'cleaning rule {rule.id}')


METADATA_CASES = [(section, rule) for section in ('attributions', 'datelines')
                  for rule in getattr(METADATA_RULES, section)]


@pytest.mark.slow
@pytest.mark.parametrize('section,rule', METADATA_CASES, ids=[r.id for _, r in METADATA_CASES])
def test_metadata_rule_is_linear(section, rule):
    extractor = _metadata_only(section, rule)
    apply = extractor.outlet_from_text if section == 'attributions' else extractor.dateline
    examples = tuple(text for s, text, _ in METADATA_RULES.examples if s == section)
    flags = re.MULTILINE if section == 'attributions' else 0
    _assert_fast(apply, adversarial_inputs(rule.pattern, flags, examples), f'{section} rule {rule.id}')


PARSER_PIECES = GENERIC + ('UTC', 'GMT+04:00 ', '(UTC+04:00)', '2023-11-14', '14 November 2023 ',
                           '13:36 ', 'T10:00:00Z', 'Tue, 14 Nov 2023 ', '+0400 ', ' (UTC', 'UTC-')


@pytest.mark.slow
@pytest.mark.parametrize('name,function', [
    ('parse_published', parse_published),
    ('split_title', lambda text: split_title(text, METADATA_RULES.title_max_chars)),
    ('dateline', MetadataExtractor(METADATA_RULES).dateline),
    ('outlet_from_text', MetadataExtractor(METADATA_RULES).outlet_from_text),
], ids=lambda v: v if isinstance(v, str) else '')
def test_parsers_are_linear(name, function):
    _assert_fast(function, {f'{piece!r}': _repeat(piece) for piece in PARSER_PIECES}, name)


def _stacked_inputs(size: int) -> dict[str, str]:
    inputs = {f'{piece!r}': _repeat(piece, size) for piece in GENERIC + ('a\n', 'Abc\n')}
    # Chrome lines of every rule, stacked: each removal exposes the next (signatures, headers).
    for rule in CLEANING_RULES:
        for number, example in enumerate(rule.examples):
            for removed in example.removed:
                inputs[f'{rule.id} removal {number} as lines'] = _repeat(removed + '\n', size)
    return inputs


@pytest.mark.slow
def test_the_whole_cleaner_grows_linearly():
    # All rules over every line: a megabyte of one-letter lines is rules x 500,000 matches, over a
    # second on this machine though linear. So what is checked is growth: four times the text may
    # take about four times as long (with room for noise), never the sixteen of a quadratic pass.
    cleaner = Cleaner(CLEANING_RULES)
    quarter = _stacked_inputs(SIZE // 4)
    superlinear = {}
    for name, text in _stacked_inputs(SIZE).items():
        seconds = _settled_cpu_seconds(cleaner.clean, text, budget=20 * LIMIT_SECONDS)
        if seconds > LIMIT_SECONDS:
            small = _cpu_seconds(cleaner.clean, quarter[name], budget=20 * LIMIT_SECONDS)
            if seconds > 6 * small + 0.2:
                superlinear[name] = (round(small, 2), round(seconds, 2))
    assert not superlinear, f'CPU seconds on 256 KB and 1 MB: {superlinear}'


def test_the_walk_follows_the_pattern():
    # The generator is only as good as its walks: each must match the pattern it walks.
    for rule in CLEANING_RULES:
        regex = rule.compile()
        for choice in range(4):
            walk = _walk(sre_parse.parse(rule.pattern, 0 if rule.case_sensitive else re.IGNORECASE),
                         choice)
            assert regex.search(walk) or rule.where != 'any', (rule.id, walk)


@pytest.mark.slow
def test_a_quadratic_rule_is_caught():
    from newswire.transforms.clean import CleaningRule

    # Two runs of spaces that can split a run of spaces any way: quadratic before "UTC" fails.
    cleaner = Cleaner([CleaningRule('quadratic', 'drop_line', r'a\s*\s*UTC')])
    with pytest.raises(AssertionError, match='quadratic'):
        _assert_fast(cleaner.clean, {'spaces': 'a' + ' ' * SIZE + 'b'}, 'cleaning rule quadratic')
