"""Where an earlier compile's units are found again in a note file's lines.

A unit (:class:`~pipeline.records.Unit`) is a run of lines that compiles on its own; the
parser (``pipeline/parse.py``) cuts a file into units as it compiles it, and the next
compile of the file takes those it finds again here, moved or not, with their cards and
diagnostics moved to their new lines. Nothing here reads Markdown but whether a line
opens a heading.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from typing import NamedTuple

from .errors import Diagnostic
from .records import Card, ListAt, Source, Unit

#: A line that opens an ATX heading (CommonMark 4.2), outside any container.
ATX_LINE = re.compile(r"(#{1,6})(?:[ \t]|$)")
#: A line that opens an item of a numbered list at the left margin (CommonMark 5.2): its
#: number.
ITEM_LINE = re.compile(r"([0-9]{1,9})[.)](?:[ \t]|$)")


def starts_unit(line: str) -> bool:
    """Whether a unit may start at ``line`` (a heading, or an item of a numbered list)."""
    first = line[:1]
    if first == "#":
        return ATX_LINE.match(line) is not None
    return first.isdigit() and ITEM_LINE.match(line) is not None


def atx_level(line: str) -> int:
    """The level of the ATX heading ``line`` opens (0: it opens none)."""
    found = ATX_LINE.match(line)
    return len(found.group(1)) if found else 0


def digest(lines: list[str], start: int, end: int) -> bytes:
    """blake2b (16 bytes) of the lines ``[start, end)`` joined with newlines: a unit's
    :attr:`~pipeline.records.Unit.digest`."""
    return hashlib.blake2b("\n".join(lines[start:end]).encode(), digest_size=16).digest()


@dataclass(frozen=True)
class Placed:
    """An earlier compile's unit found again in the file, maybe moved."""

    unit: Unit
    """The unit as the earlier compile made it (its lines where they were then)."""
    start: int
    """0-based line where it starts now."""
    end: int
    """0-based line after it now."""

    @property
    def moved(self) -> int:
        """Lines it moved down (negative: up)."""
        return self.start - self.unit.start


#: What :func:`found_again` cuts a file into: a unit found again, or a range of lines
#: ``[start, end)`` to parse.
Region = Placed | tuple[int, int]

#: Lines tried for a unit whose first line the file holds more than once.
_TRIES = 4


def found_again(units: Sequence[Unit], lines: list[str]) -> list[Region]:
    """The file's lines in order: the earlier compile's units found again (their lines
    unchanged, followed by a top-level heading or, for the last one, by the end of the
    file; moved when lines were added or removed above them), and the line ranges
    between them, to parse.

    A unit starts at the file's first line or at a heading, and is looked for only there
    (so one whose first line is no heading, only at the top). A unit whose scans found
    something is looked for only where it was: their messages quote line numbers.
    """
    n = len(lines)

    def starts(first: str, at: int) -> Iterator[int]:
        """Where a unit opening with the line ``first`` may start, from ``at`` on: the
        first few lines that read so, at a heading or item (or line 0)."""
        if not starts_unit(first):
            if at == 0 and n and lines[0] == first:
                yield 0
            return
        for _ in range(_TRIES):
            try:
                at = lines.index(first, at)  # compared in C, where a Python loop took 1.5 ms
            except ValueError:
                return
            yield at
            at += 1

    regions: list[Region] = []
    at = moved = 0
    for k, unit in enumerate(units):
        last, size = k == len(units) - 1, unit.end - unit.start
        # Where the last unit found says it is, most often; else where its first line is.
        guess = unit.start + moved
        if (
            at <= guess < n
            and lines[guess] == unit.first
            and (guess == 0 or starts_unit(unit.first))
        ):
            if not _fits(unit, guess, last, lines):
                continue  # edited where it was: not looked for elsewhere
            start: int | None = guess
        else:
            start = next((s for s in starts(unit.first, at) if _fits(unit, s, last, lines)), None)
        if start is None:
            continue
        if start > at:
            regions.append((at, start))
        regions.append(Placed(unit, start, start + size))
        at, moved = start + size, start - unit.start
    if at < n or not regions:
        regions.append((at, n))
    return regions


def _fits(unit: Unit, start: int, last: bool, lines: list[str]) -> bool:
    """Whether ``unit`` is found again at the 0-based line ``start``: its lines the same,
    followed by what followed them (a top-level heading, an item of the list it ends in,
    the end of the file after the last unit); one that starts inside a list after a blank
    line, as it did; and, for a unit whose scans found something, where it was."""
    end = start + unit.end - unit.start
    if end > len(lines) or (unit.scans and start != unit.start):
        return False
    if last != (end == len(lines)):
        return False
    after = ITEM_LINE if unit.list_after[0] else ATX_LINE
    if not last and not after.match(lines[end]):
        return False
    if unit.list_at[0] and (start == 0 or lines[start - 1].strip()):
        return False
    return digest(lines, start, end) == unit.digest


class Mark(NamedTuple):
    """Where the compile stood at a unit's first line (counts of what it had made). A named
    tuple: one is made at every question (a frozen dataclass took three times as long)."""

    line: int
    """0-based line where a unit starts (the line of a top-level heading, or 0)."""
    cards: int
    """Cards made so far."""
    said: int
    """Diagnostics the compile had said so far (its walk's, not the scans')."""
    stray: int
    """Blocks in no question found so far."""
    skipped: int
    """Questions skipped so far."""
    sections: tuple[tuple[int, str], ...]
    """The section headings open here: (level, deck name)."""
    open_level: int
    """Level of the heading question whose answer ran up to this line (0: none)."""
    list_at: ListAt = (0, "")
    """Where this line is inside a top-level numbered list of questions ((0, ""): outside)."""


def moved_card(card: Card, lines: int) -> Card:
    """``card`` as compiled ``lines`` lines further down the file: its lines moved (those
    of its question, code blocks, images and links), nothing else."""
    if not lines:
        return card
    copy = object.__new__(Card)  # its digests, worked out already, hold: they read no line
    copy.__dict__.update(
        card.__dict__,
        source=Source(card.source.path, card.source.line + lines),
        code_blocks=tuple(
            replace(
                block,
                line=block.line + lines,
                error=(block.error[0] + lines, block.error[1]) if block.error else None,
            )
            for block in card.code_blocks
        ),
        targets=tuple(replace(target, line=target.line + lines) for target in card.targets),
    )
    return copy


def moved_all(found: tuple[Diagnostic, ...], lines: int) -> tuple[Diagnostic, ...]:
    """Diagnostics ``lines`` lines further down."""
    return tuple(replace(d, line=d.line + lines) for d in found) if lines else found


def moved_units(units: tuple[Unit, ...], lines: int, cards: int) -> tuple[Unit, ...]:
    """``units`` as a compile that took them makes them: ``lines`` lines further down,
    their cards ``cards`` places further on (as they were when neither moved)."""
    if not lines and not cards:
        return units
    if not lines:
        return tuple(u._replace(cards=(u.cards[0] + cards, u.cards[1] + cards)) for u in units)
    return tuple(
        u._replace(
            start=u.start + lines,
            end=u.end + lines,
            headings=tuple(replace(h, line=h.line + lines) for h in u.headings),
            bold=tuple(line + lines for line in u.bold),
            cards=(u.cards[0] + cards, u.cards[1] + cards),
            said=moved_all(u.said, lines),
            stray=tuple(line + lines for line in u.stray),
        )
        for u in units
    )
