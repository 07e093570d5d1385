"""The dedup stage's settings (`DedupConfig`, from pipeline/settings.yaml's `dedup:`)."""

from __future__ import annotations

from dataclasses import dataclass

STAGE = 'dedup'

# `batch_index`: the batch stage's strategy (`batch.FlagDuplicates`); `stream_index`: the
# streaming stage's (`stream.FlagDuplicatesInStream`); `auto` picks one by the runner
# (`index.index_strategy`).
MEMORY, SHUFFLE, KEYED, AUTO = 'memory', 'shuffle', 'keyed', 'auto'
BATCH_INDEX_SETTINGS = (AUTO, MEMORY, SHUFFLE)
STREAM_INDEX_SETTINGS = (AUTO, MEMORY, KEYED)


@dataclass(frozen=True)
class DedupConfig:
    shingle_words: int = 5
    num_perm: int = 256
    lsh_bands: int = 64
    lsh_rows: int = 4
    near_copy_threshold: float = 0.5
    near_copy_containment: float = 0.7  # above 1 turns the containment test off
    near_copy_min_jaccard: float = 0.45
    story_threshold: float = 0.3
    story_central_term_below: float = 0.5  # 0 turns the central-term test off
    story_keys: int = 8
    horizon_seconds: int = 7 * 24 * 3600
    max_bucket_comparisons: int = 200
    max_documents_per_key: int = 1000
    settle_seconds: int = 10
    minhash_seed: int = 1
    batch_index: str = AUTO  # one of BATCH_INDEX_SETTINGS
    stream_index: str = AUTO  # one of STREAM_INDEX_SETTINGS

    def __post_init__(self):
        if self.max_documents_per_key < 1:
            raise ValueError(f'max_documents_per_key must be at least 1, got '
                             f'{self.max_documents_per_key}')
        for name, allowed in (('batch_index', BATCH_INDEX_SETTINGS),
                              ('stream_index', STREAM_INDEX_SETTINGS)):
            if getattr(self, name) not in allowed:
                raise ValueError(f'{name} must be one of {", ".join(allowed)}, got '
                                 f'{getattr(self, name)!r}')
        if self.lsh_rows < 1 or self.lsh_bands < 0:
            # A band of no rows is one key every document shares.
            raise ValueError(f'lsh_rows must be at least 1 and lsh_bands at least 0, got '
                             f'{self.lsh_rows} and {self.lsh_bands}')
        if self.lsh_bands * self.lsh_rows > self.num_perm:
            raise ValueError(f'lsh_bands * lsh_rows ({self.lsh_bands} * {self.lsh_rows}) must be '
                             f'at most num_perm ({self.num_perm})')
