"""Markdown note files -> cards. markdown-it tokens never leave this module.

The shapes real notes come in, detected file by file (:mod:`pipeline.shapes`) and freely
mixed; ``question_level``/``question_style``/``question_pattern`` (settings or front matter)
state them when the guess is wrong:

1. heading questions: ``#### N. question`` under section headings (chapter and outline
   numbering, ``Q1:``, or unnumbered headings that read as questions); the answer is
   everything up to the next heading of the same or a higher level;
2. list questions: a top-level ordered list (not one of points, ``1. **术语**：…``,
   ``1. 一句陈述。``), or a bullet list most of whose items ask (a question mark, a
   ``Q:``); each item's first line is the question, everything after it up to the next
   item the answer (indented or not);
3. paragraph questions: ``Q:``/``问：`` paragraphs and bold-line paragraphs; the answer
   runs to the next question or heading.

Nothing is dropped silently: text in no question is reported at its line.

Everything about a card is decided here, once, from the tokens of the single parse: each
code block's language, syntax check and highlighting (lexed once for the HTML and the
Typst), each image and link resolved by the path rules, the card's HTML and, for a PDF
build, its Typst. Parsing is most of the cost of a build, and exporters that parsed or
decided again would both double it and drift from the card.

A file compiled again after an edit (the cache holds its earlier records) is spliced: its
earlier compile cut it into units at the top-level headings where nothing was left open,
and the units whose lines are unchanged are taken as they were; only the lines between
them are parsed. The records are those of a whole compile, field for field
(``tests/test_splice.py``), and a file whose shape or structure the edit reaches is
compiled whole.
"""

from __future__ import annotations

import hashlib
import html as html_lib
import itertools
import re
import unicodedata
from bisect import bisect_left, bisect_right
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from markdown_it.token import Token

from . import codecheck, contentscan, rawhtml
from .cjk import LINE_BREAKS
from .config import Config
from .errors import Diagnostic, Severity
from .highlight import (
    MAX_COLOURED,
    detect_language,
    fence_language,
    highlight,
    known_language,
    typst_string,
    unknown_language_message,
)
from .paths import Resolver
from .pdflimits import MAX_ANSWER_CHARS, MAX_CODE_LINES, MAX_QUESTION_CHARS
from .records import (
    Card,
    CodeBlock,
    Deck,
    ListAt,
    ParsedFile,
    Shape,
    Source,
    Taken,
    Target,
    Unit,
    units_bytes,
    units_of,
)
from .render import markdown, render_blocks, render_inline
from .shapes import (
    ANSWER_LABELS,
    ANSWER_MARK,
    BOLD_LINE,
    CHAPTER,
    NOT_QUESTIONS,
    NUMBER,
    QUESTION_LABELS,
    QUESTION_MARK,
    Heading,
    as_strings,
    asking_level,
    asks,
    ends_asking,
    front_matter,
    is_setext,
    is_toc,
    numbering,
    paragraph_numbering,
    plain_text,
    sets_task,
    strip_number,
    structure_problems,
    title_question,
    top_headings,
)
from .splice import (
    ITEM_LINE,
    Mark,
    Placed,
    Region,
    atx_level,
    digest,
    found_again,
    moved_all,
    moved_card,
    moved_units,
)
from .typstmd import TypstRenderer, escape

#: ``… **A:** …`` inside a question's line: where its answer starts.
_ANSWER_INLINE = re.compile(r"\s+(?:\*\*|__)?(?:A|Answer|答案?|回答)\s*[:：]\s*(?:\*\*|__)?\s*")
_LIST_MARKER = re.compile(r"^(\s*)(\d+[.)]|[-+*])([ \t]+|$)")
_TAG_UNSAFE = re.compile(r"\s+")


# --- reading -------------------------------------------------------------------------------


def decode(path: str, data: bytes) -> tuple[str | None, Diagnostic | None]:
    """UTF-8 text of a note file (BOM and CRLF removed), or an error naming the bad byte."""
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        byte = data[exc.start]
        return None, Diagnostic(
            path,
            line,
            "error",
            f"not valid UTF-8: byte 0x{byte:02x} at offset {exc.start}"
            f"{_encoding_guess(data)}; save the file as UTF-8",
            "encoding",
        )
    return text.replace("\r\n", "\n").replace("\r", "\n"), None


_FOOTNOTE = re.compile(r" {0,3}\[\^([^\]]+)\]:")
#: Headings of one level with text in no question under them that make :meth:`level_hint`
#: name the setting: fewer are most often an intro or a reference list.
_HINT_HEADINGS = 3
_MARKUP = re.compile(r"<[^>]*>")
#: A character of text where a tag ends (or at the start): an entity (``&nbsp;``) aside,
#: shown. Most cards have one in their first bytes; stripping every tag of every answer
#: was 0.1 s of a 10k first compile.
_TEXT = re.compile(r"(?:^|>)\s*[^<\s&]")


def _shows_something(html: str) -> bool:
    """Whether rendered HTML shows a person anything: text, or an image (a comment, an
    ``&nbsp;`` or a removed ``<script>`` made a card with a blank front: the eleventh
    trial). The HTML is sanitised when it holds raw HTML: no comment, no ``>`` in a value."""
    return (
        _TEXT.search(html) is not None
        or "<img" in html
        or bool(html_lib.unescape(_MARKUP.sub("", html)).strip())
    )


_HAN = re.compile(r"[\u4e00-\u9fff]")


def _encoding_guess(data: bytes) -> str:
    """What a note file that is not UTF-8 seems to be, in words ("" when unsure): Chinese
    notes saved by older Windows editors are GBK, and some editors save UTF-16."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return " (the file is UTF-16: it starts with UTF-16's byte order mark)"
    try:
        text = data.decode("gb18030")
    except UnicodeDecodeError:
        return ""
    return (
        " (it reads as GBK/GB18030, the encoding of older Chinese Windows)"
        if _HAN.search(text)
        else ""
    )


# --- helpers over the token stream -----------------------------------------------------------


def _blocks(tokens: list[Token], start: int, end: int) -> Iterator[tuple[int, int]]:
    """(start, end) index ranges of the blocks directly inside ``tokens[start:end]``."""
    i = start
    while i < end:
        if tokens[i].nesting == 1:
            depth, j = 1, i + 1
            while depth:
                depth += tokens[j].nesting
                j += 1
            yield i, j
            i = j
        else:
            yield i, i + 1
            i += 1


_TAB = 4  # CommonMark 2.2: tabs advance to the next multiple of four columns


def _dedent(line: str, width: int, marker: bool = False) -> str:
    """``line`` without up to ``width`` columns of indentation (and, with ``marker``, of
    whatever stands there: the list marker); a tab that straddles the boundary leaves its
    remaining columns as spaces (CommonMark 2.2)."""
    column = 0
    for i, ch in enumerate(line):
        if column >= width:
            return line[i:]
        if ch == "\t":
            stop = column + _TAB - column % _TAB
            if stop > width:
                return " " * (stop - width) + line[i + 1 :]
            column = stop
        elif ch == " " or marker:
            column += 1
        else:
            return line[i:]
    return ""


def _content_column(line: str) -> int:
    """Column where a list item's content starts (CommonMark 5.2), tabs expanded."""
    marker = _LIST_MARKER.match(line)
    if not marker:
        return 0
    column = 0
    for ch in marker.group(1) + marker.group(2):
        column = column + _TAB - column % _TAB if ch == "\t" else column + 1
    after = column
    for ch in marker.group(3):
        after = after + _TAB - after % _TAB if ch == "\t" else after + 1
    # No text after the marker, or five or more columns (an indented code block): one counts.
    if after == column or after - column > _TAB or marker.end() == len(line):
        return column + 1
    return after


def _trim_blank(lines: list[str]) -> list[str]:
    start, end = 0, len(lines)
    while start < end and not lines[start].strip():
        start += 1
    while end > start and not lines[end - 1].strip():
        end -= 1
    return [line.rstrip() for line in lines[start:end]]


def deck_name(title: str) -> str:
    """A title fit for a deck name: trailing ``：``/``:`` trimmed, no ``::`` separators inside,
    in Unicode's composed form (NFC), as Anki keeps deck names: a heading or file name in
    decomposed form (``データベース`` as macOS names files) made every sync fail looking up
    its deck (the twenty-fifth trial)."""
    return unicodedata.normalize("NFC", title.strip().rstrip("：:").strip().replace("::", ":"))


def tag_name(text: str) -> str:
    """An Anki-safe tag: no spaces (Chinese kept)."""
    return _TAG_UNSAFE.sub("_", text.strip())


# --- the parser ----------------------------------------------------------------------------


#: What opens or closes a display formula (``$$…$$``, ``\\[…\\]``). Such a block opens only
#: where it closes, however far below (the plugins' rule), so unlike a fence its reach
#: depends on lines past any heading.
_MATH_DELIMITERS = ("$$", "\\[", "\\]")


def _has_math_delimiter(lines: list[str]) -> bool:
    return any(d in line for line in lines for d in _MATH_DELIMITERS)


def _loose_math(tokens: list[Token]) -> bool:
    """Whether a display formula's delimiter was left as text: a later edit anywhere may
    pair it with another, across headings, so the file is not cut into units. (A file
    whose delimiters all pair keeps its units; an edit that adds or removes one is
    compiled whole.)"""
    return any(
        child.type == "text" and _has_math_delimiter([child.content])
        for tok in tokens
        if tok.type == "inline"
        for child in tok.children or ()
    )


@dataclass
class _Answer:
    """A question being read whose answer is still growing (a paragraph or list question)."""

    question: str
    """The question as Markdown, on one line."""
    children: list[Token]
    """Its inline tokens."""
    inline: Token
    """The inline token that holds it (for its line and its links)."""
    line: int
    """1-based line of the question."""
    tokens: list[Token]
    """Answer tokens so far."""
    lines: list[str]
    """Answer Markdown lines so far."""
    next_number: int = 0
    """For the last item of a numbered list: the number a continuing list would start at
    (:data:`_BULLETED` for a bullet list's; 0 for a paragraph's question)."""
    trailing: list[tuple[int, int]] = field(default_factory=list)
    """Blocks after a list, waiting to learn whether they answer its last item."""

    @property
    def answered(self) -> bool:
        return any(line.strip() for line in self.lines)


@dataclass
class _FileParser:
    """Walks one file's tokens; private to this module."""

    path: str
    text: str
    config: Config
    file_title: str
    root: Path
    """The content folder, resolved."""
    want_typst: bool
    """Render each card to Typst too (a PDF build)."""
    previous: ParsedFile | None = None
    """This file's records from an earlier compile with the same settings: cards whose
    inputs are unchanged are taken from it (:attr:`ParsedFile.compiled`)."""
    keyed: bool = True
    """Digest each card's inputs for a later compile (a build without the cache keeps no
    records, and skips the digests: 15 % of its compile)."""

    def __post_init__(self) -> None:
        self.reusable: dict[str, tuple[Card, tuple[Diagnostic, ...]]] = {}
        if self.previous is not None and len(self.previous.compiled) == len(self.previous.cards):
            for card, (key, made) in zip(self.previous.cards, self.previous.compiled, strict=True):
                self.reusable.setdefault(key, (card, made))
        self.compiled: list[tuple[str, tuple[Diagnostic, ...]]] = []
        self.diagnostics: list[Diagnostic] = []
        self.extra_tags: tuple[str, ...] = ()
        self.level = self.config.question_level
        self.style = self.config.question_style
        self.pattern = (
            re.compile(self.config.question_pattern) if self.config.question_pattern else None
        )
        self.front = front_matter(self.text)
        if self.front.lines:
            self.read_front_matter()
            # Its lines stay, blank, so every later line keeps its number.
            rest = self.text.split("\n", self.front.lines)
            self.text = "\n" * self.front.lines + (rest[-1] if len(rest) > self.front.lines else "")
        self.lines = self.text.split("\n")
        self.resolver = Resolver(self.root, (self.root / self.path).parent.resolve())
        self.images: dict[str, Target] = {}
        # The renderers read the path rules' verdict on each image from the environment.
        self.env: dict[str, Any] = {"images": self.images}
        self.typst = TypstRenderer(self.images) if self.want_typst else None
        self.tokens: list[Token] = []  # the parsed lines' (all of them but in a splice)
        self.open_q: tuple[int, int, str] | None = None  # (heading index, body start, question)
        self.growing: _Answer | None = None  # a list or paragraph question's answer
        self.scans: list[tuple[int, Diagnostic]] = []  # (index in contentscan.SCANS, finding)
        self.headings: list[Heading] = []
        self.bold_lines: list[int] = []
        self.marks: list[Mark] = []
        self.taken_open = 0  # open_level at the end of a unit taken whole
        self.earlier: Shape | None = None  # in a splice: the shape of the compile spliced from
        # In a splice: the runs of units taken, by their first line now, with the lines they
        # moved and the places their cards moved (:meth:`take`, :meth:`units`).
        self.runs: dict[int, tuple[tuple[Unit, ...], int, int]] = {}
        self.misjudged_cards: list[int] = []  # in a splice: :meth:`misjudged`
        # In a splice: where the lines read so far end inside a numbered list of questions,
        # and the lists of parsed stretches that go on in the stretch after them.
        self.list_at: ListAt = (0, "")
        self.goes_on: dict[int, ListAt] = {}  # id(ordered_list_open) -> where the list goes on
        self.cards: list[Card] = []
        self.taken: list[Taken] = []  # in a splice: the runs of cards taken as they were
        self.sections: list[tuple[int, str]] = []
        # One Deck a section, shared by its cards: pickled once in the cache, its path joined once.
        self.decks: dict[tuple[str, ...], Deck] = {}
        self.stray: list[int] = []  # 0-based first lines of blocks in no question
        self.skipped = 0

    # -- diagnostics
    def warn(self, line: int, message: str, code: str, severity: Severity = "warning") -> None:
        self.diagnostics.append(Diagnostic(self.path, line, severity, message, code))

    # -- front matter
    def read_front_matter(self) -> None:
        """Title, tags and structure settings from the front matter; the rest is metadata."""
        values = self.front.values
        if values is None:
            self.warn(1, f"{self.front.problem}; it is ignored", "front-matter")
            return
        # A mapping or a list became its Python repr in the deck and the tags (the eleventh
        # trial): said, and left out.
        title, tags = values.get("title"), values.get("tags")
        if isinstance(title, (dict, list)):
            self.warn(1, "front matter: title must be text; it is ignored", "front-matter")
        elif self.path not in self.config.titles and str(title or "").strip():
            self.file_title = deck_name(str(title))
        if isinstance(tags, dict) or (
            isinstance(tags, list) and any(isinstance(t, (dict, list)) for t in tags)
        ):
            self.warn(
                1,
                "front matter: tags must be text or a list of text; they are ignored",
                "front-matter",
            )
        else:
            self.extra_tags = as_strings(tags)
        level = values.get("question_level", self.level)
        style = values.get("question_style", self.style)
        pattern = values.get("question_pattern", self.config.question_pattern)
        problems = structure_problems(level, style, pattern)
        if problems:
            self.warn(
                1, "front matter: " + "; ".join(problems) + "; using cardsmith.toml", "front-matter"
            )
            return
        self.level, self.style = level, style
        self.pattern = re.compile(pattern) if pattern else None

    # -- structure
    def detect(self, headings: Sequence[Heading], asking_bold: int) -> None:
        """Decide, once per file, what opens a question (see :mod:`pipeline.shapes`), from
        its top-level headings and the number of its paragraphs that ask in bold."""
        style = self.style
        headings_ask = style in ("auto", "heading")
        self.q_level: int | None = None
        self.q_any = False  # unnumbered headings at the question level ask too
        self.chapters: frozenset[int] = frozenset()
        if headings_ask and self.level:
            self.q_level, self.q_any = self.level, True
        elif headings_ask:
            found = numbering(headings)
            self.q_level, self.chapters = found.level, found.chapters
            if self.q_level is None:
                self.q_level = asking_level(headings)
                self.q_any = self.q_level is not None
            if style == "heading":
                self.q_any = True
        self.lists = style in ("auto", "list")
        self.qa = style in ("auto", "qa")
        self.bold = style == "bold" or (style == "auto" and asking_bold >= 2)

    def asking_bold(self, tokens: list[Token], start: int, end: int) -> list[int]:
        """0-based lines of the top-level paragraphs among ``tokens[start:end]`` whose first
        line is a bold question."""
        return [
            tok.map[0]
            for i in range(start, end)
            if (tok := tokens[i]).type == "paragraph_open"
            and tok.level == 0
            and tok.map
            and self.bold_question(tokens[i + 1], True)
        ]

    def settings(self) -> tuple[Any, ...]:
        """What the shape is decided from besides the lines (settings, front matter)."""
        pattern = self.pattern.pattern if self.pattern else ""
        return (self.level, self.style, pattern, self.extra_tags, self.file_title)

    def shape(self) -> Shape:
        return Shape(
            self.settings(), self.q_level, self.q_any, self.chapters, self.lists, self.qa, self.bold
        )

    def bold_question(self, inline: Token, asking: bool) -> str:
        """The question of a paragraph whose first line is all bold ("" when it is not)."""
        if not inline.content.startswith(("**", "__")):
            return ""  # most paragraphs: no copy of their text
        first = inline.content.split("\n", 1)[0]
        match = BOLD_LINE.match(first)
        if not match or match.group(1) in match.group(2):
            return ""
        text = match.group(2).strip()
        if text.endswith(("：", ":")) or (asking and not (asks(text) or NUMBER.match(text))):
            return ""
        return strip_number(text)

    def heading_question(self, start: int, level: int) -> str | None:
        """The question a heading outside any question asks (None: it is a section)."""
        inline = self.tokens[start + 1]
        text = inline.content.strip()
        if self.pattern and self.pattern.match(text):
            return self.pattern.sub("", text, count=1).strip()
        if self.q_level is None:
            return None
        marked = QUESTION_MARK.match(text)
        numbered = marked or (NUMBER.match(text) and not CHAPTER.match(text))
        # Numbered: at the question level; deeper (in no question); or a shallower one
        # that is no chapter (``## 2. 其他`` with text but no numbered headings below it).
        if numbered and (level >= self.q_level or self.tokens[start].map[0] not in self.chapters):  # type: ignore[index]
            return _unbold(_unmark(text, marked) if marked else strip_number(text))
        if level != self.q_level:
            return None
        shown = plain_text(inline.children or ())
        if (self.q_any or asks(shown)) and shown.lower() not in NOT_QUESTIONS:
            return _unbold(text)  # unnumbered: every heading asks here, or this one reads so
        return None

    def paragraph_question(self, inline: Token) -> bool:
        """True when a top-level paragraph opens a question."""
        first = inline.content.split("\n", 1)[0]
        if self.pattern and self.pattern.match(first):
            return True
        if self.qa and QUESTION_MARK.match(first):
            return True
        return self.bold and bool(self.bold_question(inline, self.style == "auto"))

    def run(self) -> ParsedFile:
        """Compile the whole file from one parse of it."""
        early, self.diagnostics = self.diagnostics, []
        self.tokens = tokens = markdown().parse(self.text, self.env)
        if self.typst:
            self.typst.prepare(tokens)
        self.scans = self.scan(tokens)
        self.headings = top_headings(tokens)
        self.bold_lines = self.asking_bold(tokens, 0, len(tokens))
        self.detect(self.headings, len(self.bold_lines))
        self.mark(0, 0)
        self.walk(0, len(tokens))
        self.close()
        self.footnotes()
        self.report_unplaced()
        self.typst_problems()
        unitary = not self.env.get("references") and self.typst is None and self.keyed
        return self.result(early, unitary and "\0" not in self.text and not _loose_math(tokens))

    def splice(self, previous: ParsedFile) -> ParsedFile | None:
        """Compile the file from ``previous`` (this file's records from an earlier compile
        under the same settings and code): its units whose lines are the same, wherever
        they moved, are taken as they were, and only the lines between them are parsed.

        None when the file cannot be spliced (the shape of the file changed, a reference
        definition, a unit that no longer starts cleanly...): compile it whole then. The
        result is the whole compile's, field for field (``tests/test_splice.py``).
        """
        if self.typst is not None or not self.keyed or "\0" in self.text:
            return None
        shape, units = units_of(previous.units)
        if shape.settings != self.settings():
            return None
        self.earlier = shape
        regions = found_again(units, self.lines)
        parsed: dict[int, list[Token]] = {}
        for k, region in enumerate(regions):
            if isinstance(region, tuple):
                if _has_math_delimiter(self.lines[region[0] : region[1]]):
                    return None  # it may pair with one in a unit: see _loose_math
                tokens = self.parse_lines(*region)
                if tokens is None:
                    return None
                parsed[k] = tokens
                self.scans += self.scan(tokens)
                self.headings += top_headings(tokens)
                self.bold_lines += self.asking_bold(tokens, 0, len(tokens))
            else:
                moved, unit = region.moved, region.unit
                self.scans += unit.scans  # found only where they were (``regions``)
                if moved:
                    self.headings += [replace(h, line=h.line + moved) for h in unit.headings]
                    self.bold_lines += [line + moved for line in unit.bold]
                else:
                    self.headings += unit.headings
                    self.bold_lines += unit.bold
        self.detect(self.headings, len(self.bold_lines))
        # Which headings are chapters is judged unit by unit (``take``): lines move.
        if replace(self.shape(), chapters=frozenset()) != replace(shape, chapters=frozenset()):
            return None
        early, self.diagnostics = self.diagnostics, []
        self.misjudged_cards = self.misjudged(regions, previous.cards)
        self.mark(0, 0)
        k = 0
        while k < len(regions):
            region = regions[k]
            if isinstance(region, Placed):
                taken = self.take(regions, k, previous)
                if taken:
                    k += taken
                    continue
                again = self.parse_lines(region.start, region.end)
                if again is None:
                    return None
                parsed[k] = again
            start = region.start if isinstance(region, Placed) else region[0]
            if not self.goes_on_from(start, parsed[k]):
                return None
            if self.list_at[0]:  # the item before ends here, as the next one starts
                self.boundary(start, len(self.tokens), self.list_at)
            first = len(self.tokens)
            self.tokens += parsed[k]
            self.list_at = (0, "")  # unless its last list goes on in the next stretch
            self.walk(first, len(self.tokens))
            k += 1
        self.close()
        if not self.cards and not self.skipped:
            return None  # "no question in this file" reads every heading of it
        if self.env.get("references"):
            return None  # defined by an answer read on its own: it reaches the other cards
        self.report_unplaced()
        return self.result(early, True)

    def parse_lines(self, start: int, end: int) -> list[Token] | None:
        """The tokens of the 0-based lines ``[start, end)`` parsed on their own, placed.

        ``start`` is 0 or a top-level heading before which nothing is open. The line at
        ``end`` (a heading) is parsed with them: it must come out a top-level heading, so
        that nothing they open runs on past ``end`` (else None, as for a reference
        definition, which reaches the whole file).
        """
        lines = self.lines
        upto = min(end + 1, len(lines))
        env: dict[str, Any] = {"images": self.images}
        tokens = markdown().parse("\n".join(lines[start:upto]), env)
        if env.get("references"):
            return None
        if upto > end and ITEM_LINE.match(lines[end]):
            if not self.cut_before_item(tokens, start, end):
                return None
        elif upto > end:
            head = tokens[-3] if len(tokens) >= 3 else None
            if head is None or head.type != "heading_open" or head.level != 0:
                return None
            if head.map != [end - start, end - start + 1] or is_setext(head):
                return None
            del tokens[-3:]
        for tok in tokens:
            if tok.map:
                tok.map = [tok.map[0] + start, tok.map[1] + start]
        return tokens

    def cut_before_item(self, tokens: list[Token], start: int, end: int) -> bool:
        """Take from ``tokens`` (of the lines ``[start, end]``) the item of a top-level
        numbered list at the 0-based line ``end``, read to see where the items before it
        end, when it goes on their list: the lines from ``end`` on go on with that list,
        at the number it has there (what follows checks that they do: :meth:`take`,
        :meth:`goes_on_from`). False when it does not."""
        if not tokens or tokens[-1].type != "ordered_list_close" or tokens[-1].level:
            return False
        opened = max(
            i for i, t in enumerate(tokens) if t.type == "ordered_list_open" and not t.level
        )
        items = [
            i
            for i in range(opened, len(tokens))
            if tokens[i].type == "list_item_open" and tokens[i].level == 1
        ]
        last = tokens[items[-1]]
        number = int(tokens[opened].attrGet("start") or 1) + len(items) - 1
        if len(items) < 2 or last.map is None or last.map[0] != end - start:
            return False
        del tokens[items[-1] : -1]
        self.goes_on[id(tokens[opened])] = (number, tokens[opened].markup)
        return True

    def goes_on_from(self, line: int, tokens: list[Token]) -> bool:
        """Whether the tokens of the lines from the 0-based ``line`` on may follow what was
        read before them: inside a numbered list of questions, they must go on with it as
        the whole file's compile would (with its next item, loose as the list is: a blank
        line came before); elsewhere, they must not start inside a list."""
        if not self.list_at[0]:
            return not (line and ITEM_LINE.match(self.lines[line]))
        first = tokens[0] if tokens else None
        if first is None or first.type != "ordered_list_open" or first.map is None:
            return False
        if first.map[0] != line or first.markup != self.list_at[1]:
            return False
        if int(first.attrGet("start") or 1) != self.list_at[0]:
            return False
        end = next(
            i for i, t in enumerate(tokens) if t.type == "ordered_list_close" and not t.level
        )
        loose = not any(
            t.hidden for t in tokens[:end] if t.type == "paragraph_open" and t.level == 2
        )
        return loose and not is_toc(tokens, 0, end + 1)  # read alone, as in the whole list

    def take(self, regions: Sequence[Region], k: int, previous: ParsedFile) -> int:
        """Take units of ``previous`` as they were (their lines moved with them), from the
        one found again at ``regions[k]`` on, as many as may be: how many (0: that one is
        read again). The compile must stand where it stood then at the first: nothing open,
        the same sections and list. Those after it must have followed it there and follow
        it now, moved alike. Each must end where it did (its last answer ending at the
        heading after it), keep its chapters and have its images and links judged the
        same. They are taken at once: a file's unchanged units are a few runs, not one a
        question, for this and every later stage."""
        lines, head = self.lines, regions[k]
        assert isinstance(head, Placed) and self.earlier is not None
        open_q = self.open_q
        if open_q and atx_level(lines[head.start]) > len(self.tokens[open_q[0]].markup):
            return 0  # it starts with a sub-heading of the question before it
        if self.list_at != head.unit.list_at:
            return 0  # it starts inside a list, and the lines before do not go on to it
        self.boundary(head.start, len(self.tokens), head.unit.list_at)
        if tuple(self.sections) != head.unit.sections:
            return 0
        moved, chapters, earlier = head.moved, self.chapters, self.earlier.chapters
        misjudged = self.misjudged_cards
        next_misjudged = bisect_left(misjudged, head.unit.cards[0])
        judged = (
            misjudged[next_misjudged] if next_misjudged < len(misjudged) else len(previous.cards)
        )
        units: list[Unit] = []
        end = head.start
        for region in itertools.islice(regions, k, None):
            if not isinstance(region, Placed) or region.start != end:
                break
            unit = region.unit
            if units and not (
                unit.start == units[-1].end  # the unit after it there
                and unit.sections == units[-1].after
                and unit.list_at == units[-1].list_after
            ):
                break
            if unit.cards[1] > judged:
                break  # an image or link of its cards is judged otherwise now
            end = region.end
            if unit.open_level and end < len(lines) and atx_level(lines[end]) > unit.open_level:
                break  # its last answer goes on under the heading after it
            if (chapters or earlier) and [h.line + moved in chapters for h in unit.headings] != [
                h.line in earlier for h in unit.headings
            ]:
                break
            units.append(unit)
        if not units:
            return 0
        first, last = units[0].cards[0], units[-1].cards[1]
        at = len(self.cards)
        cards = previous.cards[first:last]
        if first < last:
            self.took(Taken(at, first, last, moved))
        if moved:
            cards = tuple(moved_card(card, moved) for card in cards)
        decks, out = self.decks, self.cards
        for card in cards:  # one Deck a section in this compile, as a whole compile has
            deck = decks.setdefault(card.deck.sections, card.deck)
            out.append(card if card.deck is deck else _with_deck(card, deck))
        said = [d for unit in units for d in unit.said]
        stray = [line for unit in units for line in unit.stray]
        if moved:
            for key, made in previous.compiled[first:last]:
                self.compiled.append((key, moved_all(made, moved)))
            self.diagnostics += moved_all(tuple(said), moved)
            self.stray += [line + moved for line in stray]
        else:
            self.compiled += previous.compiled[first:last]
            self.diagnostics += said
            self.stray += stray
        self.skipped += sum(unit.skipped for unit in units)
        self.sections = list(units[-1].after)
        self.taken_open = units[-1].open_level  # its last question's answer ran to its end
        self.list_at = units[-1].list_after
        self.runs[head.start] = (tuple(units), moved, at - first)  # for :meth:`units`
        return len(units)

    def misjudged(self, regions: Sequence[Region], cards: Sequence[Card]) -> list[int]:
        """The indexes of the ``cards`` of the units found again (``regions``) whose images
        or links the path rules judge otherwise now (a file gone, one added): :meth:`take`
        takes none of them."""
        judged_alike = self.resolver.judged_alike
        return [
            i
            for region in regions
            if isinstance(region, Placed)
            for i in range(*region.unit.cards)
            if cards[i].targets and not judged_alike(cards[i].targets)
        ]

    def took(self, run: Taken) -> None:
        """Note ``run`` among the cards taken: one run with the run before it when they
        follow each other in both compiles, moved alike (a file's unchanged units make a
        few runs, not one a question, for every later stage to go through)."""
        before = self.taken[-1] if self.taken else None
        if (
            before is not None
            and before.at + before.last - before.first == run.at
            and before.last == run.first
            and before.moved == run.moved
        ):
            self.taken[-1] = before._replace(last=run.last)
        else:
            self.taken.append(run)

    def walk(self, first: int, last: int) -> None:
        """Read the blocks of ``tokens[first:last]`` into cards, carrying on from where the
        blocks before them left off (an open question, an answer still growing)."""
        tokens = self.tokens
        q_level = self.q_level
        for start, end in _blocks(tokens, first, last):
            tok = tokens[start]
            kind = tok.type
            if kind == "heading_open":
                if is_setext(tok):
                    self.setext(start)
                    if self.open_q:
                        continue
                    growing = self.growing
                    if growing and growing.next_number == 0:
                        self.grow(growing, start, end)
                    elif growing:
                        growing.trailing.append((start, end))
                    continue
                level = len(tok.markup)
                if self.open_q and level > len(tokens[self.open_q[0]].markup):
                    continue  # a sub-heading of the answer
                assert tok.map
                self.boundary(tok.map[0], start)
                inline = tokens[start + 1]
                question = self.heading_question(start, level)
                if question is None and q_level is not None and level > q_level:
                    self.unplaced(start)  # deeper than the questions: not a section
                elif question is None:
                    title = plain_text(inline.children or ())
                    # Not the file's title repeated (``# Python`` in python.md): Anki
                    # tells deck names apart without case.
                    if self.sections or deck_name(title).casefold() != self.file_title.casefold():
                        self.push_section(level, title)
                elif not question:
                    self.empty_question(start, inline)
                else:
                    while self.sections and self.sections[-1][0] >= level:
                        self.sections.pop()  # a question closes the sections of its level
                    self.open_q = (start, end, question)
                continue
            if self.open_q:
                continue
            growing = self.growing
            if kind == "paragraph_open" and self.paragraph_question(tokens[start + 1]):
                self.finish(growing)
                self.growing = self.paragraph_cards(start)
                continue
            if kind == "hr":
                continue  # a rule between questions is presentation
            if kind in ("ordered_list_open", "bullet_list_open") and is_toc(tokens, start, end):
                self.finish(growing)
                self.growing = None
                continue  # a table of contents (anchors, note files): dropped on purpose
            if self.sections and self.sections[-1][1].lower() in NOT_QUESTIONS:
                self.unplaced(start)  # a bibliography or contents section asks nothing
                continue
            if growing and growing.next_number == 0 and not self.answered_asks(start, end):
                self.grow(growing, start, end)  # a paragraph question's answer goes on
            elif kind == "ordered_list_open" and self.lists and not self.makes_points(start, end):
                number = int(tok.attrGet("start") or 1)
                if growing:
                    self.finish(growing, continued=number == growing.next_number)
                self.growing = self.list_cards(start, end, number)
            elif (
                kind == "bullet_list_open"
                and self.lists
                # after a numbered list it may answer its last item (:meth:`finish` decides)
                and not (growing and growing.next_number > 0)
                and self.bullets_ask(start, end)
            ):
                if growing:  # an item's answer, not indented, between two lists that ask
                    self.finish(growing, continued=True)
                self.growing = self.bullet_cards(start, end)
            elif growing:
                growing.trailing.append((start, end))
            elif kind != "html_block":  # raw HTML was reported already
                self.unplaced(start)

    def boundary(self, line: int, body_end: int, list_at: ListAt = (0, "")) -> None:
        """A top-level heading at the 0-based ``line`` that is no sub-heading of an open
        question: the question before it ends (its answer runs to ``tokens[body_end]``),
        and so does an answer still growing. Nothing is left open: a unit may start here."""
        open_level = len(self.tokens[self.open_q[0]].markup) if self.open_q else self.taken_open
        self.taken_open = 0
        if self.open_q:
            self.heading_card(self.open_q, body_end, line)
            self.open_q = None
        self.finish(self.growing)
        self.growing = None
        self.mark(line, open_level, list_at)

    def close(self) -> None:
        """The end of the file: the last question ends."""
        self.boundary(len(self.lines), len(self.tokens))

    def mark(self, line: int, open_level: int, list_at: ListAt = (0, "")) -> None:
        found = Mark(
            line,
            len(self.cards),
            len(self.diagnostics),
            len(self.stray),
            self.skipped,
            tuple(self.sections),
            open_level,
            list_at,
        )
        if self.marks and self.marks[-1].line == line:
            # Nothing between them (a unit not taken after all, read again): one mark, and
            # the answer that ended here was the one the first saw.
            open_level = open_level or self.marks[-1].open_level
            self.marks[-1] = found._replace(open_level=open_level)
        else:
            self.marks.append(found)

    def unplaced(self, start: int) -> None:
        """The block at ``tokens[start]`` is in no question (reported at the end)."""
        self.stray.append(self.first_line(start))

    def scan(self, tokens: list[Token]) -> list[tuple[int, Diagnostic]]:
        """The file-wide checks' findings in ``tokens`` (which read the whole file's lines)."""
        return [
            (i, Diagnostic(self.path, line, severity, message, code))
            for i, scan in enumerate(contentscan.SCANS)
            for line, severity, message, code in scan(tokens, self.lines)
        ]

    def result(self, early: list[Diagnostic], unitary: bool) -> ParsedFile:
        """The compiled file: the diagnostics of reading it (``early``), of the scans, of
        its cards; with its units when ``unitary`` (the next compile may splice)."""
        scans = (d for _, d in sorted(self.scans, key=lambda found: found[0]))
        units = b""
        if unitary and (self.cards or self.skipped):
            units = units_bytes(self.shape(), self.units())
        return ParsedFile(
            self.path,
            tuple(self.cards),
            (*early, *scans, *self.diagnostics),
            tuple(self.compiled),
            units,
        )

    def units(self) -> tuple[Unit, ...]:
        """The units between the marks: each with what the compile read and said in it;
        those taken in a run (:meth:`take`) as they were, moved."""
        starts = [m.line for m in self.marks[:-1]]
        headings: list[list[Heading]] = [[] for _ in starts]
        bold: list[list[int]] = [[] for _ in starts]
        scans: list[list[tuple[int, Diagnostic]]] = [[] for _ in starts]
        for heading in self.headings:
            headings[bisect_right(starts, heading.line) - 1].append(heading)
        for line in self.bold_lines:
            bold[bisect_right(starts, line) - 1].append(line)
        for found in self.scans:
            scans[max(0, bisect_right(starts, found[1].line - 1) - 1)].append(found)
        lines, runs = self.lines, self.runs
        made: list[Unit] = []
        for k, (a, b) in enumerate(itertools.pairwise(self.marks)):
            run = runs.get(a.line)
            if run is not None:
                made += moved_units(*run)
                continue
            made.append(
                Unit(
                    a.line,
                    b.line,
                    digest(lines, a.line, b.line),
                    lines[a.line] if a.line < len(lines) else "",
                    a.sections,
                    b.sections,
                    b.open_level,
                    tuple(headings[k]),
                    tuple(bold[k]),
                    (a.cards, b.cards),
                    tuple(scans[k]),
                    tuple(self.diagnostics[a.said : b.said]),
                    tuple(self.stray[a.stray : b.stray]),
                    b.skipped - a.skipped,
                    a.list_at,
                    b.list_at,
                )
            )
        return tuple(made)

    def push_section(self, level: int, title: str) -> None:
        while self.sections and self.sections[-1][0] >= level:
            self.sections.pop()
        self.sections.append((level, deck_name(title)))

    def typst_problems(self) -> None:
        """What the PDF could not print as written (a formula it shows as TeX)."""
        for line, message in self.typst.problems if self.typst else ():
            self.warn(line, message, MATH_PDF)

    # -- never silent
    def setext(self, start: int) -> None:
        tok = self.tokens[start]
        assert tok.map
        text = " ".join(self.tokens[start + 1].content.split())
        # '===' is never a rule (CommonMark 4.1): it only ever underlines a title.
        underline, remedy = (
            ("---", "put a blank line before '---' for a rule, or write '## …' for a heading")
            if tok.markup == "-"
            else ("===", f"write '# {text[:20]}' to make it a heading of its own")
        )
        self.warn(
            tok.map[1],
            f"'{underline}' under text makes it a heading (setext): kept as text, not a section "
            f"or question: {text[:40]}; {remedy}",
            "setext-heading",
        )

    def empty_question(self, start: int, inline: Token) -> None:
        tok = self.tokens[start]
        assert tok.map
        self.skipped += 1
        self.warn(
            tok.map[0] + 1,
            f"numbered heading '{tok.markup} {inline.content.strip()}' has no question text; "
            "skipped with everything under it",
            "empty-question",
        )

    def report_unplaced(self) -> None:
        """Text in no question: one warning per block, or one for a file with no question."""
        if self.cards or self.skipped:
            for at in self.stray:
                text = " ".join(self.lines[at].split()) if at < len(self.lines) else ""
                self.warn(
                    at + 1,
                    f"text outside any question is in no output: {text[:40]}",
                    "outside-question",
                )
            self.level_hint()
            self.numbered_hint()
            labels = self.labels(self.written_headings())
            if labels and self.stray:
                self.warn(self.stray[0] + 1, _LABELS_HINT.format(labels), "outside-question")
            return
        headings = self.written_headings()
        if not headings and not self.stray:
            return
        numbered = self.numbered_clause()[1]
        if headings:
            levels = [h.split(" ", 1)[0] for h in headings]
            # The level whose headings read as questions, if any (``## 为什么需要梯度裁剪？``
            # over ``### 原理``), else the commonest; ties go to the deepest: a lone
            # shallower heading is most often the file's title.
            asking = [level for level, h in zip(levels, headings, strict=True) if asks(h)]
            common = max(sorted(set(asking or levels), reverse=True), key=(asking or levels).count)
            shown = ", ".join(f"'{h[:30]}'" for h in headings[:4])
            more = f" and {len(headings) - 4} more" if len(headings) > 4 else ""
            what = f"{len(headings)} heading(s) ({shown}{more})"
            title = title_question(self.headings)
            clause = self.title_clause(title)
            # One hint a level; none for a lone title over numbered paragraphs (it asks
            # nothing, and would take them all as its answer).
            lone = numbered and len(headings) == 1 and not asking
            if not lone and not (clause and title and title.level == len(common)):
                clause += (
                    f"if the '{common}' headings are the questions, set question_level = "
                    f"{len(common)}; "
                )
            ifs = f"{numbered}{clause}"
            hint = (
                f"{ifs}{'else ' if ifs else ''}set question_style (heading, list, bold or qa) "
                "in cardsmith.toml or the file's front matter"
            )
            hint = self.labels_hint(headings) or hint
        else:
            what = "its text"
            hint = (
                f"{numbered}{'else ' if numbered else ''}set question_style (list, bold or qa) "
                "or question_pattern in cardsmith.toml or the file's front matter"
            )
        first = self.tokens[0].map[0] + 1 if self.tokens and self.tokens[0].map else 1
        self.warn(first, f"no question recognised in {what}; {hint}", "no-questions")

    def written_headings(self) -> list[str]:
        """The file's top-level ATX headings as a hint quotes them: marks, a space, their
        text. From :attr:`headings`, which a splice keeps too (its tokens are only those it
        read again)."""
        return [f"{'#' * h.level} {h.shown}" for h in self.headings]

    def labels_hint(self, headings: list[str]) -> str:
        """The hint for a file with no question whose ``headings`` (as written) label a
        question's parts (:meth:`labels`), with the level of a lone title above them
        (``# 剑指 Offer 7. 重建二叉树`` over ``## 题目描述``: the title asks); "" otherwise."""
        labels = self.labels(headings)
        if not labels:
            return ""
        levels = [len(h.split(" ", 1)[0]) for h in headings]
        titles = [h for h, level in zip(headings, levels, strict=True) if level == min(levels)]
        label = titles[0].split(" ", 1)[-1].lower() in QUESTION_LABELS | ANSWER_LABELS
        if len(titles) > 1 or headings[0] != titles[0] or label:
            return _LABELS_HINT.format(labels)
        return _LABELS_HINT.format(labels) + (
            f"; or set question_level = {min(levels)} (cardsmith.toml or front matter) to "
            f"make '{titles[0][:30]}' the question, all below it its answer"
        )

    @staticmethod
    def labels(headings: list[str]) -> str:
        """The first heading that labels a question's text and the first that labels its
        answer (``'# 题目' and '# 参考答案'``), when ``headings`` (as written, marks and
        text) hold both; "" otherwise."""

        def first(table: frozenset[str]) -> str:
            return next((h for h in headings if h.split(" ", 1)[-1].lower() in table), "")

        asked, answered = first(QUESTION_LABELS), first(ANSWER_LABELS)
        return f"'{asked}' and '{answered}'" if asked and answered else ""

    def footnotes(self) -> None:
        """A warning at each footnote (``[^1]: …``): CommonMark reads it as a link reference
        definition, so its text is in no output and ``[^1]`` becomes a link (found by the
        twelfth trial). A file with one is always compiled whole (a reference reaches every
        card), so its lines are read here."""
        if not any(label.startswith("^") for label in self.env.get("references", {})):
            return
        for i, line in enumerate(self.lines):
            found = _FOOTNOTE.match(line)
            if found:
                if i in self.stray:  # not a definition (a space in it): told here, once
                    self.stray.remove(i)
                self.warn(
                    i + 1,
                    f"footnote [^{found.group(1)}] is not supported (CommonMark has none): its "
                    "text is in no output; write the note into the answer",
                    "footnote",
                )

    def level_hint(self) -> None:
        """One warning naming the setting when headings of one level, three or more, have
        text in no question right under them: they are most likely the questions, missed
        (numbered ``## 1 题``, worded as tasks) while a stray numbered list made its items
        the questions. The hint of a file with no question never came then (found by the
        twelfth trial on public notes)."""
        if not self.stray or self.level or not self.headings:
            return
        headings = sorted(self.headings, key=lambda h: h.line)
        starts = [h.line for h in headings]
        under: dict[int, list[Heading]] = defaultdict(list)
        seen: set[int] = set()
        for at in sorted(self.stray):
            i = bisect_right(starts, at) - 1
            if i >= 0 and headings[i].line not in seen:
                seen.add(headings[i].line)
                under[headings[i].level].append(headings[i])
        level, found = max(under.items(), key=lambda kv: (len(kv[1]), kv[0]), default=(0, []))
        if len(found) < _HINT_HEADINGS or level == self.q_level:
            return
        marks = "#" * level
        shown = ", ".join(f"'{marks} {h.shown[:24]}'" for h in found[:3])
        more = f" and {len(found) - 3} more" if len(found) > 3 else ""
        clause = self.title_clause(title_question(self.headings))
        self.warn(
            found[0].line + 1,
            f"{len(found)} '{marks}' headings ({shown}{more}) have text under them that is in "
            f"no question: {clause}if they are the questions, set question_level = {level} in "
            "cardsmith.toml or the file's front matter",
            "question-level",
        )

    def numbered_clause(self) -> tuple[int, str]:
        """The start of a hint for a file whose text in no question holds two or more
        paragraphs numbered as Markdown lists are not (``1、什么是 GIL？``): the
        ``question_pattern`` that reads them as questions, and the 0-based line of the
        first ((0, "") without them)."""
        found: dict[str, list[int]] = {}
        for at in self.stray:
            pattern = paragraph_numbering(self.lines[at]) if at < len(self.lines) else None
            if pattern is not None:
                found.setdefault(pattern, []).append(at)
        pattern, lines = max(found.items(), key=lambda kv: len(kv[1]), default=("", []))
        if len(lines) < 2:
            return 0, ""
        shown = " ".join(self.lines[lines[0]].split())[:30]
        # The value as each file writes it: TOML's ``=``, front matter's YAML ``:`` (the
        # twenty-sixth trial pasted the first into front matter).
        return lines[0], (
            f"if its {len(lines)} paragraphs numbered as '{shown}' are the questions, set "
            f"question_pattern = '{pattern}' (front matter: question_pattern: '{pattern}'); "
        )

    def numbered_hint(self) -> None:
        """One warning, at the first of them, when a file with questions has two or more
        paragraphs in no question numbered as Markdown lists are not
        (:meth:`numbered_clause`): each has a warning of its own, but none names the
        setting that reads them."""
        first, clause = self.numbered_clause()
        if clause:
            self.warn(
                first + 1,
                f"{clause[:-2]} in cardsmith.toml or the file's front matter",
                "outside-question",
            )

    def title_clause(self, title: Heading | None) -> str:
        """The start of a hint for a file whose first heading, ``title``, may be its one
        question (:func:`~pipeline.shapes.title_question`): the level that reads it so;
        "" without one, or when that level reads the questions already."""
        if title is None or title.level == self.q_level:
            return ""
        marks = "#" * title.level
        return (
            f"if '{marks} {title.shown[:30]}' is the file's one question, set "
            f"question_level = {title.level}; "
        )

    def first_line(self, start: int) -> int:
        """The 0-based first line of the block at ``tokens[start]``. A block a plugin made
        without a source map (``mathmd`` gives the formulas theirs) starts at the first line
        with text after the block before it."""
        mapped = self.tokens[start].map
        if mapped:
            return mapped[0]
        after = next((t.map[1] for t in reversed(self.tokens[:start]) if t.map), 0)
        return next((i for i in range(after, len(self.lines)) if self.lines[i].strip()), after)

    # -- cards
    def deck(self) -> Deck:
        sections = tuple(t for _, t in self.sections)
        found = self.decks.get(sections)
        if found is None:
            root = unicodedata.normalize("NFC", self.config.root_deck)
            found = self.decks[sections] = Deck(root, self.file_title, sections)
        return found

    def heading_card(self, open_q: tuple[int, int, str], body_end: int, line_end: int) -> None:
        """The card of the heading question ``open_q``: its answer is ``tokens[body_start:
        body_end]``, up to the 0-based ``line_end``."""
        h_start, body_start, question = open_q
        heading, inline = self.tokens[h_start], self.tokens[h_start + 1]
        assert heading.map
        children = inline.children or []
        if question == inline.content.strip():
            stripped = children
        elif question == strip_number(inline.content) and children[0].type == "text":
            stripped = _strip_number(children)  # the number was plain text in front
        else:
            stripped = self.inline_of(question, heading.map[0]).children or []
        answer_md = "\n".join(_trim_blank(self.lines[heading.map[1] : line_end]))
        answer_tokens = self.tokens[body_start:body_end]
        self.add_card(question, stripped, heading.map[0] + 1, answer_md, answer_tokens, inline)

    def inline_of(self, markdown_text: str, line: int) -> Token:
        """An inline token of ``markdown_text``, placed at the 0-based ``line``."""
        inline = markdown().parseInline(markdown_text, self.env)[0]
        inline.map = [line, line + 1]
        return inline

    def blocks_of(self, lines: list[str], line: int) -> list[Token]:
        """Block tokens of ``lines`` (part of a paragraph), placed from the 0-based ``line``."""
        tokens = markdown().parse("\n".join(lines), self.env)
        for tok in tokens:
            if tok.map:
                tok.map = [tok.map[0] + line, tok.map[1] + line]
        return tokens

    def grow(self, growing: _Answer, start: int, end: int) -> None:
        """Add the blocks ``tokens[start:end]`` (and their trailing ones) to an answer."""
        begin = growing.trailing[0][0] if growing.trailing else start
        first, last = self.tokens[begin].map, self.tokens[start].map
        assert first and last
        lines = self.lines[first[0] : last[1]]
        tokens = self.tokens[begin:end]
        if not growing.lines and tokens[0].type == "paragraph_open":
            tokens, lines = self.unmarked_answer(tokens, lines)  # ``A: …`` opening it
        # An answer indented less than its item's text (``   answer`` under ``10.``).
        indent = min((len(ln) - len(ln.lstrip(" ")) for ln in lines if ln.strip()), default=0)
        if growing.lines:
            growing.lines.append("")
        growing.lines.extend(ln[indent:] for ln in lines)
        growing.tokens.extend(tokens)
        growing.trailing.clear()

    def finish(self, growing: _Answer | None, continued: bool = False) -> None:
        """Make the card of a question whose answer is complete.

        Blocks after a list's last item answer it when the list goes on after them (the
        author's answer was not indented enough) or when the item had no answer of its own;
        otherwise they are text in no question.
        """
        if growing is None:
            return
        trailing, left = growing.trailing, []
        if trailing and (continued or not growing.answered):
            last_start, last_end = trailing.pop()
            self.grow(growing, last_start, last_end)  # from the first trailing block on
        else:
            left = list(trailing)
        answer_md = "\n".join(_trim_blank(growing.lines))
        self.add_card(
            growing.question,
            growing.children,
            growing.line,
            answer_md,
            growing.tokens if answer_md else [],
            growing.inline,
        )
        if left:
            self.read_again(left)

    def read_again(self, blocks: list[tuple[int, int]]) -> None:
        """Read the blocks after a list's last item that turned out not to answer it as
        blocks outside any question are: a bullet list that asks is a list of questions
        (``- 什么是 DNS？`` after an answered ``2.``), the rest is text in no question."""
        self.growing = None
        self.walk(blocks[0][0], blocks[-1][1])
        self.finish(self.growing)
        self.growing = None

    def paragraph_cards(self, start: int) -> _Answer | None:
        """The questions of a paragraph opening with ``Q:``/``问：``/a bold line; the last one's
        answer goes on in the blocks that follow."""
        para, inline = self.tokens[start], self.tokens[start + 1]
        assert para.map
        lines = inline.content.split("\n")
        cuts = [0] + [i for i in range(1, len(lines)) if QUESTION_MARK.match(lines[i])]
        growing: _Answer | None = None
        for a, b in zip(cuts, [*cuts[1:], len(lines)], strict=True):
            self.finish(growing)
            growing = self.paragraph_question_at(lines[a:b], para.map[0] + a)
        return growing

    def paragraph_question_at(self, lines: list[str], line: int) -> _Answer | None:
        """One question of a paragraph: its first line(s) up to an ``A:``, then the answer."""
        first = lines[0]
        marked = QUESTION_MARK.match(first)
        bold = BOLD_LINE.match(first)
        pattern = self.pattern.match(first) if self.pattern else None
        if pattern:
            question = first[pattern.end() :].strip()
        elif marked:
            question = _unmark(first, marked)
        elif bold:
            question = strip_number(bold.group(2))
        else:
            question = first.strip()
        answer_at = next((i for i in range(1, len(lines)) if ANSWER_MARK.match(lines[i])), 0)
        rest = lines[1:]
        if answer_at:
            question = " ".join([question, *(ln.strip() for ln in lines[1:answer_at])])
            rest = lines[answer_at:]
        inline_answer = _ANSWER_INLINE.search(question) if self.qa else None
        if inline_answer:
            rest = [question[inline_answer.end() :], *rest]
            question = question[: inline_answer.start()].strip()
        if rest:
            marked_answer = ANSWER_MARK.match(rest[0])
            if marked_answer:
                rest = [_unmark(rest[0], marked_answer), *rest[1:]]
        if not question:
            self.skipped += 1
            self.warn(line + 1, "question marker with no question text; skipped", "empty-question")
            return None
        inline = self.inline_of(question, line)
        answer_line = line + (len(lines) - len(rest))
        tokens = self.blocks_of(rest, answer_line) if any(r.strip() for r in rest) else []
        return _Answer(question, inline.children or [], inline, line + 1, tokens, list(rest))

    def list_cards(self, start: int, end: int, number: int) -> _Answer | None:
        """Every item of a top-level numbered list is a question; the last one is returned
        unfinished, as the blocks after the list may still answer it."""
        growing: _Answer | None = None
        items = list(_blocks(self.tokens, start + 1, end - 1))
        delimiter = self.tokens[start].markup
        for k, (item_start, item_end) in enumerate(items):
            self.finish(growing)
            growing = None
            if k and self.starts_unit(item_start, number + k):
                self.mark(self.first_line(item_start), 0, (number + k, delimiter))
            growing = self.list_item(item_start, item_end)
        if growing:
            growing.next_number = number + len(items)
        self.list_at = self.goes_on.get(id(self.tokens[start]), (0, ""))
        return growing

    def makes_points(self, start: int, end: int) -> bool:
        """Whether the top-level numbered list ``tokens[start:end]`` states points rather
        than asks: it starts at 1, and each of its items, without ending with a question
        mark, opens with a term and a colon (``1. **更多数据**：最有效的手段``) or is one line
        that ends a sentence, with nothing under it (``1. 一块很小的内存。``). It is then
        text in no question, or the answer of a list question before it that has none (the
        eighteenth trial found such lists read as hundreds of questions, the twenty-second
        the points under a heading that asks). A list numbered on from another (``3.``) is
        read as that one was."""
        tokens = self.tokens
        if int(tokens[start].attrGet("start") or 1) != 1:
            return False
        items = list(_blocks(tokens, start + 1, end - 1))
        for item, item_end in items:
            if tokens[item + 1].type != "paragraph_open":
                return False
            text = tokens[item + 2].content
            first = text.split("\n", 1)[0]
            if ends_asking(first):
                return False
            if not _TERM.match(first) and not (len(items) > 1 and _states(text, item, item_end)):
                return False
        return True

    def answered_asks(self, start: int, end: int) -> bool:
        """Whether the block ``tokens[start:end]`` is a numbered list of questions each
        answered under it (``1. 什么是缓存穿透？`` over an indented answer): after a ``Q:``
        or bold question's answer, it starts questions of its own, where other blocks go
        on with that answer (a later list of questions was swallowed into the answer of
        the ``问：`` above it without a word: the twenty-second trial). Questions in an
        answer with nothing under them (``面试官可能追问：1. …？``) stay in it."""
        tokens = self.tokens
        if tokens[start].type != "ordered_list_open" or not self.lists:
            return False
        for item, item_end in _blocks(tokens, start + 1, end - 1):
            if tokens[item + 1].type != "paragraph_open" or _bare(item, item_end):
                return False  # no question text first, or nothing under it
            if not ends_asking(tokens[item + 2].content.split("\n", 1)[0]):
                return False
        return True

    def bullets_ask(self, start: int, end: int) -> bool:
        """Whether the top-level bullet list ``tokens[start:end]`` is a list of questions:
        more than half of its items with text ask (:meth:`item_asks`). Its items are then
        all questions, as a numbered list's are: one odd item (``- std::move 做了什么？``, an
        empty one) does not take every card of the list away (the nineteenth trial). A list
        that states things (``- 列表可变``) is left alone."""
        tokens = self.tokens
        items = list(_blocks(tokens, start + 1, end - 1))
        texts = [tokens[i + 2].content for i, _ in items if tokens[i + 1].type == "paragraph_open"]
        asking = sum(self.item_asks(text.split("\n", 1)[0]) for text in texts)
        return asking * 2 > len(texts)

    def item_asks(self, first: str) -> bool:
        """Whether a bullet item whose first line is ``first`` asks: it opens with ``Q:``
        or a question's lead (``追问：``, ``面试官问：``), or matches ``question_pattern``, or
        ends with a question mark that follows no term and colon (a question mark inside
        the line, ``- 系统故障？查错误日志``, or after a term, ``- **稳定性**：是偶然的吗？``,
        makes a point: the eighteenth trial)."""
        marked = QUESTION_MARK.match(first) or _ASKER.match(first)
        if marked:  # with a question after it: ``- 问题：`` over points is a label
            return bool(first[marked.end() :].strip())
        if self.pattern and self.pattern.match(first):
            return True
        return ends_asking(first) and not _TERM.match(first)

    def bullet_cards(self, start: int, end: int) -> _Answer | None:
        """Every item of a top-level bullet list that asks (:meth:`bullets_ask`) is a
        question, read as a numbered item is; the last one is returned unfinished, as the
        blocks after the list may still answer it."""
        growing: _Answer | None = None
        for item_start, item_end in _blocks(self.tokens, start + 1, end - 1):
            self.finish(growing)
            growing = self.list_item(item_start, item_end)
        if growing:
            growing.next_number = _BULLETED
        return growing

    def starts_unit(self, item: int, number: int) -> bool:
        """Whether a unit may start at the item at ``tokens[item]``, numbered ``number`` in
        its list: at the left margin, with that number written, after a blank line (a
        stretch of lines read from there on gives its items as the whole list does)."""
        line = self.first_line(item)
        found = ITEM_LINE.match(self.lines[line])
        return bool(found and found.group(1) == str(number) and not self.lines[line - 1].strip())

    def list_item(self, start: int, end: int) -> _Answer | None:
        item = self.tokens[start]
        assert item.map
        blocks = list(_blocks(self.tokens, start + 1, end - 1))
        if not blocks:
            return None  # an empty item (``32. ``) is no question
        first_start = blocks[0][0]
        # ``1. ##### 引擎不支持事务`` over its answer: the heading is the question's text.
        if self.tokens[first_start].type not in ("paragraph_open", "heading_open"):
            after = " before its answer" if len(blocks) > 1 else ""
            self.warn(item.map[0] + 1, f"list item has no question text{after}", "no-question")
            return None
        inline = self.tokens[first_start + 1]
        rest = blocks[1:]
        width = _content_column(self.lines[item.map[0]])
        answer_tokens, answer_lines = self.unwrap(rest, width)
        question = inline.content.strip()
        children = inline.children or []
        # The answer starts at a line indented less than the item's text (a lazy line), or
        # at a line opening with ``答：``/``A:``, whichever comes first.
        lazy = min(
            (at for at in (self.lazy_line(inline, width), _answer_marked(question)) if at),
            default=0,
        )
        if not lazy and not answer_tokens and "\n" in question:
            # Only without another answer: ``什么是缺页中断？`` / ``请结合 mmap 说明。`` over an
            # answer paragraph is one question (the twenty-first trial), and so is a ``Q:``
            # question wrapped over two lines.
            lazy = _asked_lines(question)
        if lazy:
            # ``1. 问题`` then the answer on the next line, not indented (a lazy continuation
            # of the question's paragraph in CommonMark) or indented without a blank line
            # after a question mark, when the item has no other answer: an answer to its
            # author.
            parts = question.split("\n")
            question = "\n".join(parts[:lazy]).rstrip()  # not a hard break's spaces
            children = self.inline_of(question, item.map[0]).children or []
            assert inline.map
            head = parts[lazy:]
            answer_tokens = self.blocks_of(head, inline.map[0] + lazy) + answer_tokens
            answer_lines = head + ([""] if answer_lines else []) + answer_lines
        marked = QUESTION_MARK.match(question)
        if marked:  # ``- Q: 什么是GIL？``: the marker goes
            if not _unmark(question.split("\n", 1)[0], marked):
                self.skipped += 1  # ``- Q:`` alone: its answer is no question
                self.warn(
                    item.map[0] + 1,
                    "question marker with no question text; skipped",
                    "empty-question",
                )
                return None
            question = _unmark(question, marked)
            children = self.inline_of(question, item.map[0]).children or []
        if answer_tokens and answer_tokens[0].type == "paragraph_open":
            answer_tokens, answer_lines = self.unmarked_answer(answer_tokens, answer_lines)
        return _Answer(question, children, inline, item.map[0] + 1, answer_tokens, answer_lines)

    def unmarked_answer(
        self, tokens: list[Token], lines: list[str]
    ) -> tuple[list[Token], list[str]]:
        """An answer (``tokens`` and their Markdown ``lines``, starting with a paragraph)
        without the ``A:``/``答：`` that opens it, its first paragraph read again; unchanged
        without one. For a list item's answer as for a ``Q:`` paragraph's."""
        marked = ANSWER_MARK.match(lines[0])
        para = tokens[0].map
        if not marked or para is None:
            return tokens, lines
        head = [_unmark(lines[0], marked), *lines[1 : para[1] - para[0]]]
        return self.blocks_of(head, para[0]) + tokens[3:], [head[0], *lines[1:]]

    def lazy_line(self, inline: Token, width: int) -> int:
        """Index of the first line of an item's paragraph indented less than the item's text
        (0 when every line is inside the item)."""
        assert inline.map
        for i in range(1, inline.map[1] - inline.map[0]):
            source = self.lines[inline.map[0] + i]
            if len(source) - len(source.lstrip(" ")) < width and "\t" not in source[:width]:
                return i
        return 0

    def unwrap(self, blocks: list[tuple[int, int]], width: int) -> tuple[list[Token], list[str]]:
        """Answer tokens and Markdown lines; a leading one-item ordered list becomes its blocks."""
        if not blocks:
            return [], []
        tokens = self.tokens
        first_map = tokens[blocks[0][0]].map
        last_map = tokens[blocks[-1][0]].map
        assert first_map and last_map
        lines = [_dedent(line, width) for line in self.lines[first_map[0] : last_map[1]]]
        out: list[Token] = []
        s, e = blocks[0]
        items = list(_blocks(tokens, s + 1, e - 1)) if tokens[s].type == "ordered_list_open" else []
        if len(items) == 1:
            item_s, item_e = items[0]
            inner = tokens[item_s + 1 : item_e - 1]
            for tok in inner:
                if tok.type.startswith("paragraph_") and tok.level == tokens[item_s].level + 1:
                    tok.hidden = False  # it was a tight list item; now it is a paragraph
            out.extend(inner)
            item_map = tokens[item_s].map
            assert item_map
            n = item_map[1] - item_map[0]
            inner_width = _content_column(lines[0])
            # The marker goes; the item's continuation lines lose its indentation.
            lines[:n] = [_dedent(lines[0], inner_width, marker=True)] + [
                _dedent(ln, inner_width) for ln in lines[1:n]
            ]
            s = e
        else:
            s = blocks[0][0]
        out.extend(tokens[s : blocks[-1][1]])
        return out, lines

    def add_card(
        self,
        question: str,
        children: list[Token],
        line: int,
        answer_md: str,
        answer_tokens: list[Token],
        inline: Token,
    ) -> None:
        """Compile one card: code, targets, then both renderings of the same tokens.

        A card of an earlier compile (:attr:`previous`) whose inputs digest the same, and
        whose images and links are judged the same today, is taken as it was, with the
        diagnostics its compile made.
        """
        if not contentscan.INVISIBLE.sub("", question).strip():
            # Zero-width spaces alone (pasted from a web page): a card with an empty front.
            self.skipped += 1
            self.warn(line, "question has no visible text; skipped", "empty-question")
            return
        made_from = _CardSource(
            question, children, line, answer_md, answer_tokens, inline, self.deck()
        )
        if not self.keyed:
            self.compile_card(made_from)
            return
        key = self.card_key(made_from)
        found = self.reusable.get(key)
        if found is not None and self.resolver.judged_alike(found[0].targets):
            card, made = found
            moved = made_from.line - card.source.line  # the same card further up or down
            card, made = moved_card(card, moved), moved_all(made, moved)
            self.cards.append(_with_deck(card, made_from.deck))
            for diagnostic in made:  # the PDF's own problems are reported with the file's
                if diagnostic.code == MATH_PDF and self.typst is not None:
                    self.typst.problems.append((diagnostic.line, diagnostic.message))
                else:
                    self.diagnostics.append(diagnostic)
            self.compiled.append((key, made))
            return
        before = len(self.diagnostics)
        typst_before = len(self.typst.problems) if self.typst else 0
        self.compile_card(made_from)
        pdf = self.typst.problems[typst_before:] if self.typst else []
        made = (
            *self.diagnostics[before:],
            *(Diagnostic(self.path, at, "warning", message, MATH_PDF) for at, message in pdf),
        )
        self.compiled.append((key, made))

    def card_key(self, source: _CardSource) -> str:
        """A digest of everything :meth:`compile_card` reads: the card's tokens (with their
        lines, counted from its question's: a card moved down the file is the same card,
        its lines moved), its deck and tags, and whether Typst is made (then its line too:
        the PDF's problems are found at their lines)."""
        deck = source.deck
        at = source.line if self.typst else 0
        head = (source.question, at, source.answer_md, deck.root, deck.file_title)
        rest = (deck.sections, self.file_title, self.extra_tags, self.typst is not None)
        parts = [repr((*head, *rest))]
        base = source.line - 1 - at
        for tokens in (source.children, [source.inline], source.answer_tokens):
            parts.append(_GROUP)
            _token_parts(tokens, parts, base)
        return hashlib.sha256("".join(parts).encode("utf-8")).hexdigest()

    def compile_card(self, source: _CardSource) -> None:
        """Compile one card from scratch: code, targets, then both renderings."""
        tokens, deck = source.answer_tokens, source.deck
        compiled = [self.code_block(tok) for tok in tokens if tok.type in ("fence", "code_block")]
        code_blocks = tuple(cb for cb in compiled if cb is not None)
        # The question's own images and links: its paragraph may go on with the answer
        # (``1. 问？`` then ``   ![图](a.png)``), whose lines the answer's tokens hold.
        targets = tuple(self.targets(source.inline, source.children)) + tuple(
            t for tok in tokens if tok.type in _HAS_TARGETS for t in self.targets(tok)
        )
        languages = sorted({cb.language for cb in code_blocks if cb.language})
        tags = tuple(
            dict.fromkeys(
                tag_name(t)
                for t in (
                    f"file::{self.file_title}",
                    f"section::{deck.section}" if deck.section else "",
                    *(f"code::{lang}" for lang in languages),
                    *self.extra_tags,
                )
                if t
            )
        )
        question_html = render_inline(source.children, self.env).strip()
        if not _shows_something(question_html):
            self.warn(
                source.line,
                "the question shows nothing on the card (only markup, a comment or spaces): "
                f"{source.question[:40]}",
                "empty-question",
            )
        answer_html = render_blocks(tokens, self.env) if tokens else ""
        if tokens and not _shows_something(answer_html):
            # ``<!-- 待补充 -->``, an ``&nbsp;``, a removed ``<script>``: a blank back in Anki
            # (the sixteenth trial). Unanswered, it is said so at its question, and waits on
            # the PDF's 待回答 page.
            tokens, answer_html = [], ""
        self.cards.append(
            Card(
                question=source.question,
                answer=source.answer_md if tokens else "",
                question_html=question_html,
                answer_html=answer_html,
                deck=deck,
                source=Source(self.path, source.line),
                code_blocks=code_blocks,
                targets=targets,
                tags=tags,
                question_typst=self.question_typst(source.question, source.children),
                answer_typst=self.answer_typst(source.answer_md, tokens),
            )
        )

    def question_typst(self, question: str, children: list[Token]) -> str:
        """The question as the PDF prints it: "" without a PDF, a note when it is too long."""
        if self.typst is None:
            return ""
        if len(question) > MAX_QUESTION_CHARS:  # validate warns: pdflimits.question_message
            return f"#missing[{escape(f'题目过长（{len(question):,} 字），请看卡片')}]"
        return self.typst.inline(children)

    def answer_typst(self, answer: str, tokens: list[Token]) -> str:
        """The answer as the PDF prints it: "" without a PDF, a note when it is too long."""
        if self.typst is None or not tokens:
            return ""
        if len(answer) > MAX_ANSWER_CHARS:  # validate warns: pdflimits.answer_message
            return f"#missing[{escape(f'答案过长（{len(answer):,} 字），请看卡片')}]"
        return self.typst.blocks(tokens)

    def code_block(self, tok: Token) -> CodeBlock | None:
        """Decide a code block's language, check its syntax and highlight it, once.

        The decisions go into the token's ``meta`` for both renderers; an indented code
        block has no language and gets no record.
        """
        assert tok.map
        fenced = tok.type == "fence"
        written = fence_language(tok.info) if fenced else ""
        language = (
            written or self.config.default_language or detect_language(tok.content)
            if fenced
            else ""
        )
        tok.meta["language"] = language
        huge = len(tok.content) > MAX_COLOURED
        coloured = "" if huge else language
        # A block longer than the PDF prints is lexed for Typst only as far as it is printed.
        cut = _printed_code(tok.content, coloured) if self.typst is not None else None
        whole = self.typst is not None and cut is None
        tok.meta["html"], typst = highlight(tok.content, coloured, whole)
        if self.typst is not None:
            tok.meta["typst"] = typst if cut is None else cut
        if huge:
            self.warn(
                tok.map[0] + 1,
                f"code block of {len(tok.content):,} characters is shown without colours and "
                f"not checked (at most {MAX_COLOURED:,})",
                "code-size",
            )
        if not fenced:
            return None
        fence_line = tok.map[0] + 1
        if written and not known_language(written):
            self.warn(fence_line, unknown_language_message(written), "fence-language")
        problem = None if huge else codecheck.check(language, tok.content)
        error = (fence_line + problem[0], problem[1]) if problem else None
        # An empty fence has no language to name: nothing to warn about.
        unnamed = not written and bool(tok.content.strip())
        return CodeBlock(language, unnamed, tok.content, fence_line, error)

    def targets(self, inline: Token, children: list[Token] | None = None) -> Iterator[Target]:
        """The images and links of an inline token (or the ``<img>`` of a raw HTML block),
        resolved; images noted for the renderers, formulas given their line. ``children``:
        the first of its children only (a question's, where its paragraph goes on)."""
        assert inline.map is not None
        line = inline.map[0] + 1
        if inline.type == "html_block":
            yield from self.html_images(inline.content, line)
            return
        for child in (inline.children or ()) if children is None else children:
            if child.type in LINE_BREAKS:
                line += 1
            elif child.type in ("image", "link_open"):
                image = child.type == "image"
                url = str(child.attrGet("src" if image else "href") or "")
                target = self.resolver.target(url, line, image, bool(child.meta.get("embed")))
                if image:
                    self.images[url] = target
                yield target
            elif child.type == "html_inline":
                yield from self.html_images(child.content, line)
            elif child.type.startswith("math"):
                child.meta["line"] = line  # for the PDF's warning about a formula

    def html_images(self, html: str, line: int) -> Iterator[Target]:
        """The ``<img src>`` of raw HTML: images like ``![](…)``, keyed by ``src`` as written."""
        for at, src in rawhtml.image_sources(html):
            target = self.resolver.target(src, line + at, True)
            self.images[src] = target
            yield target


#: Token types whose images and links are targets.
_HAS_TARGETS = frozenset({"inline", "html_block"})


#: A line that opens with a term and a colon (``**稳定性**：``, ``端口: 80``): a point made,
#: unless a quoted question follows (``追问：“为什么离职？”``). Not ``std::move``, ``a[1:3]``
#: or ``https://`` (an ASCII colon ends a term only before a space).
_TERM = re.compile(
    r"\s*(\*\*|__)?[^：:？?*_]{1,24}(\*\*|__)?\s*(?:：|:(?=\s|$))(?!\s*(\*\*|__)?[“\"「『])"
)


#: The hint for a file whose headings label a question's parts (:meth:`_FileParser.labels`).
_LABELS_HINT = (
    "its headings {} label a question's parts, which no setting reads (a heading is its "
    "question's text): write each question as a heading with its answer under it"
)

#: The end of a sentence that states (``。``, ``！``, ``.``), maybe in emphasis or brackets.
_STATES = re.compile(r"[。！!.；;][*_”’」』）)\]]*\s*$")


def _bare(item: int, item_end: int) -> bool:
    """Whether the list item ``tokens[item:item_end]``, opening with a paragraph, holds
    nothing under it: its open, the paragraph's three tokens, its close."""
    return item_end - item == 5


def _states(text: str, item: int, item_end: int) -> bool:
    """Whether a list item (``tokens[item:item_end]``, its paragraph's text ``text``)
    states: one line ending a sentence, nothing under it, no question word (``区别``),
    no task (``简述…。``: a bank of questions the twenty-third trial found read as points)."""
    alone = _bare(item, item_end) and "\n" not in text  # one line, nothing under it
    return alone and _STATES.search(text) is not None and not asks(text) and not sets_task(text)


#: A question's lead: ``追问：``, ``面试官问：``, ``反问：`` (not any term ending in 问 or 题:
#: ``缓存穿透问题：``, ``难题：`` make points, the twenty-first trial).
_ASKER = re.compile(r"\s*(\*\*|__)?(?:面试官问|追问|反问|提问)(\*\*|__)?\s*[：:]")


#: :attr:`_Answer.next_number` of a bullet list's last item: no numbered list goes on it.
_BULLETED = -1


MATH_PDF = "math-pdf"
"""Code of a formula the PDF prints as TeX source: said only where the notes were compiled
for the PDF."""


@dataclass(frozen=True)
class _CardSource:
    """What one card is compiled from."""

    question: str
    """The question as Markdown."""
    children: list[Token]
    """The question's inline tokens."""
    line: int
    """1-based line of the question."""
    answer_md: str
    """The answer as Markdown ("" when unanswered)."""
    answer_tokens: list[Token]
    """The answer's block tokens."""
    inline: Token
    """The question's inline token (its images and links)."""
    deck: Deck
    """The deck the card files under."""


#: Separators of the token digest. A field of the note's own text is written after its
#: length, so no text can pass for a separator or for the next field.
_GROUP, _CHILDREN, _END = "\x1d", "\x1c", "\x1e"


def _token_parts(tokens: list[Token], out: list[str], base: int = 0) -> None:
    """Every field of the tokens that a renderer may read, children included, appended to
    ``out`` as text (joined strings hash a third faster than a repr of nested tuples);
    their lines counted from the 0-based line ``base``."""
    for t in tokens:
        where = t.map and [t.map[0] - base, t.map[1] - base]
        attrs = repr(sorted(t.attrs.items())) if t.attrs else ""
        meta = repr(sorted(t.meta.items())) if t.meta else ""  # repr: escaped, unambiguous
        markup, info, content = t.markup, t.info, t.content  # the note's text: length first
        out.append(
            f"{t.type} {t.tag} {t.nesting} {where} {t.level} {t.block} {t.hidden} "
            f"{len(markup)}:{markup}{len(info)}:{info}{len(content)}:{content}{attrs}|{meta}{_END}"
        )
        if t.children:
            out.append(_CHILDREN)
            _token_parts(t.children, out, base)
            out.append(_END)


def _with_deck(card: Card, deck: Deck) -> Card:
    """``card`` filed under ``deck`` (the same value, this compile's shared object)."""
    if card.deck is deck:
        return card
    copy = object.__new__(Card)
    copy.__dict__.update(card.__dict__, deck=deck)
    return copy


def _answer_marked(question: str) -> int:
    """Index of the first line after the first that opens with ``答：``/``A:`` (0: none):
    ``1. Q: 什么是僵尸进程`` with ``答：…`` on the next line is one paragraph to CommonMark;
    to its author the second line is the answer (the nineteenth trial)."""
    lines = question.split("\n")
    return next((i for i in range(1, len(lines)) if ANSWER_MARK.match(lines[i])), 0)


def _asked_lines(question: str) -> int:
    """Lines up to the first that ends with a question mark, when more lines follow (0: none).

    ``1. 什么是装饰器？`` with ``装饰器是…`` on the next line, indented but without a blank
    line, is one paragraph to CommonMark; to its author the second line is the answer.
    """
    lines = question.split("\n")
    return next((i + 1 for i, line in enumerate(lines[:-1]) if ends_asking(line)), 0)


def _printed_code(code: str, language: str) -> str | None:
    """The Typst of a code block longer than the PDF prints: its first lines and a note.

    None when the whole block is printed. ``validate`` warns at the fence
    (``pdflimits.code_lines_message``); the card shows every line.
    """
    lines = code.split("\n", MAX_CODE_LINES)
    if len(lines) <= MAX_CODE_LINES:
        return None
    shown = highlight("\n".join(lines[:MAX_CODE_LINES]), language, True)[1]
    more = typst_string(f"… {code.count(chr(10)) - MAX_CODE_LINES:,} more lines on the card")
    return shown[:-1] + f"; linebreak(); text(fill: luma(110), {more})}}"


def _strip_number(children: list[Token]) -> list[Token]:
    """Inline children without the leading ``N.`` of a heading question."""
    if children and children[0].type == "text" and NUMBER.match(children[0].content):
        first = children[0].copy()
        first.content = NUMBER.sub("", first.content, count=1)  # not bold: a text child
        return [first, *children[1:]]
    return children


def _unmark(text: str, match: re.Match[str]) -> str:
    """``text`` without the ``Q:``/``A:`` marker ``match`` found, and without the closing
    ``**`` of a bold that the marker opened (``**Q: 问题**``)."""
    rest = text[match.end() :].strip()
    bold = match.group(1)
    if bold and not match.group(2) and rest.endswith(bold):
        rest = rest[: -len(bold)].strip()
    return rest


def _unbold(text: str) -> str:
    """A question written all in bold (``**概述**``) without the bold: it is the question."""
    match = BOLD_LINE.match(text)
    return match.group(2).strip() if match and match.group(1) not in match.group(2) else text


#: File names that stand for their folder (``ml/README.md`` files as ``ml``).
_FOLDER_FILES = frozenset({"readme", "index"})


def file_title(path: str, config: Config) -> str:
    """Title of a note file in deck names: configured, or the file name without ``.md``
    (a ``README.md`` or ``index.md``: its folder's name)."""
    if path in config.titles:
        return deck_name(config.titles[path])
    name = Path(path)
    if name.stem.lower() in _FOLDER_FILES:
        folder = name.parent.name or config.content.resolve().name
        return deck_name(folder or name.stem)
    return deck_name(name.stem)


def parse_file(
    root: Path,
    path: str,
    config: Config,
    typst: bool = False,
    data: bytes | None = None,
    previous: ParsedFile | None = None,
    keyed: bool = True,
) -> ParsedFile:
    """Read, decode and compile one note file (:func:`compile_file` without what it took)."""
    return compile_file(root, path, config, typst, data, previous, keyed)[0]


def compile_file(
    root: Path,
    path: str,
    config: Config,
    typst: bool = False,
    data: bytes | None = None,
    previous: ParsedFile | None = None,
    keyed: bool = True,
) -> tuple[ParsedFile, tuple[Taken, ...]]:
    """Read, decode and compile one note file (``path`` relative to ``root``), and the runs
    of ``previous``'s cards that the splice took as they were (none when it compiled the
    file whole): each card of such a run is the earlier one, its lines moved.

    ``typst`` renders every card to Typst as well, for the PDF. ``data``: the file's bytes,
    when the caller has read them already (the cache keys its entries by them).
    ``previous``: this file's records from an earlier compile under the same settings and
    code, whose unchanged cards are reused. ``keyed``: make the digests that let a later
    compile reuse these cards (:attr:`ParsedFile.compiled`; useless without a cache).
    """
    full = root / path
    try:
        data = full.read_bytes() if data is None else data
    except OSError as exc:
        unread = Diagnostic(path, 0, "error", f"cannot read: {exc.strerror}", "io")
        return ParsedFile(path, (), (unread,)), ()
    text, problem = decode(path, data)
    if text is None:
        assert problem
        return ParsedFile(path, (), (problem,)), ()
    title = file_title(path, config)

    def parser() -> _FileParser:
        return _FileParser(path, text, config, title, root.resolve(), typst, previous, keyed)

    taken: tuple[Taken, ...] = ()
    parsed = None
    if previous is not None and previous.units:
        splicer = parser()
        parsed = splicer.splice(previous)
        taken = tuple(splicer.taken) if parsed is not None else ()
    if parsed is None:
        parsed = parser().run()
    for card in parsed.cards:  # hashed here, in the worker: the identity stage only reads them
        card.note_digest, card.answer_digest  # noqa: B018
    return parsed, taken
