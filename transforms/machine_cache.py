"""Tables a step builds from a library's data files once per machine and then maps read-only.

A table here is a set of named 1-d or 2-d numpy arrays (`Arrays`) built from files that do not
change between runs (wordfreq's word lists, langdetect's profiles). Building one takes a process
0.1-0.5 s and tens of MB; stored as .npy files in newswire's cache directory
(`$XDG_CACHE_HOME/newswire`), it is mapped by later processes in milliseconds, and the processes
of one machine share its pages.

The directory's name holds a digest of everything the table is built from, so a changed source
builds a new one. A directory is written whole or not at all: into a staging directory beside
it, renamed into place; of two processes building at once, the first rename wins and the other
reads it. A directory that does not load (damaged, or cut short by a full disk) is built again.
Where nothing can be written, the table is built in memory for the process alone.
"""

from __future__ import annotations

import hashlib
import os
import pathlib
import shutil
import tempfile
from typing import Callable, Iterable, Optional

import numpy as np

Arrays = dict[str, np.ndarray]


def digest_of(parts: Iterable[bytes | str]) -> str:
    """A short hex digest naming what a table is built from (each part's length goes in first,
    so two different splits of the same bytes differ)."""
    digest = hashlib.blake2b(digest_size=8)
    for part in parts:
        data = part.encode('utf-8') if isinstance(part, str) else part
        digest.update(len(data).to_bytes(8, 'little'))
        digest.update(data)
    return digest.hexdigest()


def built_once(directory: Optional[pathlib.Path], build: Callable[[], Arrays],
               check: Callable[[Arrays], None]) -> Arrays:
    """The arrays stored in `directory`, mapped read-only; built by `build` and stored there
    first when they are not (or do not pass `check`, which raises ValueError for arrays that do
    not fit one another). `directory` None, or not writable: `build`'s arrays in memory."""
    if directory is not None:
        try:
            return _load(directory, check)
        except (OSError, ValueError):
            pass  # not built yet, or not whole: built below
    arrays = build()
    check(arrays)
    if directory is None:
        return arrays
    try:
        _store(arrays, directory, check)
        return _load(directory, check)
    except OSError:  # a cache that cannot be written (a read-only home): the arrays in memory
        return arrays


def _load(directory: pathlib.Path, check: Callable[[Arrays], None]) -> Arrays:
    names = sorted(path.stem for path in directory.glob('*.npy'))
    if not names:
        raise FileNotFoundError(directory)
    # Plain ndarray views of the maps: indexing an np.memmap costs some 1.5 us more a call.
    arrays = {name: np.load(directory / f'{name}.npy', mmap_mode='r',
                            allow_pickle=False).view(np.ndarray) for name in names}
    check(arrays)
    return arrays


def _store(arrays: Arrays, directory: pathlib.Path, check: Callable[[Arrays], None]) -> None:
    directory.parent.mkdir(parents=True, exist_ok=True)
    staging = pathlib.Path(tempfile.mkdtemp(prefix=f'.{directory.name}-', dir=directory.parent))
    try:
        for name, array in arrays.items():
            np.save(staging / f'{name}.npy', array, allow_pickle=False)
        if directory.exists():
            try:
                _load(directory, check)
                return  # another process stored it first
            except (OSError, ValueError):
                shutil.rmtree(directory, ignore_errors=True)
        try:
            os.rename(staging, directory)
        except OSError:
            if not directory.is_dir():  # not another process's rename: a real failure
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def require(arrays: Arrays, shapes: dict[str, tuple[str, int]]) -> None:
    """ValueError unless `arrays` holds exactly the names of `shapes`, each of its (dtype, ndim)."""
    if set(arrays) != set(shapes):
        raise ValueError(f'arrays {sorted(arrays)}, expected {sorted(shapes)}')
    for name, (dtype, ndim) in shapes.items():
        array = arrays[name]
        if array.dtype != np.dtype(dtype) or array.ndim != ndim:
            raise ValueError(f'{name} holds {array.dtype} {array.shape}, expected a {ndim}-d '
                             f'{np.dtype(dtype)} array')
