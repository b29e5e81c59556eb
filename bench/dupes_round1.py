"""The duplicate search of issue 12's first round (commit 88ff8e3), kept for the benchmark.

A frozen copy of ``similar_pairs`` and its helpers from ``pipeline/duplicates.py``: the
questions grouped by their words, each group joined with PPJoin on features. The definition
(``Asked``, ``similarity``) is the current one, imported; only the search is frozen.
``bench/dupes.py`` times it beside the current search.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterator, Sequence
from itertools import chain, combinations

from pipeline.duplicates import _HALF, _MID, SIMILAR, Asked, _alike, _ceil, _words_alike


def similar_pairs(questions: Sequence[str]) -> Iterator[tuple[int, int, float | None]]:
    """Index pairs (i < j) of duplicate questions and their similarity (None: duplicates).

    A question that duplicates an earlier one is paired with its first occurrence only, and
    takes no further part. The rest are put in groups that every near-duplicate pair shares
    at least one of (:func:`_groups`), and each group is joined on its own. Duplicates come
    in the order found, then near-duplicates sorted.
    """
    first: dict[tuple[str, ...], int] = {}
    asked: dict[int, Asked] = {}
    groups: dict[tuple[tuple[str, ...], frozenset[str]], list[int]] = defaultdict(list)
    for i, question in enumerate(questions):
        a = Asked.of(question)
        if not a.tokens:
            continue
        j = first.setdefault(a.tokens, i)
        if j != i:
            yield j, i, None
            continue
        asked[i] = a
        for group in _groups(a):
            groups[group].append(i)
    # need[total]: the overlap two sets whose sizes add up to ``total`` must reach.
    longest = max((len(a.features) for a in asked.values()), default=0)
    need = [_ceil(_HALF, total) for total in range(2 * longest + 1)]
    near: dict[tuple[int, int], float] = {}
    for ids in groups.values():
        if len(ids) > 1:
            for i, j, score in _join([asked[i] for i in ids], need):
                near[ids[i], ids[j]] = score  # a pair may share several groups
    for (i, j), score in sorted(near.items()):
        yield i, j, score


_LONG = 15  # words from which a question is joined with the long ones instead
_LONG_GROUP = frozenset({" "})  # no word holds a space


def _groups(asked: Asked) -> Iterator[tuple[tuple[str, ...], frozenset[str]]]:
    """Keys of the groups a question joins: two near-duplicates always share one.

    Near-duplicates hold the same numbers. Their words are :data:`SIMILAR` alike, so the
    words they share are at least that share of either's words (Jaccard <= overlap / size):
    a question joins one group for each such subset of its words. For up to four words that
    is the whole word set, so a question set that repeats a few frames with different names
    falls apart into small groups. Long questions would have too many subsets; they join
    the group of every question that could be :data:`SIMILAR` to one of them instead.
    """
    n = len(asked.words)
    if n < _LONG:
        for size in range(n, _ceil(SIMILAR, n) - 1, -1):
            for subset in combinations(sorted(asked.words), size):
                yield asked.numbers, frozenset(subset)
    if n >= _ceil(SIMILAR, _LONG):
        yield asked.numbers, _LONG_GROUP


def _join(questions: Sequence[Asked], need: Sequence[int]) -> Iterator[tuple[int, int, float]]:
    """Near-duplicate pairs (i < j): PPJoin with its prefix, size and positional filters.

    Every set of features is sorted by one global order, rarest feature first. Two sets
    that are :data:`SIMILAR` must share one of the first few features of each (the prefix),
    and only while the features after that shared one can still make up the overlap (the
    positional filter); their sizes must be within :data:`SIMILAR` of each other (the size
    filter). Sets are joined smallest first, each probing the index of the smaller ones
    before it is added. No pair is skipped, so the result is exactly the all-pairs answer.
    """
    # The global order: by number of sets holding the feature, then by first appearance.
    # Each feature becomes its place in that order, so a set sorts as plain integers.
    code: dict[str, int] = {}
    coded = [[code.setdefault(f, len(code)) for f in q.features] for q in questions]
    frequency = Counter(chain.from_iterable(coded))
    stride = len(code)
    sets = [sorted([frequency[f] * stride + f for f in s]) for s in coded]
    as_sets = [frozenset(s) for s in sets]
    sizes = [len(s) for s in sets]
    index: dict[int, list[tuple[int, int, int]]] = defaultdict(list)  # feature -> postings
    skip: dict[int, int] = defaultdict(int)  # feature -> postings too small for later sets
    for x in sorted(range(len(sets)), key=lambda k: (sizes[k], k)):
        s = sets[x]
        n = sizes[x]
        smallest = _ceil(SIMILAR, n)  # the size filter: Jaccard <= small / large
        overlap: dict[int, int] = {}  # candidate -> shared prefix features; -1: ruled out
        for place, f in enumerate(s[: n - smallest + 1]):
            postings = index.get(f)
            if postings is None:
                continue
            start = skip[f]
            while start < len(postings) and postings[start][1] < smallest:
                start += 1  # sets come smallest first: too small now, too small for good
            skip[f] = start
            left = n - place - 1
            for y, size, y_place in postings[start:]:
                have = overlap.get(y, 0)
                # The positional filter: what is left after this shared feature must do.
                if have >= 0 and have + 1 + min(left, size - y_place - 1) >= need[n + size]:
                    overlap[y] = have + 1
                else:
                    overlap[y] = -1
        # Sets joined later are at least this large, so a shorter prefix suffices here.
        for place, f in enumerate(s[: n - _ceil(_MID, n) + 1]):
            index[f].append((x, n, place))
        for y, have in overlap.items():
            if have <= 0:
                continue
            same = len(as_sets[x] & as_sets[y])
            union = n + sizes[y] - same
            if _alike(same, union) and _words_alike(questions[x].words, questions[y].words):
                yield min(x, y), max(x, y), same / union
