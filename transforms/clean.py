"""Remove wire boilerplate by rules kept in a YAML file, keeping what the chrome tells.

The rules (`rules/cleaning.yaml`) say what to remove; this module only knows the four kinds of
removal: `cut_to_end` (a related-articles heading and everything after it), `drop_line` (a line that is
all chrome), `strip_inline` (chrome inside a line) and `drop_repeated_block` (a run of lines the page
template rendered twice). Every removal is recorded as `Removal(rule, text)`; named groups in a rule
(`outlet`, `published`) are kept as captured facts for the metadata stage. Cleaning is idempotent:
cleaning cleaned text changes nothing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources
from typing import Iterable, Optional

import apache_beam as beam
from apache_beam.metrics import Metrics

from newswire.transforms import yamlfile
from newswire.transforms.dead_letters import DEAD_LETTER, ApplyStage, dead_letter
from newswire.transforms.literals import (NeededLiterals, begins_with_literal, case_folding,
                                          needed_literals)
from newswire.transforms.records import Document, Removal

STAGE = 'clean'
KINDS = ('cut_to_end', 'drop_line', 'strip_inline', 'drop_repeated_block')
WHERE = ('any', 'first_line', 'last_line')
CAPTURE_NAMES = ('outlet', 'published')


@dataclass(frozen=True)
class RuleExample:
    text: str
    removed: tuple[str, ...]
    language: str = 'en'


@dataclass(frozen=True)
class CleaningRule:
    id: str
    kind: str
    pattern: str
    where: str = 'any'
    case_sensitive: bool = False
    examples: tuple[RuleExample, ...] = ()

    def compile(self) -> re.Pattern:
        return re.compile(self.pattern, 0 if self.case_sensitive else re.IGNORECASE)


def default_rules_path():
    return resources.files('newswire.transforms') / 'rules' / 'cleaning.yaml'


def load_cleaning_rules(path=None) -> tuple[CleaningRule, ...]:
    """Parse and validate a cleaning rules file (default: the built-in one).

    Raises ValueError naming the file, the rule and what is wrong with it (and the pattern, when it
    does not compile).
    """
    path = path or default_rules_path()
    with open(path, encoding='utf-8') as handle:
        data = yamlfile.safe_load(handle)
    if not isinstance(data, dict) or not isinstance(data.get('rules'), list):
        raise ValueError(f'{path}: expected a mapping with a "rules" list')
    rules, seen = [], set()
    for index, item in enumerate(data['rules']):
        rule_id = item.get('id') if isinstance(item, dict) else None
        where = f'{path}: rule {index} ({rule_id or "no id"})'
        if not rule_id or rule_id in seen:
            raise ValueError(f'{where}: each rule needs a unique "id"')
        seen.add(rule_id)
        pattern = item.get('pattern')
        if isinstance(pattern, list):
            pattern = ''.join(pattern)
        if not isinstance(pattern, str) or not pattern:
            raise ValueError(f'{where}: "pattern" must be a string or a list of strings')
        if item.get('kind') not in KINDS:
            raise ValueError(f'{where}: "kind" must be one of {KINDS}, got {item.get("kind")!r}')
        if item.get('where', 'any') not in WHERE:
            raise ValueError(f'{where}: "where" must be one of {WHERE}, got {item.get("where")!r}')
        rule = CleaningRule(
            id=rule_id, kind=item['kind'], pattern=pattern, where=item.get('where', 'any'),
            case_sensitive=bool(item.get('case_sensitive', False)),
            examples=tuple(RuleExample(e['text'], tuple(e.get('removed') or ()),
                                       e.get('language', 'en'))
                           for e in item.get('examples') or ()))
        try:
            compiled = rule.compile()
        except re.error as error:
            raise ValueError(f'{where}: pattern {pattern!r} does not compile: {error}') from error
        unknown = set(compiled.groupindex) - set(CAPTURE_NAMES)
        if unknown:
            raise ValueError(f'{where}: named groups must be among {CAPTURE_NAMES}, got {unknown}')
        rules.append(rule)
    return tuple(rules)


@dataclass(frozen=True)
class CleanedText:
    text: str
    removed: tuple[Removal, ...]
    captured: tuple[tuple[str, str], ...]


# Passes over the rules until nothing more comes off: a removal can expose more chrome (a header
# stripped from the first line leaves another header). Real pages need two or three; the cap keeps a
# crafted text of thousands of nested headers to a few linear passes instead of one pass per header.
MAX_PASSES = 8


class Cleaner:
    """Compiled rules; build once (per DoFn `setup`), call per document.

    A rule that `re` tries at every position of a line (`_tried_throughout`) runs only where the
    text holds the literals every match of its pattern needs (`literals.needed_literals`): such
    rules are mostly chrome of a few outlets or languages (a Turkish follow-us prompt, a Georgian
    copyright line), absent from most texts. The removals are the same as running every rule: a
    rule skipped would have matched nothing. Other rules fail on most lines at their first
    character, sooner than the literal test would.
    """

    def __init__(self, rules: Iterable[CleaningRule]):
        rules = tuple(rules)
        needed = [needed_literals(rule.pattern) if _tried_throughout(rule) else ()
                  for rule in rules]
        self._folding = case_folding(frozenset(
            ch for literals in needed for options in literals for s in options for ch in s))
        self._rules = [(rule, rule.compile(),
                        NeededLiterals.of(literals, self._folding) if literals else None)
                       for rule, literals in zip(rules, needed)]

    def clean(self, text: str, only_rule: Optional[str] = None) -> CleanedText:
        view = _Lines(text.replace('\r\n', '\n').replace('\r', '\n').split('\n'))
        removed: list[Removal] = []
        captured: list[tuple[str, str]] = []
        # Idempotent (cleaning cleaned text changes nothing) unless chrome is nested deeper than
        # MAX_PASSES; stacked chrome at an edge (three signature lines) goes in one pass.
        for _ in range(MAX_PASSES):
            count = len(removed)
            for rule, regex, needed in self._rules:
                if only_rule is not None and rule.id != only_rule:
                    continue
                if needed is not None and not needed.may_match(view.folded(self._folding)):
                    continue
                _apply(rule, regex, view, removed, captured)
            if len(removed) == count:
                break
            view.set(_tidy('\n'.join(view.lines)).split('\n'))
        return CleanedText(_tidy('\n'.join(view.lines)), tuple(removed), tuple(captured))


def _tried_throughout(rule: CleaningRule) -> bool:
    """Whether `re` tries `rule` at every position of the lines it reads: a rule for any line whose
    pattern can begin with something other than a literal (a repeat such as `.{0,80}?`, a class, a
    lookbehind). One that begins with literals (in each branch) is rejected at a line's first
    character (`fullmatch`), or found by a fast literal search (`finditer`); an edge rule reads one
    line."""
    if rule.where != 'any':
        return False
    return not begins_with_literal(rule.pattern, rule.compile().flags)


class _Lines:
    """A text's lines, their stripped forms and the indexes of the non-empty ones: computed when the
    lines change and shared by the rules in between (most rules change nothing)."""

    def __init__(self, lines: list[str]):
        self.set(lines)

    def set(self, lines: list[str]) -> None:
        self.lines = lines
        self.stripped = [line.strip() for line in lines]
        self.filled = [i for i, line in enumerate(self.stripped) if line]
        self._folded: Optional[str] = None

    def folded(self, folding: dict) -> str:
        """The lines as one text, folded by `folding` (`literals.case_folding`), for the rules'
        literal tests; made when first asked after the lines change."""
        if self._folded is None:
            self._folded = '\n'.join(self.lines).translate(folding)
        return self._folded

    def candidates(self, where: str):
        """Indexes of the non-empty lines a rule looks at, in the order it looks at them: every
        line, or the first (last) line and, once that one is removed, the next one inwards."""
        return reversed(self.filled) if where == 'last_line' else iter(self.filled)


def _capture(match: re.Match, captured: list) -> None:
    if not match.re.groupindex:  # most rules name no group: nothing to capture
        return
    for name, value in match.groupdict().items():
        if value:
            captured.append((name, value.strip()))


def _apply(rule, regex, view: _Lines, removed, captured) -> None:
    lines, stripped = view.lines, view.stripped
    indexes = view.candidates(rule.where)
    edge = rule.where != 'any'
    if rule.kind == 'cut_to_end':
        for i in indexes:
            match = regex.fullmatch(stripped[i])
            if match:
                _capture(match, captured)
                removed.append(Removal(rule.id, '\n'.join(lines[i:]).strip()))
                view.set(lines[:i])
                return
            if edge:
                return
        return
    if rule.kind == 'drop_repeated_block':
        kept = _drop_repeated_blocks(rule, regex, list(indexes)[:1] if edge else view.filled, lines,
                                     removed)
        if kept is not lines:
            view.set(kept)
        return
    if rule.kind == 'drop_line':
        fullmatch, drop = regex.fullmatch, set()
        for i in indexes:
            match = fullmatch(stripped[i])
            if match:
                _capture(match, captured)
                removed.append(Removal(rule.id, stripped[i]))
                drop.add(i)
            elif edge:  # the edge line is not chrome: the lines inside it are text
                break
        if drop:
            view.set([line for i, line in enumerate(lines) if i not in drop])
        return
    # strip_inline
    changed, emptied = {}, set()
    for i in indexes:
        pieces, last = [], 0
        for match in regex.finditer(lines[i]):
            if match.end() == match.start():
                continue
            _capture(match, captured)
            removed.append(Removal(rule.id, match.group(0).strip()))
            pieces.append(lines[i][last:match.start()])
            last = match.end()
        if pieces:
            pieces.append(lines[i][last:])
            changed[i] = _join_around_removal(pieces)
            if not changed[i].strip():
                emptied.add(i)
                continue  # an edge line that was all chrome: the next line is now the edge
        if edge:
            break
    if changed:
        view.set([changed.get(i, line) for i, line in enumerate(lines) if i not in emptied])


# Five lines in a row, each seen before: a template rendering the body twice. Shorter runs occur in
# real text (a meal plan repeating a day, a table repeating its header), so they stay.
_MIN_REPEATED_RUN = 5


def _drop_repeated_blocks(rule, regex, indexes, lines, removed) -> list[str]:
    """Drops runs of >= 5 consecutive matching lines that each repeat an earlier matching line."""
    matching = [i for i in indexes if regex.fullmatch(lines[i].strip())]
    seen, run, drop = set(), [], set()

    def close_run():
        if len(run) >= _MIN_REPEATED_RUN:
            drop.update(run)
            removed.append(Removal(rule.id, '\n'.join(lines[i].strip() for i in run)))
        run.clear()

    for i in matching:
        line = ' '.join(lines[i].split())
        if line in seen:
            run.append(i)
        else:
            close_run()
        seen.add(line)
    close_run()
    return [line for i, line in enumerate(lines) if i not in drop] if drop else lines


def _join_around_removal(pieces: list[str]) -> str:
    """Join what surrounded removed spans with one space where both sides had text."""
    joined, tail = [pieces[0]], pieces[0][-1:]  # tail: the last character joined so far
    for piece in pieces[1:]:
        if tail and piece and not tail.isspace() and not piece[0].isspace():
            joined.append(' ')
        joined.append(piece)
        tail = piece[-1:] or tail
    return re.sub(r'[ \t]{2,}', ' ', ''.join(joined)).strip()


def _tidy(text: str) -> str:
    """Strip trailing spaces per line and fold runs of blank lines into one blank line."""
    lines = [line.rstrip() for line in text.split('\n')]
    return re.sub(r'\n{3,}', '\n\n', '\n'.join(lines)).strip()


class CleanBoilerplateFn(beam.DoFn):

    def __init__(self, rules: tuple[CleaningRule, ...]):
        self._rules = rules
        self._cleaner: Optional[Cleaner] = None
        self._removals = Metrics.counter('newswire', 'clean_removals')

    def setup(self):
        self._cleaner = Cleaner(self._rules)

    def process(self, doc: Document):
        result = self._cleaner.clean(doc.text)
        if not result.text:
            yield beam.pvalue.TaggedOutput(DEAD_LETTER, dead_letter(
                STAGE, 'empty_after_cleaning',
                f'nothing left once {len(result.removed)} boilerplate pieces were removed',
                doc.source, doc.text))
            return
        self._removals.inc(len(result.removed))
        yield doc.replaced(text=result.text, removed=doc.removed + result.removed,
                                  captured=doc.captured + result.captured)


class CleanBoilerplate(beam.PTransform):
    """Documents -> `StageOutputs(documents with cleaned text and removals, dead letters)`."""

    def __init__(self, rules: tuple[CleaningRule, ...], timeout_seconds: Optional[float] = None):
        super().__init__()
        self._rules = rules
        self._timeout_seconds = timeout_seconds

    def expand(self, docs):
        return docs | 'Clean' >> ApplyStage(CleanBoilerplateFn(self._rules), STAGE,
                                            timeout_seconds=self._timeout_seconds)
