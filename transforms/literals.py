"""Literal strings that every match of a regular expression contains, and how to look for them in a
text before running the expression: a pattern whose needed literals are absent cannot match.

The topic tagger and the boilerplate cleaner run some hundred and some twenty patterns over each
document, most of which match in few texts; testing a few substrings is far cheaper than running a
pattern. The test is case-insensitive as `re.IGNORECASE` is (`case_folding`), so it also holds for
patterns without that flag: an exact match contains the literal, and so its folded form.
"""

from __future__ import annotations

import functools
import re
from typing import Iterable, NamedTuple, Optional

import ahocorasick
import numpy as np

try:  # the parser `re` compiles from (re._parser from Python 3.11, sre_parse before)
    from re import _constants as _sre
    from re import _parser as _sre_parse
except ImportError:  # Python 3.10
    import sre_constants as _sre
    import sre_parse as _sre_parse


class NeededLiterals(NamedTuple):
    """A pattern's `needed_literals`, folded by a `case_folding` table, ready to test texts folded by
    the same table (`may_match`)."""

    every: tuple[frozenset[str], ...]
    # The ASCII strings of each set, for an ASCII text (which contains no other); None when a set
    # has none, so that no ASCII text can match.
    ascii: Optional[tuple[frozenset[str], ...]]
    # The strings of each set too short for `LiteralScan` to look for (it would find them nearly
    # everywhere): `FoundLiterals` tests these by a substring search.
    short: tuple[tuple[str, ...], ...] = ()

    @classmethod
    def of(cls, literals: tuple[frozenset[str], ...], folding: dict) -> 'NeededLiterals':
        every = tuple(frozenset(s.translate(folding) for s in options) for options in literals)
        ascii = tuple(frozenset(filter(str.isascii, options)) for options in every)
        short = tuple(tuple(sorted(s for s in options if len(s) < SCANNED_LENGTH))
                      for options in every)
        return cls(every, ascii if all(ascii) else None, short)

    def may_match(self, folded_text: str) -> bool:
        """Whether `folded_text` holds one string of each set: False means the pattern cannot match
        the text."""
        if folded_text.isascii():  # known without a scan: CPython marks ASCII strings
            if self.ascii is None:
                return False
            needed = self.ascii
        else:
            needed = self.every
        # A document asks this of some hundred patterns: loops over C iterators (`map`) rather than
        # generator expressions, whose frames cost more than the substring tests.
        contains = folded_text.__contains__
        for options in needed:
            if not any(map(contains, options)):
                return False
        return True


# Needed literals shorter than this are not scanned for: a space, a letter or a pair of letters is
# in almost every text, and every place it occurs would be a match to report.
SCANNED_LENGTH = 3


class LiteralScan:
    """Which of many patterns' needed literals a folded text holds, found in one pass over it.

    `NeededLiterals.may_match` searches the text once per literal of each pattern tested: a hundred
    patterns, a few hundred searches. An Aho-Corasick automaton (pyahocorasick) over every literal of
    at least `SCANNED_LENGTH` characters finds them all at once; `FoundLiterals.may_match` then
    answers for each pattern with set tests, and searches the text only for its short literals.
    Its answers are `NeededLiterals.may_match`'s, for the needs the scan was built from.
    """

    def __init__(self, needs: Iterable[NeededLiterals]):
        literals = sorted({s for needed in needs for options in needed.every for s in options
                           if len(s) >= SCANNED_LENGTH})
        self._automaton: Optional[ahocorasick.Automaton] = None
        if literals:
            self._automaton = ahocorasick.Automaton()
            for literal in literals:
                self._automaton.add_word(literal, literal)
            self._automaton.make_automaton()

    def found_in(self, folded_text: str) -> 'FoundLiterals':
        """The literals `folded_text` (folded by the needs' table) holds."""
        if self._automaton is None:
            return FoundLiterals(folded_text, frozenset())
        found = frozenset(literal for _, literal in self._automaton.iter(folded_text))
        return FoundLiterals(folded_text, found)


class FoundLiterals(NamedTuple):
    """A folded text and the scanned literals it holds (`LiteralScan.found_in`)."""

    text: str
    present: frozenset[str]

    def may_match(self, needed: NeededLiterals) -> bool:
        """`needed.may_match(self.text)`, for a `needed` of the scan that found these."""
        disjoint, contains = self.present.isdisjoint, self.text.__contains__
        for options, short in zip(needed.every, needed.short):
            if disjoint(options) and not any(map(contains, short)):
                return False
        return True


def needed_literals(pattern: str) -> tuple[frozenset[str], ...]:
    """Literal strings every match of `pattern` contains, one string of each set; () when none is sure.

    Read from the parse tree `re` compiles: a run of plain characters in a sequence every match goes
    through is needed, and so is what a group, a repeat of at least once, or every branch of an
    alternation (one of their literals) needs. Anything else (a class, an optional part, an
    assertion, a backreference) needs nothing and ends the run, so a literal found is always needed,
    even where a cleverer reading would find a longer one. For example
    '\\bmass (?:graves?|burials?)\\b' needs 'mass ' and one of 'grave', 'burial'.
    """
    needed = _needed_in(_sre_parse.parse(pattern, re.IGNORECASE))
    return tuple(sorted(needed, key=lambda options: -min(map(len, options))))  # most selective first


_REPEATS = (_sre.MAX_REPEAT, _sre.MIN_REPEAT, getattr(_sre, 'POSSESSIVE_REPEAT', None))


def _needed_in(items) -> list[frozenset[str]]:
    needed, run = [], []
    for op, av in [*items, (None, None)]:
        if op is _sre.LITERAL:
            run.append(chr(av))
            continue
        if run:
            needed.append(frozenset([''.join(run)]))
            run = []
        if op is _sre.SUBPATTERN:  # (group, flags added, flags removed, items)
            needed += _needed_in(av[3])
        elif op is getattr(_sre, 'ATOMIC_GROUP', None):
            needed += _needed_in(av)
        elif op in _REPEATS and av[0] >= 1:  # (min, max, items)
            needed += _needed_in(av[2])
        elif op is _sre.BRANCH:  # (None, [items of each branch])
            # each branch's most selective need: the set whose shortest literal is longest
            choices = [max(_needed_in(branch), key=lambda options: min(map(len, options)), default=None)
                       for branch in av[1]]
            if all(choices):
                needed.append(frozenset().union(*choices))
    return needed


def begins_with_literal(pattern: str, flags: int = 0) -> bool:
    """Whether every match of `pattern` begins with a literal character (in each branch of a
    leading alternation): `re` then rejects most places at their first character, where a pattern
    beginning with a repeat, a class or a lookaround is tried further at each."""
    return _begins_with_literal(_sre_parse.parse(pattern, flags))


def _begins_with_literal(items) -> bool:
    if not len(items):
        return False
    op, av = items[0]
    if op is _sre.LITERAL:
        return True
    if op is _sre.BRANCH:  # (None, [items of each branch])
        return all(_begins_with_literal(branch) for branch in av[1])
    if op is _sre.SUBPATTERN:  # (group, flags added, flags removed, items)
        return _begins_with_literal(av[3])
    return False


@functools.lru_cache(maxsize=None)
def case_folding(characters: frozenset[str]) -> dict[int, str]:
    """A str.translate table that folds every character `re.IGNORECASE` matches to one of `characters`
    into a representative of it, so that a folded needed literal is in the folded text of every match.

    Which characters match is asked of `re` over every code point rather than assumed from str.lower:
    'k' is also matched by the Kelvin sign, 's' by the long s, 'i' by the dotted capital I. Characters
    that share a match share a representative. One scan over every code point finds the characters
    that match any of `characters`; only those are then paired with the ones they match. Built once
    per process for a set of characters.
    """
    if not characters:
        return {}
    alternatives = '|'.join(map(re.escape, sorted(characters)))
    candidates = set(re.findall(f'(?:{alternatives})', every_character(), re.IGNORECASE))
    matchers = {ch: re.compile(re.escape(ch), re.IGNORECASE).fullmatch for ch in sorted(characters)}
    classes: list[tuple[set[str], set[str]]] = []  # (literal characters, the characters matching them)
    for ch, fullmatch in matchers.items():
        literals, matching = {ch}, {x for x in candidates if fullmatch(x)}
        for other in [c for c in classes if c[1] & matching]:
            classes.remove(other)
            literals |= other[0]
            matching |= other[1]
        classes.append((literals, matching))
    return {ord(x): min(literals) for literals, matching in classes for x in matching}


def every_character() -> str:
    """Every code point, lone surrogates included, in order: decoded from their UTF-32 in one step
    (a `chr` per code point takes ten times as long)."""
    return np.arange(0x110000, dtype='<u4').tobytes().decode('utf-32-le', 'surrogatepass')
