"""Near-duplicate questions: which pairs of questions ask the same thing.

A question is compared by what it asks (:class:`Asked`): glosses such as （Generator）,
framing such as 请解释, 什么是, "how do you" and "in Python", punctuation and case are
dropped, and what is left is cut into tokens: each CJK character, each word of letters,
each number. Two questions are

- **duplicates** when their tokens are the same, in the same order;
- **near-duplicates** (:func:`similarity`) when they hold the same numbers, their words
  are at least 80 % alike (Jaccard), and so are their features: the tokens with each
  pair of neighbouring tokens. A number or version is a veto: ``ChatGLM-2`` and
  ``ChatGLM-3`` are different questions, however alike the rest is. A word counts as a
  whole: ``create a dictionary`` and ``create a module`` are different questions. Single
  CJK characters see a reordering (浅拷贝和深拷贝 / 深拷贝和浅拷贝); the pairs of
  neighbours tell it from other words made of the same characters. Pairs stop at
  punctuation and at 和, "and", "or", so the parts around them may come in either order.

:func:`similar_pairs` finds every near-duplicate pair exactly, without comparing every two
questions: questions are grouped by the words they must share, and each group is joined
with a prefix filter (as in PPJoin, Xiao et al., 2008) on units, the features that always
occur together, whose keys are made longer while too many questions hold them.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from fractions import Fraction
from itertools import chain, combinations, pairwise
from typing import Protocol

from .errors import Diagnostic
from .records import Source

# Framing words of interview questions that do not change what is asked.
_FILLER = re.compile(
    r"(请|解释一下|解释|介绍一下|介绍|简述|简单说说|说说|谈谈|什么是|是什么|有什么区别|"
    r"有哪些区别|的区别|区别|的概念|概念|在python中|python中的|python中|python里)"
)
_GLOSS = re.compile(r"[（(][A-Za-z0-9 ,.\-/&'+]*[)）]")  # （Generator）: an English gloss
_NOISE = re.compile(r"[\W_]+")
# English framing, dropped word by word. "how", "why", "when" and "not" stay: they change
# what is asked.
_STOP_WORDS = frozenset(
    word
    for group in (
        "a an the",
        "is are was were be been being am do does did done have has had",
        "can could would should will shall may might must",
        "i me my we our us you your it its this that these those there what",
        "s t d ll re ve m",  # the tails of contractions: what's, don't, you'll
        "and or of in on at to for from with by as about into than then",
        "please explain describe define briefly tell give discuss talk",  # asking to explain
    )
    for word in group.split()
)
_ENGLISH_FILLER = re.compile(r"\b(?:in|with|using) python\b")
# CJK radicals, kana, bopomofo, Hangul, and the ideographs with their extensions; not
# the CJK punctuation in U+3000-U+303F.
_CJK = (
    "\u2e80-\u2fdf\u3040-\u318f\u31a0-\u31ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff"
    "\U00020000-\U0003134f"
)
_TOKEN = re.compile(rf"[{_CJK}]|\d+(?:\.\d+)*|[^\W\d_{_CJK}]+")
_WORD = re.compile(rf"[^\W\d_{_CJK}]+")
_NUMBER = re.compile(r"\d+(?:\.\d+)*")
# What ends a part of a question: punctuation (not a hyphen, slash, apostrophe or a dot
# before a digit: gpt-4, c/c++, what's, 3.5), and a word joining two parts that may come
# in either order (进程和线程 / 线程和进程), which is a part of its own.
_BREAK = re.compile(r"(?:[^\w\s\-/+#'’.]|\.(?!\d))+|([和与及或跟]|\b(?:and|or|vs|versus)\b)")

#: Near-duplicates are at least this alike (Jaccard), both in all features and in words.
SIMILAR = Fraction(4, 5)
_HALF = SIMILAR / (1 + SIMILAR)  # Jaccard >= t  <=>  overlap >= t / (1 + t) * (|x| + |y|)
_MID = 2 * _HALF  # ... >= t / (1 + t) * 2 |x| when |y| >= |x|


def normalise_question(text: str) -> str:
    """The question reduced to what it asks: glosses, filler, punctuation and case removed."""
    text = unicodedata.normalize("NFKC", text).lower()
    text = _GLOSS.sub("", text)
    text = _FILLER.sub("", text)
    return _NOISE.sub("", text)


def bigrams(text: str) -> frozenset[str]:
    return frozenset(text[i : i + 2] for i in range(len(text) - 1)) or frozenset({text})


def question_tokens(text: str) -> tuple[str, ...]:
    """What ``text`` asks, in order: CJK characters, lower-case words and numbers.

    Glosses such as （Generator）, Chinese and English framing, punctuation and case are
    dropped. A number keeps its dots (``3.5``, ``3.11``) and stands apart from the word it
    is written into (``chatglm2`` is ``chatglm``, ``2``).
    """
    return tuple(chain.from_iterable(_parts(_normalised(text))))


def _normalised(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).lower()
    text = _GLOSS.sub("", text)
    return _ENGLISH_FILLER.sub(" ", _FILLER.sub("", text))


def _parts(text: str) -> list[list[str]]:
    """The tokens of normalised ``text`` in the parts that :data:`_BREAK` separates."""
    return [
        [t for t in _TOKEN.findall(part) if t not in _STOP_WORDS]
        for part in _BREAK.split(text)
        if part
    ]


@dataclass(frozen=True)
class Asked:
    """What one question asks, ready to be compared (:func:`similarity`)."""

    tokens: tuple[str, ...]
    """CJK characters, words and numbers, in order (:func:`question_tokens`)."""
    features: frozenset[str]
    """The tokens, and each pair of tokens next to each other within a part (no punctuation
    or connective between them): what the similarity is measured on."""
    words: frozenset[str]
    """The tokens that are neither CJK characters nor numbers."""
    numbers: tuple[str, ...]
    """The numbers and versions, sorted."""

    @classmethod
    def of(cls, question: str) -> Asked:
        text = _normalised(question)
        parts = _parts(text)
        tokens = tuple(chain.from_iterable(parts))
        pairs = [map(" ".join, pairwise(p)) for p in parts]  # no token holds a space
        return cls(
            tokens,
            frozenset(tokens).union(*pairs),
            frozenset(_WORD.findall(text)) - _STOP_WORDS,
            tuple(sorted(_NUMBER.findall(text))),
        )


def _alike(same: int, union: int) -> bool:
    """Whether ``same`` of ``union`` reaches :data:`SIMILAR`, in exact arithmetic."""
    return same * SIMILAR.denominator >= union * SIMILAR.numerator


def _words_alike(a: frozenset[str], b: frozenset[str]) -> bool:
    same = len(a & b)
    return _alike(same, len(a) + len(b) - same)


def similarity(a: Asked, b: Asked) -> float:
    """How alike two questions are: the Jaccard of their features, or 0 on a veto.

    The vetoes: different numbers, or words less than :data:`SIMILAR` alike. Near-duplicates
    are the pairs at :data:`SIMILAR` or above. This is the definition; :func:`similar_pairs`
    finds the same pairs without comparing every two questions.
    """
    if a.numbers != b.numbers or not _words_alike(a.words, b.words):
        return 0.0
    same = len(a.features & b.features)
    union = len(a.features) + len(b.features) - same
    return same / union if union else 1.0


def _ceil(fraction: Fraction, n: int) -> int:
    return -(-fraction.numerator * n // fraction.denominator)


def similar_pairs(
    questions: Sequence[str], known: dict[str, Asked] | None = None
) -> Iterator[tuple[int, int, float | None]]:
    """Index pairs (i < j) of duplicate questions and their similarity (None: duplicates).

    ``known``: questions already read (:meth:`Asked.of`), by text; the others are added.

    A question that duplicates an earlier one is paired with its first occurrence only, and
    takes no further part. The rest are put in groups that every near-duplicate pair shares
    at least one of (:func:`_groups`), and each group is joined on its own. Duplicates come
    in the order found, then near-duplicates sorted.
    """
    first: dict[tuple[str, ...], int] = {}
    asked: dict[int, Asked] = {}
    groups: dict[tuple[tuple[str, ...], frozenset[str]], list[int]] = defaultdict(list)
    known = {} if known is None else known  # a question asked again word for word is read once
    for i, question in enumerate(questions):
        a = known.get(question)
        if a is None:
            a = known[question] = Asked.of(question)
        if not a.tokens:
            continue
        j = first.setdefault(a.tokens, i)
        if j != i:
            yield j, i, None
            continue
        asked[i] = a
        for group in _groups(a):
            groups[group].append(i)
    near: dict[tuple[int, int], float] = {}
    for ids in groups.values():
        if len(ids) > 1:
            for i, j, score in _join([asked[i] for i in ids]):
                near[ids[i], ids[j]] = score  # a pair may share several groups
    for (i, j), score in sorted(near.items()):
        yield i, j, score


_LONG = 15  # words from which a question is joined with the long ones instead
_LONG_GROUP = frozenset({" "})  # no word holds a space


def all_pairs(questions: Sequence[str]) -> dict[tuple[int, int], float]:
    """The near-duplicates by comparing every two questions: the definition itself.

    Quadratic, so never used by a build; :func:`similar_pairs` must find exactly these pairs
    (``tests/test_duplicates.py``) and is measured beside it (``bench/dupes.py``). An exact
    duplicate takes part through its first place only, as in :func:`similar_pairs`.
    """
    asked = [Asked.of(q) for q in questions]
    first: dict[tuple[str, ...], int] = {}
    kept = [i for i, a in enumerate(asked) if a.tokens and first.setdefault(a.tokens, i) == i]
    found = {}
    for n, j in enumerate(kept):
        for i in kept[:n]:
            score = similarity(asked[i], asked[j])
            if score >= SIMILAR:
                found[i, j] = score
    return found


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


# A key of a question is some of its units, first to last in the global order. A key held by
# more questions than this is made longer (:func:`_keys`).
_BUSY = 8
_DEEPEST = 4  # units in a key at most: keys this long are never made longer


def _units(questions: Sequence[Asked]) -> tuple[list[list[int]], list[int]]:
    """Each question's features merged into units: features held by exactly the same questions.

    A term such as 卷积神经网络 is eleven features (six characters, five pairs) that
    often occur together; the ones held by the same questions are one unit, which weighs
    their number. Units come rarest first, so each question's list is sorted by the
    global order. Returns the units of each question and each unit's weight: two questions
    share as many features as the weights of the units they share add up to.
    """
    holders: dict[str, list[int]] = defaultdict(list)
    for k, q in enumerate(questions):
        for f in q.features:
            holders[f].append(k)
    unit: dict[tuple[int, ...], int] = {}
    weight: list[int] = []
    for ids in holders.values():
        u = unit.setdefault(tuple(ids), len(unit))
        if u == len(weight):
            weight.append(0)
        weight[u] += 1
    order = sorted(unit.items(), key=lambda item: (len(item[0]), item[1]))  # rarest first
    units: list[list[int]] = [[] for _ in questions]
    for place, (held_by, _) in enumerate(order):
        for k in held_by:
            units[k].append(place)
    return units, [weight[u] for _, u in order]


def _keys(
    units: Sequence[Sequence[int]], weight: Sequence[int], sizes: Sequence[int]
) -> list[list[tuple[int, int]]]:
    """The keys of each question with their bounds: two near-duplicates share a key.

    Two near-duplicates x, y share features of weight ``need`` at least (:data:`SIMILAR` of
    the larger size, see :func:`_join`). Take the units they share in the global order:
    s1, s2, ... A key is such a beginning (s1, ..., sk). A question holds every beginning
    of its units that could start what it shares with a near-duplicate: the units of the
    beginning but the last, plus the last and all its units after it, weigh ``need`` at
    least. That weight is the key's bound: what the shared part could add up to.

    A key held by more than :data:`_BUSY` questions (counted once for the whole set) is
    busy: instead of it, each question holding it holds it made one unit longer, so that it
    stops bringing together questions that share one common term. A busy key is kept too
    when its own units weigh ``need``, since they may be all that two questions share (its
    bound is then that weight). Keys of :data:`_DEEPEST` units are never busy. Both questions
    of a near-duplicate pair take the same beginnings of what they share and find the same
    keys busy, so they hold the same first beginning that is not busy, or the whole shared
    part as a busy key.
    """
    stride = len(weight) + 1  # a key is its units in base ``stride``, each unit plus one
    least = [_ceil(SIMILAR, n) for n in sizes]  # the smallest ``need`` of each question
    # Open keys: (key, weight of its units, place of its last unit in the question's units).
    open_: list[list[tuple[int, int, int]]] = [[(0, 0, -1)] for _ in units]
    keys: list[list[tuple[int, int]]] = [[] for _ in units]
    suffixes = []
    for s in units:
        suffix = [0] * (len(s) + 1)
        for i in range(len(s) - 1, -1, -1):
            suffix[i] = suffix[i + 1] + weight[s[i]]
        suffixes.append(suffix)
    active = list(range(len(units)))  # the questions with open keys
    for depth in range(1, _DEEPEST + 1):
        longer: list[list[tuple[int, int, int, int]]] = []  # (key, weight, place, bound)
        for x in active:
            s = units[x]
            suffix = suffixes[x]
            need = least[x]
            grown = []
            for key, have, last in open_[x]:
                base = key * stride
                for i in range(last + 1, len(s)):
                    bound = have + suffix[i]
                    if bound < need:
                        break
                    grown.append((base + s[i] + 1, have + weight[s[i]], i, bound))
            longer.append(grown)
        busy: set[int] = set()
        if depth < _DEEPEST:
            held = Counter([k[0] for grown in longer for k in grown])
            busy = {k for k, n in held.items() if n > _BUSY}
        still = []
        for x, grown in zip(active, longer, strict=True):
            opened = open_[x] = []
            for key, have, place, bound in grown:
                if key in busy:
                    opened.append((key, have, place))
                    if have >= least[x]:
                        keys[x].append((key, have))
                else:
                    keys[x].append((key, bound))
            if opened:
                still.append(x)
        active = still
        if not active:
            break
    return keys


def _join(questions: Sequence[Asked]) -> Iterator[tuple[int, int, float]]:
    """Near-duplicate pairs (i < j): a prefix filter on units, with keys of several units.

    Two questions x, y with ``|x| >= |y|`` are :data:`SIMILAR` only if they share at least
    ``SIMILAR * |x|`` features, and at least ``2 SIMILAR / (1 + SIMILAR) * |y|``. The
    questions are joined smallest first: each looks up its keys (:func:`_keys`) whose bound
    reaches the first, then files the ones whose bound reaches the second for the larger
    questions after it. Every question that shares a key with it and is not too small (the
    size filter) is compared on its features. No pair is skipped, so the result is exactly
    the all-pairs answer.
    """
    units, weight = _units(questions)
    sizes = [len(q.features) for q in questions]
    keys = _keys(units, weight, sizes)
    index: dict[int, list[int]] = defaultdict(list)
    num, den = SIMILAR.numerator, SIMILAR.denominator
    for x in sorted(range(len(questions)), key=lambda k: (sizes[k], k)):
        n = sizes[x]
        smallest = _ceil(SIMILAR, n)
        filed = _ceil(_MID, n)
        met: set[int] = set()
        for key, bound in keys[x]:
            postings = index.get(key)
            if postings is not None:
                met.update(postings)
            if bound >= filed:
                index[key].append(x)
        features = questions[x].features
        words = questions[x].words
        met.discard(x)
        for y in met:
            size = sizes[y]
            if size < smallest:
                continue
            same = len(features & questions[y].features)
            union = n + size - same
            if same * den >= union * num and _words_alike(words, questions[y].words):
                yield min(x, y), max(x, y), same / union


SEPARATOR = "\0"  # never inside a question: markdown-it turns NUL into U+FFFD


def pairs_in(joined: str) -> list[tuple[int, int, float | None]]:
    return list(similar_pairs(joined.split(SEPARATOR)))


#: Candidates :meth:`KeptPairs.__call__` may compare for the changed questions before it
#: joins every question again instead (:func:`similar_pairs`): a set of templated questions
#: can make every question a candidate of every other.
_PROBE_BUDGET = 2_000_000


class KeptPairs:
    """:func:`pairs_in` for a process that serves one build after another (a watch's search):
    what it found is kept, and a call compares only the questions that changed.

    The pairs are exactly those of :func:`similar_pairs`, in the same order
    (``tests/test_duplicates.py`` checks it edit after edit). Near-duplicates are kept
    between the questions that take part (each first occurrence of its tokens), by text:
    a pair of questions whose texts are unchanged is as alike as before. A question that
    takes part for the first time is compared with the candidates an index of features
    gives: two near-duplicates x, y share at least ``ceil(SIMILAR |x|)`` features (see
    :func:`_join`), so any ``|x| - ceil(SIMILAR |x|) + 1`` features of x include one of
    y's; x looks up its rarest ones. The first call, and a call whose candidates would
    exceed :data:`_PROBE_BUDGET`, joins every question (:func:`similar_pairs`) instead.
    At 100k questions one edited file of 500 costs about 0.3 s instead of 4.4 s; the index
    holds about a hundred MB in the search process.
    """

    def __init__(self) -> None:
        self._keys: dict[str, str] = {}
        """Every question of the last call -> its tokens joined by spaces (no token holds a
        space; "": none): two questions with the same tokens are duplicates."""
        self._taking: set[str] = set()
        """The questions that took part in the last call (first occurrences)."""
        self._holders: dict[str, set[str]] = defaultdict(set)
        """Feature -> the taking-part questions that hold it."""
        self._near: dict[str, dict[str, float]] = {}
        """Taking-part question -> its near-duplicates and their similarity, both ways."""
        self.changed = 0
        """Questions that took part or stopped taking part in the last call, anew (all of
        them when it joined every question)."""
        self._asked: dict[str, Asked] = {}
        """Questions read (:meth:`Asked.of` is a third of a join), of the last call's, when
        a call needed them: not part of :meth:`state`."""

    def state(self) -> dict[str, object]:
        """What a later process goes on from (:class:`~pipeline.validate.StoredPairs`): all
        but the questions read, which are read again as a call needs them. Unpickling all
        10,000 of them took 0.11 s of a re-sync's search process, in the compile's time;
        the 2,400 that 100 reworded questions needed take 0.03 s to read again."""
        return {name: value for name, value in vars(self).items() if name != "_asked"}

    def restore(self, state: dict[str, object]) -> bool:
        """Go on from ``state`` (:meth:`state`); False, and nothing taken, when it is not
        one."""
        if state.keys() != self.state().keys():
            return False
        self.__dict__.update(state)
        return True

    def _read(self, question: str) -> Asked:
        found = self._asked.get(question)
        if found is None:
            found = self._asked[question] = Asked.of(question)
        return found

    def __call__(self, joined: str) -> list[tuple[int, int, float | None]]:
        questions = joined.split(SEPARATOR)
        keys: dict[str, str] = {}
        first: dict[str, int] = {}
        found: list[tuple[int, int, float | None]] = []
        place: dict[str, int] = {}  # taking-part question -> its index
        for i, question in enumerate(questions):
            key = keys.get(question)
            if key is None:
                key = self._keys.get(question)
                if key is None:
                    key = " ".join(self._read(question).tokens)
                keys[question] = key
            if not key:
                continue
            j = first.setdefault(key, i)
            if j != i:
                found.append((j, i, None))  # as similar_pairs: in the order found
                continue
            place[question] = i
        gone = self._taking - place.keys()
        new = [q for q in place if q not in self._taking]
        self.changed = len(gone) + len(new)
        if not self._taking or not self._probe_fits(new):
            self._rebuild(questions, place)
            self.changed = len(place)
        else:
            for question in gone:
                self._remove(question)
            for question in new:
                self._add(question)
        self._keys, self._taking = keys, set(place)
        self._asked = {q: a for q, a in self._asked.items() if q in keys}
        near = sorted(
            (place[x], place[y], score)
            for x, others in self._near.items()
            for y, score in others.items()
            if place[x] < place[y]
        )
        return [*found, *near]

    def _prefix(self, a: Asked) -> list[str]:
        """The features of ``a`` that any near-duplicate shares one of: the rarest ones."""
        n = len(a.features)
        return sorted(a.features, key=lambda f: (len(self._holders.get(f, ())), f))[
            : n - _ceil(SIMILAR, n) + 1
        ]

    def _probe_fits(self, new: list[str]) -> bool:
        # An estimate (a question removed later still counts): what matters is its size.
        total = 0
        for question in new:
            for feature in self._prefix(self._read(question)):
                total += len(self._holders.get(feature, ()))
            if total > _PROBE_BUDGET:
                return False
        return True

    def _rebuild(self, questions: list[str], place: dict[str, int]) -> None:
        self._holders.clear()
        self._near = {}
        by_place = {i: q for q, i in place.items()}
        for i, j, score in similar_pairs(questions, self._asked):
            if score is not None:
                x, y = by_place[i], by_place[j]
                self._near.setdefault(x, {})[y] = score
                self._near.setdefault(y, {})[x] = score
        # The index after the join, not beside it: the two at once took 100 MB more at 100k.
        for question in place:
            for feature in self._asked[question].features:
                self._holders[feature].add(question)

    def _remove(self, question: str) -> None:
        for feature in self._read(question).features:
            holders = self._holders[feature]
            holders.discard(question)
            if not holders:
                del self._holders[feature]
        for other in self._near.pop(question, {}):
            del self._near[other][question]
            if not self._near[other]:
                del self._near[other]

    def _add(self, question: str) -> None:
        a = self._read(question)
        n = len(a.features)
        num, den = SIMILAR.numerator, SIMILAR.denominator
        candidates: set[str] = set()
        for feature in self._prefix(a):
            candidates.update(self._holders.get(feature, ()))
        for other in candidates:
            b = self._read(other)
            if b.numbers != a.numbers:
                continue
            same = len(a.features & b.features)
            union = n + len(b.features) - same
            if same * den >= union * num and _words_alike(a.words, b.words):
                self._near.setdefault(question, {})[other] = same / union
                self._near.setdefault(other, {})[question] = same / union
        for feature in a.features:
            self._holders[feature].add(question)


class Asking(Protocol):
    """What a duplicate warning needs of a question: a card, or a sync memo's note."""

    @property
    def question(self) -> str: ...
    @property
    def source(self) -> Source: ...


def duplicate_diagnostics(
    cards: Sequence[Asking], pairs: Iterable[tuple[int, int, float | None]]
) -> Iterator[Diagnostic]:
    for i, j, score in pairs:
        kind = "duplicate" if score is None else f"near-duplicate ({score:.0%} similar)"
        for this, other in ((cards[i], cards[j]), (cards[j], cards[i])):
            yield Diagnostic(
                this.source.path,
                this.source.line,
                "warning",
                f"{kind} question: {this.question[:40]}",
                "duplicate",
                (other.source.path, other.source.line),
            )
