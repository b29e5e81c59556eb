"""The records that flow between stages. Every one is frozen; a stage returns new ones."""

from __future__ import annotations

from dataclasses import dataclass, field

from .errors import Diagnostic


@dataclass(frozen=True)
class Source:
    """Where a record comes from."""

    path: str
    """File relative to the content folder, POSIX separators (``nlp.md``)."""
    line: int
    """1-based line of the question in that file."""


@dataclass(frozen=True)
class CodeBlock:
    """A fenced code block inside a question or answer."""

    language: str
    """Language as written after the fence, or as detected; "" for plain text."""
    detected: bool
    """True when the fence had no language and ``language`` was detected."""
    code: str
    """The code, without the fence lines and the list indentation."""
    line: int
    """1-based line of the opening fence in the Markdown file."""
    error: tuple[int, str] | None = None
    """Syntax error as (Markdown line, message), or None when the code parses or has no check."""

    @property
    def valid(self) -> bool:
        return self.error is None


@dataclass(frozen=True)
class Reference:
    """An image or link target found in a card."""

    target: str
    """The target exactly as written (``1.png``, ``../x.md``, ``https://…``)."""
    line: int
    """1-based line of the paragraph or heading that holds it."""
    image: bool
    """True for an image, False for a link."""


@dataclass(frozen=True)
class Card:
    """One question with its answer, parsed, checked and rendered."""

    question: str
    """The question as Markdown, without its ``N.`` numbering."""
    answer: str
    """The answer as Markdown as the card shows it ("" when unanswered)."""
    question_html: str
    """The question rendered to HTML (inline, no wrapping paragraph)."""
    answer_html: str
    """The answer rendered to HTML, code highlighted."""
    deck: tuple[str, ...]
    """Deck path from the root deck down to the section (joined with ``::`` for Anki)."""
    section: str
    """Title of the nearest section heading ("" when there is none)."""
    source: Source
    """File and line of the question."""
    code_blocks: tuple[CodeBlock, ...] = ()
    """Fenced code blocks of the answer, in order."""
    references: tuple[Reference, ...] = ()
    """Images and links of the question and answer, in order."""
    tags: tuple[str, ...] = ()
    """Anki-safe tags (no spaces): file, section and code languages."""
    id: str = ""
    """Stable identity across builds; assigned by the identity stage."""

    def with_id(self, card_id: str) -> Card:
        """This card with its stable id: the identity stage's one change to a card."""
        # dataclasses.replace() would run __init__ again, a fifth of identity's time at 100k
        # questions; the fields are this card's own, already valid.
        card = object.__new__(Card)
        card.__dict__.update(self.__dict__, id=card_id)
        return card

    @property
    def answered(self) -> bool:
        # isspace() stops at the first other character; strip() would copy the whole answer.
        return bool(self.answer) and not self.answer.isspace()


@dataclass(frozen=True)
class ParsedFile:
    """The result of reading and parsing one note file."""

    path: str
    """File relative to the content folder."""
    cards: tuple[Card, ...]
    """Every question of the file in source order, answered or not."""
    diagnostics: tuple[Diagnostic, ...] = ()
    """Problems found while reading and parsing (encoding, unclosed fences, raw HTML)."""


@dataclass(frozen=True)
class Collection:
    """Every card of the content folder, in source order, with all diagnostics."""

    cards: tuple[Card, ...]
    """All cards of all files, files in sorted path order."""
    diagnostics: tuple[Diagnostic, ...] = field(default=())
    """Every problem found so far, sorted by file and line."""
