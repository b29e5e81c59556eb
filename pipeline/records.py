"""The records that cross module boundaries. Every one is frozen; a stage returns new ones.

A note file is compiled once, in its worker, into :class:`Card` records with every decision
made: the question and answer, the deck, each code block's language and syntax check, each
image and link resolved to a :class:`Target`, the HTML the card shows and, for a PDF build,
the Typst the sheet prints. Every exporter reads these records and decides nothing again.
"""

from __future__ import annotations

import hashlib
import operator
import pickle
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, fields
from functools import cached_property
from typing import Any, Literal, NamedTuple, Protocol, TypeVar

from .config import Config
from .errors import Diagnostic
from .shapes import Heading

_D = TypeVar("_D")


def _sha(*parts: str) -> str:
    return hashlib.sha256("\x1f".join(parts).encode("utf-8")).hexdigest()


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

    @cached_property  # read for every card by identity and the exporters; decks are shared
    def parts(self) -> tuple[str, ...]:
        """Every level of the path, root first."""
        return (self.root, self.file_title, *self.sections)

    @cached_property
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
    """True when the fence had no language and ``language`` was detected (an empty
    fence has nothing to detect: False)."""
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
#: ``local`` a path inside the content folder (an existing file, for an image);
#: ``missing`` a local image, or a linked file named with a suffix, that does not exist;
#: ``unreadable`` an image that exists but cannot be read (``reason`` says why);
#: ``outside`` a path leaving the content folder (never read).
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
    embed: bool = False
    """An Obsidian embed (``![[name.png]]``): when missing where written, it was looked for
    by name in the whole content folder, as Obsidian does."""


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
    match: Match | None = None
    """How the identity stage found the id (None before it ran)."""

    def identified(self, match: Match) -> Card:
        """This card with its stable id and match: the identity stage's one change to a card."""
        # dataclasses.replace() would run __init__ again, a fifth of identity's time at 100k
        # questions; the fields are this card's own, already valid.
        card = object.__new__(Card)
        card.__dict__.update(self.__dict__, id=match.id, match=match)
        return card

    @cached_property
    def note_digest(self) -> str:
        """sha256 of everything the Anki note shows; it changes exactly when the note must update.

        The images' media names are hashes of their bytes, so a replaced image changes it.
        Worked out in the compile worker (:func:`pipeline.parse.parse_file`), so it travels
        with the card and the compiled-records cache, and the identity stage only reads it.
        """
        return _sha(
            self.question_html,
            self.answer_html,
            self.deck.path,
            self.source.path,
            " ".join(self.tags),
            # None for a card without images: its digest is what version 1 computed.
            *(target.media for target in self.targets if target.media),
        )

    @cached_property
    def answer_digest(self) -> str:
        """sha256 of the answer Markdown: how the lock recognises a reworded question."""
        return _sha(self.answer)

    @property
    def matched(self) -> Match:
        """:attr:`match`, for code that runs after the identity stage."""
        if self.match is None:
            raise ValueError(f"{self.source.path}:{self.source.line}: no id assigned yet")
        return self.match

    @property
    def section(self) -> str:
        """Title of the nearest section heading ("" when there is none)."""
        return self.deck.section

    @property
    def answered(self) -> bool:
        # isspace() stops at the first other character; strip() would copy the whole answer.
        return bool(self.answer) and not self.answer.isspace()


# --- identity: the lock file and how each card found its id ---------------------------------


def by_columns(items: Sequence[Any]) -> tuple[str, tuple[tuple[Any, ...], ...]]:
    """``items`` (instances of one frozen dataclass) a field at a time: the fields' names
    joined by 0x1f, and each field's values in order; :func:`from_columns` makes them
    again. Pickled so, 10,000 lock entries took 11 ms to write and 14 ms to read back,
    where an object at a time took 21 ms and 19 ms (a sync keeps the lock in its memo,
    and the collection's notes come pickled from its reading process)."""
    names = tuple(f.name for f in fields(items[0])) if items else ()
    return "\x1f".join(names), tuple(tuple(map(operator.attrgetter(n), items)) for n in names)


def from_columns(cls: type[_D], columns: tuple[str, tuple[tuple[Any, ...], ...]]) -> list[_D]:
    """The instances of ``cls`` that :func:`by_columns` took apart, as unpickling makes an
    object: its fields set, its ``__init__`` not called."""
    names, values = columns
    keys = names.split("\x1f") if names else []
    # The objects made first, then filled: one loop fewer a row (10,000 entries: 10 -> 8 ms).
    made = [object.__new__(cls) for _ in values[0]] if values else []
    for item, row in zip(made, zip(*values, strict=True), strict=True):
        item.__dict__.update(zip(keys, row, strict=True))
    return made


#: How a card found its id: new, its note changed or not, its question reworded, or moved.
Status = Literal["added", "changed", "unchanged", "renamed", "moved"]
_EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()  # the answer hash of an unanswered question


@dataclass(frozen=True)
class LockEntry:
    """One question's identity as the last build left it."""

    id: str
    """The stable id; also the Anki note guid."""
    path: str
    """File the question was in."""
    deck: str
    """Deck path (``::``-joined) the question was in."""
    question: str
    """Question text (Markdown) at the last build."""
    answer: str
    """sha256 of the answer Markdown, to recognise a reworded question by its answer."""
    digest: str
    """sha256 of everything the Anki note shows (images' bytes included); a change bumps
    ``mod``."""
    mod: int
    """Note modification time (seconds) to stamp into the package."""
    after: str = ""
    """Id of the question before it in the same file and section ("" when it is the first)."""
    slot: int = -1
    """Its place (0-based) among the questions of its section; -1 when unknown (version 1)."""
    successor: str = ""
    """For an orphan: the id of the new question that probably replaced it ("" for none)."""

    @property
    def answered(self) -> bool:
        return self.answer != _EMPTY_SHA256


@dataclass(frozen=True)
class NoteTypeStamp:
    """The note type's CSS and templates as the last build saw them."""

    digest: str = ""
    """sha256 of CSS and templates ("" when unknown: a version 1 lock)."""
    mod: int = 0
    """When they last changed (seconds): the note type's modification time in the package."""


@dataclass(frozen=True)
class Lock:
    """The whole lock file."""

    notes: tuple[LockEntry, ...] = ()
    """Every question of the last build, sorted by id."""
    orphans: tuple[LockEntry, ...] = ()
    """Questions gone (or no longer answered) and not yet resolved, sorted by id."""
    note_type: NoteTypeStamp = field(default_factory=NoteTypeStamp)
    """The note type's stamp."""

    def __reduce__(self) -> tuple[Any, ...]:
        # Pickled a field at a time (a sync's memo holds the lock it wrote): by_columns.
        return _lock_again, (by_columns(self.notes), by_columns(self.orphans), self.note_type)

    @cached_property
    def by_id(self) -> dict[str, LockEntry]:
        """The notes by id (the last of an id written twice)."""
        return {e.id: e for e in self.notes}

    @cached_property
    def asked(self) -> Counter[tuple[str, str]]:
        """How many entries hold each (file, question stripped): the notes, and the orphans
        whose id no note has. Counted once a lock: a sync asks it of the lock it read and
        of the lock it wrote, a file of questions at a time."""
        notes = self.by_id
        held = (*self.notes, *(e for e in self.orphans if e.id not in notes))
        return Counter((e.path, e.question.strip()) for e in held)


def _lock_again(
    notes: tuple[str, tuple[tuple[Any, ...], ...]],
    orphans: tuple[str, tuple[tuple[Any, ...], ...]],
    note_type: NoteTypeStamp,
) -> Lock:
    return Lock(
        tuple(from_columns(LockEntry, notes)), tuple(from_columns(LockEntry, orphans)), note_type
    )


@dataclass(frozen=True)
class Match:
    """How one card found (or did not find) its id."""

    id: str
    """The id the card carries now."""
    status: Status
    """added / changed / unchanged / renamed (question reworded) / moved (file or deck)."""
    mod: int
    """Modification time for the note."""
    old_question: str = ""
    """For renamed cards: the question as it was."""
    similarity: float = 1.0
    """For renamed cards: how similar the match was (1.0 = explicit or exact)."""
    how: str = ""
    """For renamed and moved cards: which rule matched (alias, answer, similarity, place)."""
    old_deck: str = ""
    """The deck the note was in at the last build ("" for a new question)."""
    was_note: bool = False
    """Whether the last build made an Anki note of it (it was answered)."""


@dataclass(frozen=True)
class Successor:
    """An orphan and the new question that probably replaced it (too unsure to match)."""

    orphan: LockEntry
    """The question that is gone."""
    card: Card
    """The new question most like it."""
    similarity: float
    """How alike the two questions are (0-1)."""
    same_place: bool
    """Whether the new question sits where the old one was."""


@dataclass(frozen=True)
class Identity:
    """The identity stage's result."""

    cards: tuple[Card, ...]
    """The cards with their ids and matches set, in source order."""
    orphans: tuple[LockEntry, ...]
    """Every unresolved orphan: questions gone in this build or an earlier one."""
    lock: tuple[LockEntry, ...]
    """The new lock's questions, sorted by id."""
    diagnostics: tuple[Diagnostic, ...]
    """Errors (two records claiming one id) and warnings (an alias to an unknown id)."""
    new_orphans: frozenset[str] = frozenset()
    """Ids of the orphans this build made."""
    note_type: NoteTypeStamp = field(default_factory=NoteTypeStamp)
    """The note type's stamp for this build."""
    successors: tuple[Successor, ...] = ()
    """Orphans paired with their likely successor, for an ``[aliases]`` line."""
    read_from: tuple[int, int, int] | None = None
    """The lock file as identity found it: (inode, size, modification time in ns); None
    when there was none. A build writes the new lock only while the file is still so."""
    carried: int = 0
    """Cards of note files carried over without their cards (a sync's memo): each kept
    the id it had, so they count among the questions the lock's notes still hold."""

    @property
    def matches(self) -> tuple[Match, ...]:
        """How each card found its id, in the order of ``cards``."""
        return tuple(card.matched for card in self.cards)

    @property
    def lock_file(self) -> Lock:
        """Everything the new lock file holds."""
        return Lock(self.lock, self.orphans, self.note_type)


@dataclass(frozen=True)
class Shape:
    """What opens a question in one note file: decided once for the whole file."""

    settings: tuple[Any, ...]
    """What the decision starts from: question level, style and pattern, the front
    matter's tags and the file's title."""
    q_level: int | None
    """The heading level of the questions (None: no heading asks)."""
    q_any: bool
    """Every heading of that level asks, numbered or not."""
    chapters: frozenset[int]
    """0-based lines of the numbered headings that hold numbered questions (chapters)."""
    lists: bool
    """Top-level numbered lists ask."""
    qa: bool
    """``Q:``/``问：`` paragraphs ask."""
    bold: bool
    """Paragraphs opening with a bold line ask."""


#: A place inside a top-level numbered list whose items are questions: the number of the
#: item there and the list's delimiter (``.`` or ``)``); (0, "") outside such a list.
ListAt = tuple[int, str]


class Unit(NamedTuple):
    """A run of a note file's lines that compiles on its own: it starts at line 0 or at a
    top-level ``#`` heading before which nothing was left open (no answer still growing),
    or at an item of a top-level numbered list of questions that a blank line separates
    from the item before it, and ends where the next such run starts.

    A later compile whose lines are the same at the same place, under the same sections,
    takes its cards and diagnostics as they were and parses only the other lines: block
    parsing restarts at such a heading (an ATX heading closes every container and can
    only be swallowed by a fence, raw HTML or a ``$$`` block left open, which the compile
    that made the unit ruled out: CommonMark 4.2, 5). At such an item, the list goes on
    from the lines before it, whatever they are, as long as they end with an item of the
    same list (CommonMark 5.3: a list item ends where the next one starts, and a blank
    line between two items makes the whole list loose, so no item reads differently).

    A named tuple, not a frozen dataclass: a file has one a question, each made at every
    compile and pickled in its cache entry (a third of the time, and of the bytes).
    """

    start: int
    """0-based first line."""
    end: int
    """0-based line after the last (the next unit's first line, or the file's end)."""
    digest: bytes
    """blake2b of its lines, joined with newlines."""
    first: str
    """Its first line (a heading, but for a file's first unit): where to look for it when
    lines were added or removed above it."""
    sections: tuple[tuple[int, str], ...]
    """The section headings open where it starts: (level, deck name)."""
    after: tuple[tuple[int, str], ...]
    """The section headings open where it ends."""
    open_level: int
    """Level of the heading question whose answer runs to its end (0: none): the next
    heading must be no deeper, or the answer goes on into it."""
    headings: tuple[Heading, ...]
    """Its top-level ``#`` headings."""
    bold: tuple[int, ...]
    """0-based lines of its top-level paragraphs that open with a bold line that asks."""
    cards: tuple[int, int]
    """Its cards: a range of :attr:`ParsedFile.cards` (and of ``compiled``)."""
    scans: tuple[tuple[int, Diagnostic], ...]
    """What the file-wide scans found in it: (index in ``contentscan.SCANS``, finding)."""
    said: tuple[Diagnostic, ...]
    """What the compile said while reading it (its cards' problems included)."""
    stray: tuple[int, ...]
    """0-based first lines of its blocks that are in no question."""
    skipped: int
    """Questions it skips (a numbered heading without text)."""
    list_at: ListAt = (0, "")
    """Where it starts inside a top-level numbered list of questions ((0, ""): at a
    heading or at line 0)."""
    list_after: ListAt = (0, "")
    """Where it ends inside such a list: the item the list goes on with ((0, ""): it ends
    at a heading or at the file's end)."""


def units_bytes(shape: Shape, units: Sequence[Unit]) -> bytes:
    """``shape`` and ``units`` as :attr:`ParsedFile.units` keeps them: the units a field at
    a time (a file's 500 units, a tuple each, took 0.9 ms to pickle and 0.63 ms to read
    back; so, 0.48 and 0.46 ms). :func:`units_of` reads them back."""
    return pickle.dumps((shape, tuple(zip(*units, strict=True))), pickle.HIGHEST_PROTOCOL)


def units_of(data: bytes) -> tuple[Shape, tuple[Unit, ...]]:
    """The shape and units :func:`units_bytes` kept."""
    shape, columns = pickle.loads(data)
    make = tuple.__new__  # a named tuple made from its fields in order, as pickle makes it
    return shape, tuple(make(Unit, row) for row in zip(*columns, strict=True))


class Taken(NamedTuple):
    """A run of an earlier compile's cards that a splice took as they were, their lines
    moved (``pipeline/parse.py``: a unit found again)."""

    at: int
    """Index of its first card among the new compile's cards."""
    first: int
    """Index of its first card among the earlier compile's cards."""
    last: int
    """Index after its last card there."""
    moved: int
    """Lines it moved down (negative: up)."""


class TakenCard(NamedTuple):
    """A card a splice took as it was, as matching reads it (:class:`SplicedFile`)."""

    question: str
    """The question as Markdown."""
    line: int
    """1-based line of the question now."""
    deck: str
    """Its deck's path."""
    note_digest: str
    """:attr:`Card.note_digest`."""
    answer_digest: str
    """:attr:`Card.answer_digest`."""


@dataclass(frozen=True)
class SplicedFile:
    """A note file compiled again for a sync by splicing the records that sync's memo was
    made from (``pipeline/syncmemo.py``): the cards compiled anew, and the others as the
    memo's rows, which hold their notes; their cards never leave the worker. The worker
    wrote the whole records to the cache all the same.

    Made only where a worker compiles the file (its records would be pickled to the
    build's process: 10,000 cards cost 0.1 s to read back there).
    """

    path: str
    """File relative to the content folder."""
    cards: tuple[Card, ...]
    """The cards compiled anew, in order."""
    taken: tuple[Taken, ...]
    """The runs of the earlier compile's cards taken as they were, in order (the cards of
    the file are these runs and :attr:`cards`, interleaved)."""
    kept: tuple[TakenCard, ...]
    """Each card of :attr:`taken`, in order."""
    diagnostics: tuple[Diagnostic, ...]
    """The compile's problems (:attr:`ParsedFile.diagnostics`)."""
    checked: tuple[Diagnostic, ...]
    """What the per-card checks found in all its cards (``pipeline/validate.py``), run in
    the worker."""
    title: str | None
    """The title its first card files under (None: no card)."""
    targets: tuple[Target, ...]
    """Every image and link of its cards, in order."""
    judged: str
    """How its images and links were judged (the cache keeps it with the key)."""

    @property
    def problems(self) -> tuple[Diagnostic, ...]:
        """Its own problems: the compile's and the per-card checks'."""
        return (*self.diagnostics, *self.checked)

    def order(self) -> Iterator[int]:
        """Where each card of the file comes from, in order: ``i >= 0`` is :attr:`cards`
        ``[i]``; ``-1 - k`` is :attr:`kept` ``[k]``."""
        fresh = kept = 0
        for run in self.taken:
            while fresh + kept < run.at:
                yield fresh
                fresh += 1
            for _ in range(run.last - run.first):
                yield -1 - kept
                kept += 1
        yield from range(fresh, len(self.cards))


@dataclass(frozen=True)
class ParsedFile:
    """The result of reading and compiling one note file."""

    path: str
    """File relative to the content folder."""
    cards: tuple[Card, ...]
    """Every question of the file in source order, answered or not."""
    diagnostics: tuple[Diagnostic, ...] = ()
    """Problems found while reading and parsing (encoding, unclosed fences, raw HTML)."""
    compiled: tuple[tuple[str, tuple[Diagnostic, ...]], ...] = ()
    """For each card, in order: a digest of everything its compile step read (its tokens,
    line, deck, tags, whether Typst was made) and the diagnostics that step made. A later
    compile of the file in the same process reuses the card of an unchanged digest
    (``parse_file``'s ``previous``): an edit then costs the parse of the file, not the
    highlighting and rendering of all its cards."""
    units: bytes = field(default=b"", compare=False)
    """The file's :class:`Shape` and :class:`Unit` records, pickled as a pair (b"": none
    were made): a later compile takes the units whose lines are unchanged as they are,
    and parses only the rest (``pipeline/parse.py``). Kept pickled, they cost a cache hit
    nothing; only the next compile of this file reads them."""


class Fragments(Protocol):
    """An exporter's bytes for one note file, kept between builds (the cache implements it)."""

    def __call__(self, path: str, kind: str, extra: str, make: Callable[[], bytes]) -> bytes:
        """The bytes kept for file ``path`` under ``kind`` and ``extra``, else ``make()``."""
        ...


@dataclass(frozen=True)
class BuildData:
    """Everything the exporters read, gathered before anything is written."""

    cards: tuple[Card, ...]
    """Every card (answered or not), with its id and match, in source order."""
    config: Config
    """The build's configuration (content folder, names, PDF options)."""
    note_type_mod: int = 0
    """When the note type's CSS or templates last changed (from the lock file)."""
    fragments: Fragments | None = None
    """What exporters wrote for each unchanged file last time (the compiled-records cache's
    :meth:`~pipeline.cache.ParseCache.fragment`); None: every output is made in full."""
    kept: dict[str, dict[int, Any]] | None = None
    """What each exporter kept from this process's last build (a watch's), by exporter:
    parts of its output by the identified card they were made from (its ``id()``, with the
    card held so the id is not reused). An exporter replaces its own part; None: nothing is
    kept."""

    @cached_property  # read by several exporters; worked out once
    def notes(self) -> tuple[Card, ...]:
        """The cards that become Anki notes (answered, or all with ``include_unanswered``)."""
        return tuple(c for c in self.cards if c.answered or self.config.include_unanswered)

    @cached_property
    def skipped(self) -> tuple[Card, ...]:
        """The cards that make no Anki note."""
        if self.config.include_unanswered:
            return ()
        return tuple(card for card in self.cards if not card.answered)


class Sourced(Protocol):
    """Anything with a :class:`Source` (a card, or what matching reads of one)."""

    @property
    def source(self) -> Source: ...


def file_runs(cards: Sequence[Sourced]) -> list[tuple[str, int, int]]:
    """Each note file's run of ``cards`` (a build's cards come a file at a time): its path,
    start and end."""
    runs: list[tuple[str, int, int]] = []
    start = 0
    for i in range(1, len(cards) + 1):
        if i == len(cards) or cards[i].source.path != cards[start].source.path:
            runs.append((cards[start].source.path, start, i))
            start = i
    return runs


def same_cards(earlier: Sequence[object], now: Sequence[object]) -> bool:
    """Whether ``now`` holds the very card objects of ``earlier``, in order: what a
    long-running caller kept for a file's compiled cards still holds while they are."""
    return len(earlier) == len(now) and all(map(operator.is_, earlier, now))


@dataclass(frozen=True)
class Collection:
    """Every card of the content folder, in source order, with all diagnostics."""

    cards: tuple[Card, ...]
    """All cards of all files, files in sorted path order."""
    diagnostics: tuple[Diagnostic, ...] = field(default=())
    """Every problem found so far, sorted by file and line."""
