"""The duplicate search as it was before issue 12 (commit a0fd5ff), kept for the benchmark.

A frozen copy of ``similar_pairs`` and its helpers from ``pipeline/duplicates.py``: PPJoin
over character sets with a bigram check, and a cap that skips characters already in more
than 400 questions. ``bench/dupes.py`` times it beside the current search.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Iterator, Sequence

# Framing words of interview questions that do not change what is asked.
_FILLER = re.compile(
    r"(请|解释一下|解释|介绍一下|介绍|简述|简单说说|说说|谈谈|什么是|是什么|有什么区别|"
    r"有哪些区别|的区别|区别|的概念|概念|在python中|python中的|python中|python里)"
)
_GLOSS = re.compile(r"[（(][A-Za-z0-9 ,.\-/&'+]*[)）]")  # （Generator）: an English gloss
_NOISE = re.compile(r"[\W_]+")
_SIMILAR = 0.85  # Jaccard of the character sets
_ORDER = 0.4  # Jaccard of the bigrams: same characters in roughly the same words
_MAX_POSTINGS = 400


def normalise_question(text: str) -> str:
    """The question reduced to what it asks: glosses, filler, punctuation and case removed."""
    text = unicodedata.normalize("NFKC", text).lower()
    text = _GLOSS.sub("", text)
    text = _FILLER.sub("", text)
    return _NOISE.sub("", text)


def bigrams(text: str) -> frozenset[str]:
    return frozenset(text[i : i + 2] for i in range(len(text) - 1)) or frozenset({text})


def _jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    return len(a & b) / len(a | b) if a or b else 1.0


def _ceil(x: float) -> int:
    return math.ceil(x - 1e-9)  # 0.85 * 20 is 17.000000000000004 in floating point


def similar_pairs(questions: Sequence[str]) -> Iterator[tuple[int, int, float | None]]:
    """Index pairs (i < j) of near-identical questions and their similarity (None: identical).

    Exact matches after normalising first. Then questions whose character sets are nearly
    the same (a reordering such as 浅拷贝和深拷贝 / 深拷贝和浅拷贝, or a small edit), with
    enough bigrams in common that they are not mere anagrams. Candidates come from PPJoin,
    the set-similarity join (Xiao et al., 2008): sets are joined smallest first, each
    character ranked rarest first; a pair can only reach the threshold if it shares one of
    each set's few rarest characters, and only while the characters left after that shared
    one could still make up the overlap. No pair that reaches the threshold is missed, and
    there is no all-pairs comparison.
    """
    keys = [normalise_question(q) for q in questions]
    first: dict[str, int] = {}
    for i, key in enumerate(keys):
        if key and first.setdefault(key, i) != i:
            yield first[key], i, None
    chars = [frozenset(k) for k in keys]
    sizes = [len(c) for c in chars]
    frequency: Counter[str] = Counter(ch for s in chars for ch in s)
    joined = [i for i, s in enumerate(chars) if s and first.get(keys[i]) == i]
    joined.sort(key=lambda i: (sizes[i], i))  # exact duplicates were reported above
    # Overlap a pair of sizes adding up to ``total`` needs to reach the threshold.
    need = [
        _ceil(_SIMILAR / (1 + _SIMILAR) * total) for total in range(2 * max(sizes, default=0) + 1)
    ]
    index: dict[str, list[tuple[int, int, int]]] = defaultdict(list)  # char -> (set, size, rank)
    skip: Counter[str] = Counter()  # char -> postings too small for every set still to come
    for x in joined:
        s = chars[x]
        n = sizes[x]
        ranked = sorted(s, key=lambda ch: (frequency[ch], ch))
        overlap: dict[int, int] = {}  # candidate -> shared prefix characters; -1: ruled out
        smallest = _SIMILAR * n  # the size filter: Jaccard <= small / large
        for rank, ch in enumerate(ranked[: n - _ceil(_SIMILAR * n) + 1]):
            postings = index[ch]
            start = skip[ch]
            while start < len(postings) and postings[start][1] < smallest:
                start += 1  # sets come smallest first: too small now, too small for good
            skip[ch] = start
            # A character already in many questions would make this quadratic on templated
            # notes; a pair is then found through its other, rarer prefix characters.
            if len(postings) - start > _MAX_POSTINGS:
                continue
            left = n - rank - 1
            for y, size, y_rank in postings[start:]:
                have = overlap.get(y, 0)
                # The positional filter: what is left after this shared character must do.
                if have >= 0 and have + 1 + min(left, size - y_rank - 1) >= need[n + size]:
                    overlap[y] = have + 1
                else:
                    overlap[y] = -1
        # Sets joined later are at least this large, so a shorter prefix suffices here.
        for rank, ch in enumerate(ranked[: n - _ceil(2 * _SIMILAR / (1 + _SIMILAR) * n) + 1]):
            index[ch].append((x, n, rank))
        for y, have in sorted(overlap.items()):
            if have <= 0:
                continue
            same_chars = _jaccard(s, chars[y])
            if same_chars < _SIMILAR:
                continue
            same_order = _jaccard(bigrams(keys[x]), bigrams(keys[y]))
            if same_order >= _ORDER:
                yield min(x, y), max(x, y), (same_chars + same_order) / 2
