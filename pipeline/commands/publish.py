"""`newswire publish PATH ... --topic T`: files as raw messages, the streaming pipeline's input.

A .txt or .html file is one message (its bytes, attributes `source_id` = the path relative to the
input, `content_type`); each line of a .jsonl file is one message (the line, `source_id` = the
record's id, `published` when the record has it)."""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Iterator, Sequence

from newswire.pipeline.commands.pubsub_admin import (PubSubSetupError, check_pubsub_reachable, parse_topic,
                                                     publisher_client, require_topic)
from newswire.transforms.read_files import input_kind, relative_to

CONTENT_TYPES = {'text_file': 'text/plain', 'html_file': 'text/html', 'jsonl': 'application/json'}


def _files(path: str) -> Iterator[tuple[str, str]]:
    """(file, root) for a file or every input file below a directory, in a stable order."""
    if os.path.isdir(path):
        for directory, _, names in sorted(os.walk(path)):
            for name in sorted(names):
                full = os.path.join(directory, name)
                if input_kind(full) and not full.endswith(('.gz', '.bz2')):
                    yield full, path.rstrip('/')
    else:
        yield path, os.path.dirname(path) or '.'


def messages(paths: Sequence[str]) -> Iterator[tuple[bytes, dict]]:
    """(body, attributes) for every message the paths make."""
    for path in paths:
        for file, root in _files(path):
            kind = input_kind(file)
            if kind is None:
                raise ValueError(f'{file}: expected .txt, .html, .htm or .jsonl')
            rel = relative_to(file, root)
            with open(file, 'rb') as handle:
                if kind != 'jsonl':
                    yield handle.read(), {'source_id': rel, 'content_type': CONTENT_TYPES[kind]}
                    continue
                for number, line in enumerate(handle, start=1):
                    if not line.strip():
                        continue
                    attributes = {'source_id': f'{rel}:{number}',
                                  'content_type': CONTENT_TYPES[kind]}
                    try:
                        record = json.loads(line)
                    except ValueError:
                        record = None  # published as it is: the pipeline dead-letters it
                    if isinstance(record, dict):
                        if record.get('id') not in (None, ''):
                            attributes['source_id'] = str(record['id'])
                        if isinstance(record.get('published'), str):
                            attributes['published'] = record['published']
                    yield line.rstrip(b'\n'), attributes


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog='newswire publish', description=__doc__)
    parser.add_argument('paths', nargs='+', help='files or directories (.txt, .html, .jsonl)')
    parser.add_argument('--topic', required=True, help='projects/P/topics/T')
    args = parser.parse_args(argv)
    try:
        parse_topic(args.topic)
        for path in args.paths:
            if not os.path.exists(path):
                raise ValueError(f'{path}: no such file or directory')
        batch = list(messages(args.paths))
    except ValueError as error:
        print(f'newswire publish: {error}', file=sys.stderr)
        return 2
    try:
        check_pubsub_reachable()
        publisher = publisher_client()
        require_topic(publisher, args.topic)
    except PubSubSetupError as error:
        print(f'newswire publish: {error}', file=sys.stderr)
        return 2
    futures = [publisher.publish(args.topic, body, **attributes) for body, attributes in batch]
    ids = [future.result(timeout=60) for future in futures]
    print(f'published {len(ids)} messages to {args.topic}')
    return 0
