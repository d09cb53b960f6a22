"""Template-mining accuracy as the log-parsing literature measures it.

Definitions follow Zhu et al., "Tools and Benchmarks for Automated Log Parsing" (ICSE-SEIP
2019) and the loghub-2.0 evaluator (``get_accuracy``):

* **GA** (group accuracy): the share of lines whose predicted group holds exactly the same
  lines as their ground-truth group.
* **FGA** (F1 of group accuracy): a ground-truth group is *correct* when all its lines fall in
  one predicted group holding no other line. PGA = correct / predicted groups, RGA = correct /
  ground-truth groups, FGA = 2 * PGA * RGA / (PGA + RGA).

and, for classification, the precision and recall of one category (true errors): ``detection``.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Hashable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class GroupingAccuracy:
    group_accuracy: float  # GA
    f1: float  # FGA
    precision: float  # PGA
    recall: float  # RGA
    predicted_groups: int
    true_groups: int
    correct_groups: int


def grouping_accuracy(truth: Sequence[Hashable], predicted: Sequence[Hashable]) -> GroupingAccuracy:
    """GA and FGA of ``predicted`` group labels against ``truth`` (one label per line each)."""
    if len(truth) != len(predicted):
        raise ValueError(f"{len(truth)} true labels but {len(predicted)} predicted ones")
    if not truth:
        return GroupingAccuracy(0.0, 0.0, 0.0, 0.0, 0, 0, 0)
    predicted_sizes = Counter(predicted)
    members: dict[Hashable, Counter] = defaultdict(Counter)
    for true_label, predicted_label in zip(truth, predicted):
        members[true_label][predicted_label] += 1
    correct_lines = correct_groups = 0
    for true_label, spread in members.items():
        if len(spread) != 1:
            continue
        (predicted_label, size), = spread.items()
        if predicted_sizes[predicted_label] == size:  # the predicted group holds nothing else
            correct_lines += size
            correct_groups += 1
    precision = correct_groups / len(predicted_sizes)
    recall = correct_groups / len(members)
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return GroupingAccuracy(correct_lines / len(truth), f1, precision, recall, len(predicted_sizes), len(members),
                            correct_groups)


@dataclass(frozen=True)
class Detection:
    """How well one category is told apart: precision and recall of the records predicted in it."""

    precision: float
    recall: float
    true_positives: int
    predicted: int
    actual: int


def detection(truth: Sequence[str], predicted: Sequence[str], category: str = "error") -> Detection:
    """Precision and recall of ``category`` (by default true errors) in ``predicted`` against ``truth``.
    With nothing predicted (or nothing to find) the undefined ratio counts as 1.0."""
    if len(truth) != len(predicted):
        raise ValueError(f"{len(truth)} true labels but {len(predicted)} predicted ones")
    actual = sum(1 for label in truth if label == category)
    guessed = sum(1 for label in predicted if label == category)
    hits = sum(1 for t, p in zip(truth, predicted) if t == p == category)
    return Detection(hits / guessed if guessed else 1.0, hits / actual if actual else 1.0, hits, guessed, actual)
