"""`newswire eval`: our enrichment quality on public benchmarks, next to the baselines.

Each evaluation runs the pipeline's own code on a folder in the layout of the matching data set in
`shared/eval/` (each has a PROVENANCE.md saying what it is and how it is scored):

- `extraction` (article-extraction-zyte-benchmark): `extract.extract_page` then the cleaner, exactly
  the HTML path of a run, against bare `trafilatura.extract`; the benchmark's shingle F1.
- `stories` (same-story-ecbplus, train+dev): the documents in a fixed, seeded order, one minute
  apart, through a real batch run (`newswire run` over a JSONL file); pairwise and B-cubed P/R/F1 of
  the `story_id`s it assigns.
- `near-copies` (same-story-ecbplus): seeded copies of ECB+ documents with realistic edits, run
  together with the originals; precision/recall of `near_duplicate_of`. Originals flagged as copies of
  each other are split into genuine wire copies (shingle Jaccard >= 0.5, counted apart) and errors.
- `language` (langid-lingua-testdata): accuracy of `language.py`'s detectors side by side, for each
  of the region's ten languages and overall, on sentences and word pairs; speed (ms/doc) and memory
  (RSS growth, process peak) per detector, each measured in a fresh process.
- `paraphrase` (paraphrase-mrpc-news, train): ROC-AUC of the same-story cosine
  (`similarity.story_features`) on MRPC pairs, next to plain word-set Jaccard.
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import glob
import gzip
import json
import os
import random
import resource
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Callable, Optional, Sequence

from newswire.evaluation import scoring

TASKS = ('extraction', 'stories', 'near-copies', 'language', 'paraphrase')
# `--data DIR` for `all` is a folder holding these (shared/eval/ does).
DATA_FOLDERS = {
    'extraction': 'article-extraction-zyte-benchmark',
    'stories': 'same-story-ecbplus',
    'near-copies': 'same-story-ecbplus',
    'language': 'langid-lingua-testdata',
    'paraphrase': 'paraphrase-mrpc-news',
}

USAGE_EPILOG = """With `all`, --data is the folder that holds the data sets under their usual names
(%s). Any Beam option after the known ones passes through to the batch runs of `stories` and
`near-copies`. `newswire eval topics --data DIR` scores topic tags on labelled JSONL texts (its own
options: `newswire eval topics --help`).""" % ', '.join(sorted(set(DATA_FOLDERS.values())))


@dataclass
class Row:
    """One line of a result table: a system (ours or a baseline) and its figures."""
    system: str
    figures: dict
    baseline: bool = False


@dataclass
class Evaluation:
    task: str
    data: str
    rows: list[Row]
    target: str = ''
    details: dict = field(default_factory=dict)

    def to_json(self) -> dict:
        return {'task': self.task, 'data': self.data, 'target': self.target,
                'rows': [dataclasses.asdict(row) for row in self.rows], 'details': self.details}


def _limited(items: list, limit: Optional[int]) -> list:
    return items if limit is None else items[:limit]


# --- extraction -------------------------------------------------------------------------------

def load_extraction_pages(data_dir: str, limit: Optional[int] = None) -> list[tuple[str, str, str, str]]:
    """(page id, url, html, gold article body) for each page with ground truth, sorted by id."""
    with open(os.path.join(data_dir, 'ground-truth.json'), encoding='utf-8') as handle:
        truth = json.load(handle)
    pages = []
    for page_id in _limited(sorted(truth), limit):
        with gzip.open(os.path.join(data_dir, 'html', f'{page_id}.html.gz'), 'rt',
                       encoding='utf-8') as handle:
            html = handle.read()
        pages.append((page_id, truth[page_id].get('url'), html, truth[page_id].get('articleBody', '')))
    return pages


def bare_trafilatura(html: str, url: Optional[str]) -> str:
    """The benchmark's own trafilatura run (extractors/run_trafilatura.py upstream)."""
    import trafilatura

    return trafilatura.extract(html, include_comments=False) or ''


def pipeline_main_text(settings=None) -> Callable[[str, Optional[str]], str]:
    """Our HTML path: `extract_page` with the run's extract settings, then the cleaner with its
    rules (the defaults without `settings`)."""
    from newswire.pipeline.job.settings import load_settings
    from newswire.transforms.clean import Cleaner
    from newswire.transforms.extract import extract_page

    settings = settings or load_settings()
    cleaner = Cleaner(settings.cleaning_rules)

    def main_text(html: str, url: Optional[str]) -> str:
        page = extract_page(html, url, fast=settings.extract.fast)
        return cleaner.clean(page.text).text if page else ''
    return main_text


def evaluate_extraction(data_dir: str, limit: Optional[int] = None, settings=None) -> Evaluation:
    pages = load_extraction_pages(data_dir, limit)
    systems = {
        'bare trafilatura (benchmark call)': (bare_trafilatura, True),
        'newswire (extract_page + cleaner)': (
            pipeline_main_text(settings), False),
    }
    rows, per_page = [], {}
    for name, (extractor, is_baseline) in systems.items():
        scores = []
        for page_id, url, html, gold in pages:
            score = scoring.shingle_page_score(extractor(html, url), gold)
            scores.append(score)
            per_page.setdefault(page_id, {})[name] = score.tp  # the share of shingles matched
        rows.append(Row(name, scoring.extraction_scores(scores), is_baseline))
    worse = sorted(pid for pid, s in per_page.items()
                   if s[list(systems)[1]] < s[list(systems)[0]])
    return Evaluation('extraction', data_dir, rows, 'F1 >= 0.96 and never below bare trafilatura',
                      {'pages_worse_than_bare': len(worse)})


# --- stories and near copies: real batch runs -------------------------------------------------

def load_ecb_documents(data_dir: str, splits: Sequence[str] = ('train', 'dev'),
                       limit: Optional[int] = None) -> list[dict]:
    """ECB+ documents of the given splits in file order (limit: the first N)."""
    docs = []
    with open(os.path.join(data_dir, 'docs.jsonl'), encoding='utf-8') as handle:
        for line in handle:
            doc = json.loads(line)
            if not splits or doc.get('split') in splits:
                docs.append(doc)
    return _limited(docs, limit)


_EPOCH = datetime(2024, 1, 1, tzinfo=timezone.utc)


def in_arrival_order(docs: list[dict], seed: int) -> list[dict]:
    """A fixed, seeded interleaving of the documents: the order a single-pass stream sees them."""
    ordered = sorted(docs, key=lambda d: d['doc_id'])
    random.Random(seed).shuffle(ordered)
    return ordered


def run_pipeline_on_records(records: list[dict], beam_args: Sequence[str] = (),
                            settings_file: Optional[str] = None) -> dict[str, dict]:
    """Writes the records to a JSONL file, runs `newswire run` on it, returns enriched by record id."""
    from newswire.pipeline.job.run import run_batch

    with tempfile.TemporaryDirectory(prefix='newswire-eval-') as work:
        input_path = os.path.join(work, 'input.jsonl')
        with open(input_path, 'w', encoding='utf-8') as handle:
            for record in records:
                handle.write(json.dumps(record, ensure_ascii=False) + '\n')
        output_dir = os.path.join(work, 'out')
        argv = ['--input', input_path, '--output', output_dir, *beam_args]
        if settings_file:
            argv += ['--settings', settings_file]
        summary = run_batch(argv)
        if not summary.get('accounting_ok'):
            raise RuntimeError(f'the pipeline run did not account for every record: {summary}')
        enriched = {}
        for path in sorted(glob.glob(os.path.join(output_dir, 'enriched-*.jsonl'))):
            with open(path, encoding='utf-8') as handle:
                for line in handle:
                    record = json.loads(line)
                    enriched[record['source']['id']] = record
        return enriched


def stream_records(docs: list[dict], start: datetime = _EPOCH) -> list[dict]:
    """JSONL records for `newswire run`, published one minute apart in the given order."""
    return [{'id': doc['doc_id'], 'title': doc.get('title'), 'text': doc['text'],
             'url': doc.get('url'),
             'published': (start + timedelta(minutes=i)).isoformat()}
            for i, doc in enumerate(docs)]


def evaluate_stories(data_dir: str, limit: Optional[int] = None, beam_args: Sequence[str] = (),
                     settings_file: Optional[str] = None, seed: int = 0) -> Evaluation:
    docs = in_arrival_order(load_ecb_documents(data_dir, limit=limit), seed)
    enriched = run_pipeline_on_records(stream_records(docs), beam_args, settings_file)
    gold = {d['doc_id']: d['story_id'] for d in docs}
    missing = sorted(set(gold) - set(enriched))
    # A document the run could not enrich stays a cluster of its own (and is reported).
    predicted = {doc_id: (enriched[doc_id]['dedup']['story_id'] if doc_id in enriched
                          else f'missing:{doc_id}') for doc_id in gold}
    topic = {d['doc_id']: f"topic:{d['topic']}" for d in docs}
    singletons = {doc_id: doc_id for doc_id in gold}
    rows = []
    for name, assignment, is_baseline in (
            ('newswire story_id (single pass)', predicted, False),
            ('same topic => same story', topic, True),
            ('every document its own story', singletons, True)):
        pairwise = scoring.pairwise_prf(assignment, gold).as_dict()
        bcubed = scoring.bcubed_prf(assignment, gold)
        rows.append(Row(name, {
            'pair_P': pairwise['precision'], 'pair_R': pairwise['recall'], 'pair_F1': pairwise['f1'],
            'b3_P': round(bcubed.precision, 4), 'b3_R': round(bcubed.recall, 4),
            'b3_F1': round(bcubed.f1, 4), 'clusters': len(set(assignment.values()))}, is_baseline))
    rows.append(Row('single-pass TF-IDF cosine (issue 6)', {'pair_F1': 0.85}, True))
    return Evaluation('stories', data_dir, rows, 'pairwise F1 >= 0.90',
                      {'documents': len(docs), 'not_enriched': missing, 'order_seed': seed,
                       'gold_clusters': len(set(gold.values()))})


# Near copies: realistic edits a syndicating outlet makes to a wire story.
_HEADERS = ('Home | World | Business | Sport | Entertainment', 'Breaking News', 'Latest Headlines',
            'Posted by Staff Writer', 'Updated: 3 min ago', 'Skip to main content')
_FOOTERS = ('Share this article', 'Follow us on Twitter and Facebook.',
            'Copyright 2024 Example Media Ltd. All rights reserved.',
            'Sign up for our daily newsletter to get the top stories.',
            'Comments are closed.', 'Report an error')
_HEADLINE_PREFIXES = ('UPDATE 1-', 'BREAKING: ', 'Report: ', '', 'WATCH: ')


def _typo(word: str, rng: random.Random) -> str:
    if len(word) < 4 or not word.isalpha():
        return word
    i = rng.randrange(1, len(word) - 2)
    kind = rng.choice(('swap', 'drop', 'double'))
    if kind == 'swap':
        return word[:i] + word[i + 1] + word[i] + word[i + 2:]
    if kind == 'drop':
        return word[:i] + word[i + 1:]
    return word[:i] + word[i] + word[i:]


def derive_near_copy(doc: dict, rng: random.Random) -> dict:
    """A copy of an ECB+ document as another outlet might run it.

    Other boilerplate above and below, a changed headline, one paragraph dropped (a long story
    trimmed at the end) or two swapped, and a few typos. Lines are paragraphs in ECB+.
    """
    lines = [line for line in doc['text'].split('\n') if line.strip()]
    title = doc.get('title') or ''
    body = lines[1:] if title and lines and lines[0].strip() == title.strip() else lines
    body = list(body) or list(lines)
    if len(body) >= 4:
        edit = rng.choice(('trim_last', 'swap'))
        if edit == 'trim_last':
            body = body[:-1]
        else:
            i = rng.randrange(len(body) - 1)
            body[i], body[i + 1] = body[i + 1], body[i]
    for _ in range(rng.randint(2, 4)):
        i = rng.randrange(len(body))
        words = body[i].split(' ')
        j = rng.randrange(len(words))
        words[j] = _typo(words[j], rng)
        body[i] = ' '.join(words)
    headline = rng.choice(_HEADLINE_PREFIXES) + (title or body[0][:80]).rstrip('.')
    if rng.random() < 0.5:
        headline = headline.upper() if rng.random() < 0.3 else headline + ' - report'
    text = '\n'.join([rng.choice(_HEADERS), headline, *body, rng.choice(_FOOTERS)])
    return {**doc, 'doc_id': doc['doc_id'] + '~copy', 'title': headline, 'text': text,
            'copy_of': doc['doc_id']}


def genuine_copy_pairs(docs: list[dict], threshold: float = 0.5, shingle_words: int = 5) -> set:
    """Pairs of documents (sorted ids) whose exact word-shingle Jaccard is at least `threshold`."""
    from newswire.transforms.similarity import MinHasher

    hasher = MinHasher(num_perm=16, seed=1, shingle_words=shingle_words)  # used for its shingles
    shingles = {d['doc_id']: hasher.shingles(d['text']) for d in docs}
    by_shingle: dict[str, list[str]] = {}
    for doc_id, items in shingles.items():
        for s in items:
            by_shingle.setdefault(s, []).append(doc_id)
    shared: dict[tuple[str, str], int] = {}
    for ids in by_shingle.values():
        if len(ids) > 50:  # boilerplate shared by many documents says nothing about copying
            continue
        for i, a in enumerate(ids):
            for b in ids[i + 1:]:
                key = (a, b) if a < b else (b, a)
                shared[key] = shared.get(key, 0) + 1
    pairs = set()
    for (a, b), common in shared.items():
        union = len(shingles[a]) + len(shingles[b]) - common
        if union and common / union >= threshold:
            pairs.add((a, b))
    return pairs


def evaluate_near_copies(data_dir: str, limit: Optional[int] = None, beam_args: Sequence[str] = (),
                         settings_file: Optional[str] = None, seed: int = 0,
                         copy_share: float = 0.5) -> Evaluation:
    originals = load_ecb_documents(data_dir, limit=limit)
    rng = random.Random(seed)
    sources = sorted(rng.sample(originals, max(1, int(len(originals) * copy_share))),
                     key=lambda d: d['doc_id'])
    copies = [derive_near_copy(doc, rng) for doc in sources]
    # Every copy arrives after its original (a few hours later), the originals in a seeded order.
    ordered = in_arrival_order(originals, seed)
    records = stream_records(ordered) + stream_records(
        copies, _EPOCH + timedelta(minutes=len(ordered) + 60))
    enriched = run_pipeline_on_records(records, beam_args, settings_file)
    genuine = genuine_copy_pairs(originals)
    family = {}  # doc id -> ids it may rightly be called a copy of
    for a, b in genuine:
        family.setdefault(a, set()).add(b)
        family.setdefault(b, set()).add(a)

    source_of = {record['id']: source_id for source_id, record in enriched.items()}

    def flagged_source(doc_id: str) -> Optional[str]:
        flagged = ((enriched.get(doc_id) or {}).get('dedup') or {}).get('near_duplicate_of')
        return source_of.get(flagged, flagged) if flagged else None

    from newswire.transforms.similarity import MinHasher

    shingler = MinHasher(num_perm=16, seed=1, shingle_words=5)

    def cleaned_jaccard(a: str, b: str) -> float:
        """Exact word-shingle Jaccard of two documents' texts as the pipeline left them."""
        x, y = (shingler.shingles(enriched[d]['text']) if d in enriched else set() for d in (a, b))
        return len(x & y) / len(x | y) if x | y else 0.0

    true_flags = false_flags = genuine_flags = 0
    errors, missed, close_copies, close_found = [], [], 0, 0
    for copy in copies:
        flagged_doc = flagged_source(copy['doc_id'])
        jaccard = cleaned_jaccard(copy['doc_id'], copy['copy_of'])
        close_copies += jaccard >= 0.5
        if flagged_doc is None:
            missed.append((copy['doc_id'], round(jaccard, 3)))
            continue
        close_found += jaccard >= 0.5
        if flagged_doc == copy['copy_of'] or flagged_doc in family.get(copy['copy_of'], ()):
            true_flags += 1
        else:
            false_flags += 1
            errors.append((copy['doc_id'], flagged_doc))
    original_flags = 0
    for doc in originals:
        flagged_doc = flagged_source(doc['doc_id'])
        if flagged_doc is None:
            continue
        if flagged_doc in family.get(doc['doc_id'], ()):
            genuine_flags += 1
        else:
            original_flags += 1
            errors.append((doc['doc_id'], flagged_doc))
    flagged_total = true_flags + false_flags + original_flags
    precision = true_flags / flagged_total if flagged_total else 1.0
    recall = true_flags / len(copies) if copies else 1.0
    rows = [Row('newswire near_duplicate_of', {
        'P': round(precision, 4), 'R': round(recall, 4), 'F1': round(scoring.f1(precision, recall), 4),
        'copies': len(copies), 'found': true_flags, 'wrong_original': false_flags,
        'reports_flagged': original_flags, 'genuine_wire_flagged': genuine_flags})]
    return Evaluation('near-copies', data_dir, rows,
                      'P >= 0.99, R >= 0.95; different outlets\' reports never flagged',
                      {'originals': len(originals), 'genuine_wire_copy_pairs': len(genuine),
                       'seed': seed, 'errors': errors[:20],
                       # How far the edits took each copy from its original (exact shingle Jaccard
                       # after cleaning): the near-copy tier is defined as Jaccard >= 0.5.
                       'copies_with_jaccard_at_least_0.5': close_copies,
                       'recall_on_those': round(close_found / close_copies, 4) if close_copies else None,
                       'missed': sorted(missed, key=lambda m: m[1])})




# --- language ---------------------------------------------------------------------------------

def load_language_items(path: str, limit: Optional[int] = None) -> list[tuple[str, str]]:
    """(gold code, text) per row; with limit, the first N rows of each language."""
    items, seen = [], {}
    with open(path, encoding='utf-8', newline='') as handle:
        for row in csv.DictReader(handle, delimiter='\t', quoting=csv.QUOTE_NONE):
            lang = row['lang']
            seen[lang] = seen.get(lang, 0) + 1
            if limit is None or seen[lang] <= limit:
                items.append((lang, row['text']))
    return items


def _rss_kib(field: str = 'VmRSS') -> int:
    """The process's resident memory now (VmRSS) or at its peak (VmHWM), in KiB."""
    with open('/proc/self/status', encoding='ascii') as handle:
        for line in handle:
            if line.startswith(field + ':'):
                return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def measure_detector(detector_name: str, data_dir: str, limit: Optional[int] = None) -> dict:
    """Accuracy, ms per text, RSS growth and the process's peak RSS (MiB) of one detector of
    `language.py`. In a fresh process the peak is what a worker running the language step holds
    (Beam's modules included: `language.py` imports them)."""
    from newswire.transforms.language import LanguageConfig, make_detector

    rss_before = _rss_kib()
    load_start = time.perf_counter()
    detector = make_detector(LanguageConfig(detector=detector_name))
    load_seconds = time.perf_counter() - load_start
    result = {'detector': detector_name, 'load_seconds': round(load_seconds, 2),
              'supported': sorted(detector.supported_languages())}
    for kind, file_name in (('sentences', 'sentences.tsv'), ('word_pairs', 'word-pairs.tsv')):
        items = load_language_items(os.path.join(data_dir, file_name), limit)
        # Word pairs are shorter than min_letters; they are scored as a detector sees them raw.
        start = time.perf_counter()
        predicted = [detector.detect(text, min_letters=0).code for _, text in items]
        elapsed = time.perf_counter() - start
        gold = [lang for lang, _ in items]
        supported = set(detector.supported_languages())
        everything = scoring.accuracy_by_label(gold, predicted)
        on_supported = scoring.accuracy_by_label(gold, predicted, supported)
        result[kind] = {
            'accuracy': round(everything['accuracy'], 4),
            'accuracy_supported': round(on_supported['accuracy'], 4),
            'languages_supported': len(on_supported['per_label']),
            'ms_per_text': round(1000 * elapsed / max(1, len(items)), 3),
            'per_language': {k: round(v, 3) for k, v in everything['per_label'].items()},
        }
    result['rss_growth_mib'] = round((_rss_kib() - rss_before) / 1024, 1)
    result['peak_rss_mib'] = round(_rss_kib('VmHWM') / 1024, 1)
    return result


def _measure_in_subprocess(detector_name: str, data_dir: str, limit: Optional[int]) -> dict:
    """Each detector in a fresh interpreter, so one's loaded model does not count to another's RSS."""
    import subprocess

    code = ('import json,sys; from newswire.evaluation.evaluate import measure_detector; '
            'print(json.dumps(measure_detector(sys.argv[1], sys.argv[2], '
            'None if sys.argv[3] == "-" else int(sys.argv[3]))))')
    completed = subprocess.run(
        [sys.executable, '-c', code, detector_name, data_dir, '-' if limit is None else str(limit)],
        capture_output=True, text=True, check=True)
    return json.loads(completed.stdout.strip().splitlines()[-1])


# The languages of the region newswire watches (issue 16), each its own row of the language table.
REGION_LANGUAGES = ('az', 'hy', 'ka', 'ru', 'uk', 'be', 'kk', 'tr', 'fa', 'en')
# The detector the others are compared with language by language: the default until the regional one.
REFERENCE_DETECTOR = 'langdetect'
# py3langid on the same subset, from the data set's PROVENANCE.md (not run here).
PY3LANGID = 'py3langid (PROVENANCE)'


def language_rows(measured: dict[str, dict]) -> list[Row]:
    """The language table: one row per region language and per summary, one column per detector.

    `measured` maps detector names to `measure_detector` results. "langdetect's languages" is the
    macro average over the test languages langdetect knows, and "below langdetect" counts the
    languages where a detector's sentence accuracy is lower than langdetect's: together they show
    whether a detector gives up anything langdetect did well.
    """
    def row(name: str, value_of, extra: Optional[dict] = None) -> Row:
        return Row(name, {**{detector: value_of(result) for detector, result in measured.items()},
                          **(extra or {})})

    def per_language(result: dict) -> dict:
        return result['sentences']['per_language']

    rows = [row(code, lambda result, code=code: per_language(result).get(code))
            for code in REGION_LANGUAGES]
    rows.append(row('all languages (sentences)', lambda result: result['sentences']['accuracy'],
                    {PY3LANGID: 0.910}))
    rows.append(row('on its own languages', lambda result: result['sentences']['accuracy_supported'],
                    {PY3LANGID: 0.962}))
    reference = measured.get(REFERENCE_DETECTOR)
    if reference is not None:
        known = sorted(set(reference['supported']) & set(per_language(reference)))

        def known_mean(result: dict) -> float:
            return round(sum(per_language(result)[code] for code in known) / max(1, len(known)), 4)

        def below(result: dict) -> int:
            return sum(per_language(result)[code] < per_language(reference)[code]
                       for code in per_language(reference))

        rows.append(row(f"{REFERENCE_DETECTOR}'s {len(known)} languages (macro)", known_mean))
        rows.append(row(f'languages below {REFERENCE_DETECTOR}', below))
    rows.append(row('word pairs, all languages', lambda result: result['word_pairs']['accuracy'],
                    {PY3LANGID: 0.776}))
    rows.append(row('ms per sentence', lambda result: result['sentences']['ms_per_text']))
    rows.append(row('RSS growth MiB', lambda result: result['rss_growth_mib']))
    rows.append(row('process peak RSS MiB', lambda result: result.get('peak_rss_mib')))
    return rows


def evaluate_language(data_dir: str, limit: Optional[int] = None,
                      detectors: Optional[Sequence[str]] = None) -> Evaluation:
    from newswire.transforms.language import DETECTORS, LanguageConfig

    names = list(detectors or sorted(DETECTORS))
    measured = {name: _measure_in_subprocess(name, data_dir, limit) for name in names}
    return Evaluation('language', data_dir, language_rows(measured),
                      f'sentence accuracy >= 0.97 on each of {", ".join(REGION_LANGUAGES)}; '
                      f'default detector: {LanguageConfig().detector}', measured)


# --- paraphrase -------------------------------------------------------------------------------

def load_mrpc_pairs(data_dir: str, limit: Optional[int] = None) -> list[tuple[bool, str, str]]:
    path = os.path.join(data_dir, 'msr_paraphrase_train.tsv')
    with open(path, encoding='utf-8', newline='') as handle:
        rows = list(csv.DictReader(handle, delimiter='\t', quoting=csv.QUOTE_NONE))
    return [(row['Quality'] == '1', row['#1 String'], row['#2 String']) for row in _limited(rows, limit)]


def story_cosine(a: str, b: str) -> float:
    """The same-story score of two texts, as the dedup stage computes it (English, no title)."""
    from newswire.transforms import similarity

    return similarity.cosine(similarity.story_features(None, a, 'en').vector,
                             similarity.story_features(None, b, 'en').vector)


def word_jaccard(a: str, b: str) -> float:
    x, y = set(scoring.tokens(a.lower())), set(scoring.tokens(b.lower()))
    return len(x & y) / len(x | y) if x | y else 0.0


def evaluate_paraphrase(data_dir: str, limit: Optional[int] = None) -> Evaluation:
    pairs = load_mrpc_pairs(data_dir, limit)
    labels = [label for label, _, _ in pairs]
    rows = []
    for name, score, is_baseline in (('newswire story cosine', story_cosine, False),
                                     ('word-set Jaccard', word_jaccard, True)):
        scores = [score(a, b) for _, a, b in pairs]
        positives = [s for s, label in zip(scores, labels) if label]
        negatives = [s for s, label in zip(scores, labels) if not label]
        rows.append(Row(name, {
            'roc_auc': round(scoring.roc_auc(scores, labels), 4),
            'mean_pos': round(sum(positives) / len(positives), 4),
            'mean_neg': round(sum(negatives) / len(negatives), 4)}, is_baseline))
    return Evaluation('paraphrase', data_dir, rows, 'AUC well above 0.5 (a sanity check)',
                      {'pairs': len(pairs), 'positives': sum(labels)})


# --- command line -----------------------------------------------------------------------------

def format_table(evaluation: Evaluation) -> str:
    columns: list[str] = []
    for row in evaluation.rows:
        columns += [k for k, v in row.figures.items() if k not in columns and not isinstance(v, dict)]
    header = ['system', *columns]
    lines = [[('  ' if row.baseline else '* ') + row.system,
              *[_cell(row.figures.get(c)) for c in columns]] for row in evaluation.rows]
    widths = [max(len(str(x)) for x in column) for column in zip(header, *lines)]
    out = [f'== {evaluation.task}  ({evaluation.data})  target: {evaluation.target}',
           '  '.join(h.ljust(w) for h, w in zip(header, widths))]
    out += ['  '.join(c.ljust(w) for c, w in zip(line, widths)) for line in lines]
    return '\n'.join(out)


def _cell(value) -> str:
    if value is None:
        return '-'
    if isinstance(value, float):
        return f'{value:.3f}'
    return str(value)


def parse_args(argv: Sequence[str]):
    parser = argparse.ArgumentParser(
        prog='newswire eval', epilog=USAGE_EPILOG,
        description='Measure enrichment quality on a benchmark folder; * marks our rows.')
    parser.add_argument('task', choices=(*TASKS, 'all'))
    parser.add_argument('--data', required=True,
                        help="the benchmark folder (for `all`, the folder holding them)")
    parser.add_argument('--json', action='store_true', help='print JSON instead of tables')
    parser.add_argument('--limit', type=int, default=None,
                        help='only the first N items (per language for `language`); default all')
    parser.add_argument('--settings', default=None, help='a settings file, as for `newswire run`')
    parser.add_argument('--detector', action='append', default=None,
                        help='language: a detector of language.py to measure (repeatable; '
                             'default every one)')
    return parser.parse_known_args(list(argv))


def run_task(task: str, data_dir: str, args, beam_args: Sequence[str]) -> Evaluation:
    from newswire.pipeline.job.settings import load_settings

    if task == 'extraction':
        return evaluate_extraction(data_dir, args.limit, load_settings(args.settings))
    if task == 'stories':
        return evaluate_stories(data_dir, args.limit, beam_args, args.settings)
    if task == 'near-copies':
        return evaluate_near_copies(data_dir, args.limit, beam_args, args.settings)
    if task == 'language':
        return evaluate_language(data_dir, args.limit, args.detector)
    return evaluate_paraphrase(data_dir, args.limit)


def main(argv: Sequence[str]) -> int:
    """`newswire eval TASK --data DIR`: 0 when every evaluation ran, 2 on a usage error."""
    from newswire.pipeline.job.run import UsageError

    if list(argv[:1]) == ['topics']:  # labelled texts, not a benchmark folder: options of its own
        from newswire.evaluation import evaluate_tags
        return evaluate_tags.main(argv[1:])
    try:
        args, beam_args = parse_args(argv)
    except SystemExit as exit_request:  # --help (0) or a usage error argparse has printed (2)
        return int(exit_request.code or 0)
    tasks = TASKS if args.task == 'all' else (args.task,)
    folders = {t: os.path.join(args.data, DATA_FOLDERS[t]) if args.task == 'all' else args.data
               for t in tasks}
    for task, folder in folders.items():
        if not os.path.isdir(folder):
            print(f'newswire eval: {task}: no such folder {folder!r}', file=sys.stderr)
            return 2
    results = []
    for task in tasks:
        try:
            evaluation = run_task(task, folders[task], args, beam_args)
        except UsageError as error:  # a bad Beam option or settings file, found by the batch run
            print(f'newswire eval: {task}: {error}', file=sys.stderr)
            return 2
        results.append(evaluation)
        if not args.json:
            print(format_table(evaluation), flush=True)
            print()
    if args.json:
        print(json.dumps([e.to_json() for e in results], indent=2, ensure_ascii=False))
    return 0
