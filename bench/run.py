"""The performance benchmark: `python -m bench.run [--sizes 1000,10000] [--workers 1,2] ...`.

For each corpus size (see `bench.corpus`): the batch pipeline on each runner of `--runners` (the
DirectRunner with each worker count, every other runner once; docs/s, Beam's per-stage share of
time, peak RSS of the process tree, Prism's Go process and the Flink or Spark JVM included) and the same functions in a plain loop (the pipeline/plain ratio is what Beam costs); the HTML path on the Zyte benchmark
pages against bare trafilatura; streaming latency through the Pub/Sub emulator. Prints a table and
writes everything as JSON (`--json`)."""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import platform
import shutil
import sys
import tempfile
import time

from bench import corpus
from bench.jobs import STAGE_PREFIXES
from bench.procs import run_measured

REPO = pathlib.Path(__file__).resolve().parent.parent
STAGES = [stage for stage, _ in STAGE_PREFIXES] + ['other']


def machine() -> dict:
    model = 'unknown'
    with open('/proc/cpuinfo', encoding='utf-8') as handle:
        for line in handle:
            if line.startswith('model name'):
                model = line.split(':', 1)[1].strip()
                break
    with open('/proc/meminfo', encoding='utf-8') as handle:
        mem_kb = int(handle.readline().split()[1])
    return {'nproc': os.cpu_count(), 'cpu': model, 'ram_gib': round(mem_kb / 2**20, 1),
            'python': platform.python_version()}


def _job(kind: str, timeout: float, **arguments) -> dict:
    stdout, _, peak = run_measured(
        [sys.executable, '-m', 'bench.jobs', kind, json.dumps(arguments)], cwd=str(REPO),
        timeout=timeout)
    line = [l for l in stdout.splitlines() if l.startswith('BENCH-RESULT ')][-1]
    result = json.loads(line[len('BENCH-RESULT '):])
    result['peak_rss_mb'] = round(peak / 2**20, 1)
    return result


def _shares(stage_msecs: dict) -> dict:
    total = sum(stage_msecs.values()) or 1.0
    return {stage: round(stage_msecs.get(stage, 0.0) / total, 3) for stage in STAGES}


def _same_output(pipeline_dir: pathlib.Path, plain_dir: pathlib.Path) -> bool:
    pipeline = b''.join(p.read_bytes() for p in sorted(pipeline_dir.glob('enriched-*.jsonl')))
    return pipeline == (plain_dir / 'enriched.jsonl').read_bytes()


def _pipeline_runs(runners: list[str], workers: list[int]) -> list[tuple[str, str, int]]:
    """(result key, runner, worker count) per pipeline run: the DirectRunner once per worker count
    (keys '1', '2', as in earlier results), every other runner once under its own name."""
    runs = []
    for runner in runners:
        if runner == 'direct':
            runs += [(str(count), runner, count) for count in workers]
        else:
            runs.append((runner, runner, 1))
    return runs


def text_path(n: int, workers: list[int], work: pathlib.Path, timeout: float,
              with_plain: bool = True, runners: tuple[str, ...] = ('direct',)) -> dict:
    directory = work / f'corpus-{n}'
    started = time.perf_counter()
    corpus.write_corpus(n, directory)
    row = {'n': n, 'corpus_seconds': round(time.perf_counter() - started, 1), 'pipeline': {}}
    plain = None
    if with_plain:
        plain = _job('plain', timeout, inputs=[str(directory)], output=str(work / f'plain-{n}'))
        row['plain'] = {**plain, 'docs_per_s': round(n / plain['seconds'], 1),
                        'stage_share': _shares(plain['stage_msecs'])}
    for key, runner, count in _pipeline_runs(list(runners), workers):
        output = work / f'pipeline-{n}-{key}'
        result = _job('pipeline', timeout, inputs=[str(directory)], output=str(output),
                      workers=count, runner=runner)
        result.update(docs_per_s=round(n / result['seconds'], 1),
                      stage_share=_shares(result['stage_msecs']))
        if plain:
            result.update(vs_plain=round(plain['seconds'] / result['seconds'], 3),
                          same_output_as_plain=_same_output(output, work / f'plain-{n}'))
        row['pipeline'][key] = result
    shutil.rmtree(directory, ignore_errors=True)
    return row


def html_path(work: pathlib.Path, repeat: int, timeout: float, limit=None) -> dict:
    pages = sorted((corpus.shared_eval() / 'article-extraction-zyte-benchmark' / 'html')
                   .glob('*.html.gz'))[:limit]
    directory = work / 'html'
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for copy in range(repeat):  # copies: enough pages that start-up is not the measurement
        for page in pages:
            path = directory / f'{copy}-{page.name}'
            shutil.copyfile(page, path)
            paths.append(str(path))
    bare = _job('trafilatura', timeout, paths=paths)
    pipeline = _job('pipeline', timeout, inputs=[str(directory)], output=str(work / 'html-out'),
                    workers=1)
    n = len(paths)
    return {'pages': n, 'bare_trafilatura': {**bare, 'docs_per_s': round(n / bare['seconds'], 1)},
            'pipeline': {**pipeline, 'docs_per_s': round(n / pipeline['seconds'], 1),
                         'stage_share': _shares(pipeline['stage_msecs'])},
            'pipeline_vs_bare': round(bare['seconds'] / pipeline['seconds'], 3),
            # Both run in one process (the DirectRunner with one worker runs its bundles in it),
            # so their CPU seconds compare too, and move less with a shared machine's load.
            'pipeline_vs_bare_cpu': round(bare['cpu_seconds'] / pipeline['cpu_seconds'], 3)}


def _latency(value, stream) -> str:
    if value is None:
        return f'> {stream["waited_seconds_after_publishing"]} s after publishing ended (not out)'
    return f'{value} s'


def _run_name(key: str) -> str:
    """'1' -> 'beam w=1' (DirectRunner, 1 worker); a runner's name as it is."""
    return f'beam w={key}' if key.isdigit() else key


def _mb(value):
    return f'{value:,.0f}'


def format_table(results: dict) -> str:
    lines = ['text path (JSONL, English wire copy built from ECB+ and the seeds)',
             f'{"docs":>7} {"run":<10} {"seconds":>8} {"docs/s":>7} {"vs plain":>8} '
             f'{"peak RSS MB":>11}  top stages (share of stage time)']
    for row in results.get('text', []):
        runs = ([('plain', row['plain'])] if 'plain' in row else []) + [
            (_run_name(k), v) for k, v in row['pipeline'].items()]
        for name, run in runs:
            top = sorted(run['stage_share'].items(), key=lambda kv: -kv[1])[:4]
            stages = (', '.join(f'{s} {v:.0%}' for s, v in top) if run['stage_msecs']
                      else 'no stage times (the runner reports none)')
            lines.append(
                f'{row["n"]:>7} {name:<10} {run["seconds"]:>8.1f} {run["docs_per_s"]:>7.1f} '
                f'{run.get("vs_plain", 1.0 if name == "plain" else float("nan")):>8.2f} {_mb(run["peak_rss_mb"]):>11}  '
                + stages)
    sizes = {row['n']: row for row in results.get('text', [])}
    for big, small in ((100000, 10000),):
        if big in sizes and small in sizes:
            for key in set(sizes[big]['pipeline']) & set(sizes[small]['pipeline']):
                ratio = (sizes[big]['pipeline'][key]['seconds']
                         / sizes[small]['pipeline'][key]['seconds'])
                lines.append(f'scaling: {big} docs take {ratio:.1f}x the time of {small} '
                             f'({_run_name(key)})')
    if 'html' in results:
        html = results['html']
        lines += ['', f'HTML path ({html["pages"]} pages: the Zyte benchmark pages x --html-repeat)',
                  f'  bare trafilatura.extract {html["bare_trafilatura"]["docs_per_s"]:>7.1f} docs/s',
                  f'  pipeline (w=1)           {html["pipeline"]["docs_per_s"]:>7.1f} docs/s '
                  f'= {html["pipeline_vs_bare"]:.2f}x bare '
                  f'({html["pipeline_vs_bare_cpu"]:.2f}x in CPU seconds); peak RSS '
                  f'{_mb(html["pipeline"]["peak_rss_mb"])} MB']
    for stream in results.get('streaming', []):
        settle = stream['settle_seconds']
        runner = ' '.join([stream.get('runner', 'DirectRunner'), *stream.get('flags', [])])
        lines += ['', f'streaming on {runner} at {stream["rate"]:g} msg/s for '
                      f'{stream["seconds"]:g} s, '
                      f'settle_seconds {"default" if settle is None else settle}',
                  f'  received {stream["received"]}/{stream["published"]} '
                  f'({stream["throughput_per_s"]} records/s out); latency p50 '
                  f'{_latency(stream["p50_seconds"], stream)}, p99 '
                  f'{_latency(stream["p99_seconds"], stream)}, max {stream["max_seconds"]} s',
                  f'  of it the emulator delivering what the pipeline published: p50 '
                  f'{stream["delivery_p50_seconds"]} s, p99 {stream["delivery_p99_seconds"]} s',
                  f'  pipeline RSS first quarter {stream["rss_first_quarter_mb"]} MB, last '
                  f'quarter {stream["rss_last_quarter_mb"]} MB, peak {stream["rss_peak_mb"]} MB']
        if stream.get('ran_on'):
            lines.append(f'  newswire ran on {stream["ran_on"]}')
    return '\n'.join(lines)


def _round_floats(value):
    if isinstance(value, float):
        return round(value, 4)
    if isinstance(value, dict):
        return {k: _round_floats(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_round_floats(v) for v in value]
    return value


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog='python -m bench.run', description=__doc__)
    parser.add_argument('--sizes', default='1000,10000',
                        help='corpus sizes, comma-separated (e.g. 1000,10000,100000)')
    parser.add_argument('--workers', default='1,2', help='DirectRunner worker counts')
    parser.add_argument('--runners', default='direct',
                        help='runners of the text path, comma-separated: direct (once per '
                             '--workers count), prism, flink, spark (after `newswire runners '
                             'install NAME`); prism-process and prism-inline: Prism with and '
                             'without --enrichment-process (prism: newswire\'s auto)')
    parser.add_argument('--no-plain', action='store_true',
                        help='skip the plain-loop runs (e.g. to time 100k pipelines alone)')
    parser.add_argument('--html-repeat', type=int, default=3,
                        help='copies of each Zyte page in the HTML run (0 skips it)')
    parser.add_argument('--html-pages', type=int, default=None,
                        help='use only the first N Zyte pages (default: all 102)')
    parser.add_argument('--stream-rate', default='100',
                        help='messages per second (several, comma-separated: one run each)')
    parser.add_argument('--stream-runners', default='direct',
                        help='runners to stream on (direct, prism, prism-process, '
                             'prism-inline, flink), one run each')
    parser.add_argument('--stream-seconds', type=float, default=60.0,
                        help='seconds of publishing (0 skips streaming)')
    parser.add_argument('--stream-settle', default='default,0',
                        help='settle_seconds values to stream with ("default" = settings.yaml)')
    parser.add_argument('--emulator-host', default=None,
                        help='host:port of a running Pub/Sub emulator (default: start one)')
    parser.add_argument('--json', default='bench-results.json', help='where to write the results')
    parser.add_argument('--work-dir', default=None, help='scratch directory (default: a temp dir)')
    parser.add_argument('--timeout', type=float, default=7200, help='seconds per measured run')
    args = parser.parse_args(argv)
    runners = tuple(name for name in args.runners.split(',') if name)
    from bench.jobs import RUNNER_FLAGS, RUNNERS
    unknown = sorted(set(runners) - set(RUNNERS))
    if unknown:
        parser.error(f'--runners: expected names from {", ".join(RUNNERS)}, got {", ".join(unknown)}')
    unknown = sorted(set(args.stream_runners.split(',')) - set(RUNNERS))
    if unknown:
        parser.error(f'--stream-runners: expected names from {", ".join(RUNNERS)}, got '
                     f'{", ".join(unknown)}')

    work = pathlib.Path(args.work_dir or tempfile.mkdtemp(prefix='newswire-bench-'))
    results = {'machine': machine(), 'command': 'python -m bench.run ' + ' '.join(
        argv if argv is not None else sys.argv[1:]), 'text': []}
    try:
        for n in [int(s) for s in args.sizes.split(',') if s]:
            print(f'text path: {n} documents ...', file=sys.stderr, flush=True)
            results['text'].append(text_path(n, [int(w) for w in args.workers.split(',')], work,
                                             args.timeout, not args.no_plain, runners))
        if args.html_repeat > 0:
            print('HTML path ...', file=sys.stderr, flush=True)
            results['html'] = html_path(work, args.html_repeat, args.timeout, args.html_pages)
        if args.stream_seconds > 0:
            from bench import streaming

            results['streaming'] = []
            for runner in args.stream_runners.split(','):
                for rate in (float(rate) for rate in args.stream_rate.split(',')):
                    for settle in args.stream_settle.split(','):
                        value = None if settle == 'default' else int(settle)
                        print(f'streaming on {runner} at {rate:g} msg/s (settle {settle}) ...',
                              file=sys.stderr, flush=True)
                        results['streaming'].append(streaming.measure(
                            str(REPO), rate, args.stream_seconds, value,
                            emulator_host=args.emulator_host, runner=RUNNERS[runner],
                            flags=RUNNER_FLAGS.get(runner, ())))
    finally:
        if not args.work_dir:
            shutil.rmtree(work, ignore_errors=True)
    results = _round_floats(results)
    pathlib.Path(args.json).write_text(json.dumps(results, indent=2, sort_keys=True) + '\n')
    m = results['machine']
    print(f'machine: {m["nproc"]} CPUs ({m["cpu"]}), {m["ram_gib"]} GiB RAM, Python {m["python"]}')
    print(format_table(results))
    print(f'results: {args.json}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
