"""Cards -> diagnostics. Every check runs; problems are collected, never raised one by one."""

from __future__ import annotations

import hashlib
import os
import pickle
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path

from . import pdflimits
from .cache import code_fingerprint, keep_later, read_kept
from .duplicates import SEPARATOR, Asking, KeptPairs, duplicate_diagnostics, pairs_in
from .errors import Diagnostic, Severity
from .parallel import Background
from .records import Card, TargetKind, file_runs, same_cards

Check = Callable[[Sequence[Card], Path], Iterable[Diagnostic]]
#: A note file's cards as compiled and what the per-card checks found in them, by path.
CheckedFiles = dict[str, tuple[tuple[Card, ...], tuple[Diagnostic, ...]]]
#: The near-duplicate search's process: questions joined by SEPARATOR -> similar pairs.
DuplicateSearch = Background[list[tuple[int, int, float | None]]]


def duplicate_search() -> DuplicateSearch:
    """A search process that serves one build after another (:class:`Background`, ``many``),
    comparing only the questions that changed (:class:`KeptPairs`): for a long-running
    caller, made before its first build, while it is small."""
    return Background(KeptPairs(), many=True)


Pairs = list[tuple[int, int, float | None]]


def _searched(joined: str) -> tuple[Pairs, None]:
    """:func:`pairs_in`, with no state kept (caching off)."""
    return pairs_in(joined), None


#: The search's state in the cache folder, kept from one build to the next.
SEARCH_STATE = "duplicates.search"


class StoredPairs:
    """The search of one build (or sync), starting from the state (:class:`KeptPairs`) the
    last one kept in the cache folder: it compares only the questions that changed since
    (10,000 questions, 100 of them changed: 0.035 s to read the state, 0.03 s to search,
    the questions compared analysed again; a search from nothing takes 0.3 s).

    Called in the search's process, it gives the pairs and, when the questions changed, a
    temporary file holding the new state, for the build to keep with its cache
    (:meth:`~pipeline.cache.ParseCache.stage`): a failed build keeps nothing. A state of
    other code, or damaged, is not read; ``write`` False (``cardsmith check``) keeps none.
    """

    def __init__(self, folder: Path, write: bool) -> None:
        self.folder = folder
        self.write = write
        self.owner = os.getpid()  # the build's: its temporary files are named for it
        self.key = hashlib.sha256(f"{SEARCH_STATE}\0{code_fingerprint()}".encode()).hexdigest()
        self.kept = KeptPairs()
        self.seen = b""  # the hash of the questions the state holds

    def prepare(self) -> None:
        """Read the state, while the notes are compiled."""
        payload = read_kept(self.folder / SEARCH_STATE, self.key)
        if payload is None:
            return
        try:
            seen, state = pickle.loads(payload)
        except Exception:  # written by this code (its key says so): only a bug gets here
            return
        if isinstance(seen, bytes) and isinstance(state, dict) and self.kept.restore(state):
            self.seen = seen

    def __call__(self, joined: str) -> tuple[Pairs, Path | None]:
        pairs = self.kept(joined)
        seen = hashlib.sha256(joined.encode()).digest()
        if not self.write or seen == self.seen or self._few_behind():
            return pairs, None
        payload = pickle.dumps((seen, self.kept.state()), pickle.HIGHEST_PROTOCOL)
        return pairs, keep_later(self.folder, self.key, payload, self.owner)

    def _few_behind(self) -> bool:
        """Whether the state read is few questions behind these (under :data:`FEW_BEHIND`):
        it is then kept as it is, and the next search compares those few again (a few
        milliseconds), where writing it anew took 0.05 s of a re-sync at 10,000 questions
        (the search waits for it). Any state read is exact for the questions it holds."""
        return bool(self.seen) and self.kept.changed < FEW_BEHIND * len(self.kept._taking)


#: A kept state fewer than this share of its questions behind is not written again.
FEW_BEHIND = 0.05


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
    ("missing", False): (
        "warning",
        "missing-link",
        "link target '{written}' not found (renamed or moved?); the card keeps the link as written",
    ),
    ("unreadable", True): ("error", "unreadable-image", "cannot read image '{written}': {reason}"),
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
                    message.format(written=target.written, reason=target.reason),
                    code,
                )


#: Codes of the problems only the PDF has (a remote image it cannot fetch, what it prints
#: shortened): left out of a build or check that makes no PDF.
PDF_ONLY = frozenset({"remote-image", "pdf-limit"})


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


def _printable(cards: Sequence[Card], _root: Path) -> Iterator[Diagnostic]:
    """What the PDF prints shortened: a very long question or answer, a very long code
    block."""
    for card in cards:
        if len(card.question) > pdflimits.MAX_QUESTION_CHARS:
            message = pdflimits.question_message(len(card.question))
            yield Diagnostic(card.source.path, card.source.line, "warning", message, "pdf-limit")
        if len(card.answer) > pdflimits.MAX_ANSWER_CHARS:
            message = pdflimits.answer_message(len(card.answer))
            yield Diagnostic(card.source.path, card.source.line, "warning", message, "pdf-limit")
        for block in card.code_blocks:
            lines = block.code.count("\n")
            if lines > pdflimits.MAX_CODE_LINES:
                message = pdflimits.code_lines_message(lines)
                yield Diagnostic(card.source.path, block.line, "warning", message, "pdf-limit")


def _code(cards: Sequence[Card], _root: Path) -> Iterator[Diagnostic]:
    for card in cards:
        for block in card.code_blocks:
            if block.detected:
                what = f"detected as {block.language}" if block.language else "shown as plain text"
                yield Diagnostic(
                    card.source.path,
                    block.line,
                    "warning",
                    f"code fence has no language ({what}); write ```python or similar "
                    "(```text for a program's output)",
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


#: Every per-card check, run in this order over all cards.
CHECKS: tuple[tuple[str, Check], ...] = (
    ("unanswered", _unanswered),
    ("targets", _targets),
    ("remote images", _remote_images),
    ("code", _code),
    ("printable", _printable),
)


class Validation:
    """Every check over all cards; the duplicate search runs in another process meanwhile.

    The search compares questions across all files (seconds at 100k questions), so it runs
    beside the stages that follow. Its process is forked when this object is made, before
    the cards exist, and gets the questions as one string: a process forked later, or one
    touching the cards, would end up with its own copy of their memory.
    """

    def __init__(
        self,
        root: Path,
        search: DuplicateSearch | None = None,
        checked: CheckedFiles | None = None,
        stored: StoredPairs | None = None,
    ) -> None:
        self.root = root
        self.cards: Sequence[Card] = ()
        self.asked: Sequence[Asking] = ()
        self._checked = checked
        self._search = search
        self._own: Background[tuple[Pairs, Path | None]] | None = None
        if search is None:
            self._own = Background(stored if stored is not None else _searched)
        self.state: Path | None = None
        """The search's new state, in a temporary file (:class:`StoredPairs`), once
        :meth:`duplicates` has its pairs."""

    def start(self, cards: Sequence[Card], asked: Sequence[Asking] | None = None) -> None:
        """Begin checking ``cards``; the duplicate search compares the questions of
        ``asked`` (default: ``cards``), those of note files carried over without their
        cards included (a sync's memo)."""
        self.cards = cards
        self.asked = cards if asked is None else asked
        joined = SEPARATOR.join(c.question for c in self.asked)
        if self._own is not None:
            self._own.send(joined)
        else:
            assert self._search is not None
            self._search.send(joined)

    def per_card(self) -> tuple[Diagnostic, ...]:
        """The problems of every per-card check: cheap, so they run before any export.

        With ``checked`` (a watch's), a file whose cards are the very ones checked last
        time is not checked again: every check looks at one card, or one file's cards, and
        nothing else (0.13 s of a rebuild at 100k questions). The problems then come a file
        at a time; the build sorts them all.
        """
        if self._checked is None:
            return tuple(d for _, check in CHECKS for d in check(self.cards, self.root))
        found: list[Diagnostic] = []
        now: CheckedFiles = {}
        for path, start, end in file_runs(self.cards):
            cards = tuple(self.cards[start:end])
            held = self._checked.get(path)
            if held is None or not same_cards(held[0], cards):
                held = (cards, tuple(d for _, check in CHECKS for d in check(cards, self.root)))
            now[path] = held
            found.extend(held[1])
        self._checked.clear()
        self._checked.update(now)
        return tuple(found)

    def duplicates(self) -> tuple[Diagnostic, ...]:
        """The duplicate questions, waiting for the search if need be (warnings only)."""
        if self._own is not None:
            pairs, self.state = self._own.result()
        else:
            assert self._search is not None
            pairs = self._search.result()
        return tuple(duplicate_diagnostics(self.asked, pairs))

    def __enter__(self) -> Validation:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._own is not None:  # a long-running caller's search serves its next build too
            self._own.__exit__(*exc)
