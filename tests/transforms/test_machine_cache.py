import os

import numpy as np
import pytest

from newswire.transforms import machine_cache
from newswire.transforms.machine_cache import built_once, digest_of


def _check(arrays):
    machine_cache.require(arrays, {'values': ('<i8', 1), 'grid': ('<f8', 2)})
    if len(arrays['values']) != len(arrays['grid']):
        raise ValueError('values and grid differ in length')


def _builder(count=4):
    calls = []

    def build():
        calls.append(1)
        return {'values': np.arange(count, dtype='<i8'), 'grid': np.ones((count, 3))}

    return build, calls


def _same(arrays, count=4):
    assert arrays['values'].tolist() == list(range(count))
    assert arrays['grid'].shape == (count, 3) and float(arrays['grid'].sum()) == count * 3


def test_arrays_are_built_once_then_mapped_from_the_directory(tmp_path):
    directory = tmp_path / 'kind' / 'v1-abc'
    build, calls = _builder()
    _same(built_once(directory, build, _check))
    again = built_once(directory, build, _check)
    _same(again)
    assert len(calls) == 1 and isinstance(again['values'].base, np.memmap)
    assert not again['values'].flags.writeable
    assert sorted(p.name for p in directory.iterdir()) == ['grid.npy', 'values.npy']
    assert [p.name for p in directory.parent.iterdir()] == ['v1-abc']  # no staging left


@pytest.mark.parametrize('damage', ['truncated', 'missing', 'misfit', 'empty'])
def test_a_damaged_directory_is_built_again(tmp_path, damage):
    directory = tmp_path / 'v1-abc'
    build, calls = _builder()
    built_once(directory, build, _check)
    if damage == 'truncated':
        data = (directory / 'grid.npy').read_bytes()
        (directory / 'grid.npy').write_bytes(data[:len(data) // 2])
    elif damage == 'missing':
        (directory / 'values.npy').unlink()
    elif damage == 'misfit':  # whole files that do not fit one another
        np.save(directory / 'values.npy', np.arange(7, dtype='<i8'))
    else:
        for path in directory.iterdir():
            path.unlink()
    _same(built_once(directory, build, _check))
    assert len(calls) == 2
    _same(built_once(directory, build, _check))
    assert len(calls) == 2  # rebuilt in place, and read from there since
    assert [p.name for p in tmp_path.iterdir()] == ['v1-abc']


def test_a_directory_another_process_stored_first_is_kept(tmp_path):
    directory = tmp_path / 'v1-abc'
    build, _ = _builder()
    built_once(directory, build, _check)
    written = (directory / 'values.npy').stat().st_mtime_ns
    machine_cache._store({'values': np.arange(2, dtype='<i8'), 'grid': np.ones((2, 3))},
                         directory, _check)
    assert (directory / 'values.npy').stat().st_mtime_ns == written
    _same(built_once(directory, build, _check))
    assert [p.name for p in tmp_path.iterdir()] == ['v1-abc']


def test_a_cache_that_cannot_be_written_gives_the_arrays_in_memory(tmp_path):
    blocked = tmp_path / 'a-file'
    blocked.write_text('not a directory')
    build, calls = _builder()
    _same(built_once(blocked / 'v1-abc', build, _check))
    _same(built_once(None, build, _check))
    assert len(calls) == 2


def test_arrays_that_do_not_pass_the_check_are_not_stored(tmp_path):
    def build():
        return {'values': np.arange(3, dtype='<i8'), 'grid': np.ones((2, 3))}

    with pytest.raises(ValueError, match='differ in length'):
        built_once(tmp_path / 'v1-abc', build, _check)
    assert os.listdir(tmp_path) == []


def test_require_names_what_does_not_fit():
    with pytest.raises(ValueError, match=r"arrays \['values'\], expected \['grid', 'values'\]"):
        _check({'values': np.arange(2, dtype='<i8')})
    with pytest.raises(ValueError, match='grid holds float32'):
        _check({'values': np.arange(2, dtype='<i8'), 'grid': np.ones((2, 3), np.float32)})


def test_a_digest_changes_with_any_part_and_with_how_the_parts_split():
    assert digest_of(['ab', b'c']) == digest_of([b'ab', 'c'])
    assert digest_of(['ab', 'c']) != digest_of(['a', 'bc'])
    assert digest_of(['ab', 'c']) != digest_of(['ab', 'd'])
    assert len(digest_of([])) == 16
