"""Cards -> diagnostics. Every check runs; problems are collected, never raised one by one."""

from __future__ import annotations

import math
import re
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path

from .errors import Diagnostic, Severity
from .parallel import Background
from .records import Card, TargetKind

Check = Callable[[Sequence[Card], Path], Iterable[Diagnostic]]


def _unanswered(cards: Sequence[Card], _root: Path) -> Iterator[Diagnostic]:
    for card in cards:
        if not card.answered:
            yield Diagnostic(
                card.source.path,
                card.source.line,
                "warning",
                f"question has no answer (no card is made): {card.question[:40]}",
                "unanswered",
            )


_LEAVES = "path '{written}' leaves the content folder; copy the file into the content folder \
and link it from there"

#: What a target's verdict means for the person, by (kind, is an image): severity, check
#: code and message. Kinds not listed are fine.
_TARGET_PROBLEMS: dict[tuple[TargetKind, bool], tuple[Severity, str, str]] = {
    ("outside", True): ("error", "outside-content", "image " + _LEAVES),
    ("outside", False): ("error", "outside-content", "link " + _LEAVES),
    ("missing", True): ("warning", "missing-image", "image '{written}' not found"),
}


def _targets(cards: Sequence[Card], _root: Path) -> Iterator[Diagnostic]:
    for card in cards:
        for target in card.targets:
            problem = _TARGET_PROBLEMS.get((target.kind, target.image))
            if problem:
                severity, code, message = problem
                yield Diagnostic(
                    card.source.path,
                    target.line,
                    severity,
                    message.format(written=target.written),
                    code,
                )


def _remote_images(cards: Sequence[Card], _root: Path) -> Iterator[Diagnostic]:
    """Once per file: its images on the web, which the PDF cannot print offline."""
    remote: dict[str, list[tuple[int, str]]] = {}
    for card in cards:
        for target in card.targets:
            if target.image and target.kind == "external":
                remote.setdefault(card.source.path, []).append((target.line, target.written))
    for path, found in remote.items():
        line, first = found[0]
        yield Diagnostic(
            path,
            line,
            "warning",
            f"{len(found)} remote image(s) (first: {first[:60]}) cannot be printed offline: "
            "the PDF shows a placeholder; save them into the content folder to print them",
            "remote-image",
        )


def _code(cards: Sequence[Card], _root: Path) -> Iterator[Diagnostic]:
    for card in cards:
        for block in card.code_blocks:
            if block.detected:
                what = f"detected as {block.language}" if block.language else "shown as plain text"
                yield Diagnostic(
                    card.source.path,
                    block.line,
                    "warning",
                    f"code fence has no language ({what}); write ```python or similar",
                    "fence-language",
                )
            if block.error:
                line, message = block.error
                yield Diagnostic(
                    card.source.path,
                    line,
                    "warning",
                    f"{block.language} code does not parse: {message}",
                    "code-syntax",
                )


# --- duplicates ---------------------------------------------------------------------------

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


_SEPARATOR = "\0"  # never inside a question: markdown-it turns NUL into U+FFFD


def _pairs_in(joined: str) -> list[tuple[int, int, float | None]]:
    return list(similar_pairs(joined.split(_SEPARATOR)))


def _duplicates(
    cards: Sequence[Card], pairs: Iterable[tuple[int, int, float | None]]
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


#: Every per-card check, run in this order over all cards.
CHECKS: tuple[tuple[str, Check], ...] = (
    ("unanswered", _unanswered),
    ("targets", _targets),
    ("remote images", _remote_images),
    ("code", _code),
)


class Validation:
    """Every check over all cards; the duplicate search runs in another process meanwhile.

    The search compares questions across all files (seconds at 100k questions), so it runs
    beside the stages that follow. Its process is forked when this object is made, before
    the cards exist, and gets the questions as one string: a process forked later, or one
    touching the cards, would end up with its own copy of their memory.
    """

    def __init__(self, root: Path) -> None:
        self.root = root
        self.cards: Sequence[Card] = ()
        self._pairs = Background(_pairs_in)

    def start(self, cards: Sequence[Card]) -> None:
        """Begin checking ``cards``."""
        self.cards = cards
        self._pairs.send(_SEPARATOR.join(c.question for c in cards))

    def per_card(self) -> tuple[Diagnostic, ...]:
        """The problems of every per-card check: cheap, so they run before any export."""
        return tuple(d for _, check in CHECKS for d in check(self.cards, self.root))

    def duplicates(self) -> tuple[Diagnostic, ...]:
        """The duplicate questions, waiting for the search if need be (warnings only)."""
        return tuple(_duplicates(self.cards, self._pairs.result()))

    def __enter__(self) -> Validation:
        return self

    def __exit__(self, *exc: object) -> None:
        self._pairs.__exit__(*exc)
