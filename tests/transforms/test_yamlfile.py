import pathlib

import pytest
import yaml

from newswire.transforms import yamlfile

REPO = pathlib.Path(__file__).resolve().parents[2]
DATA_FILES = sorted([*REPO.glob('transforms/rules/*.yaml'), REPO / 'pipeline/job/settings.yaml'])


@pytest.mark.parametrize('path', DATA_FILES, ids=[p.name for p in DATA_FILES])
def test_the_data_files_read_as_safe_load_reads_them(path):
    text = path.read_text(encoding='utf-8')
    assert yamlfile.safe_load(text) == yaml.safe_load(text)
    assert repr(yamlfile.safe_load(text)) == repr(yaml.safe_load(text))  # types and order too


def test_yaml_with_python_objects_or_bad_syntax_is_refused():
    with pytest.raises(yaml.YAMLError):
        yamlfile.safe_load('!!python/object/apply:os.system ["true"]')
    with pytest.raises(yaml.YAMLError):
        yamlfile.safe_load('topics: [unclosed')
