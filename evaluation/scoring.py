"""Scorers for `newswire eval`, as pure functions over plain values (no Beam, no I/O).

- `shingle_prf`, `extraction_scores`: the Zyte article-extraction benchmark's own metric (token
  4-gram shingles with counts, precision and recall averaged over pages, F1 of the two means).
- `pairwise_prf`, `bcubed_prf`: clusterings compared with gold clusters (pairs in the same cluster;
  B-cubed per item).
- `binary_prf`: precision/recall/F1 of predicted positive pairs against gold positive pairs.
- `roc_auc`: the probability that a random positive scores above a random negative (ties count half).
- `accuracy_by_label`: overall and per-label accuracy, and the macro average over labels.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from dataclasses import dataclass
from typing import Hashable, Iterable, Mapping, Optional, Sequence

_WORD = re.compile(r'\w+', re.UNICODE)


@dataclass(frozen=True)
class PRF:
    precision: float
    recall: float
    f1: float

    def as_dict(self) -> dict:
        return {'precision': round(self.precision, 4), 'recall': round(self.recall, 4),
                'f1': round(self.f1, 4)}


def f1(precision: float, recall: float) -> float:
    return 2 * precision * recall / (precision + recall) if precision + recall else 0.0


def tokens(text: str) -> list[str]:
    return _WORD.findall(text or '')


def shingle_counts(text: str, n: int = 4) -> Counter:
    words = tokens(text)
    # As upstream: a text shorter than n tokens is one (shorter) shingle.
    return Counter(tuple(words[i:i + n]) for i in range(max(1, len(words) - n + 1)) if words)


@dataclass(frozen=True)
class PageScore:
    tp: float
    fp: float
    fn: float
    exact: bool


def shingle_page_score(predicted: str, gold: str, n: int = 4) -> PageScore:
    """One page: (tp, fp, fn) of counted n-gram shingles, normalised by their sum, as upstream does."""
    pred, true = shingle_counts(predicted, n), shingle_counts(gold, n)
    tp = sum((pred & true).values())
    fp = sum((pred - true).values())
    fn = sum((true - pred).values())
    total = tp + fp + fn
    if total:
        tp, fp, fn = tp / total, fp / total, fn / total
    return PageScore(tp, fp, fn, tokens(predicted) == tokens(gold))


def extraction_scores(pages: Iterable[PageScore]) -> dict:
    """Mean precision and recall over pages, F1 of the means, and the share of exact pages."""
    precisions, recalls, exact, count = [], [], 0, 0
    for page in pages:
        count += 1
        exact += page.exact
        perfect = page.fp == 0 and page.fn == 0
        if page.tp + page.fp > 0:
            precisions.append(1.0 if perfect else page.tp / (page.tp + page.fp))
        if page.tp + page.fn > 0:
            recalls.append(1.0 if perfect else page.tp / (page.tp + page.fn))
    precision = sum(precisions) / len(precisions) if precisions else 0.0
    recall = sum(recalls) / len(recalls) if recalls else 0.0
    scores = PRF(precision, recall, f1(precision, recall)).as_dict()
    scores['exact'] = round(exact / count, 4) if count else 0.0
    scores['pages'] = count
    return scores


def _pairs_in_clusters(assignment: Mapping[Hashable, Hashable]) -> set:
    members = defaultdict(list)
    for item, cluster in assignment.items():
        members[cluster].append(item)
    pairs = set()
    for items in members.values():
        items = sorted(items, key=str)
        pairs.update((a, b) for i, a in enumerate(items) for b in items[i + 1:])
    return pairs


def binary_prf(predicted: set, gold: set) -> PRF:
    """Precision/recall/F1 of a predicted set of positives against the gold set."""
    tp = len(predicted & gold)
    precision = tp / len(predicted) if predicted else (1.0 if not gold else 0.0)
    recall = tp / len(gold) if gold else 1.0
    return PRF(precision, recall, f1(precision, recall))


def pairwise_prf(predicted: Mapping[Hashable, Hashable], gold: Mapping[Hashable, Hashable]) -> PRF:
    """Pairs of items put in one cluster, predicted vs gold (both map item -> cluster, same items)."""
    if set(predicted) != set(gold):
        raise ValueError('predicted and gold clusterings must cover the same items')
    return binary_prf(_pairs_in_clusters(predicted), _pairs_in_clusters(gold))


def bcubed_prf(predicted: Mapping[Hashable, Hashable], gold: Mapping[Hashable, Hashable]) -> PRF:
    """B-cubed: per item, the share of its predicted cluster in its gold cluster and vice versa."""
    if set(predicted) != set(gold):
        raise ValueError('predicted and gold clusterings must cover the same items')
    pred_members, gold_members = defaultdict(set), defaultdict(set)
    for item, cluster in predicted.items():
        pred_members[cluster].add(item)
    for item, cluster in gold.items():
        gold_members[cluster].add(item)
    precision = recall = 0.0
    for item in predicted:
        mine, true = pred_members[predicted[item]], gold_members[gold[item]]
        shared = len(mine & true)
        precision += shared / len(mine)
        recall += shared / len(true)
    n = len(predicted) or 1
    precision, recall = precision / n, recall / n
    return PRF(precision, recall, f1(precision, recall))


def roc_auc(scores: Sequence[float], labels: Sequence[bool]) -> float:
    """Area under the ROC curve by ranks (Mann-Whitney U), ties counted half."""
    if len(scores) != len(labels):
        raise ValueError('one label per score')
    ranked = sorted(zip(scores, labels), key=lambda pair: pair[0])
    positives = sum(1 for label in labels if label)
    negatives = len(labels) - positives
    if not positives or not negatives:
        raise ValueError('ROC-AUC needs both positives and negatives')
    rank_sum, i = 0.0, 0
    while i < len(ranked):
        j = i
        while j < len(ranked) and ranked[j][0] == ranked[i][0]:
            j += 1
        average_rank = (i + 1 + j) / 2  # ranks i+1..j share their mean
        rank_sum += average_rank * sum(1 for _, label in ranked[i:j] if label)
        i = j
    return (rank_sum - positives * (positives + 1) / 2) / (positives * negatives)


def accuracy_by_label(gold: Sequence[str], predicted: Sequence[Optional[str]],
                      labels: Optional[set] = None) -> dict:
    """Accuracy overall and per gold label, and the macro average over labels.

    With `labels`, only items whose gold label is among them count (a detector's supported subset).
    """
    right, total = Counter(), Counter()
    for g, p in zip(gold, predicted, strict=True):
        if labels is not None and g not in labels:
            continue
        total[g] += 1
        right[g] += (g == p)
    per_label = {label: right[label] / total[label] for label in sorted(total)}
    items = sum(total.values())
    return {
        'accuracy': sum(right.values()) / items if items else 0.0,
        'macro_accuracy': sum(per_label.values()) / len(per_label) if per_label else 0.0,
        'items': items,
        'per_label': per_label,
    }
