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
from bisect import bisect_left
from collections.abc import Sequence
from dataclasses import dataclass, replace

from .errors import Diagnostic
from .records import Card, Source, Unit

#: A line that opens an ATX heading (CommonMark 4.2), outside any container.
ATX_LINE = re.compile(r"(#{1,6})(?:[ \t]|$)")


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


#: Lines tried for a unit whose first line the file holds more than once.
_TRIES = 4


def found_again(units: Sequence[Unit], lines: list[str]) -> list[Placed | tuple[int, int]]:
    """The file's lines in order: the earlier compile's units found again (their lines
    unchanged, followed by a top-level heading or, for the last one, by the end of the
    file; moved when lines were added or removed above them), and the line ranges
    between them, to parse.

    A unit starts at the file's first line or at a heading, and is looked for only there
    (so one whose first line is no heading, only at the top). A unit whose scans found
    something is looked for only where it was: their messages quote line numbers.
    """
    n = len(lines)
    heads: dict[str, list[int]] = {}  # first lines of where units may start, made if needed

    def starts(first: str) -> list[int]:
        if not heads:
            for i, line in enumerate(lines):
                if i == 0 or (line[:1] == "#" and ATX_LINE.match(line)):
                    heads.setdefault(line, []).append(i)
        return heads.get(first, [])

    regions: list[Placed | tuple[int, int]] = []
    at = moved = 0
    for k, unit in enumerate(units):
        last, size = k == len(units) - 1, unit.end - unit.start
        # Where the last unit found says it is, most often; else where its first line is.
        guess = unit.start + moved
        heading = guess == 0 or bool(ATX_LINE.match(unit.first))
        if at <= guess < n and lines[guess] == unit.first and heading:
            start = guess if _fits(unit, guess, last, lines) else None
        else:
            start = None
        if start is None:
            found = starts(unit.first)
            tried = found[bisect_left(found, at) :][:_TRIES]
            start = next((s for s in tried if _fits(unit, s, last, lines)), None)
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
    a top-level heading after them (the end of the file after the last unit), and, for a
    unit whose scans found something, where it was."""
    end = start + unit.end - unit.start
    if end > len(lines) or (unit.scans and start != unit.start):
        return False
    if last != (end == len(lines)) or (not last and not ATX_LINE.match(lines[end])):
        return False
    return digest(lines, start, end) == unit.digest


@dataclass(frozen=True)
class Mark:
    """Where the compile stood at a unit's first line (counts of what it had made)."""

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
