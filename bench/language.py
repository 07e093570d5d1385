"""The language step alone: `python -m bench.language [--detector regional] [--articles 300]`.

In a fresh process per detector: build the detector as the stage's `setup()` does, then detect
3,000-character articles of each of the region's ten languages (made of the sentences of that
language in the lingua test data, in file order; English also from ECB+ news documents), one by one
and in the stage's batches (`detect_many`, which must give the same answers). Prints articles per
second of CPU time (one core) per language and over all of them, each way, and the process's peak
resident memory, which includes Python, Beam and numpy as a worker holds them.
"""

from __future__ import annotations

import argparse
import csv
import json
import subprocess
import sys
import time

from bench.corpus import REPO, shared_eval
from newswire.evaluation.evaluate import REGION_LANGUAGES

ARTICLE_CHARS = 3000


def articles(per_language: int) -> dict[str, list[str]]:
    """`per_language` articles of ARTICLE_CHARS characters per region language (fewer when the data
    run out), each made of consecutive sentences, rotating the start so articles differ."""
    sentences: dict[str, list[str]] = {code: [] for code in REGION_LANGUAGES}
    with open(shared_eval() / 'langid-lingua-testdata' / 'sentences.tsv', encoding='utf-8',
              newline='') as handle:
        for row in csv.DictReader(handle, delimiter='\t', quoting=csv.QUOTE_NONE):
            if row['lang'] in sentences:
                sentences[row['lang']].append(row['text'])
    with open(shared_eval() / 'same-story-ecbplus' / 'docs.jsonl', encoding='utf-8') as handle:
        news = [json.loads(line)['text'] for line in handle]
    out = {}
    for code, items in sentences.items():
        made = []
        for start in range(per_language):
            text, i = '', start
            while len(text) < ARTICLE_CHARS:
                text += items[i % len(items)] + ' '
                i += 1
            made.append(text[:ARTICLE_CHARS])
        out[code] = made
    out['en'] = [text[:ARTICLE_CHARS] for text in news if len(text) >= ARTICLE_CHARS][:per_language]
    return out


def measure(detector_name: str, per_language: int) -> dict:
    """Articles/s of CPU time per language for one detector, in this process."""
    from newswire.transforms.language import BATCH_SIZE, LanguageConfig, make_detector

    texts = articles(per_language)
    load = time.process_time()
    detector = make_detector(LanguageConfig(detector=detector_name))
    result = {'detector': detector_name, 'load_cpu_seconds': round(time.process_time() - load, 2),
              'per_language': {}}
    total_texts, total_seconds = 0, 0.0
    batched_seconds = 0.0
    for code, items in texts.items():
        detector.detect(items[0])  # first use outside the clock
        start = time.process_time()
        found = [detector.detect(text) for text in items]
        seconds = time.process_time() - start
        start = time.process_time()
        together = [language for first in range(0, len(items), BATCH_SIZE)
                    for language in detector.detect_many(items[first:first + BATCH_SIZE])]
        batched = time.process_time() - start
        if together != found:
            raise AssertionError(f'{detector_name}: {code} articles detected together differ')
        total_texts, total_seconds = total_texts + len(items), total_seconds + seconds
        batched_seconds += batched
        result['per_language'][code] = {
            'articles_per_second': round(len(items) / seconds, 1),
            'batched_articles_per_second': round(len(items) / batched, 1),
            'right': round([language.code for language in found].count(code) / len(items), 3)}
    result['articles_per_second'] = round(total_texts / total_seconds, 1)
    result['batched_articles_per_second'] = round(total_texts / batched_seconds, 1)
    with open('/proc/self/status', encoding='ascii') as handle:
        peak = next(int(line.split()[1]) for line in handle if line.startswith('VmHWM:'))
    result['peak_rss_mib'] = round(peak / 1024, 1)
    return result


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog='python -m bench.language', description=__doc__)
    parser.add_argument('--detector', action='append', default=None,
                        help='a detector of language.py (repeatable; default regional and langdetect)')
    parser.add_argument('--articles', type=int, default=300, help='articles per language (300)')
    parser.add_argument('--json', action='store_true', help='print JSON')
    parser.add_argument('--one', default=None, help=argparse.SUPPRESS)  # the fresh process's part
    args = parser.parse_args(argv)
    if args.one:
        print('BENCH-RESULT ' + json.dumps(measure(args.one, args.articles)))
        return 0
    results = []
    for name in args.detector or ['regional', 'langdetect']:
        completed = subprocess.run(
            [sys.executable, '-m', 'bench.language', '--one', name, '--articles', str(args.articles)],
            cwd=str(REPO), capture_output=True, text=True, check=True)
        line = [l for l in completed.stdout.splitlines() if l.startswith('BENCH-RESULT ')][-1]
        results.append(json.loads(line[len('BENCH-RESULT '):]))
    if args.json:
        print(json.dumps(results, indent=2))
        return 0
    codes = list(results[0]['per_language'])
    print('detector            peak RSS MiB  all  ' + '  '.join(f'{c:>6}' for c in codes)
          + '   (articles/s of one core, 3,000 characters each)')
    for result in results:
        for way, key in (('one by one', 'articles_per_second'),
                         ('batched', 'batched_articles_per_second')):
            print(f"{result['detector']:<11} {way:<10} {result['peak_rss_mib']:>5}  {result[key]:>5} "
                  + '  '.join(f"{result['per_language'][c][key]:>6}" for c in codes))
    return 0


if __name__ == '__main__':
    sys.exit(main())
