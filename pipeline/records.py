"""The records that cross module boundaries. Every one is frozen; a stage returns new ones.

A note file is compiled once, in its worker, into :class:`Card` records with every decision
made: the question and answer, the deck, each code block's language and syntax check, each
image and link resolved to a :class:`Target`, the HTML the card shows and, for a PDF build,
the Typst the sheet prints. Every exporter reads these records and decides nothing again.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from .errors import Diagnostic


@dataclass(frozen=True)
class Source:
    """Where a record comes from."""

    path: str
    """File relative to the content folder, POSIX separators (``nlp.md``)."""
    line: int
    """1-based line of the question in that file."""


@dataclass(frozen=True)
class Deck:
    """Where a card files: the root deck, its note file's title, then its section headings."""

    root: str
    """The configured root deck (``root_deck``), e.g. ``面试题``."""
    file_title: str
    """The note file's title: configured under ``[titles]``, else the file name without ``.md``."""
    sections: tuple[str, ...] = ()
    """Section headings above the question, outermost first (none before the first heading)."""

    @property
    def parts(self) -> tuple[str, ...]:
        """Every level of the path, root first."""
        return (self.root, self.file_title, *self.sections)

    @property
    def path(self) -> str:
        """The Anki deck name: the levels joined with ``::``."""
        return "::".join(self.parts)

    @property
    def section(self) -> str:
        """Title of the innermost section ("" when there is none)."""
        return self.sections[-1] if self.sections else ""


@dataclass(frozen=True)
class CodeBlock:
    """A fenced code block inside an answer."""

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


#: What a target turned out to be (``pipeline/paths.py`` decides):
#: ``external`` a URL with a scheme or ``//``; ``anchor`` an in-page ``#fragment``;
#: ``local`` a path inside the content folder (for images: an existing file);
#: ``missing`` a local image whose file does not exist; ``unreadable`` one that exists but
#: cannot be read (``reason`` says why); ``outside`` a path leaving the content folder
#: (never read).
TargetKind = Literal["external", "anchor", "local", "missing", "unreadable", "outside"]


@dataclass(frozen=True)
class Target:
    """An image or link destination, resolved once for every output."""

    url: str
    """The destination as markdown-it normalised it: the ``src``/``href`` the HTML carries."""
    written: str
    """The destination as the person wrote it (percent-escapes decoded), for messages."""
    line: int
    """1-based line of the paragraph or heading that holds it."""
    image: bool
    """True for an image, False for a link."""
    kind: TargetKind
    """What the destination is; see :data:`TargetKind`."""
    file: str = ""
    """For a local target: the file relative to the content folder, POSIX separators."""
    media: str = ""
    """For a found local image: its name in Anki's flat media folder (content hash + suffix)."""
    reason: str = ""
    """For an unreadable image: the operating system's words (``Permission denied``)."""


@dataclass(frozen=True)
class Card:
    """One question with its answer, parsed, checked and rendered."""

    question: str
    """The question as Markdown, without its ``N.`` numbering."""
    answer: str
    """The answer as Markdown, de-indented out of its list item ("" when unanswered)."""
    question_html: str
    """The question rendered to HTML (inline, no wrapping paragraph)."""
    answer_html: str
    """The answer rendered to HTML, code highlighted."""
    deck: Deck
    """The deck the card files under."""
    source: Source
    """File and line of the question."""
    code_blocks: tuple[CodeBlock, ...] = ()
    """Fenced code blocks of the answer, in order."""
    targets: tuple[Target, ...] = ()
    """Images and links of the question and answer, in order."""
    tags: tuple[str, ...] = ()
    """Anki-safe tags (no spaces): file, section and code languages."""
    question_typst: str = ""
    """The question as Typst markup, from the same tokens as the HTML ("" unless a PDF is built)."""
    answer_typst: str = ""
    """The answer as Typst markup, from the same tokens as the HTML ("" unless a PDF is built)."""
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
    def section(self) -> str:
        """Title of the nearest section heading ("" when there is none)."""
        return self.deck.section

    @property
    def answered(self) -> bool:
        # isspace() stops at the first other character; strip() would copy the whole answer.
        return bool(self.answer) and not self.answer.isspace()


@dataclass(frozen=True)
class ParsedFile:
    """The result of reading and compiling one note file."""

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
