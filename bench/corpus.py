"""Reproducible benchmark corpora: N wire records (JSONL) built from real text with a seeded RNG.

The text is real: sentences of the ECB+ news documents (../shared/eval/same-story-ecbplus) and of the
seeds. What a wire adds is simulated, in these shares (`MIX`):

- original: a new story. Sentences drawn mostly from one ECB+ event (so the report is on topic), a
  few from others, with the event's names (rare capitalised words) replaced by names made up for this
  story, so two stories built on one ECB+ event do not share their heavy terms;
- same_story: another outlet's report of a recent story: a fresh draw of sentences from the same
  event, with the same made-up names;
- near_copy: a recent item again with its chrome edited (a date header, a related-news block, share
  and follow prompts, a copyright line, a sign-off added or changed) and sometimes one word changed;
- republished: a recent item's text, byte for byte, from another outlet later on.

Items arrive at a wire's pace (one every `SECONDS_PER_ITEM` on average) so a large corpus spans
more than the dedup horizon, as a day-after-day wire does. The same (n, seed) gives the same bytes.
"""

from __future__ import annotations

import datetime as dt
import json
import pathlib
import random
import re
from dataclasses import dataclass
from typing import Optional

REPO = pathlib.Path(__file__).resolve().parent.parent


def shared_eval() -> pathlib.Path:
    """../shared/eval beside the checkout (a git worktree sits one level deeper, hence the second)."""
    candidates = [REPO.parent / 'shared' / 'eval', REPO.parent.parent / 'shared' / 'eval']
    return next((c for c in candidates if c.is_dir()), candidates[0])


SEEDS = REPO / 'seeds'

MIX = (('original', 0.45), ('same_story', 0.20), ('near_copy', 0.20), ('republished', 0.15))
SECONDS_PER_ITEM = 8.64  # 10,000 items a day
START = dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc)
RECENT_ITEMS = 500       # copies and follow-ups pick from this many latest items
RECENT_STORIES = 300
RECORDS_PER_FILE = 1000

OUTLETS = ('Northwire', 'Daily Ledger', 'Metro Courier', 'Global Dispatch', 'Capital Times',
           'Harbour Post', 'Evening Standard Wire', 'Frontier News', 'Union Press', 'Bay Herald')
SYLLABLES = ('ka', 'ri', 'mo', 'ven', 'tal', 'dor', 'si', 'lu', 'bar', 'nek', 'zu', 'pha', 'gor',
             'mi', 'el', 'tan', 'vo', 'res', 'ul', 'quin', 'ash', 'ber', 'do', 'fen')
_SENTENCE = re.compile(r'(?<=[.!?])\s+(?=[A-Z"\u201c])')
_CAPITALISED = re.compile(r'(?<=[a-z,;] )[A-Z][a-z]{2,}')


@dataclass
class _Event:
    """One ECB+ event (or the seeds): its sentences and the rare names in them."""
    sentences: list[str]
    names: list[str]


@dataclass
class _Story:
    event: int
    names: dict[str, str]
    _compiled: Optional[re.Pattern] = None

    def pattern(self) -> re.Pattern:
        if self._compiled is None:
            alternatives = '|'.join(re.escape(n) for n in sorted(self.names, key=len, reverse=True))
            self._compiled = re.compile(rf'\b(?:{alternatives})\b')
        return self._compiled


def _load_events() -> list[_Event]:
    import wordfreq

    texts: dict[str, list[str]] = {}
    with open(shared_eval() / 'same-story-ecbplus' / 'docs.jsonl', encoding='utf-8') as handle:
        for line in handle:
            record = json.loads(line)
            texts.setdefault(record['story_id'], []).append(record['text'])
    texts['seeds'] = [path.read_text(encoding='utf-8') for path in sorted(SEEDS.glob('*.txt'))]
    events = []
    for key in sorted(texts):
        sentences = [s.strip() for text in texts[key] for paragraph in text.split('\n')
                     for s in _SENTENCE.split(paragraph) if len(s.strip()) > 30]
        lowercase = {w for s in sentences for w in re.findall(r'\b[a-z]+\b', s)}
        # Names: capitalised mid-sentence, never written in lower case, not among the commonest words.
        names = sorted({m.group() for s in sentences for m in _CAPITALISED.finditer(s)
                        if m.group().lower() not in lowercase
                        and wordfreq.zipf_frequency(m.group().lower(), 'en') < 5.0})
        if len(sentences) >= 8:
            events.append(_Event(sentences, names))
    return events


def _made_up_name(rng: random.Random) -> str:
    return ''.join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 3))).capitalize()


def _report(rng: random.Random, events: list[_Event], story: _Story) -> str:
    event = events[story.event]
    count = rng.randint(6, 14)
    own = rng.sample(event.sentences, min(len(event.sentences), count))
    others = [rng.choice(rng.choice(events).sentences) for _ in range(rng.randint(0, 2))]
    sentences = own + others
    rng.shuffle(sentences)
    text = ' '.join(sentences)
    if story.names:
        text = story.pattern().sub(lambda m: story.names[m.group()], text)
    # Paragraphs of two or three sentences, as wires write them.
    parts, paragraph = [], []
    for sentence in _SENTENCE.split(text):
        paragraph.append(sentence)
        if len(paragraph) >= rng.randint(2, 3):
            parts.append(' '.join(paragraph))
            paragraph = []
    if paragraph:
        parts.append(' '.join(paragraph))
    return '\n\n'.join(parts)


def _with_edited_chrome(rng: random.Random, text: str, when: dt.datetime, outlet: str) -> str:
    body = text
    if rng.random() < 0.3:  # one word changed: an editor's touch
        words = body.split(' ')
        index = rng.randrange(len(words))
        words[index] = rng.choice(('reportedly', 'also', 'then', 'now', 'again'))
        body = ' '.join(words)
    header, footer = [], []
    if rng.random() < 0.5:
        header.append(f' date {when:%Y-%m-%d} {when.day} {when:%B %Y %H:%M} (UTC+04:00)')
    if rng.random() < 0.4:
        footer.append(f'Follow us on {rng.choice(("Telegram", "Twitter", "Facebook"))}')
    if rng.random() < 0.4:
        footer.append('Share this article')
    if rng.random() < 0.4:
        footer.append(f'© {when.year} {outlet}. All rights reserved.')
    if rng.random() < 0.4 or not (header or footer):
        footer += ['Related news', f'{_made_up_name(rng)} visits {_made_up_name(rng)}',
                   f'Talks continue in {_made_up_name(rng)}']
    return '\n\n'.join(header + [body] + footer)


def _title(rng: random.Random, text: str) -> Optional[str]:
    if rng.random() < 0.5:
        return None
    body = max(text.split('\n\n'), key=len)
    words = body.split()[:rng.randint(6, 10)]
    return ' '.join(words).rstrip('.,;:')


def generate(n: int, seed: int = 7):
    """The corpus's records, in publication order: dicts with id, outlet, published, text, title
    and `bench_kind` (the variation that made it; kept by the pipeline under `extra`)."""
    rng = random.Random(seed)
    events = _load_events()
    kinds, weights = zip(*MIX)
    items: list[dict] = []
    stories: list[_Story] = []
    clock = 0.0
    for index in range(n):
        clock += rng.expovariate(1.0 / SECONDS_PER_ITEM)
        when = START + dt.timedelta(seconds=round(clock))
        outlet = rng.choice(OUTLETS)
        kind = rng.choices(kinds, weights)[0] if items else 'original'
        if kind == 'original' or (kind == 'same_story' and not stories):
            kind = 'original'
            event = rng.randrange(len(events))
            story = _Story(event, {name: _made_up_name(rng) for name in events[event].names})
            stories.append(story)
            text = _report(rng, events, story)
        elif kind == 'same_story':
            text = _report(rng, events, rng.choice(stories[-RECENT_STORIES:]))
        else:
            earlier = rng.choice(items[-RECENT_ITEMS:])
            text = (earlier['text'] if kind == 'republished'
                    else _with_edited_chrome(rng, earlier['text'], when, outlet))
        record = {'id': f'bench-{index:07d}', 'outlet': outlet,
                  'published': when.isoformat().replace('+00:00', 'Z'), 'text': text,
                  'bench_kind': kind}
        title = _title(rng, text)
        if title:
            record['title'] = title
        items.append(record)
    return items


def write_corpus(n: int, directory: pathlib.Path, seed: int = 7) -> list[pathlib.Path]:
    """Writes the corpus as corpus-NNNNN.jsonl files of RECORDS_PER_FILE lines; returns them."""
    directory.mkdir(parents=True, exist_ok=True)
    records = generate(n, seed)
    paths = []
    for start in range(0, n, RECORDS_PER_FILE):
        path = directory / f'corpus-{start // RECORDS_PER_FILE:05d}.jsonl'
        with open(path, 'w', encoding='utf-8') as handle:
            for record in records[start:start + RECORDS_PER_FILE]:
                handle.write(json.dumps(record, ensure_ascii=False, sort_keys=True) + '\n')
        paths.append(path)
    return paths
