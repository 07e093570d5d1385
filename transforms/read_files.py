"""Read local (or any Beam filesystem's) files into `Document`s.

Supported inputs: `.txt` (raw article text with page chrome, like the seeds), `.html`/`.htm` (extracted
later by `ExtractMainText`) and `.jsonl` (one record per line with keys id, url, title, text or html,
published, outlet; other keys are kept under `extra`). Each may also be gzip- or bzip2-compressed
(`.txt.gz`, ...). A directory input means every such file below it.

What cannot become a document becomes a dead letter (stage `read`): undecodable bytes, binary, empty,
over the size cap, a malformed JSON line, a record with neither text nor html.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import urllib.parse
from dataclasses import dataclass
from typing import Iterator, Optional

import apache_beam as beam
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems
from apache_beam.metrics import Metrics

from newswire.transforms.dead_letters import DEAD_LETTER, ApplyStage, dead_letter
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
    """A file to read and the input root its source id is relative to."""

    path: str
    root: str
    size_bytes: int


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


def _pattern_and_root(input_path: str) -> tuple[str, str, bool]:
    """(glob pattern, root for relative ids, whether files are filtered by suffix)."""
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


class _ExpandInputsFn(beam.DoFn):
    """Input path (file, directory or glob) -> the `InputFile`s it names, in a stable order."""

    def process(self, input_path: str) -> Iterator[InputFile]:
        pattern, root, filter_by_suffix = _pattern_and_root(input_path)
        found = []
        for match in FileSystems.match([pattern]):
            for meta in match.metadata_list:
                if filter_by_suffix and input_kind(meta.path) is None:
                    continue
                found.append(InputFile(meta.path, root, meta.size_in_bytes))
        if not found and not filter_by_suffix:
            # A named file that does not exist: the CLI validates local paths first, so this is a
            # remote path or a file removed meanwhile; it is a dead letter, never a silent skip.
            found.append(InputFile(input_path, root, -1))
        yield from sorted(found, key=lambda f: f.path)


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


class ParseInputFileFn(beam.DoFn):
    """`InputFile` -> `Document`s (one per text/HTML file, one per JSONL line) or dead letters."""

    def __init__(self, max_document_bytes: int):
        self._max_document_bytes = max_document_bytes
        self._documents = Metrics.counter('newswire', 'read_documents')
        self._dead_letters = Metrics.counter('newswire', 'read_dead_letters')

    def process(self, file: InputFile):
        kind = input_kind(file.path)
        rel = relative_to(file.path, file.root)
        source = SourceRef(kind=kind or 'unknown', id=rel, path=rel)
        if kind is None:
            yield self._dead(source, 'unsupported_file_type',
                             'expected .txt, .html, .htm or .jsonl (optionally .gz/.bz2)')
            return
        if file.size_bytes < 0:
            yield self._dead(source, 'not_found', f'no file at {file.path}')
            return
        if kind == 'jsonl':
            yield from self._parse_jsonl(file.path, rel)
            return
        with FileSystems.open(file.path, compression_type=CompressionTypes.AUTO) as handle:
            raw = handle.read(self._max_document_bytes + 1)
        if len(raw) > self._max_document_bytes:
            yield self._dead(source, 'too_large',
                             f'over the {self._max_document_bytes}-byte cap per document')
            return
        yield from self._document_from_bytes(raw, source, kind)

    def _document_from_bytes(self, raw: bytes, source: SourceRef, kind: str):
        if not raw.strip():
            yield self._dead(source, 'empty', 'no bytes other than white space', raw)
            return
        if looks_binary(raw):
            yield self._dead(source, 'binary', 'NUL bytes: not a text document', raw)
            return
        if kind == 'html_file':
            # Not UTF-8 (or UTF-16 with a BOM): the page's <meta> charset, else cp1252, as for
            # fetched pages; only what is not text is refused.
            try:
                html = decode_text(raw)
            except UnicodeDecodeError:
                html = decode_html(raw, None)
            self._documents.inc()
            yield Document(id=record_id(source, html), source=source, text='', html=html)
            return
        try:
            text = decode_text(raw)
        except UnicodeDecodeError as error:
            yield self._dead(source, 'undecodable', f'not UTF-8 or UTF-16 with BOM: {error}', raw)
            return
        self._documents.inc()
        yield Document(id=record_id(source, text), source=source, text=text)

    def _parse_jsonl(self, path: str, rel: str):
        with FileSystems.open(path, compression_type=CompressionTypes.AUTO) as handle:
            line_number = 0
            while True:
                # readline with a limit: one giant line cannot exhaust memory.
                raw = handle.readline(self._max_document_bytes + 1)
                if not raw:
                    return
                line_number += 1
                source = SourceRef(kind='jsonl', id=f'{rel}:{line_number}', path=rel,
                                   line=line_number)
                if len(raw) > self._max_document_bytes and not raw.endswith(b'\n'):
                    while raw and not raw.endswith(b'\n'):  # skip the rest of the oversize line
                        raw = handle.readline(self._max_document_bytes + 1)
                    yield self._dead(source, 'too_large',
                                     f'line over the {self._max_document_bytes}-byte cap')
                    continue
                if not raw.strip():
                    continue  # blank separator lines are not records
                yield from self._record_from_line(raw, source)

    def _record_from_line(self, raw: bytes, source: SourceRef):
        try:
            record = json.loads(decode_text(raw))
        except UnicodeDecodeError as error:
            yield self._dead(source, 'undecodable', f'not UTF-8: {error}', raw)
            return
        except json.JSONDecodeError as error:
            yield self._dead(source, 'malformed_json', str(error), raw)
            return
        document, problem = document_from_record(record, source)
        if document is None:
            yield self._dead(source, problem[0], problem[1], raw)
            return
        self._documents.inc()
        yield document

    def _dead(self, source, reason, detail, raw=None):
        self._dead_letters.inc()
        return beam.pvalue.TaggedOutput(DEAD_LETTER, dead_letter(STAGE, reason, detail, source, raw))


def document_from_record(record, source: SourceRef):
    """A JSON record (the JSONL and Pub/Sub contract) -> (Document, None) or (None, (reason, detail)).

    `source` names where the record was found; the record's own `id`, `url` and `outlet` refine it.
    """
    if not isinstance(record, dict):
        return None, ('not_an_object', f'expected a JSON object, got {type(record).__name__}')
    for key in sorted(JSONL_KNOWN_KEYS):
        value = record.get(key)
        allowed = (str, int) if key == 'id' else (str,)
        if value is not None and (not isinstance(value, allowed) or isinstance(value, bool)):
            return None, ('bad_field_type',
                          f'{key!r} must be a string, got {type(value).__name__}')
    url = record.get('url')
    if url and urllib.parse.urlsplit(url).scheme.lower() not in ('http', 'https'):
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
    """Input paths (files, directories, globs) -> `StageOutputs(documents, dead_letters)`."""

    def __init__(self, inputs: list[str], max_document_bytes: int):
        super().__init__()
        self._inputs = list(inputs)
        self._max_document_bytes = max_document_bytes

    def expand(self, pbegin):
        return (
            pbegin
            | 'InputPaths' >> beam.Create(self._inputs)
            | 'ExpandInputs' >> beam.ParDo(_ExpandInputsFn())
            # A file named by two inputs (a directory and a file in it) is read once. The grouping
            # also spreads the files over workers, so big directories are read in parallel.
            | 'KeyByPath' >> beam.Map(lambda file: (file.path, file))
            | 'OncePerFile' >> beam.CombinePerKey(
                lambda files: min(files, key=lambda f: (len(f.root), f.root)))
            | 'Files' >> beam.Values()
            | 'ParseFiles' >> ApplyStage(ParseInputFileFn(self._max_document_bytes), STAGE))
