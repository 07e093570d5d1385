"""Job settings: defaults in `settings.yaml`, partial overrides from the user's own file."""

from __future__ import annotations

import copy
import datetime as dt
import difflib
from dataclasses import dataclass, fields
from importlib import resources
from typing import Optional

import yaml

from newswire.transforms.dates import DatesConfig
from newswire.transforms.parts import PartsConfig
from newswire.pipeline.local.pubsub_local import LocalPubSubConfig
from newswire.transforms.clean import CleaningRule, load_cleaning_rules
from newswire.transforms.dedup import DedupConfig
from newswire.transforms.extract import ExtractConfig
from newswire.transforms.feeds import FeedConfig
from newswire.transforms.fetch import FetchConfig
from newswire.transforms.language import LanguageConfig
from newswire.transforms.metadata import MetadataRules, load_metadata_rules
from newswire.transforms.tagging import Taxonomy, load_taxonomy
from newswire.transforms import yamlfile


@dataclass(frozen=True)
class Settings:
    max_document_bytes: int
    language: LanguageConfig
    dedup: DedupConfig
    num_shards: int
    cleaning_rules: tuple[CleaningRule, ...]
    metadata_rules: MetadataRules
    taxonomy: Taxonomy
    fetch: FetchConfig = FetchConfig()
    feeds: FeedConfig = FeedConfig()
    extract: ExtractConfig = ExtractConfig()
    local_pubsub: LocalPubSubConfig = LocalPubSubConfig()
    progress_seconds: float = 10.0
    # limits: per compressed file after decompression, and JSON nesting (settings.yaml says why).
    max_file_bytes: int = 1_000_000_000
    max_json_depth: int = 32
    max_inflation_ratio: int = 200
    # limits.stage_timeout_seconds; None: no limit.
    stage_timeout_seconds: Optional[float] = 30.0
    dates: DatesConfig = DatesConfig()
    parts: PartsConfig = PartsConfig()


def _defaults() -> dict:
    text = (resources.files('newswire.pipeline.job') / 'settings.yaml').read_text(encoding='utf-8')
    return yamlfile.safe_load(text)


def _merge(base: dict, override: dict, where: str = '') -> dict:
    """Override `base` with `override`, refusing keys `base` does not have (typos fail loudly) and
    values of another kind than the default they replace."""
    merged = copy.deepcopy(base)
    for key, value in override.items():
        if key not in base:
            raise ValueError(f"unknown setting '{where}{key}'{_did_you_mean(key, base)}; "
                             f'known: {sorted(base)}')
        if isinstance(base[key], dict):
            if value is None:  # a section whose lines are all commented out
                continue
            if not isinstance(value, dict):
                raise ValueError(f"setting '{where}{key}' must be a mapping, "
                                 f'got {_kind_of(value)}: {value!r}')
            merged[key] = _merge(base[key], value, f'{where}{key}.')
        else:
            merged[key] = _typed(value, base[key], f'{where}{key}')
    return merged


# What a default's type accepts from YAML. Stricter than calling the type: bool('false') is True,
# list('metadata') is six letters and int(2.5) is 2, each a silent change of meaning.
_ACCEPTS = {bool: (bool,), int: (int,), float: (int, float), str: (str,), list: (list,)}
_KIND_NAMES = {bool: 'true or false', int: 'a whole number', float: 'a number', str: 'a string',
               list: 'a list', dict: 'a mapping', type(None): 'null'}


def _kind_of(value) -> str:
    return _KIND_NAMES.get(type(value), type(value).__name__)


def _typed(value, default, name: str):
    """`value` as the type of `default`, or a ValueError naming the setting, the kind expected and
    the value given."""
    kind = type(default)
    if kind is str and isinstance(value, dt.date):  # YAML reads an unquoted 2024-01-02 as a date
        return value.isoformat()
    accepted = _ACCEPTS.get(kind, (kind,))
    # bool is an int to isinstance; `num_shards: true` is a mistake, not 1.
    if not isinstance(value, accepted) or (isinstance(value, bool) and kind is not bool):
        raise ValueError(f'setting {name!r} must be {_KIND_NAMES.get(kind, kind.__name__)} '
                         f'(like its default, {default!r}), got {_kind_of(value)}: {value!r}')
    if kind is list and default:
        return [_typed(item, default[0], f'{name}[{index}]') for index, item in enumerate(value)]
    return kind(value)


def _did_you_mean(key, known) -> str:
    close = difflib.get_close_matches(str(key), [str(k) for k in known], n=1, cutoff=0.6)
    return f' (did you mean {close[0]!r}?)' if close else ''


def _build(config_class, values: dict):
    names = {f.name for f in fields(config_class)}
    return config_class(**{k: v for k, v in values.items() if k in names})


def load_settings(settings_file: Optional[str] = None, taxonomy_file: Optional[str] = None,
                  cleaning_rules_file: Optional[str] = None,
                  metadata_rules_file: Optional[str] = None) -> Settings:
    """All job settings, from the defaults and whichever files the user named."""
    values = _defaults()
    if settings_file:
        with open(settings_file, encoding='utf-8') as handle:
            try:
                override = yamlfile.safe_load(handle)
            except yaml.YAMLError as error:
                raise ValueError(f'--settings {settings_file}: not YAML: {error}') from error
        if override is not None and not isinstance(override, dict):
            raise ValueError(f'--settings {settings_file}: expected a mapping of sections '
                             f'({", ".join(values)}), got {_kind_of(override)}: {override!r}')
        try:
            values = _merge(values, override or {})
        except ValueError as error:
            raise ValueError(f'--settings {settings_file}: {error}') from error
    return Settings(
        max_document_bytes=int(values['limits']['max_document_bytes']),
        language=_build(LanguageConfig, values['language']),
        dedup=_build(DedupConfig, values['dedup']),
        num_shards=int(values['output']['num_shards']),
        cleaning_rules=load_cleaning_rules(cleaning_rules_file),
        metadata_rules=load_metadata_rules(metadata_rules_file),
        taxonomy=load_taxonomy(taxonomy_file),
        fetch=_build(FetchConfig, {**values['fetch'],
                                   'refused_hostnames': tuple(values['fetch']['refused_hostnames'])}),
        feeds=_build(FeedConfig, values['feeds']),
        extract=_build(ExtractConfig, values['extract']),
        local_pubsub=_build(LocalPubSubConfig, values['local_pubsub']),
        progress_seconds=float(values['output']['progress_seconds']),
        max_file_bytes=int(values['limits']['max_file_bytes']),
        max_json_depth=int(values['limits']['max_json_depth']),
        max_inflation_ratio=int(values['limits']['max_inflation_ratio']),
        stage_timeout_seconds=float(values['limits']['stage_timeout_seconds']) or None,
        dates=_build(DatesConfig, values['dates']),
        parts=_build(PartsConfig, values['parts']),
    )
