"""Job settings: defaults in `settings.yaml`, partial overrides from the user's own file."""

from __future__ import annotations

import copy
from dataclasses import dataclass, fields
from importlib import resources
from typing import Optional

import yaml

from newswire.pipeline.local.pubsub_local import LocalPubSubConfig
from newswire.transforms.clean import CleaningRule, load_cleaning_rules
from newswire.transforms.dedup import DedupConfig
from newswire.transforms.extract import ExtractConfig
from newswire.transforms.feeds import FeedConfig
from newswire.transforms.fetch import FetchConfig
from newswire.transforms.language import LanguageConfig
from newswire.transforms.metadata import MetadataRules, load_metadata_rules
from newswire.transforms.topics import Taxonomy, load_taxonomy


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


def _defaults() -> dict:
    text = (resources.files('newswire.pipeline') / 'settings.yaml').read_text(encoding='utf-8')
    return yaml.safe_load(text)


def _merge(base: dict, override: dict, where: str = '') -> dict:
    """Override `base` with `override`, refusing keys `base` does not have (typos fail loudly)."""
    merged = copy.deepcopy(base)
    for key, value in (override or {}).items():
        if key not in base:
            raise ValueError(f'unknown setting {where}{key!r}; known: {sorted(base)}')
        if isinstance(base[key], dict):
            if not isinstance(value, dict):
                raise ValueError(f'setting {where}{key!r} must be a mapping')
            merged[key] = _merge(base[key], value, f'{where}{key}.')
        else:
            merged[key] = type(base[key])(value)
    return merged


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
            values = _merge(values, yaml.safe_load(handle) or {})
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
    )
