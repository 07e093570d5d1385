"""Job settings: pipeline/job/settings.yaml's defaults reach every config, a user's file overrides any
subset of them, and a mistaken key or value is an error naming the setting."""

import dataclasses

import pytest
import yaml

from newswire.pipeline.job.settings import Settings, _defaults, load_settings
from newswire.transforms.dates import DatesConfig
from newswire.transforms.dedup import DedupConfig
from newswire.transforms.extract import ExtractConfig
from newswire.transforms.feeds import FeedConfig
from newswire.transforms.fetch import FetchConfig
from newswire.transforms.language import LanguageConfig
from newswire.transforms.parts import PartsConfig
from newswire.pipeline.local.pubsub_local import LocalPubSubConfig
from tests.conftest import REPO

DEFAULTS = load_settings()
# settings.yaml's section -> the config dataclass it fills and the Settings field holding it.
SECTIONS = {'language': (LanguageConfig, 'language'), 'dedup': (DedupConfig, 'dedup'),
            'fetch': (FetchConfig, 'fetch'), 'feeds': (FeedConfig, 'feeds'),
            'extract': (ExtractConfig, 'extract'), 'local_pubsub': (LocalPubSubConfig, 'local_pubsub'),
            'dates': (DatesConfig, 'dates'), 'parts': (PartsConfig, 'parts')}
# The scalar sections, read key by key into Settings' own fields.
SCALARS = {('limits', 'max_document_bytes'): 'max_document_bytes',
           ('limits', 'max_file_bytes'): 'max_file_bytes',
           ('limits', 'max_inflation_ratio'): 'max_inflation_ratio',
           ('limits', 'max_json_depth'): 'max_json_depth',
           ('limits', 'stage_timeout_seconds'): 'stage_timeout_seconds',
           ('output', 'num_shards'): 'num_shards',
           ('output', 'progress_seconds'): 'progress_seconds'}


def _settings_file(tmp_path, text: str) -> str:
    path = tmp_path / 'settings.yaml'
    path.write_text(text, encoding='utf-8')
    return str(path)


def _error(tmp_path, text: str) -> str:
    with pytest.raises(ValueError) as raised:
        load_settings(_settings_file(tmp_path, text))
    return str(raised.value)


def test_the_defaults_are_the_packaged_settings_yaml():
    """The installed package reads the repository's settings.yaml, nothing else."""
    on_disk = yaml.safe_load((REPO / 'pipeline' / 'job' / 'settings.yaml').read_text(encoding='utf-8'))
    assert _defaults() == on_disk
    assert set(on_disk) == {section for section, _ in SCALARS} | set(SECTIONS)


@pytest.mark.parametrize('section', sorted(SECTIONS))
def test_every_key_of_a_section_reaches_its_config(section):
    """A key the dataclass lacks would be dropped without a word: each one must be a field, and
    each default must arrive as written (lists as tuples where the config holds a tuple)."""
    config_class, attribute = SECTIONS[section]
    config = getattr(DEFAULTS, attribute)
    assert isinstance(config, config_class)
    field_names = {field.name for field in dataclasses.fields(config_class)}
    written = _defaults()[section]
    assert set(written) <= field_names, f'{section}: {set(written) - field_names} are no fields'
    for key, value in written.items():
        got = getattr(config, key)
        assert (list(got) if isinstance(got, tuple) else got) == value, f'{section}.{key}'


def test_every_scalar_setting_reaches_settings():
    written = _defaults()
    assert {(section, key) for section in ('limits', 'output') for key in written[section]} == set(
        SCALARS)
    for (section, key), attribute in SCALARS.items():
        assert getattr(DEFAULTS, attribute) == written[section][key], f'{section}.{key}'


def test_no_file_and_an_empty_file_give_the_defaults(tmp_path):
    assert load_settings(None) == DEFAULTS
    assert load_settings(_settings_file(tmp_path, '# nothing to change yet\n')) == DEFAULTS
    # A section whose every line is commented out overrides nothing.
    assert load_settings(_settings_file(tmp_path, 'dedup:\n  # num_perm: 128\n')) == DEFAULTS


def test_a_partial_override_changes_only_what_it_names(tmp_path):
    settings = load_settings(_settings_file(
        tmp_path, 'dedup:\n  story_threshold: 0.4\noutput:\n  num_shards: 3\n'
                  'fetch:\n  refused_hostnames: [metadata.internal.example]\n'))
    assert settings.dedup == dataclasses.replace(DEFAULTS.dedup, story_threshold=0.4)
    assert settings.num_shards == 3
    assert settings.fetch == dataclasses.replace(DEFAULTS.fetch,
                                                 refused_hostnames=('metadata.internal.example',))
    unchanged = {field.name for field in dataclasses.fields(Settings)} - {'dedup', 'num_shards',
                                                                           'fetch'}
    assert {name: getattr(settings, name) for name in unchanged} == {
        name: getattr(DEFAULTS, name) for name in unchanged}


def test_a_whole_number_may_set_a_number_setting(tmp_path):
    settings = load_settings(_settings_file(tmp_path, 'feeds:\n  poll_interval_seconds: 2\n'))
    assert settings.feeds.poll_interval_seconds == 2.0
    assert isinstance(settings.feeds.poll_interval_seconds, float)


def test_a_stage_time_limit_of_zero_means_none(tmp_path):
    assert DEFAULTS.stage_timeout_seconds == 30.0
    assert load_settings(_settings_file(
        tmp_path, 'limits:\n  stage_timeout_seconds: 0\n')).stage_timeout_seconds is None


@pytest.mark.parametrize('text,names', [
    ('dedup:\n  num_prem: 128\n', ["'dedup.num_prem'", "did you mean 'num_perm'?", 'known: [']),
    ('limit:\n  max_json_depth: 8\n', ["'limit'", "did you mean 'limits'?"]),
    ('language:\n  detecter: lingua\n', ["'language.detecter'", "did you mean 'detector'?"]),
    # Nothing close: no guess, the known keys only.
    ('output:\n  colour: blue\n', ["'output.colour'", "known: ['num_shards', 'progress_seconds']"]),
])
def test_an_unknown_key_is_an_error_naming_it_and_the_known_ones(tmp_path, text, names):
    error = _error(tmp_path, text)
    assert error.startswith(f'--settings {tmp_path / "settings.yaml"}: unknown setting ')
    for name in names:
        assert name in error
    if 'colour' in text:
        assert 'did you mean' not in error


@pytest.mark.parametrize('text,expected', [
    # Each of these a plain type call accepts, changing its meaning: int(2.5) == 2,
    # bool('false') is True, list('metadata') is eight letters, int(True) == 1.
    ('output:\n  num_shards: 2.5\n',
     "setting 'output.num_shards' must be a whole number (like its default, 1), got a number: 2.5"),
    ('output:\n  num_shards: true\n',
     "setting 'output.num_shards' must be a whole number (like its default, 1), got true or "
     "false: True"),
    ('fetch:\n  refused_hostnames: metadata\n',
     "setting 'fetch.refused_hostnames' must be a list"),
    ('fetch:\n  refused_hostnames: [metadata, 169]\n',
     "setting 'fetch.refused_hostnames[1]' must be a string"),
    ('dedup:\n  num_perm: many\n',
     "setting 'dedup.num_perm' must be a whole number (like its default, 256), got a string: "
     "'many'"),
    ("dedup:\n  num_perm: '128'\n", "got a string: '128'"),
    ('limits:\n  stage_timeout_seconds: null\n',
     "setting 'limits.stage_timeout_seconds' must be a number (like its default, 30.0), got "
     "null: None"),
    ('language:\n  detector: [lingua]\n', "setting 'language.detector' must be a string"),
])
def test_a_value_of_the_wrong_kind_is_an_error_naming_the_setting(tmp_path, text, expected):
    assert expected in _error(tmp_path, text)


@pytest.mark.parametrize('text,expected', [
    ('dedup: 5\n', "setting 'dedup' must be a mapping, got a whole number: 5"),
    ('- dedup\n', 'expected a mapping of sections (limits, '),
    ('dedup:\n  num_perm: [\n', 'not YAML'),
])
def test_a_file_of_the_wrong_shape_is_an_error_naming_the_file(tmp_path, text, expected):
    error = _error(tmp_path, text)
    assert error.startswith(f'--settings {tmp_path / "settings.yaml"}: ')
    assert expected in error


def test_a_value_the_config_refuses_is_an_error_naming_the_value(tmp_path):
    """The kind is right, the value is not: the config dataclass's own check speaks."""
    assert 'cld9' in _error(tmp_path, 'language:\n  detector: cld9\n')


def test_rules_files_replace_the_built_in_ones(tmp_path):
    taxonomy = tmp_path / 'taxonomy.yaml'
    taxonomy.write_text(
        'topics:\n'
        '  - id: harbours\n'
        '    label: Harbours\n'
        '    patterns:\n'
        "      en: ['\\bharbours?\\b', '\\bpiers?\\b']\n", encoding='utf-8')
    settings = load_settings(taxonomy_file=str(taxonomy))
    assert [tag.id for tag in settings.taxonomy.tags] == ['harbours']
    assert settings.cleaning_rules == DEFAULTS.cleaning_rules
    assert settings.metadata_rules == DEFAULTS.metadata_rules
