"""Command-line options of a newswire job, as Beam `PipelineOptions` so any runner can carry them."""

from __future__ import annotations

import os

from apache_beam.options.pipeline_options import PipelineOptions


class NewswireOptions(PipelineOptions):
    """Where documents come from, where records go, and which rules enrich them."""

    @classmethod
    def _add_argparse_args(cls, parser):
        parser.add_argument(
            '--input', dest='inputs', action='append', default=None,
            help='A file, directory or glob to read (.txt, .html, .htm, .jsonl, optionally .gz); '
                 'repeatable. Default: seeds/')
        parser.add_argument(
            '--feeds', dest='feeds', default=None,
            help='A feed list: one RSS/Atom feed URL per line (# comments) or an OPML file. Each '
                 "feed's entries are fetched and their article pages extracted. May be combined "
                 'with --input (both are read); without --input, seeds/ is not read.')
        parser.add_argument(
            '--allow-host', dest='allow_hosts', action='append', default=None,
            help='A host name or address the fetcher may reach although it is loopback, private '
                 'or link-local (the SSRF guard refuses those otherwise); repeatable. Default: none.')
        parser.add_argument(
            '--output', dest='output', default='out/',
            help='Directory for enriched-*.jsonl, dead_letter-*.jsonl and summary.json. '
                 'Default: out/')
        parser.add_argument(
            '--taxonomy', dest='taxonomy', default=None,
            help='Topic taxonomy YAML replacing the built-in one (transforms/rules/taxonomy.yaml).')
        parser.add_argument(
            '--cleaning-rules', dest='cleaning_rules', default=None,
            help='Boilerplate rules YAML replacing the built-in transforms/rules/cleaning.yaml.')
        parser.add_argument(
            '--metadata-rules', dest='metadata_rules', default=None,
            help='Metadata rules YAML replacing the built-in transforms/rules/metadata.yaml.')
        parser.add_argument(
            '--settings', dest='settings_file', default=None,
            help='YAML overriding any subset of pipeline/settings.yaml (limits, language, dedup, '
                 'output).')

    def input_paths(self) -> list[str]:
        """Files to read: --input, else seeds/ unless --feeds names the only source."""
        if self.inputs:
            return list(self.inputs)
        return [] if self.feeds else ['seeds/']

    def validate_paths(self) -> list[str]:
        """Problems with the local paths named, as messages; remote paths (gs://...) are not checked."""
        errors = []
        for path in self.input_paths():
            if '://' not in path and not any(ch in path for ch in '*?[') and not os.path.exists(path):
                errors.append(f'--input {path}: no such file or directory')
        for flag, path in (('--feeds', self.feeds), ('--taxonomy', self.taxonomy), ('--settings', self.settings_file),
                           ('--cleaning-rules', self.cleaning_rules),
                           ('--metadata-rules', self.metadata_rules)):
            if path and not os.path.isfile(path):
                errors.append(f'{flag} {path}: no such file')
        if self.allow_hosts and not self.feeds:
            errors.append('--allow-host only applies with --feeds')
        return errors
