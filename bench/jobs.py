"""What the benchmark measures, each run in a child process of its own (`python -m bench.jobs KIND
ARGS_JSON`) so that its peak memory is its own: the batch pipeline, the same per-document functions
in a plain loop, and bare trafilatura. Each prints one JSON line of results on stdout."""

from __future__ import annotations

import collections
import json
import os
import re
import sys
import time
from typing import Iterable

# Beam step names -> the stage they belong to (the first prefix that matches wins).
STAGE_PREFIXES = (
    ('read', ('Read/',)),
    ('extract', ('Enrich/ExtractMainText/',)),
    ('clean', ('Enrich/CleanBoilerplate/',)),
    ('metadata', ('Enrich/ExtractMetadata/',)),
    ('parts', ('Enrich/FlagEmbeddedArticles/',)),
    ('language', ('Enrich/DetectLanguage/',)),
    ('topics', ('Enrich/TagTopics/',)),
    ('dedup_sign', ('Enrich/FlagDuplicates/Sign/',)),
    ('dedup_compare', ('Enrich/FlagDuplicates/',)),
    ('dates', ('Enrich/InferDatelineYears/',)),
    ('write', ('Write/', 'Publish/')),
)
TOTAL_MSECS = 'metric:ptransform_execution_time:total_msecs:v1'


def stage_of(step: str) -> str:
    # A portable runner names a step by its transform id: 'ref_AppliedPTransform_' + the label
    # with '/' (and other non-word characters) as '-' + '_<n>'; back to the label's shape.
    if step.startswith('ref_AppliedPTransform_'):
        step = re.sub(r'_\d+$', '', step[len('ref_AppliedPTransform_'):]).replace('-', '/')
    for stage, prefixes in STAGE_PREFIXES:
        if step.startswith(prefixes):
            return stage
    return 'other'


def stage_msecs(result) -> dict[str, float]:
    """Beam's per-step execution time (state sampler), summed per stage; {} if the runner has none.

    The DirectRunner keeps it in `monitoring_metrics()`; a portable runner's result (Prism) has only
    `metrics()`, which carries the same counters, attempted rather than committed."""
    query = getattr(result, 'monitoring_metrics', result.metrics)
    try:
        counters = query().query()['counters']
    except (AttributeError, KeyError):
        return {}
    totals: dict[str, float] = collections.Counter()
    for counter in counters:
        if counter.key.metric.name == TOTAL_MSECS and counter.key.step:
            totals[stage_of(counter.key.step)] += counter.committed or counter.attempted or 0
    return dict(totals)


# `--runners` names -> Beam runners (Prism's binary and the Flink and Spark job servers come from
# `newswire runners install prism|flink|spark`).
RUNNERS = {'direct': 'DirectRunner', 'prism': 'PrismRunner', 'prism-process': 'PrismRunner',
           'prism-inline': 'PrismRunner', 'flink': 'FlinkRunner', 'spark': 'SparkRunner'}
# newswire's flags for a runner name beyond its --runner: Prism with and without the per-document
# steps in a worker process of their own (plain `prism` leaves it to `auto`: on for a stream on
# two or more CPUs, off for a batch).
RUNNER_FLAGS = {'prism-process': ['--enrichment-process=true'],
                'prism-inline': ['--enrichment-process=false']}


def pipeline_job(inputs: list[str], output: str, workers: int, runner: str = 'direct') -> dict:
    """The batch pipeline of `newswire run` on `runner` (a `RUNNERS` name); on the DirectRunner
    with `workers` worker processes (Prism and an embedded Flink or Spark run their Python workers
    in this process, LOOPBACK)."""
    from newswire.pipeline.job.run import (batch_pipeline, local_adapters, pipeline_options,
                                           prepare_output, read_summary)

    argv = [f'--input={path}' for path in inputs] + [f'--output={output}',
                                                     f'--runner={RUNNERS[runner]}']
    argv += RUNNER_FLAGS.get(runner, [])
    if workers > 1 and runner == 'direct':
        argv += [f'--direct_num_workers={workers}', '--direct_running_mode=multi_processing']
    started, cpu_started = time.perf_counter(), time.process_time()
    output_dir = output
    prepare_output(output_dir)
    options = pipeline_options(argv)
    pipeline = batch_pipeline(options)
    with local_adapters(options):  # the data-plane patch for multi_processing, as `newswire run`
        result = pipeline.run()
        result.wait_until_finish()
    seconds = time.perf_counter() - started
    return {'seconds': seconds, 'cpu_seconds': time.process_time() - cpu_started,
            'stage_msecs': stage_msecs(result),
            'summary': read_summary(output_dir)}


def _input_files(inputs: Iterable[str]):
    from newswire.transforms.read_files import InputFile, input_kind

    for path in inputs:
        if os.path.isdir(path):
            root = path.rstrip('/')
            names = sorted(os.path.join(d, n) for d, _, ns in os.walk(path) for n in ns)
        else:
            root, names = os.path.dirname(path) or '.', [path]
        for name in names:
            if input_kind(name):
                yield InputFile(name, root, os.path.getsize(name))


def plain_job(inputs: list[str], output: str) -> dict:
    """The pipeline's own per-document functions (each stage's DoFn.process, the dedup bucket tests,
    the JSON writer) called in a plain Python loop: what the work costs without Beam. Writes the
    enriched records as one sorted JSONL file, for comparison with the pipeline's."""
    import apache_beam as beam

    from newswire.pipeline.job.settings import load_settings
    from newswire.transforms import dedup
    from newswire.transforms.clean import CleanBoilerplateFn
    from newswire.transforms.extract import ExtractTextFn
    from newswire.transforms.language import BATCH_SIZE, DetectLanguageFn
    from newswire.transforms import dates
    from newswire.transforms.metadata import ExtractMetadataFn
    from newswire.transforms.parts import FlagEmbeddedArticlesFn
    from newswire.transforms.read_files import ParseInputFileFn
    from newswire.transforms.records import to_json_line
    from newswire.transforms.tagging import TagDocumentsFn

    started = time.perf_counter()
    settings = load_settings()
    stages = [('extract', ExtractTextFn()), ('clean', CleanBoilerplateFn(settings.cleaning_rules)),
              ('metadata', ExtractMetadataFn(settings.metadata_rules)),
              ('parts', FlagEmbeddedArticlesFn(settings.parts)),
              ('language', DetectLanguageFn(settings.language)),
              ('topics', TagDocumentsFn(settings.taxonomy)),
              ('dedup_sign', dedup.SignDocumentsFn(settings.dedup))]
    for _, fn in stages:
        if hasattr(fn, 'setup'):
            fn.setup()
    seconds: dict[str, float] = collections.Counter()
    dead_letters = 0

    def timed(stage, iterable):
        out, t0 = [], time.perf_counter()
        out.extend(iterable)
        seconds[stage] += time.perf_counter() - t0
        return out

    parse = ParseInputFileFn(settings.max_document_bytes)
    read = 0
    signed = []
    for file in _input_files(inputs):
        # A file's documents go through each stage in turn; the language stage takes them in its
        # batches, as the pipeline does.
        items = timed('read', parse.process(file))
        read += len(items)
        for stage, fn in stages:
            produced = [element for element in items if isinstance(element, beam.pvalue.TaggedOutput)]
            documents = [element for element in items
                         if not isinstance(element, beam.pvalue.TaggedOutput)]
            if stage == 'language':
                batches = [documents[i:i + BATCH_SIZE] for i in range(0, len(documents), BATCH_SIZE)]
                for batch in batches:
                    produced.extend(timed(stage, fn.detect(batch)))
            else:
                for element in documents:
                    produced.extend(timed(stage, fn.process(element)))
            items = produced
        for element in items:
            if isinstance(element, beam.pvalue.TaggedOutput):
                dead_letters += 1
            else:
                signed.append(element)

    t0 = time.perf_counter()
    config = settings.dedup
    buckets = collections.defaultdict(list)
    for _, signature in signed:
        for key, sig in dedup.candidate_keys(signature, config):
            buckets[key].append(sig)
    combine = dedup.BestMatchesFn()
    best = {}
    for key, signatures in buckets.items():
        for match in dedup.compare_bucket(key, signatures, config):
            best[match.later] = combine.add_input(best.get(match.later, dedup.BestMatches()), match)
    parents = {doc_id: b.parent().earlier for doc_id, b in best.items()}
    enriched = [
        __import__('dataclasses').replace(doc, dedup=dedup.dedup_info(
            signature, best.get(doc.id, dedup.BestMatches()), parents))
        for doc, signature in signed]
    seconds['dedup_compare'] += time.perf_counter() - t0

    t0 = time.perf_counter()  # yearless datelines: the story's stated dates, then the run date
    story_dates = collections.defaultdict(set)
    for doc in enriched:
        if dates.stated_date(doc):
            story_dates[doc.dedup.story_id].add(dates.stated_date(doc))
    run_date = dates.run_clock(settings.dates, streaming=False).today()
    enriched = [dates.infer_year(doc, sorted(story_dates[doc.dedup.story_id]), run_date,
                                 settings.dates.future_tolerance_days) for doc in enriched]
    seconds['dates'] += time.perf_counter() - t0

    t0 = time.perf_counter()
    os.makedirs(output, exist_ok=True)
    lines = sorted(to_json_line(doc.to_json_dict()) for doc in enriched)
    with open(os.path.join(output, 'enriched.jsonl'), 'w', encoding='utf-8') as handle:
        handle.write(''.join(f'{line}\n' for line in lines))
    seconds['write'] += time.perf_counter() - t0
    total = time.perf_counter() - started
    return {'seconds': total, 'stage_msecs': {k: v * 1000 for k, v in seconds.items()},
            'read': read, 'enriched': len(enriched), 'dead_letters': dead_letters}


def trafilatura_job(paths: list[str]) -> dict:
    """Bare `trafilatura.extract` on each page: the floor the HTML path is compared with."""
    import gzip

    import trafilatura

    pages = []
    for path in paths:
        opener = gzip.open if path.endswith('.gz') else open
        with opener(path, 'rb') as handle:
            pages.append(handle.read())
    started, cpu_started = time.perf_counter(), time.process_time()
    extracted = sum(1 for page in pages if trafilatura.extract(page))
    return {'seconds': time.perf_counter() - started,
            'cpu_seconds': time.process_time() - cpu_started, 'pages': len(pages),
            'extracted': extracted}


JOBS = {'pipeline': pipeline_job, 'plain': plain_job, 'trafilatura': trafilatura_job}


def main(argv: list[str]) -> int:
    import logging

    logging.basicConfig(level=logging.WARNING)
    kind, arguments = argv[0], json.loads(argv[1])
    result = JOBS[kind](**arguments)
    sys.stdout.write('\nBENCH-RESULT ' + json.dumps(result, sort_keys=True) + '\n')
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
