"""Read local (or any Beam filesystem's) files into `Document`s.

Supported inputs: `.txt` (raw article text with page chrome, like the seeds), `.html`/`.htm` (extracted
later by `ExtractMainText`) and `.jsonl` (one record per line with keys id, url, title, text or html,
published, outlet; other keys are kept under `extra`). Each may also be gzip- or bzip2-compressed
(`.txt.gz`, `.jsonl.bz2`, ...). A directory input means every file below it.

Every path found and every JSONL line is one record: a `Document` or a dead letter (stage `read`), so
records read = enriched + dead letters. Dead-letter reasons, by where they arise:
- the path: unsupported_file_type, not_a_regular_file (FIFO, socket, device: never opened),
  symlink_not_followed (a link inside an input directory or glob, without --follow-symlinks),
  broken_symlink (dangling or looping, with it), not_found, unreadable;
- the bytes: empty, binary, undecodable, too_large (over `max_document_bytes` per document or JSONL
  line; for a compressed file, over `max_file_bytes` decompressed or inflating more than
  `max_inflation_ratio` times its compressed size), corrupt_compressed;
- a JSONL line: malformed_json, number_too_long, too_deeply_nested, invalid_unicode (a lone
  surrogate such as an escaped \\ud800: refused rather than silently changed), not_an_object,
  bad_field_type, bad_url, no_text, unexpected_error.

Reading streams: a file's documents leave as they are read, a bad line is dead-lettered alone with its
line number, and a file that breaks midway (a corrupt gzip) keeps the lines before the break and adds
one dead letter naming the line where reading stopped. Decompression is done here, incrementally and
never more at once than the caller asked for, so a compression bomb costs at most the caps above.
"""

from __future__ import annotations

import bz2
import dataclasses
import io
import json
import os
import re
import stat
import urllib.parse
import zlib
from dataclasses import dataclass
from typing import Iterator, Optional

import apache_beam as beam
from apache_beam.io.filesystem import CompressionTypes, FileSystem
from apache_beam.io.filesystems import FileSystems
from apache_beam.metrics import Metrics

from newswire.transforms.dead_letters import DEAD_LETTER, DeadLetter, StageOutputs, dead_letter
from newswire.transforms.feeds import decode_html
from newswire.transforms.records import Document, SourceRef, record_id

STAGE = 'read'

TEXT_SUFFIXES = ('.txt',)
HTML_SUFFIXES = ('.html', '.htm')
JSONL_SUFFIXES = ('.jsonl',)
COMPRESSED_SUFFIXES = ('.gz', '.bz2')
JSONL_KNOWN_KEYS = frozenset({'id', 'url', 'title', 'text', 'html', 'published', 'outlet'})

_GLOB_CHARS = re.compile(r'[*?\[]')


@dataclass(frozen=True)
class InputFile:
    """A path to read and the input root its source id is relative to.

    `refusal` is (reason, detail) when the path was judged while listing (a FIFO, a link not
    followed...): it is then a dead letter and never opened. Refusals travel with the files so a path
    named by two inputs is still one record.
    """

    path: str
    root: str
    size_bytes: int
    refusal: Optional[tuple[str, str]] = None


def input_kind(path: str) -> Optional[str]:
    """text_file, html_file or jsonl by the file's suffix (compression suffix ignored), else None."""
    name = path.lower()
    for suffix in COMPRESSED_SUFFIXES:
        if name.endswith(suffix):
            name = name[:-len(suffix)]
    if name.endswith(TEXT_SUFFIXES):
        return 'text_file'
    if name.endswith(HTML_SUFFIXES):
        return 'html_file'
    if name.endswith(JSONL_SUFFIXES):
        return 'jsonl'
    return None


def display_path(path: str) -> str:
    """A path as printable text: the bytes of a name that is not UTF-8 (which `os` hands over as lone
    surrogates) shown as \\xNN, so the name can be written out and still tells which file it was."""
    try:
        return path.encode('utf-8', 'surrogateescape').decode('utf-8', 'backslashreplace')
    except UnicodeEncodeError:  # a surrogate `os` cannot have produced: escape it as it is
        return path.encode('utf-8', 'backslashreplace').decode('utf-8')


def _printable(text: str) -> str:
    """Detail text (error messages may quote a path) with any lone surrogate escaped."""
    return text.encode('utf-8', 'backslashreplace').decode('utf-8')


def _pattern_and_root(input_path: str) -> tuple[str, str, bool]:
    """(glob pattern, root for relative ids, whether the input lists files: a directory or glob)."""
    if _GLOB_CHARS.search(input_path):
        prefix = _GLOB_CHARS.split(input_path, 1)[0]
        return input_path, prefix.rsplit('/', 1)[0] if '/' in prefix else '.', True
    if input_path.endswith('/') or os.path.isdir(input_path):
        root = input_path.rstrip('/')
        return root + '/**', root, True
    return input_path, os.path.dirname(input_path) or '.', False


def relative_to(path: str, root: str) -> str:
    if root in ('', '.'):
        return os.path.normpath(path)
    prefix = root.rstrip('/') + '/'
    return path[len(prefix):] if path.startswith(prefix) else path


def _is_local(path: str) -> bool:
    return '://' not in path


def _file_type(mode: int) -> str:
    for test, name in ((stat.S_ISFIFO, 'FIFO (named pipe)'), (stat.S_ISSOCK, 'socket'),
                       (stat.S_ISCHR, 'character device'), (stat.S_ISBLK, 'block device'),
                       (stat.S_ISDIR, 'directory')):
        if test(mode):
            return name
    return 'file of an unknown type'


def _not_regular(path: str, root: str, mode: int) -> InputFile:
    return InputFile(path, root, -1, ('not_a_regular_file',
                                      f'expected a regular file, found a {_file_type(mode)}: '
                                      'never opened'))


def _link_target(path: str) -> str:
    try:
        return display_path(os.readlink(path))
    except OSError as error:
        return f'(unreadable link: {error.strerror})'


def _named_local_file(path: str, root: str) -> InputFile:
    """A file named on the command line. Like `find -H`, a link named there is followed (the user
    chose it, and system paths such as /tmp are often links); links met while listing are not."""
    try:
        info = os.stat(path)
    except OSError as error:
        if os.path.lexists(path):
            return InputFile(path, root, -1, ('broken_symlink',
                                              f'a link to {_link_target(path)} that cannot be '
                                              f'followed: {error.strerror}'))
        return InputFile(path, root, -1)
    if not stat.S_ISREG(info.st_mode):
        return _not_regular(path, root, info.st_mode)
    return InputFile(path, root, info.st_size)


def _list_local(base: str, root: str, matches, follow_symlinks: bool) -> Iterator[InputFile]:
    """Every path below `base` that `matches`, judged by `os.lstat`: regular files to read, the rest
    as refusals. Directories are walked with an explicit stack (no recursion limit); with
    `follow_symlinks`, a link to a directory is walked unless it leads back to a directory it is
    inside (a loop)."""
    try:
        base_info = os.stat(base or '.')
    except OSError as error:
        yield InputFile(base, root, -1, ('unreadable', f'cannot list {display_path(base)}: '
                                                       f'{error.strerror}'))
        return
    stack = [(base, frozenset({(base_info.st_dev, base_info.st_ino)}))]
    while stack:
        directory, ancestors = stack.pop()
        try:
            with os.scandir(directory or '.') as entries:
                names = sorted(entry.name for entry in entries)
        except OSError as error:
            yield InputFile(directory, root, -1, ('unreadable', f'cannot list the directory: '
                                                                f'{error.strerror}'))
            continue
        for name in names:
            path = os.path.join(directory, name) if directory else name
            try:
                info = os.lstat(path)
            except OSError:  # removed since the listing
                if matches(path):
                    yield InputFile(path, root, -1)
                continue
            if stat.S_ISLNK(info.st_mode):
                if not follow_symlinks:
                    if matches(path):
                        yield InputFile(path, root, -1, (
                            'symlink_not_followed',
                            f'a symbolic link to {_link_target(path)}; links inside an input are '
                            'read only with --follow-symlinks'))
                    continue
                try:
                    info = os.stat(path)
                except OSError as error:
                    if matches(path):
                        yield InputFile(path, root, -1, (
                            'broken_symlink', f'a link to {_link_target(path)} that cannot be '
                                              f'followed: {error.strerror}'))
                    continue
            if stat.S_ISDIR(info.st_mode):
                key = (info.st_dev, info.st_ino)
                if key in ancestors:
                    yield InputFile(path, root, -1, (
                        'broken_symlink', f'a link to {_link_target(path)}, a directory it is '
                                          'inside: a loop, not walked'))
                    continue
                stack.append((path, ancestors | {key}))
            elif not matches(path):
                continue
            elif stat.S_ISREG(info.st_mode):
                yield InputFile(path, root, info.st_size)
            else:
                yield _not_regular(path, root, info.st_mode)


class _ExpandInputsFn(beam.DoFn):
    """Input path (file, directory or glob) -> the `InputFile`s it names, in a stable order.

    Local paths are listed here with `os.lstat` (Beam's listing follows links and opens what it
    finds); other filesystems (gs://...) through `FileSystems.match`, which has no links or FIFOs.
    """

    def __init__(self, follow_symlinks: bool = False):
        self._follow_symlinks = follow_symlinks

    def process(self, input_path: str) -> Iterator[InputFile]:
        pattern, root, lists_files = _pattern_and_root(input_path)
        if not _is_local(input_path):
            found = self._match_remote(input_path, pattern, root, lists_files)
        elif not lists_files:
            found = [_named_local_file(input_path, root)]
        else:
            matches = re.compile(FileSystem.translate_pattern(pattern)).match
            # A glob is listed from the directory part of its prefix (Beam does the same); a
            # relative glob with no directory part from the working directory, named without './'.
            base = '' if root == '.' and not pattern.startswith('./') else root
            found = _list_local(base, root, matches, self._follow_symlinks)
        yield from sorted(found, key=lambda f: f.path)

    @staticmethod
    def _match_remote(input_path, pattern, root, lists_files):
        found = [InputFile(meta.path, root, meta.size_in_bytes)
                 for match in FileSystems.match([pattern]) for meta in match.metadata_list]
        if not found and not lists_files:
            # A named file that does not exist (or was removed meanwhile): a dead letter, never a
            # silent skip.
            found.append(InputFile(input_path, root, -1))
        return found


def decode_text(raw: bytes) -> str:
    """Bytes -> str: UTF-8 (BOM optional) or UTF-16 with a BOM. Raises UnicodeDecodeError otherwise."""
    if raw.startswith((b'\xff\xfe', b'\xfe\xff')):
        return raw.decode('utf-16')
    return raw.decode('utf-8-sig')


def looks_binary(raw: bytes) -> bool:
    """NUL bytes in the first 8 KiB (after any UTF-16 BOM has been ruled out) mean binary data."""
    if raw.startswith((b'\xff\xfe', b'\xfe\xff')):
        return False
    return b'\x00' in raw[:8192]


class CorruptCompressed(Exception):
    """A gzip or bzip2 file that is truncated or not what its suffix says."""


class FileTooLarge(Exception):
    """A compressed file inflating past the per-file cap."""


class NotARegularFile(Exception):
    """A local path that turned out to be a FIFO, socket or device when it was opened."""


class _Inflating(io.RawIOBase):
    """The decompressed bytes of a gzip or bzip2 stream, never more per call than the caller asked.

    Beam's `CompressedFile` inflates a whole compressed chunk (16 MiB in, any amount out) at once and
    its `readline` takes no length; here `zlib.decompressobj`/`bz2.BZ2Decompressor` run with
    `max_length`, fed `CHUNK_BYTES` of compressed input at a time, so memory is bounded by what is
    asked for. Multi-member gzip and concatenated bzip2 streams are read through (trailing NUL
    padding after a gzip member is ignored, as gzip does). After `max_total_bytes` of output the next
    read raises `FileTooLarge`, and so does output over `max_ratio` times the compressed bytes read
    plus `slack_bytes` (a bomb is caught after a few MB instead of after `max_total_bytes`: inflating
    1 GB takes seconds); a truncated or invalid stream raises `CorruptCompressed`.
    """

    CHUNK_BYTES = 64 * 1024

    def __init__(self, compressed, kind: str, max_total_bytes: Optional[int],
                 max_ratio: Optional[float] = None, slack_bytes: int = 0):
        super().__init__()
        self._compressed = compressed
        self._kind = kind
        self._max_total_bytes = max_total_bytes
        self._max_ratio = max_ratio
        self._slack_bytes = slack_bytes
        self._total_bytes = 0
        self._compressed_bytes = 0
        self._pending = b''  # compressed bytes read but not yet given to a decompressor
        self._decompressor = self._new_decompressor()
        self._started = False  # any compressed byte seen: a zero-byte file is empty, not corrupt

    def _new_decompressor(self):
        return zlib.decompressobj(16 + zlib.MAX_WBITS) if self._kind == 'gzip' else \
            bz2.BZ2Decompressor()

    def readable(self) -> bool:
        return True

    def close(self) -> None:
        if not self.closed:
            self._compressed.close()
        super().close()

    def readinto(self, buffer) -> int:
        wanted = len(buffer)
        if (self._max_ratio is not None
                and self._total_bytes > self._max_ratio * self._compressed_bytes + self._slack_bytes):
            raise FileTooLarge(f'inflates to over {self._max_ratio:g} times its compressed size '
                               f'({self._total_bytes} bytes from {self._compressed_bytes}): '
                               'a compression bomb, not read further')
        if self._max_total_bytes is not None:
            if self._total_bytes > self._max_total_bytes:
                raise FileTooLarge(f'over the {self._max_total_bytes}-byte cap per file after '
                                   'decompression')
            # One byte past the cap at most, so what is read before the error is exactly the cap.
            wanted = min(wanted, self._max_total_bytes + 1 - self._total_bytes)
        while True:
            out = self._inflate(wanted)
            if out is None:
                return 0
            if out:
                buffer[:len(out)] = out
                self._total_bytes += len(out)
                return len(out)

    def _next_input(self) -> bytes:
        data, self._pending = self._pending, b''
        if not data:
            data = self._compressed.read(self.CHUNK_BYTES)
            self._compressed_bytes += len(data)
        self._started = self._started or bool(data)
        return data

    def _inflate(self, max_bytes: int) -> Optional[bytes]:
        """Up to `max_bytes` of output (b'' when this step only consumed input), None at the end."""
        if self._decompressor.eof:
            following = self._decompressor.unused_data + self._pending
            self._pending = b''
            while not following.strip(b'\0'):  # nothing, or the NUL padding gzip allows
                following = self._compressed.read(self.CHUNK_BYTES)
                self._compressed_bytes += len(following)
                if not following:
                    return None
            self._decompressor, self._pending = self._new_decompressor(), following
        # zlib keeps input it had no room to inflate in `unconsumed_tail`; bz2 keeps it inside and
        # says so with `needs_input` False (then it is called with no new input).
        if self._kind == 'gzip':
            data = self._decompressor.unconsumed_tail or self._next_input()
        else:
            data = self._next_input() if self._decompressor.needs_input else b''
        if not data and (self._kind == 'gzip' or self._decompressor.needs_input):
            return self._end_of_input()
        try:  # only the decompressor: an error reading the file itself is not corruption
            return self._decompressor.decompress(data, max_bytes)
        except (zlib.error, OSError, EOFError, ValueError) as error:
            raise CorruptCompressed(f'not a valid {self._kind} stream: {error}') from error

    def _end_of_input(self) -> None:
        if not self._started:
            return None
        raise CorruptCompressed(f'the file ends inside its {self._kind} stream (truncated)')


def _open_raw(path: str):
    """The file's bytes as stored. A local file is opened non-blocking and checked with `fstat`, so
    a FIFO put in place of a listed file is refused instead of blocking the read forever."""
    if not _is_local(path):
        return FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED)
    fd = os.open(path, os.O_RDONLY | getattr(os, 'O_NONBLOCK', 0))
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise NotARegularFile(f'expected a regular file, found a {_file_type(mode)}')
        os.set_blocking(fd, True)
        return io.BufferedReader(io.FileIO(fd, 'rb', closefd=True))
    except BaseException:
        os.close(fd)
        raise


def open_decompressed(path: str, max_file_bytes: Optional[int] = None,
                      max_inflation_ratio: Optional[float] = None, ratio_slack_bytes: int = 0):
    """A binary file object with bounded `read(n)` and `readline(limit)` over the file's content,
    decompressed by suffix (.gz, .bz2); see `_Inflating` for the limits and the errors a compressed
    file raises."""
    raw = _open_raw(path)
    name = path.lower()
    kind = 'gzip' if name.endswith('.gz') else 'bzip2' if name.endswith('.bz2') else None
    if kind is None:
        return raw
    return io.BufferedReader(_Inflating(raw, kind, max_file_bytes, max_inflation_ratio,
                                        ratio_slack_bytes), _Inflating.CHUNK_BYTES)


_SURROGATE = re.compile('[\ud800-\udfff]')


def record_problem(record, max_depth: Optional[int] = None) -> Optional[tuple[str, str]]:
    """(reason, detail) when a parsed JSON value cannot travel on as text, else None.

    Walked iteratively, so depth itself cannot overflow the stack here. Refused: containers nested
    deeper than `max_depth` (the top-level object is depth 1; later stages pickle and copy records
    recursively) and any string or key holding a lone surrogate (JSON's `"\ud800"` escape parses to
    one; no UTF-8 writer can write it, and replacing it would change the text silently).
    """
    stack = [(record, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, (dict, list)):
            if max_depth is not None and depth > max_depth:
                return 'too_deeply_nested', f'containers nested deeper than {max_depth} levels'
            items = value.items() if isinstance(value, dict) else enumerate(value)
            for key, item in items:
                if isinstance(key, str):
                    stack.append((key, depth))
                stack.append((item, depth + 1))
        elif isinstance(value, str) and not value.isascii():
            found = _SURROGATE.search(value)
            if found:
                return ('invalid_unicode', f'a lone surrogate U+{ord(found.group()):04X} at '
                                           f'character {found.start()} of a string: not text')
    return None


class ParseInputFileFn(beam.DoFn):
    """`InputFile` -> `Document`s (one per text/HTML file, one per JSONL line) or dead letters.

    Failures are handled here, per file and per line, rather than by `with_exception_handling`,
    which would hold a whole file's output until the file is done and turn any exception into one
    letter for the whole file.

    Args:
        max_document_bytes: cap per text/HTML document and per JSONL line, after decompression.
        max_file_bytes: cap on a compressed file's decompressed bytes (None: no cap).
        max_inflation_ratio: cap on a compressed file's decompressed bytes per compressed byte
            read, beyond one document's worth (`max_document_bytes`) (None: no cap).
        max_json_depth: deepest nesting of a JSONL record (None: no cap).
    """

    def __init__(self, max_document_bytes: int, max_file_bytes: Optional[int] = None,
                 max_json_depth: Optional[int] = None,
                 max_inflation_ratio: Optional[float] = None):
        self._max_document_bytes = max_document_bytes
        self._max_file_bytes = max_file_bytes
        self._max_inflation_ratio = max_inflation_ratio
        self._max_json_depth = max_json_depth
        self._documents = Metrics.counter('newswire', 'read_documents')
        self._dead_letters = Metrics.counter('newswire', 'read_dead_letters')

    def process(self, file: InputFile):
        kind = input_kind(file.path)
        rel = display_path(relative_to(file.path, file.root))
        source = SourceRef(kind=kind or 'unknown', id=rel, path=rel)
        if file.refusal:
            yield self._dead(source, *file.refusal)
            return
        if kind is None:
            yield self._dead(source, 'unsupported_file_type',
                             'expected .txt, .html, .htm or .jsonl (optionally .gz/.bz2)')
            return
        if file.size_bytes < 0:
            yield self._dead(source, 'not_found', f'no file at {display_path(file.path)}')
            return
        try:
            if kind == 'jsonl':
                yield from self._parse_jsonl(file.path, rel)
            else:
                yield self._parse_document(file.path, source, kind)
        except Exception as error:  # pylint: disable=broad-except
            # The readers handle what they expect; this keeps anything else to one record.
            yield self._dead(source, 'unexpected_error', f'{type(error).__name__}: {error}'[:2000])

    def _open(self, path: str):
        # A single document may inflate to its cap whatever its ratio: the ratio applies beyond.
        return open_decompressed(path, self._max_file_bytes, self._max_inflation_ratio,
                                 self._max_document_bytes)

    def _parse_document(self, path: str, source: SourceRef, kind: str):
        try:
            with self._open(path) as handle:
                raw = handle.read(self._max_document_bytes + 1)
        except (CorruptCompressed, NotARegularFile, FileTooLarge, OSError) as error:
            return self._dead(source, *_read_failure(error))
        if len(raw) > self._max_document_bytes:
            return self._dead(source, 'too_large',
                              f'over the {self._max_document_bytes}-byte cap per document')
        return self._document_from_bytes(raw, source, kind)

    def _document_from_bytes(self, raw: bytes, source: SourceRef, kind: str):
        if not raw.strip():
            return self._dead(source, 'empty', 'no bytes other than white space', raw)
        if looks_binary(raw):
            return self._dead(source, 'binary', 'NUL bytes: not a text document', raw)
        if kind == 'html_file':
            # Not UTF-8 (or UTF-16 with a BOM): the page's <meta> charset, else cp1252, as for
            # fetched pages; only what is not text is refused.
            try:
                html = decode_text(raw)
            except UnicodeDecodeError:
                html = decode_html(raw, None)
            self._documents.inc()
            return Document(id=record_id(source, html), source=source, text='', html=html)
        try:
            text = decode_text(raw)
        except UnicodeDecodeError as error:
            return self._dead(source, 'undecodable', f'not UTF-8 or UTF-16 with BOM: {error}', raw)
        self._documents.inc()
        return Document(id=record_id(source, text), source=source, text=text)

    def _parse_jsonl(self, path: str, rel: str):
        cap = self._max_document_bytes
        line_number = 0
        in_long_line = False  # skipping the rest of a line over the cap
        try:
            with self._open(path) as handle:
                while True:
                    # readline with a limit: one giant line cannot exhaust memory.
                    raw = handle.readline(cap + 1)
                    if not raw:
                        return
                    line_number += 1
                    source = _line_source(rel, line_number)
                    if len(raw) > cap and not raw.endswith(b'\n'):
                        in_long_line = True
                        while raw and not raw.endswith(b'\n'):
                            raw = handle.readline(cap + 1)
                        in_long_line = False
                        yield self._dead(source, 'too_large', f'line over the {cap}-byte cap')
                        continue
                    if not raw.strip():
                        continue  # blank separator lines are not records
                    try:
                        out = self._record_from_line(raw, source)
                    except Exception as error:  # pylint: disable=broad-except
                        out = self._dead(source, 'unexpected_error',
                                         f'{type(error).__name__}: {error}'[:2000], raw)
                    yield out
        except (CorruptCompressed, NotARegularFile, FileTooLarge, OSError) as error:
            # The line being read when reading failed: the one being skipped, else the next.
            broken = line_number if in_long_line else line_number + 1
            reason, detail = _read_failure(error)
            if isinstance(error, FileTooLarge):
                detail = (f'{detail}; reading stopped at line {broken}: that line and any after it '
                          'are not read')
            elif line_number:
                detail = f'{detail}; reading stopped at line {broken}, the lines before were read'
            yield self._dead(_line_source(rel, broken), reason, detail)

    def _record_from_line(self, raw: bytes, source: SourceRef):
        try:
            record = json.loads(decode_text(raw))
        except UnicodeDecodeError as error:
            return self._dead(source, 'undecodable', f'not UTF-8: {error}', raw)
        except json.JSONDecodeError as error:
            return self._dead(source, 'malformed_json', str(error), raw)
        except RecursionError:
            return self._dead(source, 'too_deeply_nested',
                              'nested deeper than the JSON parser can follow', raw)
        except ValueError as error:  # valid JSON, but an integer over Python's digit limit
            return self._dead(source, 'number_too_long', str(error), raw)
        document, problem = document_from_record(record, source, self._max_json_depth)
        if document is None:
            return self._dead(source, problem[0], problem[1], raw)
        self._documents.inc()
        return document

    def _dead(self, source, reason, detail, raw=None):
        self._dead_letters.inc()
        return beam.pvalue.TaggedOutput(
            DEAD_LETTER, dead_letter(STAGE, reason, _printable(detail), source, raw))


def _line_source(rel: str, line_number: int) -> SourceRef:
    return SourceRef(kind='jsonl', id=f'{rel}:{line_number}', path=rel, line=line_number)


def _read_failure(error: Exception) -> tuple[str, str]:
    """(reason, detail) for an error opening or reading a file."""
    if isinstance(error, CorruptCompressed):
        return 'corrupt_compressed', str(error)
    if isinstance(error, NotARegularFile):
        return 'not_a_regular_file', f'{error}: not read'
    if isinstance(error, FileTooLarge):
        return 'too_large', str(error)
    if isinstance(error, FileNotFoundError):
        return 'not_found', 'the file was removed before it was read'
    return 'unreadable', f'{type(error).__name__}: {getattr(error, "strerror", None) or error}'


def document_from_record(record, source: SourceRef, max_depth: Optional[int] = None):
    """A JSON record (the JSONL and Pub/Sub contract) -> (Document, None) or (None, (reason, detail)).

    `source` names where the record was found; the record's own `id`, `url` and `outlet` refine it.
    A record nested deeper than `max_depth` (None: not checked) or holding a lone surrogate is
    refused (see `record_problem`).
    """
    if not isinstance(record, dict):
        return None, ('not_an_object', f'expected a JSON object, got {type(record).__name__}')
    problem = record_problem(record, max_depth)
    if problem:
        return None, problem
    for key in sorted(JSONL_KNOWN_KEYS):
        value = record.get(key)
        allowed = (str, int) if key == 'id' else (str,)
        if value is not None and (not isinstance(value, allowed) or isinstance(value, bool)):
            return None, ('bad_field_type',
                          f'{key!r} must be a string, got {type(value).__name__}')
    url = record.get('url')
    if url:
        try:
            scheme = urllib.parse.urlsplit(url).scheme.lower()
        except ValueError as error:  # e.g. an unclosed IPv6 bracket: http://[oops
            return None, ('bad_url', f'"url" is not a URL ({error}): {url[:100]!r}')
        if scheme not in ('http', 'https'):
            return None, ('bad_url', f'"url" must be http or https, got {url[:100]!r}')
    text, html = record.get('text'), record.get('html')
    if not (isinstance(text, str) and text.strip()) and not (isinstance(html, str) and html.strip()):
        return None, ('no_text', 'the record has neither a non-empty "text" nor "html"')
    own_id = record.get('id')
    source = dataclasses.replace(
        source,
        id=str(own_id) if own_id not in (None, '') else source.id,
        url=record.get('url') or source.url,
        outlet=record.get('outlet') or source.outlet,
    )
    extra = {k: v for k, v in record.items() if k not in JSONL_KNOWN_KEYS}
    body = text if isinstance(text, str) and text.strip() else ''
    use_html = not body
    return Document(
        id=record_id(source, body or html),
        source=source,
        text=body,
        html=html if use_html else None,
        title=record.get('title') or None,
        published_at=record.get('published') or None,
        extra=extra,
    ), None


class ReadDocumentFiles(beam.PTransform):
    """Input paths (files, directories, globs) -> `StageOutputs(documents, dead_letters)`.

    Args:
        inputs: files, directories and globs (local or any Beam filesystem).
        max_document_bytes, max_file_bytes, max_json_depth, max_inflation_ratio: see
            `ParseInputFileFn`.
        follow_symlinks: read what links inside inputs point to (local inputs); without it each
            such link is a dead letter (symlink_not_followed).
    """

    def __init__(self, inputs: list[str], max_document_bytes: int,
                 max_file_bytes: Optional[int] = None, max_json_depth: Optional[int] = None,
                 follow_symlinks: bool = False, max_inflation_ratio: Optional[float] = None):
        super().__init__()
        self._inputs = list(inputs)
        self._max_document_bytes = max_document_bytes
        self._max_file_bytes = max_file_bytes
        self._max_json_depth = max_json_depth
        self._follow_symlinks = follow_symlinks
        self._max_inflation_ratio = max_inflation_ratio

    def expand(self, pbegin):
        parsed = (
            pbegin
            | 'InputPaths' >> beam.Create(self._inputs)
            | 'ExpandInputs' >> beam.ParDo(_ExpandInputsFn(self._follow_symlinks))
            # A file named by two inputs (a directory and a file in it) is read once. The grouping
            # also spreads the files over workers, so big directories are read in parallel. Keyed
            # by the path's bytes: a name that is not UTF-8 is a str no UTF-8 coder can encode.
            | 'KeyByPath' >> beam.Map(lambda file: (file.path.encode('utf-8', 'surrogatepass'),
                                                    file))
            | 'OncePerFile' >> beam.CombinePerKey(
                lambda files: min(files, key=lambda f: (len(f.root), f.root)))
            | 'Files' >> beam.Values()
            | 'ParseFiles' >> beam.ParDo(ParseInputFileFn(
                self._max_document_bytes, self._max_file_bytes, self._max_json_depth,
                self._max_inflation_ratio))
            .with_output_types(Document, **{DEAD_LETTER: DeadLetter})
            .with_outputs(DEAD_LETTER, main='good'))
        return StageOutputs(parsed['good'], parsed[DEAD_LETTER])
