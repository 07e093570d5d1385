"""Corpora whose shape, not size, strains duplicate detection: `python -m bench.adversarial_dedup
KIND N DIRECTORY` writes N short `.txt` files of one kind (`KINDS`).

- near_identical: one 30-word sentence, each file with its own number in it. Every pair is a near
  copy: most LSH bands and all heavy terms but the number are shared by thousands of files.
- small_vocabulary: 30 words drawn at random from a 40-word vocabulary. Few shingles repeat, but
  every heavy term is shared by thousands of files.
- identical: the same text N times, the exact tier's worst case (all are duplicates of the first).

The sentences are written for this benchmark. The same (kind, n, seed) gives the same bytes.
"""

from __future__ import annotations

import pathlib
import random
import sys

_SENTENCE = ('The harbour board said on Tuesday that the night ferry to the northern islands would '
             'carry {count} passengers a week from March, and port officials expected fares to '
             'stay unchanged.')  # 30 words
VOCABULARY = ('harbour', 'ferry', 'island', 'council', 'budget', 'bridge', 'tunnel', 'railway',
              'station', 'minister', 'vote', 'election', 'strike', 'union', 'wages', 'factory',
              'export', 'grain', 'drought', 'flood', 'river', 'dam', 'power', 'grid', 'turbine',
              'court', 'judge', 'appeal', 'verdict', 'police', 'inquiry', 'hospital', 'nurses',
              'school', 'teachers', 'airport', 'runway', 'tourism', 'festival', 'museum')
_WORDS_PER_FILE = 30


def _near_identical(index: int, rng: random.Random) -> str:
    return _SENTENCE.format(count=1000 + index) + '\n'


def _small_vocabulary(index: int, rng: random.Random) -> str:
    words = [rng.choice(VOCABULARY) for _ in range(_WORDS_PER_FILE)]
    return ' '.join(words).capitalize() + '.\n'


def _identical(index: int, rng: random.Random) -> str:
    return _SENTENCE.format(count=999) + '\n'  # not among near_identical's counts


KINDS = {'near_identical': _near_identical, 'small_vocabulary': _small_vocabulary,
         'identical': _identical}


def write_corpus(kind: str, n: int, directory: pathlib.Path, seed: int = 11) -> list[pathlib.Path]:
    """N files of `kind` in `directory` (created), named so that their order is their index."""
    make = KINDS[kind]
    rng = random.Random(seed)
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for index in range(n):
        path = directory / f'{kind}-{index:06d}.txt'
        path.write_text(make(index, rng), encoding='utf-8')
        paths.append(path)
    return paths


def main(argv: list[str]) -> None:
    kind, n, directory = argv
    write_corpus(kind, int(n), pathlib.Path(directory))


if __name__ == '__main__':
    main(sys.argv[1:])
