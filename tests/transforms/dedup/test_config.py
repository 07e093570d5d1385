"""DedupConfig: its checks."""

import pytest

from newswire.transforms.dedup import DedupConfig


def test_config_rejects_a_key_cap_below_one():
    with pytest.raises(ValueError, match='max_documents_per_key must be at least 1, got 0'):
        DedupConfig(max_documents_per_key=0)


def test_config_rejects_more_bands_than_permutations():
    with pytest.raises(ValueError, match='num_perm'):
        DedupConfig(num_perm=64, lsh_bands=32, lsh_rows=4)


@pytest.mark.parametrize('bands, rows', [(64, 0), (-1, 4)])
def test_config_rejects_bands_of_no_rows_and_fewer_than_no_bands(bands, rows):
    with pytest.raises(ValueError, match='lsh_rows must be at least 1'):
        DedupConfig(lsh_bands=bands, lsh_rows=rows)
