"""What the cheat sheet prints at most: bounds that keep Typst's time and memory in check.

A card shows everything; the PDF prints at most these, says so at the line of the note
that goes past one, and refuses a sheet too large to typeset before it starts (measured
with Typst 0.15 on this project's 2-core machine):

- Typst stops with "maximum show rule depth exceeded" at 16 block quotes inside each
  other (about 35 lists): deeper levels are printed flat.
- One code block of 20,000 lines took 8.6 s and 390 MB, and time grows faster than the
  lines; a block prints its first lines only.
- Typst needs about 1 GB per 5 MB of sheet source (the 10k benchmark: 8.9 MB, 1.8 GB).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from markdown_it.token import Token

from .errors import Severity

MAX_NESTING = 12
"""Block quotes and lists inside each other that the PDF nests; deeper ones print flat."""
MAX_CODE_LINES = 1_000
"""Lines of one code block that the PDF prints."""
MAX_ANSWER_CHARS = 100_000
"""Characters of one answer's Markdown that the PDF prints (about 50 pages); else a note."""
MAX_QUESTION_CHARS = MAX_ANSWER_CHARS
"""Characters of one question's Markdown that the PDF prints; else a note (a question of
3,000,000 characters was cut off in the sheet, its answer lost: the thirty-fourth trial)."""
MAX_SHEET_BYTES = 40_000_000
"""Bytes of Typst source typeset at once (about 8 GB of Typst's memory)."""

_CONTAINERS = {"blockquote_open", "bullet_list_open", "ordered_list_open"}
_CLOSERS = {"blockquote_close", "bullet_list_close", "ordered_list_close"}


def nesting(
    tokens: Sequence[Token], _lines: Sequence[str]
) -> Iterator[tuple[int, Severity, str, str]]:
    """A warning where block quotes and lists nest deeper than the PDF prints."""
    depth = 0
    for tok in tokens:
        if tok.type in _CONTAINERS:
            depth += 1
            if depth == MAX_NESTING + 1 and tok.map:
                yield (
                    tok.map[0] + 1,
                    "warning",
                    f"block quotes and lists nested more than {MAX_NESTING} deep: "
                    "the PDF prints the deeper levels flat (the card shows them all)",
                    "pdf-limit",
                )
        elif tok.type in _CLOSERS:
            depth -= 1


def code_lines_message(lines: int) -> str:
    """The warning for a code block longer than the PDF prints."""
    return (
        f"code block of {lines:,} lines: the PDF prints its first {MAX_CODE_LINES:,} "
        "(the card shows them all)"
    )


def question_message(chars: int) -> str:
    """The warning for a question longer than the PDF prints."""
    return _note_instead("question", chars, MAX_QUESTION_CHARS)


def answer_message(chars: int) -> str:
    """The warning for an answer longer than the PDF prints."""
    return _note_instead("answer", chars, MAX_ANSWER_CHARS)


def _note_instead(what: str, chars: int, most: int) -> str:
    return (
        f"{what} of {chars:,} characters: the PDF prints a note instead "
        f"(at most {most:,}; the card shows it all)"
    )


def sheet_message(size: int) -> str:
    """Why a sheet is not typeset, and what to do instead."""
    return (
        f"the cheat sheet would typeset {size / 1e6:.0f} MB of text, more than the "
        f"{MAX_SHEET_BYTES / 1e6:.0f} MB Typst can lay out in reasonable memory (about 1 GB "
        "per 5 MB); print a part of the notes with --deck or --tag, or build without "
        "--format pdf"
    )
