"""Command-line options of a newswire job, as Beam `PipelineOptions` so any runner can carry them."""

from __future__ import annotations

import argparse
import os

from apache_beam.options.pipeline_options import PipelineOptions


def _flag(value: str) -> bool:
    """'true'/'false' (any case, also 1/0, yes/no) -> bool; argparse reports anything else."""
    lowered = str(value).strip().lower()
    if lowered in ('true', '1', 'yes'):
        return True
    if lowered in ('false', '0', 'no'):
        return False
    # ArgumentTypeError, not ValueError: argparse then prints this message, not "invalid _flag
    # value".
    raise argparse.ArgumentTypeError(f'expected true or false, got {value!r}')


AUTO = 'auto'  # an option newswire decides for the run (--enrichment-process)


def _flag_or_auto(value: str):
    """'auto' -> AUTO; otherwise as `_flag`."""
    return AUTO if str(value).strip().lower() == AUTO else _flag(value)


class NewswireOptions(PipelineOptions):
    """Where documents come from, where records go, and which rules enrich them."""

    @classmethod
    def _add_argparse_args(cls, parser):
        parser.add_argument(
            '--input', dest='inputs', action='append', default=None,
            help='A file, directory or glob to read (.txt, .html, .htm, .jsonl, optionally .gz or '
                 '.bz2); repeatable. Default: seeds/')
        parser.add_argument(
            '--follow-symlinks', '--follow_symlinks', dest='follow_symlinks', nargs='?', const=True,
            default=False, type=_flag,
            help='Read the files that symbolic links inside --input directories and globs point '
                 'to (dangling and looping links are dead letters: broken_symlink). Default: off, '
                 'each such link is a dead letter (symlink_not_followed); a link named by --input '
                 'itself is always followed.')
        parser.add_argument(
            '--feeds', dest='feeds', default=None,
            help='A feed list: one RSS/Atom feed URL per line (# comments) or an OPML file. Each '
                 "feed's entries are fetched and their article pages extracted. May be combined "
                 'with --input (both are read); without --input, seeds/ is not read. With '
                 '--streaming, every feed is polled every feeds.poll_interval_seconds (settings) '
                 'for new entries, alone or merged with --input-subscription.')
        parser.add_argument(
            '--allow-host', dest='allow_hosts', action='append', default=None,
            help='A host name or address the fetcher may reach although it is loopback, private '
                 'or link-local (the SSRF guard refuses those otherwise); repeatable. Default: none.')
        parser.add_argument(
            '--output', dest='output', default=None,
            help='Directory for enriched-*.jsonl, dead_letter-*.jsonl and summary.json. '
                 'Default: out/')
        parser.add_argument(
            '--taxonomy', dest='taxonomy', default=None,
            help='Tag taxonomy YAML replacing the built-in one (transforms/rules/taxonomy.yaml).')
        parser.add_argument(
            '--cleaning-rules', dest='cleaning_rules', default=None,
            help='Boilerplate rules YAML replacing the built-in transforms/rules/cleaning.yaml.')
        parser.add_argument(
            '--metadata-rules', dest='metadata_rules', default=None,
            help='Metadata rules YAML replacing the built-in transforms/rules/metadata.yaml.')
        parser.add_argument(
            # Both spellings: Flex Templates pass parameters with underscores.
            '--input-subscription', '--input_subscription', dest='input_subscription', default=None,
            help='With --streaming: read raw messages from projects/P/subscriptions/S.')
        parser.add_argument(
            '--output-topic', '--output_topic', dest='output_topic', default=None,
            help='Publish enriched records to projects/P/topics/T (streaming or batch).')
        parser.add_argument(
            '--dead-letter-topic', '--dead_letter_topic', dest='dead_letter_topic', default=None,
            help='Publish dead letters to projects/P/topics/T.')
        parser.add_argument(
            '--route-topics', '--route_topics', dest='route_topics', nargs='?', const=True,
            default=False, type=_flag,
            help='Also publish each record to <output-topic>-<tag id> for each of its tags '
                 '(--route-topics, or --route_topics=true as a Flex Template passes it).')
        parser.add_argument(
            '--window-seconds', '--window_seconds', dest='window_seconds', type=int, default=60,
            help='With --streaming and --output: seconds of event time per JSONL file. Default: 60')
        parser.add_argument(
            '--settings', dest='settings_file', default=None,
            help='YAML overriding any subset of pipeline/job/settings.yaml (limits, language, dedup, '
                 'output).')
        parser.add_argument(
            '--enrichment-process', '--enrichment_process', dest='enrichment_process',
            nargs='?', const=True, default=AUTO, type=_flag_or_auto,
            help='On PrismRunner: run the per-document steps (extraction to signing) in a Python '
                 'worker process of their own, so that a run uses two cores; reading, the dedup '
                 'index and the outputs stay in the newswire process. true, false or auto; other '
                 'runners refuse true. Default: auto, on for a --streaming run on PrismRunner with '
                 'its default workers on a machine with two or more CPUs.')
        parser.add_argument(
            '--report', dest='report', action='store_true', default=False,
            help='After the run, render OUTPUT/report.html (see `newswire report`) and print its path.'
                 ' Needs a local --output directory. Default: off')

    def input_paths(self) -> list[str]:
        """Files to read: --input, else seeds/ unless --feeds names the only source."""
        if self.inputs:
            return list(self.inputs)
        return [] if self.feeds else ['seeds/']

    def output_dir(self) -> str:
        """Batch output directory (a stream writes files only when --output is given)."""
        return self.output or 'out/'

    def validate_streaming(self) -> list[str]:
        errors = []
        if not (self.input_subscription or self.feeds):
            errors.append('--streaming needs --input-subscription projects/P/subscriptions/S '
                          'and/or --feeds FILE')
        if self.inputs:
            errors.append('--input reads files, which is batch: drop --streaming or --input')
        if not (self.output_topic or self.output):
            errors.append('--streaming needs somewhere to write: --output-topic and/or --output')
        if self.route_topics and not self.output_topic:
            errors.append('--route-topics needs --output-topic')
        return errors

    def validate_paths(self) -> list[str]:
        """Problems with the local paths named, as messages; remote paths (gs://...) are not checked."""
        errors = []
        for path in self.input_paths():
            if '://' not in path and not any(ch in path for ch in '*?[') and not os.path.exists(path):
                if self.inputs:
                    errors.append(f'--input {path}: no such file or directory')
                else:
                    errors.append(f'no --input given, and the default, {path}, is not in this '
                                  f'directory ({os.getcwd()}): pass --input PATH (a file, directory '
                                  f'or glob of .txt, .html, .jsonl)')
        for flag, path in (('--feeds', self.feeds), ('--taxonomy', self.taxonomy), ('--settings', self.settings_file),
                           ('--cleaning-rules', self.cleaning_rules),
                           ('--metadata-rules', self.metadata_rules)):
            if path and not os.path.isfile(path):
                errors.append(f'{flag} {path}: no such file')
        if self.report and '://' in self.output_dir():
            errors.append(f'--report needs a local --output directory, got {self.output_dir()}')
        if self.follow_symlinks and not self.input_paths():
            errors.append('--follow-symlinks only applies to files read with --input')
        if self.allow_hosts and not self.feeds:
            errors.append('--allow-host only applies with --feeds')
        return errors
