"""Cards -> diagnostics. Every check runs; problems are collected, never raised one by one."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path

from .duplicates import SEPARATOR, duplicate_diagnostics, pairs_in
from .errors import Diagnostic
from .parallel import Background
from .records import Card
from .render import is_external, resolve_local

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


def _references(cards: Sequence[Card], root: Path) -> Iterator[Diagnostic]:
    root = root.resolve()
    for card in cards:
        note_dir = (root / card.source.path).parent
        for ref in card.references:
            if not ref.target or is_external(ref.target):
                continue
            kind = "image" if ref.image else "link"
            path, inside = resolve_local(ref.target, note_dir, root)
            if not inside:
                yield Diagnostic(
                    card.source.path,
                    ref.line,
                    "error",
                    f"{kind} path '{ref.target}' leaves the content folder; "
                    "copy the file into the content folder and link it from there",
                    "outside-content",
                )
            elif ref.image and not path.is_file():
                yield Diagnostic(
                    card.source.path,
                    ref.line,
                    "warning",
                    f"image '{ref.target}' not found",
                    "missing-image",
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


#: Every per-card check, run in this order over all cards.
CHECKS: tuple[tuple[str, Check], ...] = (
    ("unanswered", _unanswered),
    ("references", _references),
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
        self._pairs = Background(pairs_in)

    def start(self, cards: Sequence[Card]) -> None:
        """Begin checking ``cards``."""
        self.cards = cards
        self._pairs.send(SEPARATOR.join(c.question for c in cards))

    def result(self) -> tuple[Diagnostic, ...]:
        """Every problem of every check, in no particular order (the caller sorts)."""
        found = [d for _, check in CHECKS for d in check(self.cards, self.root)]
        return (*found, *duplicate_diagnostics(self.cards, self._pairs.result()))

    def __enter__(self) -> Validation:
        return self

    def __exit__(self, *exc: object) -> None:
        self._pairs.__exit__(*exc)
