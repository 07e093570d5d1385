"""Duplicates at three tiers: the same item again, near copies, and reports of the same story.

How it works, for documents A (published first) and B:

1. Each document gets a signature (`signature.SignDocumentsFn`): its content hash, a MinHash of its
   word shingles with the number of distinct shingles, and a weighted term vector (see
   `similarity`).
2. The signature is filed under candidate keys (`keys.candidate_keys`): its content hash and its
   source id (exact), one key per MinHash LSH band (near copy) and one per heaviest term (same
   story). Only documents that share a key are ever compared: never all pairs.
3. In each key's bucket (`buckets.compare_bucket`), documents are taken in publication order and
   each is compared with the ones before it within the time horizon (at most
   `max_bucket_comparisons` of them). A pair that passes the key's test (`pairs.match_pair`) yields
   a `Match(later=B, earlier=A, tier, score)`: exact (same normalized content or source id),
   near_copy (MinHash Jaccard >= near_copy_threshold, or estimated shingle containment >=
   near_copy_containment with Jaccard >= near_copy_min_jaccard: `pairs.is_near_copy`) or same_story
   (term-vector cosine >= story_threshold; below story_central_term_below the two must also share a
   central term: `pairs.is_same_story`).
   A band or term key shared by more than `max_documents_per_key` documents within the horizon is
   dropped, like a stop word (`crowding.dropped_key_kind`); exact keys never are, and each document
   in an exact bucket is matched with the earliest one within the horizon
   (`buckets.exact_matches`). Near copies share many bands, so in batch a band bucket only names its
   candidate pairs and each distinct pair is then tested once (`batch.TestNearCopyPairs`).
4. Per document, the best matches decide (`decision`): `duplicate_of` = the earliest exact match,
   `near_duplicate_of` = the earliest near copy, and its story parent = the exact/near original or
   else the most similar earlier report. `story_id` is the root of that parent chain, so each
   document joins the story of its nearest earlier neighbour (single pass, in publication order).

Worked example on the seeds: 000, 001 and 002 report one meeting in different words (shingle Jaccard
0.05-0.10: no near copy) but share heavy terms (Naghiyev, Kauma, OSCE...); 001 and 002 each find an
earlier report above the story threshold, so all three get story_id = 000's id. The canonical item
is chosen deterministically: earliest published, then id.

Two composites run these steps: `FlagDuplicates` (`batch`), whose buckets are `GroupByKey`s or, on
a runner on one machine, one in-memory index on one worker (`index`; `dedup.batch_index`), and
`FlagDuplicatesInStream` (`stream`), which keeps the same buckets as keyed state expired by timers
after the horizon and applies the same pair tests or, on a runner on one machine, keeps them with
the decisions on one key in the worker's memory (`stream_index`; `dedup.stream_index`).

Modules: `config` (settings), `signature` (what a document is reduced to), `keys` (the typed
candidate keys), `pairs` (the pair tests), `buckets` (one bucket's comparisons), `crowding` (keys
dropped as stop words), `entries` (the batch shuffle's compact bucket entries), `decision` (matches
to `DedupInfo`), `batch` and `stream` (the two composites), `index` (the batch composite's in-memory
strategy), `stream_index` (the streaming composite's).
"""

from newswire.transforms.dedup.batch import (DROPPED_KEYS, NEAR_COPY_PAIRS, DedupOutputs,
                                             FlagDuplicates, TestNearCopyPairs,
                                             batch_bucket_entries, compare_or_name_pairs)
from newswire.transforms.dedup.buckets import candidate_pairs, compare_bucket, exact_matches
from newswire.transforms.dedup.config import BATCH_INDEX_SETTINGS, STAGE, DedupConfig
from newswire.transforms.dedup.crowding import (CrowdedKeyFn, dropped_key_kind,
                                                log_dropped_keys, most_within_horizon)
from newswire.transforms.dedup.decision import (BestMatches, BestMatchesFn, better_match,
                                                dedup_info, story_root)
from newswire.transforms.dedup.entries import (BucketEntry, StoryEntry, pack_bucket_entry,
                                               unpack_bucket_entry)
from newswire.transforms.dedup.index import (IndexedMatches, MatchInIndex, batch_index_strategy,
                                             match_in_index)
from newswire.transforms.dedup.keys import (CAPPED_KEY_NAMES, CandidateKey, KeyKind, band_group_key,
                                            candidate_keys)
from newswire.transforms.dedup.pairs import (EXACT, NEAR_COPY, SAME_STORY, Match, is_near_copy,
                                             is_same_story, match_pair, near_copy_match,
                                             within_horizon)
from newswire.transforms.dedup.signature import (DedupSignature, SignDocumentsFn, Signer,
                                                 event_seconds)
from newswire.transforms.dedup.stream import FlagDuplicatesInStream

__all__ = [
    'BATCH_INDEX_SETTINGS', 'CAPPED_KEY_NAMES', 'DROPPED_KEYS', 'EXACT', 'NEAR_COPY', 'NEAR_COPY_PAIRS', 'SAME_STORY',
    'STAGE', 'BestMatches', 'BestMatchesFn', 'BucketEntry', 'CandidateKey', 'CrowdedKeyFn',
    'DedupConfig', 'DedupOutputs', 'DedupSignature', 'FlagDuplicates', 'FlagDuplicatesInStream',
    'IndexedMatches', 'KeyKind', 'Match', 'MatchInIndex', 'SignDocumentsFn', 'Signer', 'StoryEntry', 'TestNearCopyPairs',
    'band_group_key', 'batch_bucket_entries', 'batch_index_strategy', 'better_match', 'candidate_keys',
    'candidate_pairs', 'compare_bucket', 'compare_or_name_pairs', 'dedup_info',
    'dropped_key_kind', 'event_seconds', 'exact_matches', 'is_near_copy', 'is_same_story',
    'log_dropped_keys', 'match_in_index', 'match_pair', 'most_within_horizon', 'near_copy_match',
    'pack_bucket_entry', 'story_root', 'unpack_bucket_entry', 'within_horizon',
]
