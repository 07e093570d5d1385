"""Answers remembered for the texts a stage saw lately.

A report syndicated by many outlets arrives word for word many times, and a stage's answer for it
(its language, its tags, its MinHash and term vector) is a function of its text alone. A stage
keeps the answers for the last thousand or so distinct texts, keyed by a digest of everything the
answer depends on, and computes each only once among them.

The key is a 128-bit BLAKE2b digest, so what is kept does not grow with a text's length, and a
crafted text cannot pass for another. Texts longer than `MAX_TEXT_CHARS` are not remembered: an
answer such as a term vector grows with its text, and the bound is on what a memo holds in all
(at most some 17 MB of term vectors for the signer's `DEFAULT_SIZE` texts of 10,000 characters;
a few MB for wire copy).
"""

from __future__ import annotations

import collections
import hashlib
from typing import Callable, Generic, Hashable, Optional, TypeVar

Answer = TypeVar('Answer')

DEFAULT_SIZE = 1024
MAX_TEXT_CHARS = 10_000


def text_key(*parts: Optional[str]) -> bytes:
    """A digest of `parts` (None distinct from ''); any string, lone surrogates included."""
    digest = hashlib.blake2b(digest_size=16)
    for part in parts:
        if part is None:
            digest.update(b'\x00')
            continue
        data = part.encode('utf-8', 'surrogatepass')
        digest.update(b'\x01' + len(data).to_bytes(8, 'little') + data)
    return digest.digest()


class Recent(Generic[Answer]):
    """The answers for the last `size` distinct keys; the least recently used goes first. A size of
    0 remembers nothing."""

    def __init__(self, size: int = DEFAULT_SIZE):
        if size < 0:
            raise ValueError(f'a memo size is at least 0, got {size}')
        self._size = size
        self._answers: collections.OrderedDict[Hashable, Answer] = collections.OrderedDict()

    def __len__(self) -> int:
        return len(self._answers)

    def get(self, key: Hashable) -> Optional[Answer]:
        answer = self._answers.get(key)
        if answer is not None:
            self._answers.move_to_end(key)
        return answer

    def put(self, key: Hashable, answer: Answer) -> Answer:
        """Remember `answer` (not None) for `key`; returns it."""
        if self._size:
            self._answers[key] = answer
            self._answers.move_to_end(key)
            if len(self._answers) > self._size:
                self._answers.popitem(last=False)
        return answer

    @staticmethod
    def key(text: str, *context: Optional[str]) -> Optional[bytes]:
        """The key of `text` with `context` (the other inputs its answer depends on); None for a
        text over `MAX_TEXT_CHARS`, which is never remembered."""
        return text_key(text, *context) if len(text) <= MAX_TEXT_CHARS else None

    def of_text(self, text: str, compute: Callable[[], Answer], *context: Optional[str]) -> Answer:
        """The answer for `text` (with `context`): remembered, or `compute()`d and remembered."""
        key = self.key(text, *context)
        if key is None:
            return compute()
        answer = self.get(key)
        return answer if answer is not None else self.put(key, compute())
